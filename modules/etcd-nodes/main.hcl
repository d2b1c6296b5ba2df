# Dedicated etcd members (external topology) on EC2: one instance per member (modules/placement:
# spread over the zones), each with a static private IP and its own EBS data volume mounted at etcd's data dir,
# running modules/etcd's config file and unit under systemd. Their security group admits the
# client port only from the control plane's group and the peer port only from members.

locals {
  bundle_keys = { for name, m in var.members : name => "${var.bundle_prefix}/${name}/bundle.json" }
}

# Inline rules (authoritative: nothing else may open this group). Separate
# aws_security_group_rule resources with source_security_group_id would say the same, but the AWS
# provider cannot create an aws_security_group_rule yet (its create sees the computed `id` as
# unknown and refuses every rule), so the sources are group references inline.
resource "aws_security_group" "etcd" {
  name        = "${var.cluster_name}-etcd"
  description = "etcd members of ${var.cluster_name}"
  vpc_id      = var.vpc_id
  # Prometheus (modules/observability, on the workers) scrapes /metrics on the client port with
  # its own client certificate: its nodes' groups are admitted to that one port, nothing wider.
  ingress {
    description     = length(var.metrics_security_group_ids) == 0 ? "etcd clients: the control plane only" : "etcd clients: the control plane, and Prometheus's nodes for /metrics"
    from_port       = var.client_port
    to_port         = var.client_port
    protocol        = "tcp"
    security_groups = concat([var.client_security_group_id], var.metrics_security_group_ids)
  }
  ingress {
    description = "etcd peer traffic: members only"
    from_port   = var.peer_port
    to_port     = var.peer_port
    protocol    = "tcp"
    self        = true
  }
  egress {
    description = "packages, S3, peers"
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = ["0.0.0.0/0"]
  }
}

# A member's data outlives its instance's root disk; its zone is the member's.
resource "aws_ebs_volume" "data" {
  for_each          = var.members
  availability_zone = each.value.zone
  size              = var.volume_size
  type              = var.volume_type
  encrypted         = true
  tags = {
    Name = "${each.key}-data"
  }
}

module "bootstrap" {
  source       = "../node-bootstrap"
  for_each     = var.members
  cluster_name = var.cluster_name
  role         = "etcd"
  node_name    = each.key
  node_ip      = each.value.ip
  etcd_service = {
    config_path      = var.config_path
    config_file      = var.config_files[each.key]
    systemd_unit     = var.systemd_units[each.key]
    data_dir         = var.data_dir
    data_volume_id   = aws_ebs_volume.data[each.key].id
    data_device_name = var.device_name
  }
  extra_files   = local.membership_files[each.key]
  etcd_version  = var.etcd_version
  etcd_sha256   = var.etcd_sha256
  bundle_s3_uri = "s3://${var.bucket}/${local.bundle_keys[each.key]}"
  pki_files     = var.pki_bundles[each.key]
  # Required by node-bootstrap for its Kubernetes roles; a systemd etcd member renders none of
  # them (no kubelet, no kubeadm).
  kubernetes_version = "0.0.0"
  containerd_version = "none"
  apiserver_endpoint = "none"
  # With etcd_restore, the other members' client URLs: a member restores only while none of
  # them reports health.
  etcd = {
    topology  = "external"
    endpoints = var.etcd_restore == null ? [] : [for name in sort(keys(var.members)) : "https://${var.members[name].ip}:${var.client_port}" if name != each.key]
  }
  pod_cidr       = "0.0.0.0/0"
  etcd_restore   = var.etcd_restore
  etcd_snapshots = local.etcd_snapshots
}

module "nodes" {
  source             = "../nodes"
  role               = "etcd"
  private_ips        = { for name, m in var.members : name => m.ip }
  subnet_ids         = { for name, m in var.members : name => var.subnet_ids[m.zone] }
  user_data          = { for name, m in module.bootstrap : name => m.user_data }
  bundles            = { for name, m in module.bootstrap : name => m.bundle }
  bundle_keys        = local.bundle_keys
  bucket             = var.bucket
  ami                = var.ami
  instance_type      = var.instance_type
  security_group_ids = [aws_security_group.etcd.id]
  # While a rebuild restores from it, the snapshot object and nothing else besides the bundle.
  read_objects = var.etcd_restore == null ? {} : { for name, m in var.members : name => ["arn:aws:s3:::${var.etcd_restore.bucket}/${var.etcd_restore.key}"] }
}

resource "aws_volume_attachment" "data" {
  for_each    = var.members
  device_name = var.device_name
  volume_id   = aws_ebs_volume.data[each.key].id
  instance_id = module.nodes.instance_ids[each.key]
}
