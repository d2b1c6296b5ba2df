# The AWS side of prod: the network over three zones, the apiserver NLB across the public
# subnets, one security group per role, the bundle bucket, and the three node groups.

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

variable "ami_owners" {
  description = "Owners of the node image. The bootstrap scripts target Debian 12 (apt, Debian's containerd): the default is Debian's own account (https://wiki.debian.org/Cloud/AmazonEC2Image)."
  type        = list(string)
  default     = ["136693071363"]
}

variable "ami_name" {
  description = "Name pattern of the node image; the newest match is used."
  type        = string
  default     = "debian-12-amd64-*"
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
  source             = "../../modules/network"
  name               = var.cluster_name
  vpc_cidr           = var.vpc_cidr
  availability_zones = local.zones
}

module "apiserver_lb" {
  source     = "../../modules/apiserver-lb"
  name       = "${var.cluster_name}-apiserver"
  vpc_id     = module.network.vpc_id
  subnet_ids = [for z in local.zones : module.network.public_subnet_ids[z]]
  targets    = module.control_plane.instance_ids
}

resource "aws_security_group" "control_plane" {
  name        = "${var.cluster_name}-control-plane"
  description = "Kubernetes control plane of ${var.cluster_name}"
  vpc_id      = module.network.vpc_id
  ingress {
    description = "the Kubernetes API: the NLB keeps client addresses"
    from_port   = 6443
    to_port     = 6443
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }
  ingress {
    description = "kubelet, controller manager, scheduler and CNI from inside the VPC"
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = [var.vpc_cidr]
  }
  egress {
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = ["0.0.0.0/0"]
  }
}

resource "aws_security_group" "workers" {
  name        = "${var.cluster_name}-workers"
  description = "Kubernetes workers of ${var.cluster_name}"
  vpc_id      = module.network.vpc_id
  ingress {
    description = "kubelet, node ports and CNI from inside the VPC"
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = [var.vpc_cidr]
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

module "etcd_nodes" {
  source                   = "../../modules/etcd-nodes"
  cluster_name             = var.cluster_name
  members                  = module.etcd_placement.nodes
  subnet_ids               = module.network.private_subnet_ids
  vpc_id                   = module.network.vpc_id
  client_security_group_id = aws_security_group.control_plane.id
  # Prometheus (cluster.hcl, on the workers) scrapes etcd's /metrics over TLS on the client port.
  metrics_security_group_ids = var.install_addons ? [aws_security_group.workers.id] : []
  ami                        = data.aws_ami.node.id
  instance_type              = var.instance_type
  bucket                     = aws_s3_bucket.bootstrap.bucket
  config_path                = module.etcd.config_file
  systemd_units              = module.etcd.systemd_units
  pki_bundles                = module.pki.bundles
  etcd_restore               = var.etcd_restore
  # Scheduled snapshots (snapshots.hcl): the leader, every interval, into the bundle bucket.
  snapshot_interval                = var.etcd_snapshot_interval
  snapshot_retention_days          = var.etcd_snapshot_retention_days
  snapshot_denied_reader_role_arns = concat(values(module.control_plane.role_arns), values(module.workers.role_arns))
  # Quorum-safe membership (ARCHITECTURE.md "etcd operations and disaster recovery"): the
  # members start from configs naming only themselves, and their scripts read the declared list
  # from S3, so a changed etcd_member_count replaces no running member.
  config_files       = module.etcd.member_config_files
  member_scripts     = module.etcd.member_scripts
  member_script_path = module.etcd.member_script_path
  membership_units   = module.etcd.membership_units
  declared_members   = module.etcd.declared_members
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

module "control_plane" {
  source             = "../../modules/control-plane"
  cluster_name       = var.cluster_name
  nodes              = module.control_plane_placement.nodes
  subnet_ids         = module.network.private_subnet_ids
  ami                = data.aws_ami.node.id
  instance_type      = var.instance_type
  security_group_ids = [aws_security_group.control_plane.id]
  bucket             = aws_s3_bucket.bootstrap.bucket
  kubernetes_version = var.kubernetes_version
  containerd_version = var.containerd_version
  apiserver_endpoint = local.apiserver_endpoint
  etcd               = { topology = "external", endpoints = local.apiserver_etcd_endpoints }
  pod_cidr           = local.pod_cidr
  bootstrap_token    = local.bootstrap_token
  ca_cert_hash       = module.pki.ca_cert_hash
  pki_bundles        = module.pki.bundles
  # No depends_on on module.etcd_nodes: the members boot in parallel anyway, so the init node's
  # bootstrap script waits for etcd's health before kubeadm init (modules/node-bootstrap).
}

module "workers" {
  source             = "../../modules/workers"
  cluster_name       = var.cluster_name
  nodes              = module.worker_placement.nodes
  subnet_ids         = module.network.private_subnet_ids
  ami                = data.aws_ami.node.id
  instance_type      = var.instance_type
  security_group_ids = [aws_security_group.workers.id]
  bucket             = aws_s3_bucket.bootstrap.bucket
  kubernetes_version = var.kubernetes_version
  containerd_version = var.containerd_version
  apiserver_endpoint = local.apiserver_endpoint
  pod_cidr           = local.pod_cidr
  bootstrap_token    = local.bootstrap_token
  ca_cert_hash       = module.pki.ca_cert_hash
}
