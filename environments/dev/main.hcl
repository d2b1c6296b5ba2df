# dev: the smallest cluster that works — one control-plane node with stacked etcd, one worker —
# in one zone. The wiring is modules/cluster (machines) and modules/cluster-addons (what runs
# inside); this directory is their inputs (variables.hcl) and the outputs commands read.

slipway {
  required_version = ">= 0.1"
}

provider "aws" {
  region = var.region
}

module "cluster" {
  source                       = "../../modules/cluster"
  name                         = var.cluster_name
  region                       = var.region
  zone_count                   = 1
  vpc_cidr                     = var.vpc_cidr
  instance_type                = var.instance_type
  kubernetes_version           = var.kubernetes_version
  containerd_version           = var.containerd_version
  control_plane_count          = var.control_plane_count
  worker_count                 = 1
  etcd_topology                = "stacked"
  etcd_leaving                 = var.etcd_leaving
  etcd_restore                 = var.etcd_restore
  etcd_snapshot_interval       = var.etcd_snapshot_interval
  etcd_snapshot_retention_days = var.etcd_snapshot_retention_days
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
  source              = "../../modules/cluster-addons"
  enabled             = var.install_addons
  cluster_name        = var.cluster_name
  observed            = module.cluster.observed
  etcd_metrics_client = module.cluster.etcd_metrics_client
  join_token          = module.cluster.join_token
  environment_path    = "environments/dev"
  gitops_repository   = var.gitops_repository
  gitops_branch       = var.gitops_branch
  gitops_known_hosts  = var.gitops_known_hosts
  agent_image         = var.agent_image
  agent_env           = var.agent_env
  depends_on          = [module.cluster]
}
