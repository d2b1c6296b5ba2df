# What runs inside a cluster of modules/cluster, composed once for every environment: the
# observability stack, then (given a repository) Flux and (given an image) the slipway agent.
# Applied by server-side apply through the environment's kubernetes provider, which is
# configured from modules/cluster's outputs; the environment calls this module with
# depends_on = [module.cluster], so the objects come after the machines and the load balancer's
# targets, and go before them on destroy, while the API server still answers.
#
# Invariant: each part is behind a count on its inputs (an environment cannot guess where its
# Git lives or which image to run), so `enabled = false` (the emulator tests) plans nothing here.

locals {
  install_gitops = var.enabled && var.gitops_repository != null
  install_agent  = local.install_gitops && var.agent_image != null
}

# The join token nodes read from their bundle, as the Secret kubeadm's bootstrap-token
# authenticator and the bootstrap signer read: created by kubeadm init (24 h TTL), taken over
# here (force_conflicts: kubeadm wrote it with another field manager) and kept valid until
# `expiration`; a rotated token is a new Secret (its name holds the id), made before the old
# one goes.
resource "kubernetes_manifest" "join_token" {
  count = var.enabled ? 1 : 0
  manifest = {
    apiVersion = "v1"
    kind       = "Secret"
    metadata = {
      name      = "bootstrap-token-${var.join_token.id}"
      namespace = "kube-system"
    }
    type = "bootstrap.kubernetes.io/token"
    data = {
      "token-id"                       = base64encode(var.join_token.id)
      "token-secret"                   = base64encode(var.join_token.secret)
      "expiration"                     = base64encode(var.join_token.expiration)
      "usage-bootstrap-authentication" = base64encode("true")
      "usage-bootstrap-signing"        = base64encode("true")
      "auth-extra-groups"              = base64encode("system:bootstrappers:kubeadm:default-node-token")
    }
  }
  force_conflicts = true
  lifecycle {
    create_before_destroy = true
  }
}

module "observability" {
  count  = var.enabled ? 1 : 0
  source = "../observability"

  cluster_name        = var.cluster_name
  declared_node_count = var.observed.declared_node_count
  certificate_expiry  = var.observed.certificate_expiry
  control_plane_ips   = var.observed.control_plane_ips
  etcd_member_ips     = var.observed.etcd_member_ips
  etcd_client         = var.etcd_metrics_client
}

# Flux, after the observability stack: the apps of apps/<cluster name> in the repository.
module "gitops" {
  count       = local.install_gitops ? 1 : 0
  source      = "../gitops"
  url         = var.gitops_repository
  branch      = var.gitops_branch
  path        = "apps/${var.cluster_name}"
  known_hosts = var.gitops_known_hosts
  depends_on  = [module.observability]
}

# The secret GitHub signs webhooks with: set the same value in the repository's webhook.
resource "random_password" "agent_webhook" {
  count   = local.install_agent ? 1 : 0
  length  = 40
  special = false
}

# The infrastructure agent: applies what lands on the branch to this environment, N replicas with
# one leader on a Lease, its /metrics scraped by the observability stack.
module "slipway_agent" {
  count          = local.install_agent ? 1 : 0
  source         = "../slipway-agent"
  image          = var.agent_image
  repo           = var.gitops_repository
  branch         = var.gitops_branch
  path           = var.environment_path
  webhook_secret = random_password.agent_webhook[0].result
  env            = var.agent_env
  depends_on     = [module.observability]
}
