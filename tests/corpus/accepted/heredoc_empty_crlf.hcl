locals {
  a = <<EOT
EOT
  b = "x"
}
output "b" {
  value = local.b
}
