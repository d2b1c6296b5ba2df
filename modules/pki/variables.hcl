variable "cluster_name" {
  description = "Cluster name used in the admin kubeconfig (kubeadm's default is \"kubernetes\")."
  type        = string
  default     = "kubernetes"
}

variable "apiserver_lb_dns_name" {
  description = "DNS name of the API server load balancer: a SAN of the apiserver certificate and the admin kubeconfig's server."
  type        = string
}

variable "apiserver_port" {
  description = "Port the load balancer forwards to the API servers."
  type        = number
  default     = 6443
}

variable "cluster_domain" {
  description = "Cluster DNS domain (kubelet --cluster-domain); gives the kubernetes.default.svc.<domain> SAN."
  type        = string
  default     = "cluster.local"
}

variable "service_cidr" {
  description = "Service CIDR; its first host address is the `kubernetes` service IP, a SAN of the apiserver certificate."
  type        = string
  default     = "10.96.0.0/12"
}

variable "control_plane_nodes" {
  description = "Control-plane nodes: node name => private IP. Every name and IP is a SAN of the apiserver certificate."
  type        = map(string)

  validation {
    condition     = length(var.control_plane_nodes) > 0
    error_message = "At least one control-plane node is needed."
  }
}

variable "etcd_members" {
  description = "etcd members: member name => IP. A name also in control_plane_nodes is a stacked member and gets one merged bundle."
  type        = map(string)

  validation {
    condition     = length(var.etcd_members) > 0
    error_message = "At least one etcd member is needed."
  }
}

variable "ca_validity_hours" {
  description = "Validity of the three CAs, in hours (kubeadm: 10 years)."
  type        = number
  default     = 87600
}

variable "leaf_validity_hours" {
  description = "Validity of every leaf certificate, in hours (kubeadm: 1 year)."
  type        = number
  default     = 8760
}

variable "early_renewal_hours" {
  description = "A certificate is planned for replacement this many hours before it expires (default 30 days)."
  type        = number
  default     = 720

  validation {
    # Keep it well under leaf_validity_hours: otherwise every plan renews every leaf. (A
    # validation may only read its own variable, so that bound is documented, not checked.)
    condition     = var.early_renewal_hours >= 0 && floor(var.early_renewal_hours) == var.early_renewal_hours
    error_message = "early_renewal_hours must be a whole number of hours, 0 or more."
  }
}
