# Workers: one node per entry of `nodes` (modules/placement), each joining with the bootstrap
# token slipway generated and the CA public-key hash slipway computed. A worker's bundle holds
# only the token: it gets no key, kubeadm's TLS bootstrap issues its kubelet certificate.

locals {
  bundle_keys = { for name, n in var.nodes : name => "${var.bundle_prefix}/${name}/bundle.json" }
}

module "bootstrap" {
  source             = "../node-bootstrap"
  for_each           = var.nodes
  cluster_name       = var.cluster_name
  role               = "worker"
  node_name          = each.key
  node_ip            = each.value.ip
  kubernetes_version = var.kubernetes_version
  containerd_version = var.containerd_version
  bundle_s3_uri      = "s3://${var.bucket}/${local.bundle_keys[each.key]}"
  apiserver_endpoint = var.apiserver_endpoint
  apiserver_port     = var.apiserver_port
  # A JoinConfiguration names no etcd; the input is required by node-bootstrap.
  etcd            = { topology = "stacked", endpoints = [] }
  pod_cidr        = var.pod_cidr
  bootstrap_token = var.bootstrap_token
  ca_cert_hash    = var.ca_cert_hash
}

module "nodes" {
  source             = "../nodes"
  role               = "worker"
  private_ips        = { for name, n in var.nodes : name => n.ip }
  subnet_ids         = { for name, n in var.nodes : name => var.subnet_ids[n.zone] }
  user_data          = { for name, m in module.bootstrap : name => m.user_data }
  bundles            = { for name, m in module.bootstrap : name => m.bundle }
  bundle_keys        = local.bundle_keys
  bucket             = var.bucket
  ami                = var.ami
  instance_type      = var.instance_type
  security_group_ids = var.security_group_ids
}
