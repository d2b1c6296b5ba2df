locals {
  x = [for v in 5 : v]
}

output "x" {
  value = local.x
}
