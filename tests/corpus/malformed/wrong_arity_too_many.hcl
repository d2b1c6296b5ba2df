locals {
  x = upper("a", "b")
}

output "x" {
  value = local.x
}
