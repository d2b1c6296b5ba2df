# An environment's inputs. Each environment sets what makes it itself (name, CIDR, shape) in its
# *.vars.hcl; the rest has the real-AWS defaults. A user overrides any of them with -var,
# -var-file or a *.vars.hcl of their own (config/vars.rs: default < SLIPWAY_VAR_ < *.vars.hcl
# < -var-file/-var). modules/cluster and modules/cluster-addons describe each input in full.

# What an environment is: no default, every environment says it.

variable "cluster_name" {
  description = "Cluster name: prefix of node names and AWS names, kubeadm's clusterName, Flux's apps/<cluster_name>."
  type        = string
}

variable "vpc_cidr" {
  description = "The VPC's CIDR; give each environment its own (they may be peered one day)."
  type        = string
}

variable "environment_path" {
  description = "The environment's directory in the Git repository the slipway agent follows, e.g. environments/prod."
  type        = string
}

# Its shape: the defaults are an HA cluster; each environment states its own.

variable "zone_count" {
  description = "Availability zones used (1 to 3): <region>a, b, c. Nodes go round-robin over them."
  type        = number
  default     = 3
}

variable "etcd_topology" {
  description = "\"stacked\": an etcd member on each control-plane node (kubeadm's local etcd). \"external\": etcd_member_count dedicated members with a data volume each."
  type        = string
  default     = "external"
}

variable "control_plane_count" {
  description = "Control-plane nodes, spread over the zones. Stacked, each is an etcd member: 1 or 3 (etcd wants an odd count). Scaling down stacked: list the nodes going in etcd_leaving first, apply, wait until `etcdctl member list` no longer shows them, then lower the count (ARCHITECTURE.md, Membership)."
  type        = number
  default     = 3
}

variable "worker_count" {
  description = "Workers, spread over the zones."
  type        = number
  default     = 3
}

variable "etcd_member_count" {
  description = "External topology: dedicated etcd members, spread over the zones: 3, or 5 to survive two failures. Ignored when stacked."
  type        = number
  default     = 3

  validation {
    condition     = var.etcd_member_count % 2 == 1 && var.etcd_member_count >= 3 && var.etcd_member_count <= 7
    error_message = "etcd_member_count must be odd (3, 5 or 7): an even count tolerates no more failures than one member fewer."
  }
}

# The rest: the same for every environment unless a user says otherwise.

variable "region" {
  type    = string
  default = "us-east-1"
}

variable "instance_type" {
  type    = string
  default = "t3.medium"
}

variable "ami_owners" {
  description = "Owners of the node image. The bootstrap scripts target Debian 12 (apt, Debian's containerd): the default is Debian's own account (https://wiki.debian.org/Cloud/AmazonEC2Image)."
  type        = list(string)
  default     = ["136693071363"]
}

variable "ami_name" {
  description = "Name pattern of the node image; the newest match is used."
  type        = string
  default     = "debian-12-amd64-*"
}

variable "kubernetes_version" {
  type    = string
  default = "1.35.4"
}

variable "containerd_version" {
  type    = string
  default = "1.6.20~ds1-1+deb12u1"
}

variable "etcd_leaving" {
  description = "etcd members (node names: control-plane nodes when stacked, dedicated members when external) whose membership the reconcile timer removes, one per run while quorum holds, before a later apply removes the nodes: modules/etcd leaving. A step down of more than two members at once (7 → 3) goes through it (ARCHITECTURE.md, Membership)."
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
