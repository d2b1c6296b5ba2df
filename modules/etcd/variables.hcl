variable "cluster_name" {
  description = "Cluster name; the default initial_cluster_token is derived from it."
  type        = string
}

variable "topology" {
  description = "\"stacked\": a member on each control-plane node; \"external\": dedicated members, each with its own EBS data volume."
  type        = string
  default     = "stacked"

  validation {
    condition     = contains(["stacked", "external"], var.topology)
    error_message = "topology must be \"stacked\" or \"external\"."
  }
}

variable "members" {
  description = "etcd members: member name => private IP (static, from cidrhost, so the config exists before the instances). Names must match modules/pki's etcd_members, whose certificates carry them."
  type        = map(string)

  validation {
    # An even-sized cluster tolerates no more failures than one member fewer, and has more
    # members that can fail: 1, 3 or 5 members.
    condition     = length(var.members) % 2 == 1
    error_message = "etcd needs an odd number of members (1, 3 or 5)."
  }

  validation {
    # initial-cluster is "name=url,name=url": a name holding ',' or '=' would corrupt it.
    # The membership script splits its member lists on '|'.
    condition     = alltrue([for name in keys(var.members) : name != "" && length(split(",", name)) == 1 && length(split("=", name)) == 1 && length(split("|", name)) == 1])
    error_message = "Member names must be non-empty and contain neither ',' nor '=' (nor '|')."
  }
}

variable "client_port" {
  description = "Port etcd serves clients on (the apiserver, etcdctl)."
  type        = number
  default     = 2379

  validation {
    condition     = var.client_port >= 1 && var.client_port <= 65535 && floor(var.client_port) == var.client_port
    error_message = "client_port must be a port number (1-65535)."
  }
}

variable "peer_port" {
  description = "Port members replicate on. Must differ from client_port (a validation cannot compare two variables)."
  type        = number
  default     = 2380

  validation {
    condition     = var.peer_port >= 1 && var.peer_port <= 65535 && floor(var.peer_port) == var.peer_port
    error_message = "peer_port must be a port number (1-65535)."
  }
}

variable "listen_on_localhost" {
  description = "Also serve clients on https://127.0.0.1:<client_port>, for the local apiserver (stacked) and etcdctl on the node. Turn off only when several members share one host's loopback (tests)."
  type        = bool
  default     = true
}

variable "data_dir" {
  description = "etcd data-dir on every member. For external members, the mount point of its EBS data volume. Used verbatim: a relative path resolves against etcd's working directory."
  type        = string
  default     = "/var/lib/etcd"

  validation {
    condition     = var.data_dir != ""
    error_message = "data_dir must not be empty."
  }
}

variable "pki_dir" {
  description = "Directory of ca.crt, server.{crt,key}, peer.{crt,key} on every member: where modules/pki's bundles put them. Used verbatim, like data_dir."
  type        = string
  default     = "/etc/kubernetes/pki/etcd"

  validation {
    condition     = var.pki_dir != ""
    error_message = "pki_dir must not be empty."
  }
}

variable "config_file" {
  description = "Where each member's config file is installed; the systemd unit passes it to etcd --config-file."
  type        = string
  default     = "/etc/etcd/etcd.conf.yml"
}

variable "initial_cluster_token" {
  description = "Token that keeps two clusters bootstrapped from the same peer URLs apart. Default: \"<cluster_name>-etcd\"."
  type        = string
  default     = null
}

variable "control_plane_cidrs" {
  description = "CIDRs of the control-plane nodes: the only sources allowed to reach the client port (security_group_rules)."
  type        = list(string)

  validation {
    condition     = length(var.control_plane_cidrs) > 0
    error_message = "At least one control-plane CIDR is needed: nothing else may reach etcd's client port."
  }
}

variable "member_config_file" {
  description = "Where the membership script (member_scripts) writes the config etcd starts from: config_file with the initial-cluster and initial-cluster-state it decided. membership_units' drop-in points etcd.service at it. Default: /etc/etcd/etcd.member.conf.yml (external); stacked: /etc/kubernetes/slipway-etcd-member.conf.yml, whose directory exists on a control-plane node (the script only locks next to it: kubeadm runs that etcd)."
  type        = string
  default     = null
}

variable "member_script_path" {
  description = "Where the membership script is installed on a member (membership_units run it)."
  type        = string
  default     = "/usr/local/sbin/slipway-etcd-member"
}

variable "members_uri" {
  description = "s3:// URI of the declared member list (declared_members) the membership script reads on every run; modules/etcd-nodes uploads it to <bundle_prefix>/etcd-members.json. null: no list (the script fails unless a test points SLIPWAY_ETCD_MEMBERS_FILE at one)."
  type        = string
  default     = null
}

variable "leaving" {
  description = "Members on their way out: still rendered (their scripts and configs, so their nodes' user-data does not change) but left out of declared_members, so the reconcile timer removes them one per run while quorum holds. Remove their nodes only in a later apply, once `etcdctl member list` no longer shows them: destroying a majority of the voters in one apply loses quorum (ARCHITECTURE.md, Membership). Each must be a key of `members`; naming all of them leaves the list empty, which every script refuses."
  type        = list(string)
  default     = []

  validation {
    condition     = length(distinct(var.leaving)) == length(var.leaving)
    error_message = "leaving must not name a member twice."
  }
}

variable "membership_retries" {
  description = "Bounds of the membership script: member add retried while another learner is pending, promote retried while the learner catches up (attempts of delay_seconds each), and the reconcile timer's interval (systemd time span)."
  type = object({
    add_attempts       = number
    promote_attempts   = number
    delay_seconds      = number
    reconcile_interval = string
  })
  default = {
    add_attempts       = 60
    promote_attempts   = 120
    delay_seconds      = 5
    reconcile_interval = "1min"
  }
}
