output "location" {
  description = "{ bucket, prefix }: where the snapshots are (the environments' etcd_snapshots output)."
  value       = { bucket = var.bucket, prefix = local.prefix }
}

output "bucket_policy" {
  description = "The rendered bucket policy (JSON)."
  value       = aws_s3_bucket_policy.snapshots.policy
}

output "writer_policies" {
  description = "Member name => the rendered inline policy of its role (JSON)."
  value       = { for name, p in aws_iam_role_policy.put_snapshots : name => p.policy }
}
