# prod: an HA cluster over three zones — three control-plane nodes behind a network load
# balancer, a dedicated etcd cluster (three members, five by variable) with a data volume each,
# and N workers. Everything is in the base (modules/environment: the providers,
# modules/cluster and modules/cluster-addons, the outputs commands read, the moves from earlier
# layouts); this directory is its inputs (prod.vars.hcl, read automatically; put your own
# choices there).

slipway {
  required_version = ">= 0.1"
  extends          = "../../modules/environment"
}
