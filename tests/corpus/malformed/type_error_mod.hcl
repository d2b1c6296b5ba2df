locals {
  x = 1 % "x"
}

output "x" {
  value = local.x
}
