output "instance_ids" {
  description = "Node name => instance id."
  value       = { for name, i in aws_instance.node : name => i.id }
}

output "private_ips" {
  description = "Node name => static private IP (the input, known at plan time)."
  value       = var.private_ips
}
