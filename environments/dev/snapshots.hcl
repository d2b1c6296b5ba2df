# etcd snapshots and restore drills (issue #16): the schedule's variables and the outputs
# `slipway etcd snapshot|snapshots` and `slipway dr drill|rebuild` read. The operator reaches the
# members' client URLs from inside the VPC (a bastion or VPN): they are private addresses.

variable "etcd_snapshot_interval" {
  description = "How often the etcd leader snapshots to S3 (a systemd time span)."
  type        = string
  default     = "15min"
}

variable "etcd_snapshot_retention_days" {
  description = "Days each snapshot class is kept: frequent, hourly, daily."
  type = object({
    frequent = number
    hourly   = number
    daily    = number
  })
  default = { frequent = 1, hourly = 7, daily = 30 }
}

locals {
  # The healthcheck client every member's bundle carries (modules/pki): the etcd CA signed it.
  etcd_client_bundle = module.pki.bundles[sort(keys(module.control_plane_placement.ips))[0]]
}

output "etcd_endpoints" {
  description = "etcd client URLs."
  value       = module.etcd.endpoints
}

output "etcd_client" {
  description = "The etcd CA and a client certificate it signed (PEM), for `slipway etcd` and `slipway dr`."
  value = {
    ca_certificate     = module.pki.etcd_ca_cert_pem
    client_certificate = local.etcd_client_bundle["/etc/kubernetes/pki/etcd/healthcheck-client.crt"]
    client_key         = local.etcd_client_bundle["/etc/kubernetes/pki/etcd/healthcheck-client.key"]
  }
  sensitive = true
}

output "etcd_snapshots" {
  description = "Where the scheduled snapshots are: { bucket, prefix }."
  value       = module.etcd_snapshots.location
}

# Stacked etcd: the control-plane nodes are the members and write the snapshots.
module "etcd_snapshots" {
  source                  = "../../modules/etcd-snapshots"
  bucket                  = aws_s3_bucket.bootstrap.bucket
  retention_days          = var.etcd_snapshot_retention_days
  writer_roles            = module.control_plane.role_names
  denied_reader_role_arns = concat(values(module.control_plane.role_arns), values(module.workers.role_arns))
}
