# The AWS side of dev: network, the apiserver load balancer, per-node IAM roles scoped to each
# node's S3 prefix, the secret bundles in S3, and the instances that boot from user-data that
# holds no secret.

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

# Debian 12 would be the choice on real AWS; the emulator ships Amazon Linux 2023 images.
data "aws_ami" "node" {
  owners      = ["amazon"]
  most_recent = true
  filter {
    name   = "name"
    values = ["al2023-ami-*-x86_64"]
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
  targets    = { for name, i in aws_instance.control_plane : name => i.id }
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

locals {
  nodes = merge(local.control_plane, local.workers)
  bundles = merge(
    { for k, m in module.control_plane_bootstrap : k => m.bundle },
    { for k, m in module.worker_bootstrap : k => m.bundle },
  )
  user_data = merge(
    { for k, m in module.control_plane_bootstrap : k => m.user_data },
    { for k, m in module.worker_bootstrap : k => m.user_data },
  )
}

# Each node's secrets, readable only with that node's role (below).
resource "aws_s3_object" "bundle" {
  for_each = local.nodes
  bucket   = aws_s3_bucket.bootstrap.bucket
  key      = "nodes/${each.key}/bundle.json"
  content  = local.bundles[each.key]
}

resource "aws_iam_role" "node" {
  for_each = local.nodes
  name     = each.key
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ec2.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
}

resource "aws_iam_role_policy" "bundle" {
  for_each = local.nodes
  name     = "read-own-bundle"
  role     = aws_iam_role.node[each.key].name
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["s3:GetObject"]
      Resource = ["arn:aws:s3:::${aws_s3_bucket.bootstrap.bucket}/nodes/${each.key}/*"]
    }]
  })
}

resource "aws_iam_instance_profile" "node" {
  for_each = local.nodes
  name     = each.key
  role     = aws_iam_role.node[each.key].name
}

resource "aws_instance" "control_plane" {
  for_each               = local.control_plane
  ami                    = data.aws_ami.node.id
  instance_type          = var.instance_type
  subnet_id              = module.network.private_subnet_ids[local.zone]
  private_ip             = each.value
  vpc_security_group_ids = [aws_security_group.nodes.id]
  iam_instance_profile   = aws_iam_instance_profile.node[each.key].name
  user_data              = local.user_data[each.key]
  tags = {
    Name = each.key
    Role = "control-plane"
  }
  depends_on = [aws_s3_object.bundle, aws_iam_role_policy.bundle]
}

resource "aws_instance" "worker" {
  for_each               = local.workers
  ami                    = data.aws_ami.node.id
  instance_type          = var.instance_type
  subnet_id              = module.network.private_subnet_ids[local.zone]
  private_ip             = each.value
  vpc_security_group_ids = [aws_security_group.nodes.id]
  iam_instance_profile   = aws_iam_instance_profile.node[each.key].name
  user_data              = local.user_data[each.key]
  tags = {
    Name = each.key
    Role = "worker"
  }
  depends_on = [aws_s3_object.bundle, aws_iam_role_policy.bundle]
}
