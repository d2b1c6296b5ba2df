locals {
  strs = ["a", "b"]
}
output "laid_out" {
  value = <<-EOT
    x = ${~ "v" ~}
    y
  %{~ for s in local.strs ~}
      - ${s}
  %{~ endfor ~}
    %{ if true ~}
  z
    %{~ else }
    w
    %{ endif ~}
    EOT
}
