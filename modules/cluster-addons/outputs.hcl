output "gitops_deploy_key" {
  description = "The public half of Flux's deploy key (null without a repository)."
  value       = one(module.gitops[*].deploy_key_public)
}

output "agent_webhook_secret" {
  description = "The secret of the repository's webhook to the agent (null without an agent)."
  value       = one(random_password.agent_webhook[*].result)
  sensitive   = true
}
