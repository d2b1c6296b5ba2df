# Stacked etcd membership (issue #16): every control-plane node runs an etcd member in kubeadm's
# static pod, and kubeadm joins a new node's member as a learner and promotes it. What kubeadm
# does not do is done by modules/etcd's membership script (member_scripts, the same template as
# dedicated members): `remove-stale` before `kubeadm join` (a node replaced on the same name and
# IP leaves a dead member that would make the join fail and counts as a voter), and the reconcile
# timer (removes members no longer declared, one per run, while quorum holds), `init-or-join` on
# the init node (a replaced init node joins instead of starting a second cluster) and `leave` at
# shutdown (a node destroyed by a scale-down removes its own member first). The declared
# member list is one S3 object, and each node's script travels in its bundle, not user-data: changing the control-plane count rewrites it and
# replaces no running control-plane node (user-data is force-new).

variable "etcd_membership" {
  description = "Stacked etcd only: { scripts = modules/etcd member_scripts, script_path = modules/etcd member_script_path, units = modules/etcd stacked_units, declared_members = modules/etcd declared_members }, with modules/etcd's members_uri = s3://<bucket>/<etcd_members_key>. Every node of `nodes` needs its script. Null: none of it (kubeadm alone)."
  type = object({
    scripts          = map(string)
    script_path      = string
    units            = map(string)
    declared_members = string
  })
  default = null
}

variable "etcd_members_key" {
  description = "S3 key (in `bucket`) of the declared etcd member list the scripts read."
  type        = string
  default     = "nodes/etcd-members.json"
}

locals {
  # Known at plan time (the scripts are not, before the bucket exists): decided by the path.
  membership = local.control_plane && var.etcd.topology == "stacked" && try(var.etcd_membership.script_path, "") != ""
  # The script travels in the node's S3 bundle (node-bootstrap bundle_scripts), not in
  # user-data: with the kubeadm config and the bootstrap and snapshot scripts (and the restore
  # script on the init node during `slipway dr rebuild`), a control-plane node's user-data would
  # pass EC2's 16 KiB. The reconcile units are small and stay in user-data.
  membership_scripts = {
    for name, n in var.nodes : name => local.membership ? { (var.etcd_membership.script_path) = var.etcd_membership.scripts[name] } : {}
  }
  membership_files = {
    for name, n in var.nodes : name => local.membership ? [
      for path in sort(keys(var.etcd_membership.units)) : { path = path, permissions = "0644", content = var.etcd_membership.units[path], encoding = "text/plain" }
    ] : []
  }
}

# Rewritten in place when the control-plane count changes: the scripts read it on every run.
# depends_on: slipway updates a dependent before it destroys what it depends on, so on a
# scale-down the list stops naming the nodes before their instances are destroyed, and each
# one's shutdown (`leave`, slipway-etcd-leave.service) finds itself undeclared and leaves the
# cluster. Each node's role reads the list through its bundle policy (main.hcl read_objects),
# which modules/nodes destroys only after the instance. (On a scale-up the list names the new
# nodes once their instances exist, before they boot and join.)
resource "aws_s3_object" "etcd_members" {
  count        = local.membership ? 1 : 0
  bucket       = var.bucket
  key          = var.etcd_members_key
  content      = var.etcd_membership.declared_members
  content_type = "application/json"
  depends_on   = [module.nodes]
}
