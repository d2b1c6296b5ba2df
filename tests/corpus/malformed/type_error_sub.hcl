locals {
  x = true - 1
}

output "x" {
  value = local.x
}
