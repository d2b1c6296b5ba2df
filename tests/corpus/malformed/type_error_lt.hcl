locals {
  x = "a" < "b"
}

output "x" {
  value = local.x
}
