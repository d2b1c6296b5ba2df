variable "cluster_name" {
  description = "ClusterConfiguration.clusterName."
  type        = string
}

variable "nodes" {
  description = "Workers: name => { zone, ip } (modules/placement nodes). Static IPs, known at plan time."
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
  description = "DNS name of the apiserver load balancer."
  type        = string
}

variable "apiserver_port" {
  type    = number
  default = 6443
}

variable "pod_cidr" {
  type = string
}

variable "bootstrap_token" {
  description = "kubeadm bootstrap token created by the init node. Bundles only."
  type        = string
  sensitive   = true
}

variable "ca_cert_hash" {
  description = "modules/pki ca_cert_hash: the discovery pin of the cluster CA."
  type        = string
}
