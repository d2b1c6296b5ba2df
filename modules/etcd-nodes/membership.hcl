# Quorum-safe membership (modules/etcd member_scripts): each member runs its script under systemd
# (prepare before etcd, promote after it, reconcile on a timer), and every script reads the
# declared member list from one S3 object. The list lives in S3, not in user-data, so changing the
# member count rewrites this object and replaces no running member (user-data is force-new).

variable "member_scripts" {
  description = "modules/etcd member_scripts: member name => membership script."
  type        = map(string)
}

variable "member_script_path" {
  description = "modules/etcd member_script_path."
  type        = string
}

variable "membership_units" {
  description = "modules/etcd membership_units: path => systemd unit or drop-in, installed on every member."
  type        = map(string)
}

variable "declared_members" {
  description = "modules/etcd declared_members (JSON), uploaded to members_key."
  type        = string
}

variable "members_key" {
  description = "S3 key of the declared member list; modules/etcd's members_uri must be s3://<bucket>/<this key>."
  type        = string
  default     = "nodes/etcd-members.json"
}

locals {
  membership_files = {
    for name, m in var.members : name => concat(
      # Compressed, and without its comment lines (the template in modules/etcd has them): with
      # the bootstrap script, the plain script would pass EC2's 16 KiB user-data limit.
      [{ path = var.member_script_path, permissions = "0755", content = base64gzip(join("\n", [
        for line in split("\n", var.member_scripts[name]) : line if !startswith(trimspace(line), "#") || startswith(line, "#!")
      ])), encoding = "gz+b64" }],
      [for path in sort(keys(var.membership_units)) : { path = path, permissions = "0644", content = var.membership_units[path], encoding = "text/plain" }],
    )
  }
}

# Rewritten in place when the member count changes: the members' scripts read it on every run.
resource "aws_s3_object" "declared_members" {
  bucket       = var.bucket
  key          = var.members_key
  content      = var.declared_members
  content_type = "application/json"
}

# Each member's role may read the list, and nothing more than its own bundle besides.
resource "aws_iam_role_policy" "declared_members" {
  for_each = var.members
  name     = "read-etcd-members"
  role     = module.nodes.role_names[each.key]
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["s3:GetObject"]
      Resource = ["arn:aws:s3:::${var.bucket}/${var.members_key}"]
    }]
  })
}

output "declared_members_key" {
  description = "S3 key of the declared member list."
  value       = aws_s3_object.declared_members.key
}
