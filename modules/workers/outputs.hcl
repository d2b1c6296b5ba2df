output "nodes" {
  description = "Worker name => static private IP (the input)."
  value       = { for name, n in var.nodes : name => n.ip }
}

output "instance_ids" {
  description = "Worker name => instance id."
  value       = module.nodes.instance_ids
}

output "user_data" {
  description = "Worker name => user-data (no secret)."
  value       = { for name, m in module.bootstrap : name => m.user_data }
}

output "kubeadm_config" {
  description = "Worker name => JoinConfiguration (token as placeholder)."
  value       = { for name, m in module.bootstrap : name => m.kubeadm_config }
}

output "role_arns" {
  description = "Node name => its IAM role's ARN (the etcd snapshot prefix denies these reads)."
  value       = module.nodes.role_arns
}
