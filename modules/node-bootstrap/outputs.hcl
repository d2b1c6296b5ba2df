output "user_data" {
  description = "#cloud-config document for aws_instance.user_data: kubeadm config, pinned packages, kernel settings and the bootstrap script. Holds no secret."
  value       = local.user_data
}

output "kubeadm_config" {
  description = "kubeadm v1beta4 documents for the role (joined with ---), as written to kubeadm_config_path; the token is a placeholder the node fills in from its bundle."
  value       = local.kubeadm_config
}

output "kubeadm_config_path" {
  description = "Where user_data writes kubeadm_config on the node."
  value       = local.systemd_etcd ? null : local.config_path
}

output "bundle" {
  description = "JSON for the node's S3 object at bundle_s3_uri: {\"files\": {path: PEM}, \"bootstrap_token\": token|null}. Holds private keys and the token."
  value       = local.bundle
  sensitive   = true
}

output "etcd_restore_script" {
  description = "The restore script user_data installs at /usr/local/sbin/slipway-etcd-restore when etcd_restore is set (\"\" otherwise). Holds no secret."
  value       = local.etcd_restore_script
}
