output "config_files" {
  description = "Member name => content of its etcd config file (etcd --config-file YAML). No secrets: it names key files, it does not hold them."
  value       = { for name, config in local.configs : name => yamlencode(config) }
}

output "config_file" {
  description = "Path the config files are installed at (the systemd units pass it to --config-file)."
  value       = var.config_file
}

output "systemd_units" {
  description = "Member name => systemd unit (etcd.service) running etcd with its config file."
  value       = local.systemd_units
}

output "endpoints" {
  description = "Client URLs of all members, sorted by member name: the apiserver's --etcd-servers."
  value       = [for name in local.names : local.client_urls[name]]
}

output "initial_cluster" {
  description = "etcd initial-cluster string: name=https://ip:peer_port,… sorted by member name."
  value       = local.initial_cluster
}

output "topology" {
  description = "\"stacked\" or \"external\", for the modules that place members on instances."
  value       = var.topology
}

output "security_group_rules" {
  description = "Ingress rules the AWS part will create (data, not resources): client port from control_plane_cidrs only, peer port between members only."
  value       = local.security_group_rules
}
