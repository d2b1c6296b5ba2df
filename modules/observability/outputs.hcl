output "namespace" {
  description = "The stack's namespace."
  value       = var.namespace
}

output "prometheus_config" {
  description = "The rendered prometheus.yml (no secret: it names the token and key files, it does not hold them)."
  value       = local.prometheus_yml
}

output "rule_files" {
  description = "File name => content of every rule file mounted at /etc/prometheus/rules/: rules/*.yaml of the module and slipway-generated.yaml."
  value       = local.rule_files
}

output "generated_rules" {
  description = "slipway-generated.yaml: slipway:declared_nodes and one slipway:certificate_expiry_timestamp_seconds per certificate."
  value       = local.generated_rules
}

output "alertmanager_config" {
  description = "The alertmanager.yml in the Secret (sensitive: receivers may hold tokens)."
  value       = local.alertmanager_config
  sensitive   = true
}

output "prometheus_url" {
  description = "Prometheus inside the cluster."
  value       = "http://prometheus.${var.namespace}.svc:9090"
}

output "alertmanager_url" {
  description = "Alertmanager inside the cluster."
  value       = "http://${local.alertmanager_address}"
}

output "grafana_url" {
  description = "Grafana inside the cluster (kubectl port-forward svc/grafana 3000)."
  value       = "http://grafana.${var.namespace}.svc:3000"
}

output "grafana_admin_password" {
  description = "Grafana's admin password (user: grafana_admin_user), also in the Secret grafana-admin."
  value       = random_password.grafana_admin.result
  sensitive   = true
}

output "security_group_rules" {
  description = "What the node security groups must admit from the nodes Prometheus runs on (data, like modules/etcd's): kubelet 10250 and node-exporter on every node, 10257/10259 on the control plane, 2379 on etcd members (modules/etcd-nodes metrics_security_group_ids for external members)."
  value = [
    { description = "kubelet /metrics, /metrics/cadvisor", on = "all nodes", protocol = "tcp", from_port = 10250, to_port = 10250 },
    { description = "node-exporter", on = "all nodes", protocol = "tcp", from_port = var.node_exporter_port, to_port = var.node_exporter_port },
    { description = "kube-controller-manager /metrics", on = "control plane", protocol = "tcp", from_port = 10257, to_port = 10257 },
    { description = "kube-scheduler /metrics", on = "control plane", protocol = "tcp", from_port = 10259, to_port = 10259 },
    { description = "etcd /metrics (mutual TLS)", on = "etcd members", protocol = "tcp", from_port = 2379, to_port = 2379 },
  ]
}
