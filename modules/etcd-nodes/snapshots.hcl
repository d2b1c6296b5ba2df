# Scheduled snapshots of the members to S3 (issue #16): the timer and script on every member
# (modules/node-bootstrap, only the leader uploads), and the prefix's permissions, encryption
# requirement and retention (modules/etcd-snapshots).

variable "snapshots" {
  description = "Scheduled snapshots of the members to S3 (a plain bool: it decides what exists, so it must be known at plan time)."
  type        = bool
  default     = true
}

variable "snapshot_bucket" {
  description = "Bucket of the scheduled snapshots; null: `bucket` (the members' bundles' bucket)."
  type        = string
  default     = null
}

variable "snapshot_prefix" {
  description = "Key prefix of the snapshots: <prefix>/<class>/<YYYYmmddTHHMMSSZ>-<member>.db."
  type        = string
  default     = "etcd-snapshots"
}

variable "snapshot_interval" {
  description = "How often the leader snapshots (a systemd time span: \"15min\", \"1h\")."
  type        = string
  default     = "15min"
}

variable "snapshot_retention_days" {
  description = "Days each class is kept (S3 lifecycle rules): frequent (every interval), hourly (the first of each hour), daily (the first of each UTC day)."
  type = object({
    frequent = number
    hourly   = number
    daily    = number
  })
  default = { frequent = 1, hourly = 7, daily = 30 }
}

variable "snapshot_denied_reader_role_arns" {
  description = "ARNs of the environment's other node roles (control plane, workers): denied reading snapshots in the bucket policy. The members' own roles are added here."
  type        = list(string)
  default     = []
}

locals {
  snapshot_bucket = var.snapshot_bucket != null ? var.snapshot_bucket : var.bucket
  etcd_snapshots = var.snapshots ? {
    bucket      = local.snapshot_bucket
    prefix      = var.snapshot_prefix
    interval    = var.snapshot_interval
    client_port = var.client_port
  } : null
}

module "snapshots" {
  source                  = "../etcd-snapshots"
  for_each                = var.snapshots ? { on = true } : {}
  bucket                  = local.snapshot_bucket
  prefix                  = var.snapshot_prefix
  retention_days          = var.snapshot_retention_days
  writer_roles            = module.nodes.role_names
  denied_reader_role_arns = concat(values(module.nodes.role_arns), var.snapshot_denied_reader_role_arns)
}

output "snapshots" {
  description = "{ bucket, prefix } of the scheduled snapshots (null when off)."
  value       = var.snapshots ? module.snapshots["on"].location : null
}
