locals {
  x = 5
  y = local.x.foo
}

output "y" {
  value = local.y
}
