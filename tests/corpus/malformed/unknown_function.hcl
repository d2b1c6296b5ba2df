locals {
  x = uppper("a")
}

output "x" {
  value = local.x
}
