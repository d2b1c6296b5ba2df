# What runs inside the cluster, in the same graph as the machines: once the API server answers
# /readyz through the load balancer, the observability stack (and, in later files, the GitOps
# agents) are applied by server-side apply with the admin certificate slipway issued.
#
# Against the AWS emulator no API server answers behind the load balancer: tests and the demo
# set install_addons = false, or point `kubeconfig` at a local control plane
# (scripts/local-cluster) to install the stack there in the same apply.

variable "install_addons" {
  description = "Install the in-cluster stack (observability, GitOps, the slipway agent) in the same apply."
  type        = bool
  default     = true
}

variable "kubeconfig" {
  description = "Reach the cluster through this kubeconfig instead of the load balancer and the admin certificate (the demo points it at scripts/local-cluster)."
  type        = string
  default     = null
}

provider "kubernetes" {
  config_path            = var.kubeconfig
  host                   = var.kubeconfig == null ? "https://${local.apiserver_endpoint}:6443" : null
  cluster_ca_certificate = var.kubeconfig == null ? module.pki.ca_cert_pem : null
  client_certificate     = var.kubeconfig == null ? module.pki.admin_client.cert_pem : null
  client_key             = var.kubeconfig == null ? module.pki.admin_client.key_pem : null
  # The nodes boot, install containerd and kubeadm, and init the control plane after their
  # instances exist: minutes, not seconds.
  ready_timeout = "20m"
}

module "observability" {
  count  = var.install_addons ? 1 : 0
  source = "../../modules/observability"

  cluster_name        = var.cluster_name
  declared_node_count = var.control_plane_count + var.worker_count
  certificate_expiry  = module.pki.certificate_expiry
  control_plane_ips   = values(module.control_plane_placement.ips)
  # External etcd: the dedicated members, reached on their client port over TLS.
  etcd_member_ips = values(module.etcd_placement.ips)
  etcd_client     = module.pki.etcd_metrics_client
  # After the machines and the load balancer's targets, before them on destroy: the objects go
  # while the API server still answers.
  depends_on = [module.apiserver_lb, module.control_plane, module.workers, module.etcd_nodes]
}

variable "gitops_repository" {
  description = "The Git repository Flux and the slipway agent follow (ssh://git@host/org/repo.git; its deploy key is the output gitops_deploy_key). Unset, neither is installed: an environment cannot guess where its Git lives."
  type        = string
  default     = null
}

variable "gitops_branch" {
  description = "The branch Flux and the slipway agent follow."
  type        = string
  default     = "main"
}

variable "gitops_known_hosts" {
  description = "known_hosts lines of the Git host (ssh-keyscan output)."
  type        = string
  default     = ""
}

locals {
  install_gitops = var.install_addons && var.gitops_repository != null
}

# Flux, after the observability stack: the apps of apps/<cluster name> in the repository.
module "gitops" {
  count       = local.install_gitops ? 1 : 0
  source      = "../../modules/gitops"
  url         = var.gitops_repository
  branch      = var.gitops_branch
  path        = "apps/${var.cluster_name}"
  known_hosts = var.gitops_known_hosts
  depends_on  = [module.observability]
}

output "gitops_deploy_key" {
  description = "The public half of Flux's deploy key: add it (read-only) to the repository."
  value       = one(module.gitops[*].deploy_key_public)
}

variable "agent_image" {
  description = "The slipway image of the in-cluster agent (slipway watch --leader-elect, modules/slipway-agent). Unset: no agent. The agent keeps nothing in its pods: the environment's state must be in a remote backend (slipway { backend \"s3\" { ... } }), and agent_env gives the agent what that backend needs."
  type        = string
  default     = null
}

variable "agent_env" {
  description = "Environment of the agent's container (e.g. AWS_REGION for the S3 backend)."
  type        = map(string)
  default     = {}
}

locals {
  install_agent = local.install_gitops && var.agent_image != null
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
  source         = "../../modules/slipway-agent"
  image          = var.agent_image
  repo           = var.gitops_repository
  branch         = var.gitops_branch
  path           = "environments/prod"
  webhook_secret = random_password.agent_webhook[0].result
  env            = var.agent_env
  depends_on     = [module.observability]
}

output "agent_webhook_secret" {
  description = "The secret of the repository's webhook to the agent."
  value       = one(random_password.agent_webhook[*].result)
  sensitive   = true
}
