# dev's inputs of modules/environment (its variables.hcl lists them all, with their defaults).
# -var and -var-file override them.

cluster_name     = "dev"
vpc_cidr         = "10.20.0.0/16"
environment_path = "environments/dev"

zone_count          = 1
etcd_topology       = "stacked"
control_plane_count = 1
worker_count        = 1
