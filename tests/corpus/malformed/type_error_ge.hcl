locals {
  x = [1] >= 1
}

output "x" {
  value = local.x
}
