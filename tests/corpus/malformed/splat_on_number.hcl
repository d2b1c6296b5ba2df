locals {
  x = 5[*].a
}

output "x" {
  value = local.x
}
