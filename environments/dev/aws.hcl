# The AWS side of dev: network, the apiserver load balancer, one security group, the bundle
# bucket, and the two node groups (modules/control-plane, modules/workers: per-node IAM roles
# scoped to each node's S3 prefix, the secret bundles in S3, and instances that boot from
# user-data that holds no secret).

provider "aws" {
  region = var.region
}

variable "region" {
  type    = string
  default = "us-east-1"
}

variable "instance_type" {
  type    = string
  default = "t3.medium"
}

data "aws_availability_zones" "available" {
  state = "available"
}

# The newest Debian 12 image from Debian's own account (https://wiki.debian.org/Cloud/AmazonEC2Image):
# the bootstrap scripts use apt and Debian's packages.
data "aws_ami" "node" {
  owners      = ["136693071363"]
  most_recent = true
  filter {
    name   = "name"
    values = ["debian-12-amd64-*"]
  }
}

module "network" {
  source             = "../../modules/network"
  name               = var.cluster_name
  vpc_cidr           = var.vpc_cidr
  availability_zones = [local.zone]
}

module "apiserver_lb" {
  source     = "../../modules/apiserver-lb"
  name       = "${var.cluster_name}-apiserver"
  vpc_id     = module.network.vpc_id
  subnet_ids = values(module.network.public_subnet_ids)
  targets    = module.control_plane.instance_ids
}

resource "aws_security_group" "nodes" {
  name        = "${var.cluster_name}-nodes"
  description = "Kubernetes nodes of ${var.cluster_name}"
  vpc_id      = module.network.vpc_id
  ingress {
    description = "everything inside the VPC (kubelet, etcd, CNI)"
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = [var.vpc_cidr]
  }
  ingress {
    description = "the Kubernetes API through the load balancer"
    from_port   = 6443
    to_port     = 6443
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }
  egress {
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = ["0.0.0.0/0"]
  }
}

resource "random_id" "bucket" {
  byte_length = 4
}

resource "aws_s3_bucket" "bootstrap" {
  bucket = "${var.cluster_name}-slipway-bootstrap-${random_id.bucket.hex}"
}

module "control_plane" {
  source             = "../../modules/control-plane"
  cluster_name       = var.cluster_name
  nodes              = module.control_plane_placement.nodes
  subnet_ids         = module.network.private_subnet_ids
  ami                = data.aws_ami.node.id
  instance_type      = var.instance_type
  security_group_ids = [aws_security_group.nodes.id]
  bucket             = aws_s3_bucket.bootstrap.bucket
  kubernetes_version = var.kubernetes_version
  containerd_version = var.containerd_version
  apiserver_endpoint = local.apiserver_endpoint
  etcd               = { topology = "stacked", endpoints = module.etcd.endpoints }
  pod_cidr           = local.pod_cidr
  bootstrap_token    = local.bootstrap_token
  ca_cert_hash       = module.pki.ca_cert_hash
  pki_bundles        = module.pki.bundles
  etcd_restore       = var.etcd_restore

  # Stacked etcd membership (modules/control-plane membership.hcl): remove-stale before a join,
  # init-or-join on the init node, the reconcile timer, leave at shutdown, etcdctl, and the
  # declared member list in S3.
  etcd_membership = {
    scripts          = module.etcd.member_scripts
    script_path      = module.etcd.member_script_path
    units            = module.etcd.stacked_units
    declared_members = module.etcd.declared_members
  }
  etcd_members_key = local.etcd_members_key

  # Scheduled snapshots from the stacked members (snapshots.hcl); 2379 is kubeadm's client port.
  etcd_snapshots = { bucket = aws_s3_bucket.bootstrap.bucket, prefix = "etcd-snapshots", interval = var.etcd_snapshot_interval, client_port = 2379 }
}

# Set by `slipway dr rebuild` (SLIPWAY_VAR_etcd_restore / -var): the snapshot every new etcd
# member restores from before its first start. Keep it set after the rebuild (it is part of the
# members' user-data: clearing it replaces them); a member whose cluster is healthy ignores it.
variable "etcd_restore" {
  type = object({
    bucket = string
    key    = string
    sha256 = string
  })
  default = null
}

module "workers" {
  source             = "../../modules/workers"
  cluster_name       = var.cluster_name
  nodes              = module.worker_placement.nodes
  subnet_ids         = module.network.private_subnet_ids
  ami                = data.aws_ami.node.id
  instance_type      = var.instance_type
  security_group_ids = [aws_security_group.nodes.id]
  bucket             = aws_s3_bucket.bootstrap.bucket
  kubernetes_version = var.kubernetes_version
  containerd_version = var.containerd_version
  apiserver_endpoint = local.apiserver_endpoint
  pod_cidr           = local.pod_cidr
  bootstrap_token    = local.bootstrap_token
  ca_cert_hash       = module.pki.ca_cert_hash
}
