variable "pw" {
  type      = string
  default   = "hunter2"
  sensitive = true
}

output "pw" {
  value = var.pw
}
