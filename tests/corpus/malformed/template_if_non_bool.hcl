locals {
  x = "%{ if "maybe" }y%{ endif }"
}

output "x" {
  value = local.x
}
