locals {
  x = false || "no"
}

output "x" {
  value = local.x
}
