# dev: the smallest cluster that works — one control-plane node with stacked etcd, one worker.

slipway {
  required_version = ">= 0.1"
}

variable "cluster_name" {
  type    = string
  default = "dev"
}

variable "vpc_cidr" {
  type    = string
  default = "10.20.0.0/16"
}

locals {
  # Static private IPs break the cycle between certificates and instances: certificates can name
  # the nodes before the nodes exist.
  subnet_cidr = cidrsubnet(var.vpc_cidr, 8, 1)
  control_plane = {
    "${var.cluster_name}-cp-a" = cidrhost(local.subnet_cidr, 10)
  }
  workers = {
    "${var.cluster_name}-worker-a" = cidrhost(local.subnet_cidr, 100)
  }
  # Until the load balancer module lands, the apiserver endpoint is the control-plane node.
  apiserver_endpoint = "${var.cluster_name}-apiserver.internal"
}

module "pki" {
  source                = "../../modules/pki"
  apiserver_lb_dns_name = local.apiserver_endpoint
  control_plane_nodes   = local.control_plane
  etcd_members          = local.control_plane
  cluster_name          = var.cluster_name
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
  value     = "${random_string.bootstrap_token_id.result}.${random_password.bootstrap_token_secret.result}"
  sensitive = true
}
