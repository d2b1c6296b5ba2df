locals {
  x = max()
}

output "x" {
  value = local.x
}
