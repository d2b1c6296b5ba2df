locals {
  x = zipmap(["a"], [1, 2])
}

output "x" {
  value = local.x
}
