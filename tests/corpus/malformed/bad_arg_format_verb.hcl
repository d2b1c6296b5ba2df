locals {
  x = format("%d", "abc")
}

output "x" {
  value = local.x
}
