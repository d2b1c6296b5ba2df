# A group of Kubernetes nodes kubeadm sets up, written once for both roles: one node per entry
# of `nodes` (modules/placement: names, zones, static IPs), each with a kubeadm config rendered
# by modules/node-bootstrap and its own IAM role, bundle and instance (modules/nodes).
# role = "control-plane": the first node by name runs `kubeadm init`, the others join as
# control-plane nodes with the pre-generated certificates from their bundles (and, with stacked
# etcd, membership.hcl and snapshots.hcl). role = "worker": every node joins with the bootstrap
# token and the CA hash; its bundle holds only the token (kubeadm's TLS bootstrap issues the
# kubelet's certificate), and the control-plane inputs stay at their defaults.

locals {
  control_plane = var.role == "control-plane"
  init_node     = length(var.nodes) == 0 ? null : sort(keys(var.nodes))[0]
  bundle_keys   = { for name, n in var.nodes : name => "${var.bundle_prefix}/${name}/bundle.json" }
}

module "bootstrap" {
  source             = "../node-bootstrap"
  for_each           = var.nodes
  cluster_name       = var.cluster_name
  role               = !local.control_plane ? "worker" : each.key == local.init_node ? "control-plane-init" : "control-plane-join"
  node_name          = each.key
  node_ip            = each.value.ip
  kubernetes_version = var.kubernetes_version
  containerd_version = var.containerd_version
  bundle_s3_uri      = "s3://${var.bucket}/${local.bundle_keys[each.key]}"
  apiserver_endpoint = var.apiserver_endpoint
  apiserver_port     = var.apiserver_port
  etcd               = var.etcd
  pod_cidr           = var.pod_cidr
  service_cidr       = var.service_cidr
  bootstrap_token    = var.bootstrap_token
  ca_cert_hash       = var.ca_cert_hash
  pki_files          = lookup(var.pki_bundles, each.key, {})
  etcd_snapshots     = var.etcd_snapshots
  # Stacked etcd membership (membership.hcl): the script, the reconcile units, etcdctl.
  extra_files     = local.membership_files[each.key]
  bundle_scripts  = local.membership_scripts[each.key]
  etcd_membership = local.membership
  # Stacked etcd: the init node's local member restores before kubeadm init; the others join it.
  etcd_restore = local.control_plane ? var.etcd_restore : null
}

module "nodes" {
  source             = "../nodes"
  role               = var.role
  private_ips        = { for name, n in var.nodes : name => n.ip }
  subnet_ids         = { for name, n in var.nodes : name => var.subnet_ids[n.zone] }
  user_data          = { for name, m in module.bootstrap : name => m.user_data }
  bundles            = { for name, m in module.bootstrap : name => m.bundle }
  bundle_keys        = local.bundle_keys
  bucket             = var.bucket
  ami                = var.ami
  instance_type      = var.instance_type
  security_group_ids = var.security_group_ids
  # The declared etcd member list (membership.hcl), and during `dr rebuild` the init node's
  # snapshot. In the bundle policy, which modules/nodes destroys only after the instance: a node
  # destroyed by a scale-down reads the list at shutdown to leave the cluster.
  read_objects = {
    for name, n in var.nodes : name => concat(
      local.membership ? ["arn:aws:s3:::${var.bucket}/${var.etcd_members_key}"] : [],
      local.control_plane && var.etcd_restore != null && var.etcd.topology == "stacked" && name == local.init_node ? ["arn:aws:s3:::${var.etcd_restore.bucket}/${var.etcd_restore.key}"] : [],
    )
  }
}
