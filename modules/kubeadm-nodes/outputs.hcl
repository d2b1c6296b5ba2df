output "nodes" {
  description = "Node name => static private IP (the input). To feed modules/pki, read modules/placement instead: a module output reference waits for every output of the module, instances included."
  value       = { for name, n in var.nodes : name => n.ip }
}

output "init_node" {
  description = "Control plane: the node that runs kubeadm init."
  value       = local.init_node
}

output "instance_ids" {
  description = "Node name => instance id: modules/apiserver-lb targets."
  value       = module.nodes.instance_ids
}

output "user_data" {
  description = "Node name => user-data (no secret)."
  value       = { for name, m in module.bootstrap : name => m.user_data }
}

output "kubeadm_config" {
  description = "Node name => kubeadm documents (token as placeholder)."
  value       = { for name, m in module.bootstrap : name => m.kubeadm_config }
}

output "role_arns" {
  description = "Node name => its IAM role's ARN (the etcd snapshot prefix denies these reads)."
  value       = module.nodes.role_arns
}

output "role_names" {
  description = "Node name => its IAM role's name (stacked etcd: the control plane's, the snapshot writers)."
  value       = module.nodes.role_names
}
