# One Kubernetes cluster on AWS, composed once for every environment: the network, where each
# node goes (modules/placement), the security groups, the bundle bucket, the PKI, etcd (stacked
# on the control plane or dedicated members), the control plane, the workers, the apiserver load
# balancer and the etcd snapshots. An environment is this module's inputs; what runs inside the
# cluster is modules/cluster-addons, a sibling (the kubernetes provider is configured from this
# module's outputs, so objects inside it would depend on themselves).
#
# Invariant: the same inputs give the resources and values the environments had before this
# module existed (their `moved` blocks map the old addresses); topology decides what differs.

locals {
  stacked  = var.etcd_topology == "stacked"
  zones    = [for z in slice(["a", "b", "c"], 0, var.zone_count) : "${var.region}${z}"]
  pod_cidr = "10.244.0.0/16"
  # The declared etcd member list the membership scripts read (modules/etcd-nodes' default key).
  etcd_members_key   = "nodes/etcd-members.json"
  apiserver_endpoint = module.apiserver_lb.dns_name
  bootstrap_token    = "${random_string.bootstrap_token_id.result}.${random_password.bootstrap_token_secret.result}"
  etcd_ips           = local.stacked ? module.control_plane_placement.ips : module.etcd_placement.ips
}

data "aws_ami" "node" {
  owners      = var.ami_owners
  most_recent = true
  filter {
    name   = "name"
    values = [var.ami_name]
  }
}

module "network" {
  source             = "../network"
  name               = var.name
  vpc_cidr           = var.vpc_cidr
  availability_zones = local.zones
}

module "apiserver_lb" {
  source     = "../apiserver-lb"
  name       = "${var.name}-apiserver"
  vpc_id     = module.network.vpc_id
  subnet_ids = [for z in local.zones : module.network.public_subnet_ids[z]]
  targets    = module.control_plane.instance_ids
}

# Names, zones and static IPs of every node, from the inputs alone (round-robin over the zones;
# host 10+ of each private subnet for the control plane, 20+ for etcd, 100+ for workers). Static
# IPs break the cycle between certificates and instances: certificates name the nodes first.
module "control_plane_placement" {
  source       = "../placement"
  name_prefix  = "${var.name}-cp"
  node_count   = var.control_plane_count
  zones        = local.zones
  subnet_cidrs = module.network.private_subnet_cidrs
  first_host   = 10
}

module "etcd_placement" {
  source       = "../placement"
  name_prefix  = "${var.name}-etcd"
  node_count   = local.stacked ? 0 : var.etcd_member_count
  zones        = local.zones
  subnet_cidrs = module.network.private_subnet_cidrs
  first_host   = 20
}

module "worker_placement" {
  source       = "../placement"
  name_prefix  = "${var.name}-worker"
  node_count   = var.worker_count
  zones        = local.zones
  subnet_cidrs = module.network.private_subnet_cidrs
  first_host   = 100
}

locals {
  vpc_ingress = { from_port = 0, to_port = 0, protocol = "-1", cidr_blocks = [var.vpc_cidr] }
  api_ingress = { from_port = 6443, to_port = 6443, protocol = "tcp", cidr_blocks = ["0.0.0.0/0"] }
  # Stacked: one group for every node. External: the control plane has its own, the only
  # source etcd's client port admits (modules/etcd-nodes), and the workers theirs.
  security_groups = {
    for key, g in {
      nodes = {
        name        = "${var.name}-nodes"
        description = "Kubernetes nodes of ${var.name}"
        ingress = [
          merge(local.vpc_ingress, { description = "everything inside the VPC (kubelet, etcd, CNI)" }),
          merge(local.api_ingress, { description = "the Kubernetes API through the load balancer" }),
        ]
      }
      control_plane = {
        name        = "${var.name}-control-plane"
        description = "Kubernetes control plane of ${var.name}"
        ingress = [
          merge(local.api_ingress, { description = "the Kubernetes API: the NLB keeps client addresses" }),
          merge(local.vpc_ingress, { description = "kubelet, controller manager, scheduler and CNI from inside the VPC" }),
        ]
      }
      workers = {
        name        = "${var.name}-workers"
        description = "Kubernetes workers of ${var.name}"
        ingress     = [merge(local.vpc_ingress, { description = "kubelet, node ports and CNI from inside the VPC" })]
      }
    } : key => g if local.stacked == (key == "nodes")
  }
  control_plane_group = aws_security_group.nodes[local.stacked ? "nodes" : "control_plane"].id
  worker_group        = aws_security_group.nodes[local.stacked ? "nodes" : "workers"].id
}

resource "aws_security_group" "nodes" {
  for_each    = local.security_groups
  name        = each.value.name
  description = each.value.description
  vpc_id      = module.network.vpc_id
  dynamic "ingress" {
    for_each = each.value.ingress
    content {
      description = ingress.value.description
      from_port   = ingress.value.from_port
      to_port     = ingress.value.to_port
      protocol    = ingress.value.protocol
      cidr_blocks = ingress.value.cidr_blocks
    }
  }
  egress {
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = ["0.0.0.0/0"]
  }
}

# The nodes' bundles (keys, token), the declared etcd member list and the etcd snapshots.
resource "random_id" "bucket" {
  byte_length = 4
}

resource "aws_s3_bucket" "bootstrap" {
  bucket = "${var.name}-slipway-bootstrap-${random_id.bucket.hex}"
}

module "pki" {
  source                = "../pki"
  apiserver_lb_dns_name = local.apiserver_endpoint
  control_plane_nodes   = module.control_plane_placement.ips
  etcd_members          = local.etcd_ips
  cluster_name          = var.name
}

# Stacked: the control-plane nodes' members (modules/kubeadm-nodes etcd_membership); external:
# the etcd_nodes instances, reached by the apiservers with apiserver-etcd-client.
module "etcd" {
  source              = "../etcd"
  cluster_name        = var.name
  topology            = var.etcd_topology
  members             = local.etcd_ips
  control_plane_cidrs = [for z in local.zones : module.network.private_subnet_cidrs[z]]
  # A count change rewrites this object (uploaded by the node group), not the members' user-data.
  members_uri = "s3://${aws_s3_bucket.bootstrap.bucket}/${local.etcd_members_key}"
  leaving     = var.etcd_leaving
}

# kubeadm bootstrap token: "[a-z0-9]{6}.[a-z0-9]{16}". kubeadm init creates it with a 24 h TTL;
# after that a node that joins (a new worker, a replaced control-plane node, the init node
# replaced while its peers run) would be refused. So the token rotates: every apply after
# `bootstrap_token_rotation_hours` makes a new one, the bundles (S3 objects, not user-data: no
# instance is replaced) carry it, and modules/cluster-addons keeps its Secret in kube-system valid
# until one more period has passed (`join_token.expiration`). An apply at least once per period
# (`slipway watch` does) keeps a valid token in the cluster at all times; after a longer pause
# the next apply rotates first and applies the new Secret right after the machines (the addons
# depend on this module): a node it creates joins minutes later, once its packages are installed,
# and kubeadm join's discovery keeps retrying for 5 minutes.
resource "time_rotating" "bootstrap_token" {
  rotation_hours = var.bootstrap_token_rotation_hours
}

resource "random_string" "bootstrap_token_id" {
  length  = 6
  upper   = false
  special = false
  keepers = { rotation = time_rotating.bootstrap_token.id }
}

resource "random_password" "bootstrap_token_secret" {
  length  = 16
  upper   = false
  special = false
  keepers = { rotation = time_rotating.bootstrap_token.id }
}
