locals {
  x = provider::aws::arn_parse("a")
}

output "x" {
  value = local.x
}
