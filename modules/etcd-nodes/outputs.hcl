output "members" {
  description = "Member name => static private IP (the input)."
  value       = { for name, m in var.members : name => m.ip }
}

output "instance_ids" {
  description = "Member name => instance id."
  value       = module.nodes.instance_ids
}

output "volume_ids" {
  description = "Member name => EBS data volume id."
  value       = { for name, v in aws_ebs_volume.data : name => v.id }
}

output "security_group_id" {
  description = "The members' security group."
  value       = aws_security_group.etcd.id
}

output "user_data" {
  description = "Member name => user-data (no secret)."
  value       = { for name, m in module.bootstrap : name => m.user_data }
}

output "restore_scripts" {
  description = "Member name => the restore script its user_data carries while etcd_restore is set (\"\" otherwise)."
  value       = { for name, m in module.bootstrap : name => m.etcd_restore_script }
}
