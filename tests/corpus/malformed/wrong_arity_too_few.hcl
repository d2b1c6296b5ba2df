locals {
  x = substr("abc", 1)
}

output "x" {
  value = local.x
}
