variable "bucket" {
  description = "The environment's bucket (the snapshots share it with the node bundles, under their own prefix)."
  type        = string
}

variable "prefix" {
  description = "Key prefix of the snapshots: <prefix>/<class>/<YYYYmmddTHHMMSSZ>-<member>.db."
  type        = string
  default     = "etcd-snapshots"
}

variable "retention_days" {
  description = "Days each class is kept: frequent, hourly, daily."
  type = object({
    frequent = number
    hourly   = number
    daily    = number
  })
  default = { frequent = 1, hourly = 7, daily = 30 }

  validation {
    condition     = var.retention_days.frequent >= 1 && var.retention_days.hourly >= 1 && var.retention_days.daily >= 1
    error_message = "Each retention is at least one day (S3 expiration works in whole days)."
  }
}

variable "writer_roles" {
  description = "etcd member name => its node's IAM role name: the only roles allowed to write snapshots (PutObject only)."
  type        = map(string)
}

variable "denied_reader_role_arns" {
  description = "ARNs of every node role of the environment (etcd members included): explicitly denied reading or deleting snapshots, whatever else they are granted."
  type        = list(string)
  default     = []
}
