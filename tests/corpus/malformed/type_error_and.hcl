locals {
  x = 1 && true
}

output "x" {
  value = local.x
}
