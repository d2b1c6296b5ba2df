variable "role" {
  description = "What the nodes are (the Role tag): control-plane, worker or etcd."
  type        = string
}

variable "private_ips" {
  description = "Node name => static private IP. The name is also the instance's Name tag, and its IAM role and instance profile name."
  type        = map(string)
}

variable "subnet_ids" {
  description = "Node name => subnet id (the subnet that holds its private IP)."
  type        = map(string)
}

variable "user_data" {
  description = "Node name => #cloud-config document (modules/node-bootstrap user_data). Must hold no secret: EC2 hands it to anyone allowed DescribeInstanceAttribute."
  type        = map(string)
}

variable "bundles" {
  description = "Node name => bundle JSON (modules/node-bootstrap bundle): keys and token, stored in S3 only."
  type        = map(string)
  sensitive   = true
}

variable "bucket" {
  description = "S3 bucket of the bundles."
  type        = string
}

variable "bundle_keys" {
  description = "Node name => S3 key of its bundle; its role may read that object only. The caller computes it (the same key goes into node-bootstrap's bundle_s3_uri)."
  type        = map(string)
}

variable "ami" {
  type = string
}

variable "instance_type" {
  type    = string
  default = "t3.medium"
}

variable "security_group_ids" {
  type = list(string)
}

variable "read_objects" {
  description = "Node name => further S3 object ARNs its role may read (e.g. the etcd snapshot a rebuild restores from). Empty: the bundle only."
  type        = map(list(string))
  default     = {}
}
