locals {
  x = { for v in ["a", "a"] : v => 1 }
}

output "x" {
  value = local.x
}
