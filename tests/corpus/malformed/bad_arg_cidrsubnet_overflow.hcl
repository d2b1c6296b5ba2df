locals {
  x = cidrsubnet("10.0.0.0/30", 8, 1)
}

output "x" {
  value = local.x
}
