locals {
  x = one([1, 2])
}

output "x" {
  value = local.x
}
