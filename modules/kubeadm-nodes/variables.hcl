variable "role" {
  description = "\"control-plane\" (the first node inits, the others join as control plane) or \"worker\" (every node joins; the inputs below marked control plane only keep their defaults). Also the instances' Role tag."
  type        = string

  validation {
    condition     = contains(["control-plane", "worker"], var.role)
    error_message = "role is \"control-plane\" or \"worker\"."
  }
}

variable "cluster_name" {
  description = "ClusterConfiguration.clusterName."
  type        = string
}

variable "nodes" {
  description = "The group's nodes: name => { zone, ip } (modules/placement nodes). Static IPs, known at plan time. A control plane needs at least one (modules/cluster checks control_plane_count)."
  type = map(object({
    zone = string
    ip   = string
  }))
}

variable "subnet_ids" {
  description = "Zone => private subnet id (modules/network private_subnet_ids)."
  type        = map(string)
}

variable "ami" {
  type = string
}

variable "instance_type" {
  type    = string
  default = "t3.medium"
}

variable "security_group_ids" {
  type = list(string)
}

variable "bucket" {
  description = "S3 bucket of the nodes' bundles."
  type        = string
}

variable "bundle_prefix" {
  description = "A node's bundle is <bundle_prefix>/<name>/bundle.json in the bucket."
  type        = string
  default     = "nodes"
}

variable "kubernetes_version" {
  type = string
}

variable "containerd_version" {
  type = string
}

variable "apiserver_endpoint" {
  description = "DNS name of the apiserver load balancer (modules/apiserver-lb dns_name)."
  type        = string
}

variable "apiserver_port" {
  type    = number
  default = 6443
}

variable "etcd" {
  description = "Control plane only: modules/node-bootstrap's etcd input, { topology = \"stacked\" | \"external\", endpoints = modules/etcd endpoints }. A worker's JoinConfiguration names no etcd."
  type = object({
    topology  = string
    endpoints = list(string)
  })
  default = { topology = "stacked", endpoints = [] }
}

variable "pod_cidr" {
  type = string
}

variable "service_cidr" {
  description = "Must be the one modules/pki issued the apiserver certificate for."
  type        = string
  default     = "10.96.0.0/12"
}

variable "bootstrap_token" {
  description = "kubeadm bootstrap token: the control plane's init node creates it, the other nodes join with it. Bundles only."
  type        = string
  sensitive   = true
}

variable "ca_cert_hash" {
  description = "modules/pki ca_cert_hash: what joining nodes pin the cluster CA to."
  type        = string
}

variable "pki_bundles" {
  description = "Control plane only: modules/pki bundles, node name => (path => PEM); must hold every node name (modules/pki control_plane_nodes = this module's nodes output). Workers get no key."
  type        = map(map(string))
  sensitive   = true
  default     = {}
}

variable "etcd_restore" {
  description = "`slipway dr rebuild` with stacked etcd: the init node restores its local member from s3://bucket/key (SHA-256 hex) before kubeadm init; the other control-plane nodes join it. null: nothing rendered."
  type = object({
    bucket = string
    key    = string
    sha256 = string
  })
  default = null
}
