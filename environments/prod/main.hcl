# prod: an HA cluster over three zones — three control-plane nodes behind a network load
# balancer, a dedicated etcd cluster (three members, five by variable) with a data volume each,
# and N workers. Every node has a static private IP, so the certificates, etcd's peer list and
# the kubeadm configs are all rendered before any instance exists.

slipway {
  required_version = ">= 0.1"
}

variable "cluster_name" {
  type    = string
  default = "prod"
}

variable "kubernetes_version" {
  type    = string
  default = "1.35.4"
}

variable "containerd_version" {
  type    = string
  default = "1.6.20~ds1-1+deb12u1"
}

variable "vpc_cidr" {
  type    = string
  default = "10.30.0.0/16"
}

variable "control_plane_count" {
  description = "Control-plane nodes, spread over the zones."
  type        = number
  default     = 3
}

variable "etcd_leaving" {
  description = "Dedicated etcd members whose membership the reconcile timer removes (one per run, while quorum holds) before a later apply lowers etcd_member_count: modules/etcd leaving. A step down of more than two members at once (7 → 3) goes through it (ARCHITECTURE.md, Membership)."
  type        = list(string)
  default     = []
}

variable "etcd_member_count" {
  description = "Dedicated etcd members, spread over the zones: 3, or 5 to survive two failures."
  type        = number
  default     = 3

  validation {
    condition     = var.etcd_member_count % 2 == 1 && var.etcd_member_count >= 3 && var.etcd_member_count <= 7
    error_message = "etcd_member_count must be odd (3, 5 or 7): an even count tolerates no more failures than one member fewer."
  }
}

variable "worker_count" {
  description = "Workers, spread over the zones."
  type        = number
  default     = 3
}

locals {
  zones              = ["${var.region}a", "${var.region}b", "${var.region}c"]
  apiserver_endpoint = module.apiserver_lb.dns_name
  pod_cidr           = "10.244.0.0/16"
}

# Names, zones and static IPs of every node, from the inputs alone (round-robin over the zones;
# host 10+ of each private subnet for the control plane, 20+ for etcd, 100+ for workers).
module "control_plane_placement" {
  source       = "../../modules/placement"
  name_prefix  = "${var.cluster_name}-cp"
  node_count   = var.control_plane_count
  zones        = local.zones
  subnet_cidrs = module.network.private_subnet_cidrs
  first_host   = 10
}

module "etcd_placement" {
  source       = "../../modules/placement"
  name_prefix  = "${var.cluster_name}-etcd"
  node_count   = var.etcd_member_count
  zones        = local.zones
  subnet_cidrs = module.network.private_subnet_cidrs
  first_host   = 20
}

module "worker_placement" {
  source       = "../../modules/placement"
  name_prefix  = "${var.cluster_name}-worker"
  node_count   = var.worker_count
  zones        = local.zones
  subnet_cidrs = module.network.private_subnet_cidrs
  first_host   = 100
}

module "pki" {
  source                = "../../modules/pki"
  apiserver_lb_dns_name = local.apiserver_endpoint
  control_plane_nodes   = module.control_plane_placement.ips
  etcd_members          = module.etcd_placement.ips
  cluster_name          = var.cluster_name
}

# External topology: the members are the etcd_nodes instances; the apiservers reach them with
# apiserver-etcd-client through module.etcd.endpoints.
module "etcd" {
  source              = "../../modules/etcd"
  cluster_name        = var.cluster_name
  topology            = "external"
  members             = module.etcd_placement.ips
  control_plane_cidrs = [for z in local.zones : module.network.private_subnet_cidrs[z]]
  # modules/etcd-nodes uploads the declared member list there (its members_key default).
  members_uri = "s3://${aws_s3_bucket.bootstrap.bucket}/nodes/etcd-members.json"
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

  # The apiservers reach etcd through the first three members (sorted by name, so present at
  # every allowed member count): changing etcd_member_count (3 <-> 5) then changes no
  # control-plane node's user-data and replaces none of them. Three endpoints keep the
  # apiservers connected while any one member is down.
  apiserver_etcd_endpoints = slice(module.etcd.endpoints, 0, 3)
}

output "cluster" {
  value = {
    endpoint       = "https://${local.apiserver_endpoint}:6443"
    control_plane  = module.control_plane_placement.ips
    init_node      = module.control_plane.init_node
    workers        = module.worker_placement.ips
    etcd_members   = module.etcd_placement.ips
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
