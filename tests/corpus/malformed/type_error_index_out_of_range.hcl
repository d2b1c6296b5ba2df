locals {
  x = [1, 2][5]
}

output "x" {
  value = local.x
}
