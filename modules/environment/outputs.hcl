# Read by `slipway kubeconfig`, `slipway etcd`, `slipway dr`, scripts/demo and the tests.

output "cluster" {
  value = module.cluster.summary
}

output "admin_kubeconfig" {
  value     = module.cluster.admin_kubeconfig
  sensitive = true
}

output "bootstrap_token" {
  value     = module.cluster.bootstrap_token
  sensitive = true
}

output "etcd_endpoints" {
  value = module.cluster.etcd_endpoints
}

output "etcd_client" {
  value     = module.cluster.etcd_client
  sensitive = true
}

output "etcd_snapshots" {
  value = module.cluster.etcd_snapshots
}

output "gitops_deploy_key" {
  description = "The public half of Flux's deploy key: add it (read-only) to the repository."
  value       = module.addons.gitops_deploy_key
}

output "agent_webhook_secret" {
  description = "The secret of the repository's webhook to the agent."
  value       = module.addons.agent_webhook_secret
  sensitive   = true
}
