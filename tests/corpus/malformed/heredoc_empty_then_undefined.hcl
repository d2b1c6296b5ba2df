locals {
  empty = <<EOT
EOT
  after = local.undefined_after_empty_heredoc
}

output "x" {
  value = <<EOT
body
EOT
}
