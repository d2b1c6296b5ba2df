locals {
  x = range(1e9)
}

output "x" {
  value = length(local.x)
}
