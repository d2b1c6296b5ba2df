# dev: the smallest cluster that works — one control-plane node with stacked etcd, one worker.

slipway {
  required_version = ">= 0.1"
}

variable "cluster_name" {
  type    = string
  default = "dev"
}

variable "kubernetes_version" {
  type    = string
  default = "1.35.4"
}

variable "containerd_version" {
  type    = string
  default = "1.6.20~ds1-1+deb12u1"
}

variable "control_plane_count" {
  description = "Control-plane nodes, each a stacked etcd member: 1 or 3 (etcd wants an odd count). Scaling down: list the nodes going in etcd_leaving first, apply, wait until `etcdctl member list` no longer shows them, then lower the count (ARCHITECTURE.md, Membership)."
  type        = number
  default     = 1
}

variable "etcd_leaving" {
  description = "Control-plane nodes whose etcd members the reconcile timer removes (one per run, while quorum holds) before a later apply removes the nodes: modules/etcd leaving."
  type        = list(string)
  default     = []
}

variable "vpc_cidr" {
  type    = string
  default = "10.20.0.0/16"
}

locals {
  zone               = "${var.region}a"
  apiserver_endpoint = module.apiserver_lb.dns_name
  pod_cidr           = "10.244.0.0/16"
  etcd_members_key   = "nodes/etcd-members.json"
}

# Static private IPs (modules/placement: cidrhost of the private subnet) break the cycle between
# certificates and instances: certificates name the nodes before the nodes exist.
module "control_plane_placement" {
  source       = "../../modules/placement"
  name_prefix  = "${var.cluster_name}-cp"
  node_count   = var.control_plane_count
  zones        = [local.zone]
  subnet_cidrs = module.network.private_subnet_cidrs
  first_host   = 10
}

module "worker_placement" {
  source       = "../../modules/placement"
  name_prefix  = "${var.cluster_name}-worker"
  node_count   = 1
  zones        = [local.zone]
  subnet_cidrs = module.network.private_subnet_cidrs
  first_host   = 100
}

# Stacked etcd: every control-plane node is an etcd member.
module "pki" {
  source                = "../../modules/pki"
  apiserver_lb_dns_name = local.apiserver_endpoint
  control_plane_nodes   = module.control_plane_placement.ips
  etcd_members          = module.control_plane_placement.ips
  cluster_name          = var.cluster_name
}

module "etcd" {
  source              = "../../modules/etcd"
  cluster_name        = var.cluster_name
  topology            = "stacked"
  members             = module.control_plane_placement.ips
  control_plane_cidrs = [module.network.private_subnet_cidrs[local.zone]]
  # The declared member list the control-plane nodes' membership scripts read (aws.hcl uploads
  # it through modules/control-plane); a count change rewrites it, not their user-data.
  members_uri = "s3://${aws_s3_bucket.bootstrap.bucket}/${local.etcd_members_key}"
  leaving     = var.etcd_leaving
}

# kubeadm bootstrap token: "[a-z0-9]{6}.[a-z0-9]{16}".
resource "random_string" "bootstrap_token_id" {
  length  = 6
  upper   = false
  special = false
}

resource "random_password" "bootstrap_token_secret" {
  length  = 16
  upper   = false
  special = false
}

locals {
  bootstrap_token = "${random_string.bootstrap_token_id.result}.${random_password.bootstrap_token_secret.result}"
}

output "cluster" {
  value = {
    endpoint       = "https://${local.apiserver_endpoint}:6443"
    control_plane  = module.control_plane_placement.ips
    init_node      = module.control_plane.init_node
    workers        = module.worker_placement.ips
    etcd_members   = module.control_plane_placement.ips
    etcd_endpoints = module.etcd.endpoints
    ca_cert_hash   = module.pki.ca_cert_hash
  }
}

output "admin_kubeconfig" {
  value     = module.pki.admin_kubeconfig
  sensitive = true
}

output "bootstrap_token" {
  value     = local.bootstrap_token
  sensitive = true
}
