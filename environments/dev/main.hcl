# dev: the smallest cluster that works — one control-plane node with stacked etcd, one worker —
# in one zone. Everything is in the base (modules/environment: the providers, modules/cluster
# and modules/cluster-addons, the outputs commands read, the moves from earlier layouts); this
# directory is its inputs (dev.vars.hcl, read automatically; put your own choices there).

slipway {
  required_version = ">= 0.1"
  extends          = "../../modules/environment"
}
