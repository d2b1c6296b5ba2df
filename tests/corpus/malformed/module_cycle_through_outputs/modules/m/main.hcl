variable "input" {
  type = string
}

output "out" {
  value = var.input
}
