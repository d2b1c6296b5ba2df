# Where nodes go, computed from inputs alone: node i of a group is named <prefix>-<letter i>,
# sits in zone i mod Z and takes host first_host + (i div Z) of that zone's private subnet.
# Adding a node never moves an existing one. No resources: the names and IPs are known at plan
# time, so certificates and etcd's peer list can name nodes before the instances exist.
#
# Kept apart from the modules that create the instances on purpose: a reference to a module's
# output depends on every output of that module, so IPs read from modules/kubeadm-nodes would
# wait for its instances — which need the certificates that need the IPs.

locals {
  letters    = "abcdefghijklmnopqrstuvwxyz"
  zone_count = length(var.zones)

  nodes = {
    for i in range(var.node_count) : "${var.name_prefix}-${substr(local.letters, i, 1)}" => {
      zone = var.zones[i % local.zone_count]
      ip   = cidrhost(var.subnet_cidrs[var.zones[i % local.zone_count]], var.first_host + floor(i / local.zone_count))
    }
  }
}
