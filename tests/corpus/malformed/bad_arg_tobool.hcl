locals {
  x = tobool("maybe")
}

output "x" {
  value = local.x
}
