output "x" {
  value = <<-EOT
  %{ if true }
  EOT
}
