# Scheduled etcd snapshots to S3 (issue #16): on every etcd member — a dedicated member (role
# etcd) or a stacked control-plane node — a script and a systemd timer; only the leader uploads.
# The script is templates/etcd-snapshot.sh.tftpl; the layout is src/etcd/snapshots.rs's.

variable "etcd_snapshots" {
  description = "Scheduled snapshots of this node's etcd member: { bucket, prefix, interval (a systemd time span: \"15min\", \"1h\", \"900s\"), client_port }. Null: none. The node's role must be allowed s3:PutObject under <prefix>/ (modules/etcd-nodes, modules/kubeadm-nodes)."
  type = object({
    bucket      = string
    prefix      = string
    interval    = string
    client_port = number
  })
  default = null

  validation {
    condition     = var.etcd_snapshots == null || can(regex("^[0-9]+(s|min|h)$", var.etcd_snapshots.interval))
    error_message = "etcd_snapshots.interval must be a whole number of s, min or h, e.g. \"15min\"."
  }
}

locals {
  snapshot_member = var.role == "etcd" || (var.etcd.topology == "stacked" && contains(["control-plane-init", "control-plane-join"], var.role))
  snapshots_on    = var.etcd_snapshots != null && local.snapshot_member
  snapshot        = local.snapshots_on ? var.etcd_snapshots : { bucket = "", prefix = "", interval = "15min", client_port = 2379 }
  snapshot_interval_seconds = tonumber(regex("^[0-9]+", local.snapshot.interval)) * lookup(
    { s = 1, min = 60, h = 3600 }, regex("[a-z]+$", local.snapshot.interval), 1
  )
  snapshot_script_path = "/usr/local/sbin/slipway-etcd-snapshot"

  snapshot_script = templatefile("${path.module}/templates/etcd-snapshot.sh.tftpl", {
    member           = var.node_name
    endpoint         = "https://${var.node_ip}:${local.snapshot.client_port}"
    pki_dir          = local.pki_dir
    bucket           = local.snapshot.bucket
    prefix           = trim(local.snapshot.prefix, "/")
    interval         = local.snapshot.interval
    interval_seconds = local.snapshot_interval_seconds
    etcd_version     = var.etcd_version
    etcd_sha256      = join(" ", [for arch in sort(keys(local.etcd_sha256)) : "${arch}=${local.etcd_sha256[arch]}"])
  })

  snapshot_files = local.snapshots_on ? [
    {
      path        = local.snapshot_script_path
      owner       = "root:root"
      permissions = "0755"
      # gzip+base64, as the membership and restore scripts: EC2 refuses user-data over 16 KiB.
      content  = base64gzip(local.snapshot_script)
      encoding = "gz+b64"
    },
    {
      path        = "/etc/systemd/system/slipway-etcd-snapshot.service"
      owner       = "root:root"
      permissions = "0644"
      content     = "[Unit]\nDescription=slipway: etcd snapshot to S3 (only the leader uploads)\nWants=network-online.target\nAfter=network-online.target\n\n[Service]\nType=oneshot\nExecStart=${local.snapshot_script_path}\nNice=10\nIOSchedulingClass=idle\n"
    },
    {
      path        = "/etc/systemd/system/slipway-etcd-snapshot.timer"
      owner       = "root:root"
      permissions = "0644"
      content     = "[Unit]\nDescription=slipway: etcd snapshot every ${local.snapshot.interval}\n\n[Timer]\nOnBootSec=5min\nOnUnitActiveSec=${local.snapshot.interval}\nAccuracySec=10s\n\n[Install]\nWantedBy=timers.target\n"
    },
  ] : []

  # The bootstrap script's one hook (templates/bootstrap.sh.tftpl): start the timer once the
  # member runs.
  etcd_snapshot_hook = local.snapshots_on ? "systemctl daemon-reload && systemctl enable --now slipway-etcd-snapshot.timer" : ""
}

output "etcd_snapshot_script" {
  description = "The rendered snapshot script (null when this node takes no snapshots). No secret."
  value       = local.snapshots_on ? local.snapshot_script : null
}
