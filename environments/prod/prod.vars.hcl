# prod's inputs of modules/environment (its variables.hcl lists them all, with their defaults).
# -var and -var-file override them.

cluster_name     = "prod"
vpc_cidr         = "10.30.0.0/16"
environment_path = "environments/prod"

zone_count          = 3
etcd_topology       = "external"
control_plane_count = 3
worker_count        = 3
etcd_member_count   = 3
