# The base every environment extends (`slipway { extends = "../../modules/environment" }` in
# environments/*/main.hcl): these files are read as the environment's own, so the addresses are
# module.cluster.* and module.addons.* whichever environment applies them. Sources below are
# relative to this directory. What differs between environments is in variables.hcl, set by
# each environment's *.vars.hcl.

provider "aws" {
  region = var.region
}

module "cluster" {
  source                       = "../cluster"
  name                         = var.cluster_name
  region                       = var.region
  zone_count                   = var.zone_count
  vpc_cidr                     = var.vpc_cidr
  instance_type                = var.instance_type
  ami_owners                   = var.ami_owners
  ami_name                     = var.ami_name
  kubernetes_version           = var.kubernetes_version
  containerd_version           = var.containerd_version
  control_plane_count          = var.control_plane_count
  worker_count                 = var.worker_count
  etcd_topology                = var.etcd_topology
  etcd_member_count            = var.etcd_member_count
  etcd_leaving                 = var.etcd_leaving
  etcd_restore                 = var.etcd_restore
  etcd_snapshot_interval       = var.etcd_snapshot_interval
  etcd_snapshot_retention_days = var.etcd_snapshot_retention_days
  # External topology: Prometheus (on the workers) scrapes etcd's /metrics over TLS on the
  # client port. Stacked, there is no separate etcd group and this changes nothing.
  etcd_metrics_from_workers = var.install_addons
}

# Once the API server answers /readyz through the load balancer (or at `kubeconfig`).
provider "kubernetes" {
  config_path            = var.kubeconfig
  host                   = var.kubeconfig == null ? module.cluster.kubernetes.host : null
  cluster_ca_certificate = var.kubeconfig == null ? module.cluster.kubernetes.cluster_ca_certificate : null
  client_certificate     = var.kubeconfig == null ? module.cluster.kubernetes.client_certificate : null
  client_key             = var.kubeconfig == null ? module.cluster.kubernetes.client_key : null
  # The nodes boot and run kubeadm after their instances exist: minutes, not seconds.
  ready_timeout = "20m"
}

module "addons" {
  source              = "../cluster-addons"
  enabled             = var.install_addons
  cluster_name        = var.cluster_name
  observed            = module.cluster.observed
  etcd_metrics_client = module.cluster.etcd_metrics_client
  join_token          = module.cluster.join_token
  environment_path    = var.environment_path
  gitops_repository   = var.gitops_repository
  gitops_branch       = var.gitops_branch
  gitops_known_hosts  = var.gitops_known_hosts
  agent_image         = var.agent_image
  agent_env           = var.agent_env
  depends_on          = [module.cluster]
}
