variable "name" {
  description = "Cluster name: prefix of node names, AWS names and the kubeadm clusterName."
  type        = string
}

variable "region" {
  description = "AWS region; the zones are its a, b, c."
  type        = string
}

variable "zone_count" {
  description = "Availability zones used (1 to 3): <region>a, <region>b, <region>c. Nodes go round-robin over them."
  type        = number

  validation {
    condition     = var.zone_count >= 1 && var.zone_count <= 3 && floor(var.zone_count) == var.zone_count
    error_message = "zone_count must be 1, 2 or 3."
  }
}

variable "vpc_cidr" {
  description = "The VPC's CIDR (modules/network)."
  type        = string
}

variable "instance_type" {
  description = "EC2 instance type of every node."
  type        = string
  default     = "t3.medium"
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
  description = "Kubernetes release kubeadm installs."
  type        = string
}

variable "containerd_version" {
  description = "Debian package version of containerd."
  type        = string
}

variable "control_plane_count" {
  description = "Control-plane nodes, spread over the zones (stacked etcd: each is a member, so 1 or 3)."
  type        = number

  validation {
    condition     = var.control_plane_count >= 1
    error_message = "At least one control-plane node is needed."
  }
}

variable "worker_count" {
  description = "Workers, spread over the zones."
  type        = number
}

variable "etcd_topology" {
  description = "\"stacked\": a member on each control-plane node (kubeadm's local etcd), snapshots from them, one security group for every node. \"external\": etcd_member_count dedicated members with a data volume each (modules/etcd-nodes), the control plane and the workers in groups of their own (etcd's client port admits the control plane's group only)."
  type        = string

  validation {
    condition     = contains(["stacked", "external"], var.etcd_topology)
    error_message = "etcd_topology is \"stacked\" or \"external\"."
  }
}

variable "etcd_member_count" {
  description = "External topology: dedicated etcd members, spread over the zones: 3, 5 or 7. Ignored when stacked."
  type        = number
  default     = 3

  validation {
    condition     = var.etcd_member_count % 2 == 1 && var.etcd_member_count >= 3 && var.etcd_member_count <= 7
    error_message = "etcd_member_count must be odd (3, 5 or 7): an even count tolerates no more failures than one member fewer."
  }
}

variable "etcd_leaving" {
  description = "Members (node names) whose membership the reconcile timer removes before a later apply removes their nodes: modules/etcd leaving."
  type        = list(string)
  default     = []
}

variable "etcd_restore" {
  description = "Set by `slipway dr rebuild`: the snapshot every new etcd member restores from before its first start (stacked: the init node's member). Keep it set after the rebuild: it is part of the members' user-data."
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

variable "etcd_metrics_from_workers" {
  description = "External topology: admit the workers' group to etcd's client port (Prometheus, on the workers, scrapes /metrics over TLS). The environments set it to install_addons."
  type        = bool
  default     = false
}

variable "bootstrap_token_rotation_hours" {
  description = "Hours after which an apply replaces the kubeadm bootstrap token; the token stays valid for one more period after that (see join_token)."
  type        = number
  default     = 12
  validation {
    condition     = var.bootstrap_token_rotation_hours >= 1 && floor(var.bootstrap_token_rotation_hours) == var.bootstrap_token_rotation_hours
    error_message = "bootstrap_token_rotation_hours must be a whole number of hours, at least 1."
  }
}
