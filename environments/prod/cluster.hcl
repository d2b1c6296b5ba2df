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
}
