# Where state applied before modules/cluster existed (each environment wiring everything at
# its root) moves: the same objects, new addresses. The union of what dev and prod had: a block
# whose `from` is not in state does nothing (dev never had module.etcd_nodes, prod never had
# module.etcd_snapshots at its root), so one list serves both. Kept until every copy of every
# environment's state has been applied once with this layout (tests/env_layout.rs).

moved {
  from = module.network
  to   = module.cluster.module.network
}

moved {
  from = module.apiserver_lb
  to   = module.cluster.module.apiserver_lb
}

moved {
  from = module.pki
  to   = module.cluster.module.pki
}

moved {
  from = module.control_plane
  to   = module.cluster.module.control_plane
}

moved {
  from = module.workers
  to   = module.cluster.module.workers
}

moved {
  from = random_id.bucket
  to   = module.cluster.random_id.bucket
}

moved {
  from = aws_s3_bucket.bootstrap
  to   = module.cluster.aws_s3_bucket.bootstrap
}

moved {
  from = random_string.bootstrap_token_id
  to   = module.cluster.random_string.bootstrap_token_id
}

moved {
  from = random_password.bootstrap_token_secret
  to   = module.cluster.random_password.bootstrap_token_secret
}

moved {
  from = module.observability[0]
  to   = module.addons.module.observability[0]
}

moved {
  from = module.gitops[0]
  to   = module.addons.module.gitops[0]
}

moved {
  from = module.slipway_agent[0]
  to   = module.addons.module.slipway_agent[0]
}

moved {
  from = random_password.agent_webhook
  to   = module.addons.random_password.agent_webhook
}

# Stacked etcd (dev): snapshots from the control plane, one security group for every node.

moved {
  from = module.etcd_snapshots
  to   = module.cluster.module.etcd_snapshots[0]
}

moved {
  from = aws_security_group.nodes
  to   = module.cluster.aws_security_group.nodes["nodes"]
}

# External etcd (prod): dedicated members, the control plane and the workers in groups of their own.

moved {
  from = module.etcd_nodes
  to   = module.cluster.module.etcd_nodes[0]
}

moved {
  from = aws_security_group.control_plane
  to   = module.cluster.aws_security_group.nodes["control_plane"]
}

moved {
  from = aws_security_group.workers
  to   = module.cluster.aws_security_group.nodes["workers"]
}
