# The etcd configuration of every member, rendered before any instance exists: members have
# static IPs, so each config file (and modules/pki's certificates) can name all of them.

locals {
  # Sorted names: endpoints and initial-cluster come out in the same order on every member and
  # on every plan.
  names = sort(keys(var.members))

  token = coalesce(var.initial_cluster_token, "${var.cluster_name}-etcd")

  # Indexing `members` fails the plan, at this line, when `leaving` names no member.
  leaving = [for name in var.leaving : name if var.members[name] != ""]

  member_config_file = var.member_config_file != null ? var.member_config_file : (var.topology == "stacked" ? "/etc/kubernetes/slipway-etcd-member.conf.yml" : "/etc/etcd/etcd.member.conf.yml")

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
      # Read only when the data dir is empty: a restarted member ignores it. Under the
      # membership script (member_scripts) a joining member starts "existing", as a learner.
      initial-cluster-state     = "new"
      initial-cluster-token     = local.token
      client-transport-security = local.client_tls
      peer-transport-security   = local.peer_tls
    }
  }

  # What each member starts from under the membership script (templates/etcd-member.sh.tftpl):
  # the same config naming only the member itself in initial-cluster. The script writes the real
  # initial-cluster (the declared list for a first bootstrap, the cluster's for a join) into
  # member_config_file, so a member's user-data does not change when other members are added
  # or removed (user-data is force-new: a changed config would replace every member at once).
  member_configs = {
    for name, config in local.configs : name => merge(config, {
      initial-cluster = "${name}=${local.peer_urls[name]}"
    })
  }

  # The declared member list the scripts read (from S3 on EC2: modules/etcd-nodes or
  # modules/kubeadm-nodes uploads it), updatable without replacing any member. `leaving` members
  # are left out: the reconcile removes them while their nodes still run.
  declared_members = jsonencode({
    members = { for name in local.names : name => {
      peer_url   = local.peer_urls[name]
      client_url = local.client_urls[name]
    } if !contains(local.leaving, name) }
  })

  member_scripts = {
    for name, ip in var.members : name => templatefile("${path.module}/templates/etcd-member.sh.tftpl", {
      name               = name
      cluster_name       = var.cluster_name
      peer_url           = local.peer_urls[name]
      client_url         = local.client_urls[name]
      data_dir           = var.data_dir
      pki_dir            = var.pki_dir
      config_file        = var.config_file
      member_config_file = local.member_config_file
      members_uri        = var.members_uri == null ? "" : var.members_uri
      add_attempts       = var.membership_retries.add_attempts
      promote_attempts   = var.membership_retries.promote_attempts
      retry_delay        = var.membership_retries.delay_seconds
      # init-or-join and leave: stacked members only (a dedicated member's user-data carries the
      # script, close to EC2's 16 KiB).
      stacked = var.topology == "stacked"
    })
  }

  # systemd on an external member: prepare before etcd (etcd Requires it), promote after it, and
  # the reconcile timer. The drop-in points etcd at member_config_file, which only prepare writes:
  # without a successful prepare etcd does not start at all.
  membership_units = merge(local.reconcile_units, {
    "/etc/systemd/system/slipway-etcd-member.service" = <<-EOT
      [Unit]
      Description=slipway: etcd membership before etcd starts (bootstrap, or join as learner)
      After=network-online.target
      Wants=network-online.target
      Before=etcd.service
      ${local.mount_guard}
      [Service]
      Type=oneshot
      RemainAfterExit=yes
      ExecStart=${var.member_script_path} prepare
      # The declared list or the cluster may not be reachable yet (IAM, peers booting).
      Restart=on-failure
      RestartSec=10s
      EOT
    "/etc/systemd/system/etcd.service.d/10-slipway-member.conf" = <<-EOT
      [Unit]
      Requires=slipway-etcd-member.service
      After=slipway-etcd-member.service
      Wants=slipway-etcd-promote.service slipway-etcd-reconcile.timer

      [Service]
      ExecStart=
      ExecStart=/usr/local/bin/etcd --config-file ${local.member_config_file}
      EOT
    "/etc/systemd/system/slipway-etcd-promote.service" = <<-EOT
      [Unit]
      Description=slipway: promote this etcd learner once in sync
      After=etcd.service
      Requires=etcd.service

      [Service]
      Type=oneshot
      ExecStart=${var.member_script_path} promote
      Restart=on-failure
      RestartSec=15s
      EOT
  })

  # The reconcile service and timer alone: what a stacked member (a control-plane node, whose
  # etcd kubeadm runs and joins) installs; After=etcd.service names no unit there and is inert.
  reconcile_units = {
    "/etc/systemd/system/slipway-etcd-reconcile.service" = <<-EOT
      [Unit]
      Description=slipway: remove one undeclared etcd member (leader only, quorum-safe)
      After=etcd.service

      [Service]
      Type=oneshot
      ExecStart=${var.member_script_path} reconcile
      EOT
    "/etc/systemd/system/slipway-etcd-reconcile.timer" = <<-EOT
      [Unit]
      Description=slipway: etcd membership reconcile

      [Timer]
      OnBootSec=2min
      OnUnitActiveSec=${var.membership_retries.reconcile_interval}
      RandomizedDelaySec=15s

      [Install]
      WantedBy=timers.target
      EOT
  }

  # A stacked member (control-plane node) also installs the leave unit: at shutdown, while its
  # etcd still runs (stopped before the kubelet and containerd, and before the network goes), a
  # member no longer declared removes itself (`leave`; a reboot or a replacement keeps its name
  # declared and does nothing). The ExecStart does nothing: the unit exists for its ExecStop.
  stacked_units = merge(local.reconcile_units, {
    "/etc/systemd/system/slipway-etcd-leave.service" = <<-EOT
      [Unit]
      Description=slipway: at shutdown, an undeclared etcd member leaves the cluster (quorum-safe)
      Wants=network-online.target
      After=network-online.target kubelet.service containerd.service

      [Service]
      Type=oneshot
      RemainAfterExit=yes
      ExecStart=/bin/true
      ExecStop=${var.member_script_path} leave
      TimeoutStopSec=10min

      [Install]
      WantedBy=multi-user.target
      EOT
  })

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
