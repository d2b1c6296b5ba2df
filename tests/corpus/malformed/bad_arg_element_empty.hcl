locals {
  x = element([], 0)
}

output "x" {
  value = local.x
}
