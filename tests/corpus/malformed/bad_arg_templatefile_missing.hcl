locals {
  x = templatefile("${path.module}/missing.tftpl", {})
}

output "x" {
  value = local.x
}
