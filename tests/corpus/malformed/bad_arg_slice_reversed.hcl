locals {
  x = slice([1, 2], 2, 1)
}

output "x" {
  value = local.x
}
