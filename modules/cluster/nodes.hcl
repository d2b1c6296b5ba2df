# The node groups: the control plane (the first node by name inits) and the workers, both
# modules/kubeadm-nodes, and with the external topology the dedicated etcd members; then the etcd
# snapshots' schedule and policies.

module "control_plane" {
  source             = "../kubeadm-nodes"
  role               = "control-plane"
  cluster_name       = var.name
  nodes              = module.control_plane_placement.nodes
  subnet_ids         = module.network.private_subnet_ids
  ami                = data.aws_ami.node.id
  instance_type      = var.instance_type
  security_group_ids = [local.control_plane_group]
  bucket             = aws_s3_bucket.bootstrap.bucket
  kubernetes_version = var.kubernetes_version
  containerd_version = var.containerd_version
  apiserver_endpoint = local.apiserver_endpoint
  # External: the apiservers reach etcd through the first three members (sorted by name, so
  # present at every allowed member count): changing etcd_member_count (3 <-> 5) then changes no
  # control-plane node's user-data. Three endpoints keep them connected while one member is down.
  etcd            = { topology = var.etcd_topology, endpoints = local.stacked ? module.etcd.endpoints : slice(module.etcd.endpoints, 0, 3) }
  pod_cidr        = local.pod_cidr
  bootstrap_token = local.bootstrap_token
  ca_cert_hash    = module.pki.ca_cert_hash
  pki_bundles     = module.pki.bundles
  # External: the members restore (modules/etcd-nodes); the control plane renders nothing for it.
  etcd_restore = local.stacked ? var.etcd_restore : null

  # Stacked etcd membership (modules/kubeadm-nodes membership.hcl): remove-stale before a join,
  # init-or-join on the init node, the reconcile timer, leave at shutdown, etcdctl, and the
  # declared member list in S3. No depends_on on the external members: they boot in parallel,
  # and the init node's bootstrap waits for etcd's health before kubeadm init.
  etcd_membership = local.stacked ? {
    scripts          = module.etcd.member_scripts
    script_path      = module.etcd.member_script_path
    units            = module.etcd.stacked_units
    declared_members = module.etcd.declared_members
  } : null
  etcd_members_key = local.etcd_members_key

  # Stacked: scheduled snapshots from the members (snapshots.hcl); 2379 is kubeadm's client port.
  etcd_snapshots = local.stacked ? { bucket = aws_s3_bucket.bootstrap.bucket, prefix = "etcd-snapshots", interval = var.etcd_snapshot_interval, client_port = 2379 } : null
}

module "workers" {
  source             = "../kubeadm-nodes"
  role               = "worker"
  cluster_name       = var.name
  nodes              = module.worker_placement.nodes
  subnet_ids         = module.network.private_subnet_ids
  ami                = data.aws_ami.node.id
  instance_type      = var.instance_type
  security_group_ids = [local.worker_group]
  bucket             = aws_s3_bucket.bootstrap.bucket
  kubernetes_version = var.kubernetes_version
  containerd_version = var.containerd_version
  apiserver_endpoint = local.apiserver_endpoint
  pod_cidr           = local.pod_cidr
  bootstrap_token    = local.bootstrap_token
  ca_cert_hash       = module.pki.ca_cert_hash
}

module "etcd_nodes" {
  count                      = local.stacked ? 0 : 1
  source                     = "../etcd-nodes"
  cluster_name               = var.name
  members                    = module.etcd_placement.nodes
  subnet_ids                 = module.network.private_subnet_ids
  vpc_id                     = module.network.vpc_id
  client_security_group_id   = local.control_plane_group
  metrics_security_group_ids = var.etcd_metrics_from_workers ? [local.worker_group] : []
  ami                        = data.aws_ami.node.id
  instance_type              = var.instance_type
  bucket                     = aws_s3_bucket.bootstrap.bucket
  config_path                = module.etcd.config_file
  systemd_units              = module.etcd.systemd_units
  pki_bundles                = module.pki.bundles
  etcd_restore               = var.etcd_restore
  # Scheduled snapshots (modules/etcd-nodes snapshots.hcl): the leader, into the bundle bucket.
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

# Stacked: the control-plane nodes are the members and write the snapshots.
module "etcd_snapshots" {
  count          = local.stacked ? 1 : 0
  source         = "../etcd-snapshots"
  bucket         = aws_s3_bucket.bootstrap.bucket
  retention_days = var.etcd_snapshot_retention_days
  writer_roles   = module.control_plane.role_names
  # While `dr rebuild` restores (etcd_restore set), the init node must read that snapshot.
  denied_reader_role_arns = concat([for name, arn in module.control_plane.role_arns : arn if var.etcd_restore == null || name != module.control_plane.init_node], values(module.workers.role_arns))
}
