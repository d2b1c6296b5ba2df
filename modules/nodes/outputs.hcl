output "instance_ids" {
  description = "Node name => instance id."
  value       = { for name, i in aws_instance.node : name => i.id }
}

output "private_ips" {
  description = "Node name => static private IP (the input, known at plan time)."
  value       = var.private_ips
}

output "role_names" {
  description = "Node name => its IAM role's name, for callers that grant a node group more (modules/etcd-nodes: the declared member list)."
  value       = { for name, r in aws_iam_role.node : name => r.name }
}

output "role_arns" {
  description = "Node name => its IAM role's ARN."
  value       = { for name, r in aws_iam_role.node : name => r.arn }
}
