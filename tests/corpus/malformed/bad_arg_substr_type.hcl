locals {
  x = substr([1], 0, 1)
}

output "x" {
  value = local.x
}
