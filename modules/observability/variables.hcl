variable "namespace" {
  description = "Namespace of the whole stack (created by the module)."
  type        = string
  default     = "monitoring"
}

variable "cluster_name" {
  description = "The `cluster` external label on every series and alert."
  type        = string
}

variable "declared_node_count" {
  description = "How many nodes the environment declares (control plane + workers): the value of the generated `slipway:declared_nodes` series the node-count alert compares with."
  type        = number

  validation {
    condition     = var.declared_node_count >= 0 && floor(var.declared_node_count) == var.declared_node_count
    error_message = "declared_node_count must be a whole number, 0 or more."
  }
}

variable "certificate_expiry" {
  description = "Certificate name => expiry time, RFC 3339 (modules/pki `certificate_expiry`): one `slipway:certificate_expiry_timestamp_seconds{certificate=\"<name>\"}` series each."
  type        = map(string)
  default     = {}
}

variable "control_plane_ips" {
  description = "Private IPs of the control-plane nodes (modules/placement `ips` values): static targets of the kube-controller-manager (:10257) and kube-scheduler (:10259) jobs."
  type        = list(string)
}

variable "etcd_member_ips" {
  description = "IPs of the etcd members (stacked: the control-plane nodes; external: the members): targets of the etcd job, https://<ip>:2379."
  type        = list(string)
}

variable "etcd_client" {
  description = "Prometheus's etcd client certificate (modules/pki `etcd_metrics_client`): { cert_pem, key_pem, ca_cert_pem }. Goes into a Secret mounted by Prometheus only."
  type = object({
    cert_pem    = string
    key_pem     = string
    ca_cert_pem = string
  })
  sensitive = true
}

variable "images" {
  description = "Image overrides by component (prometheus, alertmanager, node_exporter, kube_state_metrics, grafana); the rest keep the module's pinned versions."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k in keys(var.images) : contains(["prometheus", "alertmanager", "node_exporter", "kube_state_metrics", "grafana"], k)])
    error_message = "images keys are prometheus, alertmanager, node_exporter, kube_state_metrics and grafana."
  }
}

variable "resources" {
  description = "Resource requests/limits overrides by component (same keys as images): { requests = { cpu, memory }, limits = { cpu, memory } }."
  type = map(object({
    requests = map(string)
    limits   = map(string)
  }))
  default = {}
}

variable "scrape_interval" {
  type    = string
  default = "30s"
}

variable "evaluation_interval" {
  type    = string
  default = "30s"
}

variable "retention" {
  description = "Prometheus --storage.tsdb.retention.time."
  type        = string
  default     = "15d"
}

variable "prometheus_storage" {
  description = "Persistent storage for Prometheus's TSDB: { storage_class, size } gives a volumeClaimTemplate; null (the default) an emptyDir, because a kubeadm cluster on EC2 has no default StorageClass (install a CSI driver, e.g. aws-ebs-csi-driver, and name its class here)."
  type = object({
    storage_class = string
    size          = string
  })
  default = null
}

variable "alertmanager_storage" {
  description = "Persistent storage for Alertmanager's silences and notification log; as prometheus_storage."
  type = object({
    storage_class = string
    size          = string
  })
  default = null
}

variable "alertmanager_config" {
  description = "alertmanager.yml. Receivers may hold tokens, so it is sensitive and stored in a Secret. null: one route to a receiver that notifies nobody (alerts visible in the Alertmanager UI/API)."
  type        = string
  default     = null
  sensitive   = true
}

variable "grafana_admin_user" {
  type    = string
  default = "admin"
}

variable "node_exporter_port" {
  description = "Host port node-exporter listens on (host network); the security groups must admit it from the nodes Prometheus runs on."
  type        = number
  default     = 9100
}
