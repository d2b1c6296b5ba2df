output "namespace" {
  description = "Namespace Flux runs in."
  value       = var.namespace
}

output "deploy_key_public" {
  description = "Public half of the deploy key in OpenSSH format: register it (read-only) with the Git host."
  value       = tls_private_key.deploy.public_key_openssh
}

output "git_repository" {
  description = "namespace/name of the GitRepository Flux syncs from."
  value       = "${var.namespace}/${local.sync_name}"
}

output "kustomization" {
  description = "namespace/name of the Kustomization that applies the apps path."
  value       = "${var.namespace}/${local.sync_name}"
}

output "versions" {
  description = "The Flux release and the controller versions installed."
  value       = local.versions
}
