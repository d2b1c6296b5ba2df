locals {
  x = tonumber("twelve")
}

output "x" {
  value = local.x
}
