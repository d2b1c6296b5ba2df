locals {
  x = <<-EOT
    hello ${local.nope}
  EOT
}

output "x" {
  value = local.x
}
