locals {
  x = <<EOF
hello
