locals {
  x = cidrhost("10.0.0.0/30", 9)
}

output "x" {
  value = local.x
}
