locals {
  x = {} / 2
}

output "x" {
  value = local.x
}
