variable "cluster_name" {
  description = "Cluster name (security group name and description)."
  type        = string
}

variable "members" {
  description = "Members: name => { zone, ip } (modules/placement nodes); an odd number. The same names and IPs go to modules/etcd members and modules/pki etcd_members."
  type = map(object({
    zone = string
    ip   = string
  }))

  validation {
    condition     = length(var.members) % 2 == 1
    error_message = "etcd needs an odd number of members (1, 3, 5 or 7): an even count tolerates no more failures than one member fewer."
  }
}

variable "subnet_ids" {
  description = "Zone => private subnet id."
  type        = map(string)
}

variable "vpc_id" {
  type = string
}

variable "client_security_group_id" {
  description = "The control plane's security group: the only source allowed to the client port."
  type        = string
}

variable "metrics_security_group_ids" {
  description = "Groups of the nodes Prometheus runs on (modules/observability: the workers' group): admitted to the client port only, where etcd serves /metrics to a client certificate from its CA. Empty: the control plane only."
  type        = list(string)
  default     = []
}

variable "client_port" {
  description = "modules/etcd client_port."
  type        = number
  default     = 2379
}

variable "peer_port" {
  description = "modules/etcd peer_port."
  type        = number
  default     = 2380
}

variable "ami" {
  type = string
}

variable "instance_type" {
  type    = string
  default = "t3.medium"
}

variable "bucket" {
  description = "S3 bucket of the members' bundles."
  type        = string
}

variable "bundle_prefix" {
  description = "A member's bundle is <bundle_prefix>/<name>/bundle.json in the bucket."
  type        = string
  default     = "nodes"
}

variable "volume_size" {
  description = "Size of each member's data volume, GiB."
  type        = number
  default     = 20
}

variable "volume_type" {
  type    = string
  default = "gp3"
}

variable "device_name" {
  description = "Device name of the data volume's attachment."
  type        = string
  default     = "/dev/sdf"

  validation {
    condition     = startswith(var.device_name, "/dev/sd") && length(var.device_name) == 8
    error_message = "device_name must look like /dev/sdf."
  }
}

variable "config_files" {
  description = "modules/etcd config_files: member name => etcd config file. Must hold every member (modules/etcd members = this module's members output)."
  type        = map(string)
}

variable "config_path" {
  description = "modules/etcd config_file: where the config file goes."
  type        = string
}

variable "systemd_units" {
  description = "modules/etcd systemd_units: member name => etcd.service (external topology: requires data_dir to be a mount point)."
  type        = map(string)
}

variable "data_dir" {
  description = "modules/etcd data_dir: the data volume's mount point."
  type        = string
  default     = "/var/lib/etcd"
}

variable "etcd_version" {
  description = "etcd release each member installs (modules/node-bootstrap's etcd_version; its etcd_sha256 default pins the tarballs of the default version)."
  type        = string
  default     = "3.6.14"
}

variable "etcd_sha256" {
  description = "SHA-256 of the release tarball per Debian architecture; null keeps modules/node-bootstrap's pins (which match the default etcd_version only)."
  type        = map(string)
  default     = null
}

variable "pki_bundles" {
  description = "modules/pki bundles: member name => (path => PEM)."
  type        = map(map(string))
  sensitive   = true
}

variable "etcd_restore" {
  description = "`slipway dr rebuild`: every member whose data dir is empty restores the snapshot s3://bucket/key (SHA-256 hex) before etcd starts, unless a peer already reports health (modules/node-bootstrap etcd_restore). While set, each member's role may read exactly that object; null removes the permission and renders nothing."
  type = object({
    bucket = string
    key    = string
    sha256 = string
  })
  default = null
}
