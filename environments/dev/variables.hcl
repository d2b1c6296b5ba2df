# What a user sets (-var, SLIPWAY_VAR_<name>, *.vars.hcl); modules/cluster and
# modules/cluster-addons describe each input in full.

variable "cluster_name" {
  type    = string
  default = "dev"
}

variable "region" {
  type    = string
  default = "us-east-1"
}

variable "vpc_cidr" {
  type    = string
  default = "10.20.0.0/16"
}

variable "instance_type" {
  type    = string
  default = "t3.medium"
}

variable "kubernetes_version" {
  type    = string
  default = "1.35.4"
}

variable "containerd_version" {
  type    = string
  default = "1.6.20~ds1-1+deb12u1"
}

variable "control_plane_count" {
  description = "Control-plane nodes, each a stacked etcd member: 1 or 3 (etcd wants an odd count). Scaling down: list the nodes going in etcd_leaving first, apply, wait until `etcdctl member list` no longer shows them, then lower the count (ARCHITECTURE.md, Membership)."
  type        = number
  default     = 1
}

variable "etcd_leaving" {
  description = "Control-plane nodes whose etcd members the reconcile timer removes (one per run, while quorum holds) before a later apply removes the nodes: modules/etcd leaving."
  type        = list(string)
  default     = []
}

# Set by `slipway dr rebuild` (etcd-restore.vars.hcl): the snapshot every new etcd member
# restores from. Keep it set after the rebuild (it is part of the members' user-data).
variable "etcd_restore" {
  type = object({
    bucket = string
    key    = string
    sha256 = string
  })
  default = null
}

variable "etcd_snapshot_interval" {
  description = "How often the etcd leader snapshots to S3 (a systemd time span)."
  type        = string
  default     = "15min"
}

variable "etcd_snapshot_retention_days" {
  description = "Days each snapshot class is kept: frequent, hourly, daily."
  type = object({
    frequent = number
    hourly   = number
    daily    = number
  })
  default = { frequent = 1, hourly = 7, daily = 30 }
}

variable "install_addons" {
  description = "Install the in-cluster stack (observability, GitOps, the slipway agent) in the same apply. The emulator tests set false: moto's load balancer fronts no API server."
  type        = bool
  default     = true
}

variable "kubeconfig" {
  description = "Reach the cluster through this kubeconfig instead of the load balancer and the admin certificate (the demo points it at scripts/local-cluster)."
  type        = string
  default     = null
}

variable "gitops_repository" {
  description = "The Git repository Flux and the slipway agent follow (ssh://git@host/org/repo.git; its deploy key is the output gitops_deploy_key). Unset, neither is installed."
  type        = string
  default     = null
}

variable "gitops_branch" {
  type    = string
  default = "main"
}

variable "gitops_known_hosts" {
  description = "known_hosts lines of the Git host (ssh-keyscan output)."
  type        = string
  default     = ""
}

variable "agent_image" {
  description = "The slipway image of the in-cluster agent; unset, no agent. Its state must be in a remote backend (slipway { backend \"s3\" { ... } }); agent_env gives it what that backend needs."
  type        = string
  default     = null
}

variable "agent_env" {
  type    = map(string)
  default = {}
}
