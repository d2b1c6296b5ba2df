locals {
  x = <<EOF
hello
EOD
}
