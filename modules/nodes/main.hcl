# A group of EC2 nodes with one role: per node an IAM role whose only permission is reading that
# node's own S3 object, an instance profile, the node's secret bundle as an S3 object, and the
# instance itself with its static private IP and a user-data document that holds no secret.
# Written once and called by modules/kubeadm-nodes (control plane, workers) and modules/etcd-nodes.

# The node's keys and bootstrap token; readable only with this node's role (below).
resource "aws_s3_object" "bundle" {
  for_each = var.private_ips
  bucket   = var.bucket
  key      = var.bundle_keys[each.key]
  content  = var.bundles[each.key]
}

resource "aws_iam_role" "node" {
  for_each = var.private_ips
  name     = each.key
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ec2.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
}

# Scoped to the node's own object: a compromised worker cannot read a control-plane bundle.
resource "aws_iam_role_policy" "bundle" {
  for_each = var.private_ips
  name     = "read-own-bundle"
  role     = aws_iam_role.node[each.key].name
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["s3:GetObject"]
      Resource = concat(["arn:aws:s3:::${var.bucket}/${var.bundle_keys[each.key]}"], lookup(var.read_objects, each.key, []))
    }]
  })
}

resource "aws_iam_instance_profile" "node" {
  for_each = var.private_ips
  name     = each.key
  role     = aws_iam_role.node[each.key].name
}

resource "aws_instance" "node" {
  for_each               = var.private_ips
  ami                    = var.ami
  instance_type          = var.instance_type
  subnet_id              = var.subnet_ids[each.key]
  private_ip             = each.value
  vpc_security_group_ids = var.security_group_ids
  iam_instance_profile   = aws_iam_instance_profile.node[each.key].name
  user_data              = var.user_data[each.key]
  tags = {
    Name = each.key
    Role = var.role
  }
  # The bootstrap script fetches the bundle on first boot: the object and the permission to
  # read it must exist before the instance does.
  depends_on = [aws_s3_object.bundle, aws_iam_role_policy.bundle]
}
