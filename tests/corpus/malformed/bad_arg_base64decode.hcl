locals {
  x = base64decode("%%%")
}

output "x" {
  value = local.x
}
