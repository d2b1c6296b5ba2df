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

output "member_config_files" {
  description = "Member name => the config file the membership script starts from: config_files with only the member itself in initial-cluster, so it does not change when other members come or go (the script writes the real initial-cluster into member_config_file)."
  value       = { for name, config in local.member_configs : name => yamlencode(config) }
}

output "member_config_file" {
  description = "Path of the config the membership script writes and etcd.service (membership_units' drop-in) starts from."
  value       = local.member_config_file
}

output "member_scripts" {
  description = "Member name => the membership script (templates/etcd-member.sh.tftpl): prepare | promote | reconcile | remove-stale | init-or-join | leave. Names only this member; no secret."
  value       = local.member_scripts
}

output "member_script_path" {
  description = "Where member_scripts go on the member."
  value       = var.member_script_path
}

output "membership_units" {
  description = "Path => systemd unit or drop-in for an external member: the prepare service before etcd, etcd's drop-in onto member_config_file, the promote service, the reconcile service and timer. The same for every member."
  value       = local.membership_units
}

output "reconcile_units" {
  description = "Path => the reconcile service and timer (a subset of membership_units): what a stacked member installs, kubeadm doing the joins and promotions there."
  value       = local.reconcile_units
}

output "stacked_units" {
  description = "Path => what a stacked member (control-plane node) installs: reconcile_units and slipway-etcd-leave.service (ExecStop: `leave`, a member destroyed by a scale-down removes itself at shutdown while quorum holds)."
  value       = local.stacked_units
}

output "declared_members" {
  description = "JSON {\"members\": {name: {peer_url, client_url}}}: the declared member list the membership scripts read (modules/etcd-nodes uploads it to S3). Changing it changes no member's user-data."
  value       = local.declared_members
}
