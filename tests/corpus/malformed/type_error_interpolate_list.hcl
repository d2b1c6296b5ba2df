locals {
  x = "v=${[1, 2]}"
}

output "x" {
  value = local.x
}
