variable "enabled" {
  description = "Install anything (the environments' install_addons)."
  type        = bool
}

variable "cluster_name" {
  description = "modules/cluster name: the observability stack's cluster label, Flux's apps/<cluster_name>."
  type        = string
}

variable "observed" {
  description = "modules/cluster observed: { declared_node_count, certificate_expiry, control_plane_ips, etcd_member_ips }."
  type = object({
    declared_node_count = number
    certificate_expiry  = map(string)
    control_plane_ips   = list(string)
    etcd_member_ips     = list(string)
  })
}

variable "etcd_metrics_client" {
  description = "modules/cluster etcd_metrics_client: { cert_pem, key_pem, ca_cert_pem }."
  type = object({
    cert_pem    = string
    key_pem     = string
    ca_cert_pem = string
  })
  sensitive = true
}

variable "environment_path" {
  description = "The environment's directory in the repository, which the agent applies (environments/<name>)."
  type        = string
}

variable "gitops_repository" {
  description = "The Git repository Flux and the agent follow; null: neither is installed."
  type        = string
  default     = null
}

variable "gitops_branch" {
  type    = string
  default = "main"
}

variable "gitops_known_hosts" {
  type    = string
  default = ""
}

variable "agent_image" {
  description = "The agent's image; null: no agent."
  type        = string
  default     = null
}

variable "agent_env" {
  type    = map(string)
  default = {}
}

variable "join_token" {
  description = "modules/cluster join_token: { id, secret, expiration }. Kept valid in kube-system (see modules/cluster's time_rotating.bootstrap_token)."
  type = object({
    id         = string
    secret     = string
    expiration = string
  })
  sensitive = true
}
