locals {
  x = -"yes"
}

output "x" {
  value = local.x
}
