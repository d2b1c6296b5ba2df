output "namespace" {
  description = "Namespace the agent runs in (and its Lease)."
  value       = kubernetes_manifest.namespace.manifest.metadata.name
}

output "service_name" {
  description = "Service for webhooks, approvals and /metrics (port `http`, 8080)."
  value       = kubernetes_manifest.service.manifest.metadata.name
}

output "lease_name" {
  description = "The coordination.k8s.io/v1 Lease the replicas elect a leader on."
  value       = var.lease_name
}

output "manifests" {
  description = "Every object applied except the webhook Secret, as sent: for schema validation and review."
  value = [
    local.namespace,
    local.service_account,
    local.role,
    local.role_binding,
    local.deployment,
    local.service,
    local.pdb,
  ]
}
