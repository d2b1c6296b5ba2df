# The etcd configuration of every member, rendered before any instance exists: members have
# static IPs, so each config file (and modules/pki's certificates) can name all of them.

locals {
  # Sorted names: endpoints and initial-cluster come out in the same order on every member and
  # on every plan.
  names = sort(keys(var.members))

  token = coalesce(var.initial_cluster_token, "${var.cluster_name}-etcd")

  client_urls = { for name, ip in var.members : name => "https://${ip}:${var.client_port}" }
  peer_urls   = { for name, ip in var.members : name => "https://${ip}:${var.peer_port}" }

  # Identical in every member's config: with initial-cluster-state "new" all members must agree
  # on it (and on the token) or bootstrap fails with a cluster ID mismatch.
  initial_cluster = join(",", [for name in local.names : "${name}=${local.peer_urls[name]}"])

  # Both sides of every connection authenticate with certificates from the etcd CA:
  # client-cert-auth makes etcd refuse clients and peers without one.
  client_tls = {
    cert-file        = "${var.pki_dir}/server.crt"
    key-file         = "${var.pki_dir}/server.key"
    trusted-ca-file  = "${var.pki_dir}/ca.crt"
    client-cert-auth = true
  }
  peer_tls = {
    cert-file        = "${var.pki_dir}/peer.crt"
    key-file         = "${var.pki_dir}/peer.key"
    trusted-ca-file  = "${var.pki_dir}/ca.crt"
    client-cert-auth = true
  }

  # etcd's config file (3.4 to 3.6) takes URL lists as comma-separated strings, not YAML lists.
  configs = {
    for name, ip in var.members : name => {
      name     = name
      data-dir = var.data_dir
      logger   = "zap"
      # The loopback listener serves the local apiserver and etcdctl on the node; distinct()
      # keeps a member whose own IP is 127.0.0.1 from binding it twice.
      listen-client-urls          = join(",", distinct(concat([local.client_urls[name]], var.listen_on_localhost ? ["https://127.0.0.1:${var.client_port}"] : [])))
      advertise-client-urls       = local.client_urls[name]
      listen-peer-urls            = local.peer_urls[name]
      initial-advertise-peer-urls = local.peer_urls[name]
      initial-cluster             = local.initial_cluster
      # Read only when the data dir is empty: a restarted member ignores it. Replacing a member
      # (state "existing", learner first) is the job of the later lifecycle code.
      initial-cluster-state     = "new"
      initial-cluster-token     = local.token
      client-transport-security = local.client_tls
      peer-transport-security   = local.peer_tls
    }
  }

  # An external member's data lives on its own EBS volume mounted at data_dir: if the volume is
  # missing, etcd must not start on an empty directory of the root disk.
  mount_guard = var.topology == "external" ? "RequiresMountsFor=${var.data_dir}\nAssertPathIsMountPoint=${var.data_dir}\n" : ""

  systemd_units = {
    for name, ip in var.members : name => <<-EOT
      [Unit]
      Description=etcd member ${name} of ${var.cluster_name}
      Documentation=https://etcd.io/docs/v3.6/op-guide/configuration/
      After=network-online.target
      Wants=network-online.target
      ${local.mount_guard}
      [Service]
      Type=notify
      ExecStart=/usr/local/bin/etcd --config-file ${var.config_file}
      Restart=always
      RestartSec=5s
      LimitNOFILE=65536

      [Install]
      WantedBy=multi-user.target
      EOT
  }

  # What the AWS part turns into security group ingress rules (field names of an
  # aws_security_group ingress block). Data only: no AWS resource exists yet.
  security_group_rules = [
    {
      description = "etcd clients (apiserver, etcdctl) from the control plane only"
      protocol    = "tcp"
      from_port   = var.client_port
      to_port     = var.client_port
      cidr_blocks = var.control_plane_cidrs
    },
    {
      description = "etcd peer traffic between members only"
      protocol    = "tcp"
      from_port   = var.peer_port
      to_port     = var.peer_port
      cidr_blocks = [for name in local.names : "${var.members[name]}/32"]
    },
  ]
}
