# The S3 side of scheduled etcd snapshots (issue #16): under <prefix>/ of the environment's
# bucket, etcd members may only write (s3:PutObject, nothing else: no Get, List or Delete, so a
# compromised member cannot read or erase history); every other node role of the environment is
# explicitly denied reading it; a put without server-side encryption is refused; and each class
# (frequent/hourly/daily, the key's second segment) expires by its own lifecycle rule.
# Operators read snapshots with their own credentials (`slipway etcd snapshots`, `dr drill`).
#
# The bucket policy and lifecycle configuration are the bucket's only ones (S3 keeps one of
# each per bucket): nothing else in the environment may declare them for this bucket.

locals {
  prefix = trim(var.prefix, "/")
  # Roles are named after their nodes (modules/nodes).
  objects_arn = "arn:aws:s3:::${var.bucket}/${local.prefix}/*"
}

resource "aws_iam_role_policy" "put_snapshots" {
  for_each = var.writer_roles
  name     = "put-etcd-snapshots"
  role     = each.value
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid      = "PutEtcdSnapshots"
      Effect   = "Allow"
      Action   = ["s3:PutObject"]
      Resource = [local.objects_arn]
    }]
  })
}

resource "aws_s3_bucket_policy" "snapshots" {
  bucket = var.bucket
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      [
        {
          Sid       = "DenyUnencryptedSnapshotPuts"
          Effect    = "Deny"
          Principal = "*"
          Action    = "s3:PutObject"
          Resource  = local.objects_arn
          Condition = { Null = { "s3:x-amz-server-side-encryption" = "true" } }
        },
      ],
      length(var.denied_reader_role_arns) == 0 ? [] : [
        {
          Sid       = "DenySnapshotReadsByNodes"
          Effect    = "Deny"
          Principal = "*"
          Action    = ["s3:GetObject", "s3:GetObjectVersion", "s3:DeleteObject", "s3:DeleteObjectVersion"]
          Resource  = local.objects_arn
          Condition = { ArnEquals = { "aws:PrincipalArn" = var.denied_reader_role_arns } }
        },
      ],
    )
  })
}

resource "aws_s3_bucket_lifecycle_configuration" "snapshots" {
  bucket = var.bucket
  dynamic "rule" {
    for_each = ["frequent", "hourly", "daily"]
    content {
      id     = "etcd-snapshots-${rule.value}"
      status = "Enabled"
      filter {
        prefix = "${local.prefix}/${rule.value}/"
      }
      expiration {
        days = var.retention_days[rule.value]
      }
    }
  }
}
