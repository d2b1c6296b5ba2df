locals {
  empty = <<-EOT
    EOT
  x = local.nope_after_indented
}
