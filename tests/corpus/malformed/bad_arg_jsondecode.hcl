locals {
  x = jsondecode("{")
}

output "x" {
  value = local.x
}
