locals {
  x = file(path.module)
}

output "x" {
  value = local.x
}
