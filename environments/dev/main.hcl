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
  default = "1.31.4"
}

variable "containerd_version" {
  type    = string
  default = "1.6.20~ds1-1+deb12u1"
}

variable "vpc_cidr" {
  type    = string
  default = "10.20.0.0/16"
}

locals {
  # Static private IPs break the cycle between certificates and instances: certificates can name
  # the nodes before the nodes exist.
  zone = "${var.region}a"
  # The first private subnet of modules/network (zone index 0 → netnum 10).
  subnet_cidr = cidrsubnet(var.vpc_cidr, 8, 10)
  control_plane = {
    "${var.cluster_name}-cp-a" = cidrhost(local.subnet_cidr, 10)
  }
  workers = {
    "${var.cluster_name}-worker-a" = cidrhost(local.subnet_cidr, 100)
  }
  apiserver_endpoint = module.apiserver_lb.dns_name
}

module "pki" {
  source                = "../../modules/pki"
  apiserver_lb_dns_name = local.apiserver_endpoint
  control_plane_nodes   = local.control_plane
  etcd_members          = local.control_plane
  cluster_name          = var.cluster_name
}

module "etcd" {
  source              = "../../modules/etcd"
  cluster_name        = var.cluster_name
  topology            = "stacked"
  members             = local.control_plane
  control_plane_cidrs = [local.subnet_cidr]
}

# One bootstrap document per node: the first control-plane node initialises, workers join. The
# user-data holds no secret; each node fetches its bundle from S3 with its own instance role.
module "control_plane_bootstrap" {
  source             = "../../modules/node-bootstrap"
  for_each           = local.control_plane
  cluster_name       = var.cluster_name
  role               = "control-plane-init"
  node_name          = each.key
  node_ip            = each.value
  kubernetes_version = var.kubernetes_version
  containerd_version = var.containerd_version
  bundle_s3_uri      = "s3://${aws_s3_bucket.bootstrap.bucket}/nodes/${each.key}/bundle.json"
  apiserver_endpoint = local.apiserver_endpoint
  etcd               = { topology = "stacked", endpoints = module.etcd.endpoints }
  pod_cidr           = "10.244.0.0/16"
  bootstrap_token    = local.bootstrap_token
  pki_files          = module.pki.bundles[each.key]
}

module "worker_bootstrap" {
  source             = "../../modules/node-bootstrap"
  for_each           = local.workers
  cluster_name       = var.cluster_name
  role               = "worker"
  node_name          = each.key
  node_ip            = each.value
  kubernetes_version = var.kubernetes_version
  containerd_version = var.containerd_version
  bundle_s3_uri      = "s3://${aws_s3_bucket.bootstrap.bucket}/nodes/${each.key}/bundle.json"
  apiserver_endpoint = local.apiserver_endpoint
  etcd               = { topology = "stacked", endpoints = module.etcd.endpoints }
  pod_cidr           = "10.244.0.0/16"
  bootstrap_token    = local.bootstrap_token
  ca_cert_hash       = module.pki.ca_cert_hash
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
    control_plane  = local.control_plane
    workers        = local.workers
    etcd_endpoints = [for name, ip in local.control_plane : "https://${ip}:2379"]
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
