locals {
  x = file("/nonexistent")
}

output "x" {
  value = local.x
}
