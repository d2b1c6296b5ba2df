# An empty heredoc, then blocks and a second heredoc with the same delimiter.
locals {
  empty = <<EOT
EOT
  also_empty = <<-EOT
    EOT
}

output "empty" {
  value = local.empty
}

output "text" {
  value = <<EOT
%{ for x in [1, 2] ~}
${x}
%{ endfor ~}
EOT
}

output "shell" {
  value = <<-SCRIPT
    cat <<EOF
    EOF
    echo done
  SCRIPT
}
