# Renders what a node needs to bootstrap itself with kubeadm: a #cloud-config user-data document
# and the kubeadm configuration documents. No resources: the environment uploads `bundle` to S3
# and hands `user_data` to aws_instance.
#
# Secrets never enter user-data (anyone with ec2:DescribeInstanceAttribute can read it): the
# kubeadm files carry a placeholder where the bootstrap token goes, and the node substitutes the
# token from the bundle it fetches with its instance role.

locals {
  api_version = "kubeadm.k8s.io/v1beta4"

  # Substituted on the node by the bootstrap script; kubeadm rejects it if left in place (it is
  # not a valid token), so a missed substitution fails loudly instead of joining with garbage.
  token_placeholder = "SLIPWAY_BOOTSTRAP_TOKEN"

  control_plane_endpoint = "${var.apiserver_endpoint}:${var.apiserver_port}"
  kubernetes_minor       = join(".", slice(split(".", var.kubernetes_version), 0, 2))
  package_version        = "${var.kubernetes_version}-${var.kubernetes_package_revision}"
  cri_socket             = "unix:///var/run/containerd/containerd.sock"
  pki_dir                = "/etc/kubernetes/pki"
  config_dir             = "/etc/kubernetes/kubeadm"
  config_path            = "${local.config_dir}/${var.role}.yaml"
  script_path            = "/usr/local/sbin/slipway-bootstrap"

  # Every role but a dedicated etcd member authenticates to the cluster with the token.
  needs_token = var.role != "etcd"

  # A dedicated member run by systemd from modules/etcd's config file (what tests/etcd.rs runs
  # for real), on its own EBS volume: no kubelet, no kubeadm.
  systemd_etcd = var.role == "etcd" && var.etcd_service != null
  etcd_service = local.systemd_etcd ? var.etcd_service : {
    config_path      = ""
    config_file      = ""
    systemd_unit     = ""
    data_dir         = ""
    data_volume_id   = ""
    data_device_name = ""
  }
  # Where the data volume shows up: on Nitro instances as an NVMe device whose udev name carries
  # the volume id (the attachment's device name is not kept); on Xen instances as /dev/xvdX.
  data_devices = local.systemd_etcd ? join(" ", [
    "/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_${replace(local.etcd_service.data_volume_id, "-", "")}",
    replace(local.etcd_service.data_device_name, "/dev/sd", "/dev/xvd"),
  ]) : ""

  node_registration = {
    name      = var.node_name
    criSocket = local.cri_socket
    # The node has several addresses on EC2; the kubelet must report the static one that the
    # certificates name.
    kubeletExtraArgs = [{ name = "node-ip", value = var.node_ip }]
  }

  local_api_endpoint = {
    advertiseAddress = var.node_ip
    bindPort         = var.apiserver_port
  }

  # Digests of the official etcd release tarballs, per version and Debian architecture (the same
  # digests kubespray pins). A version not listed needs var.etcd_sha256.
  etcd_release_sha256 = {
    "3.6.14" = {
      amd64 = "ffe840ff9295808e88cce2794a18a5ac87f12a5203c8314d0bf6aa119b41bac5"
      arm64 = "fa1b80565ee6fc2df1ae6f57a508b221f3ecc7d591c317c581cd8281b0842b3e"
    }
  }
  etcd_sha256 = var.etcd_sha256 != null ? var.etcd_sha256 : lookup(local.etcd_release_sha256, var.etcd_version, {})

  etcd_members     = coalesce(var.etcd.members, {})
  initial_cluster  = join(",", [for name, ip in local.etcd_members : "${name}=https://${ip}:2380"])
  etcd_member_sans = [var.node_name, var.node_ip, "localhost", "127.0.0.1"]

  # The certificates come pre-generated in the bundle (modules/pki); the SANs here only matter if
  # kubeadm ever had to generate one, and then they match what modules/pki issues.
  etcd = (
    var.role == "etcd" ? {
      # A dedicated member: kubeadm writes etcd's static pod from this ("Set up a High
      # Availability etcd Cluster with kubeadm"); the member list is known before any member
      # exists because members have static IPs.
      local = {
        dataDir        = "/var/lib/etcd"
        serverCertSANs = local.etcd_member_sans
        peerCertSANs   = local.etcd_member_sans
        extraArgs = [
          { name = "name", value = var.node_name },
          { name = "initial-cluster", value = local.initial_cluster },
          { name = "initial-cluster-state", value = "new" },
          { name = "listen-peer-urls", value = "https://${var.node_ip}:2380" },
          { name = "listen-client-urls", value = "https://127.0.0.1:2379,https://${var.node_ip}:2379" },
          { name = "advertise-client-urls", value = "https://${var.node_ip}:2379" },
          { name = "initial-advertise-peer-urls", value = "https://${var.node_ip}:2380" },
        ]
      }
    } : var.etcd.topology == "external" ? {
      external = {
        endpoints = var.etcd.endpoints
        caFile    = "${local.pki_dir}/etcd/ca.crt"
        certFile  = "${local.pki_dir}/apiserver-etcd-client.crt"
        keyFile   = "${local.pki_dir}/apiserver-etcd-client.key"
      }
    } : {
      local = {
        dataDir        = "/var/lib/etcd"
        serverCertSANs = local.etcd_member_sans
        peerCertSANs   = local.etcd_member_sans
      }
    }
  )

  init_configuration = {
    apiVersion = local.api_version
    kind       = "InitConfiguration"
    # kubeadm init creates this token, so the workers' token (from their bundles) is valid.
    bootstrapTokens = var.role == "control-plane-init" ? [{
      token       = local.token_placeholder
      description = "slipway: node bootstrap token for ${var.cluster_name}"
      ttl         = var.bootstrap_token_ttl
      usages      = ["signing", "authentication"]
      groups      = ["system:bootstrappers:kubeadm:default-node-token"]
    }] : []
    # A restored local etcd data dir is not empty, which kubeadm's preflight refuses.
    nodeRegistration = local.restore_stacked ? merge(local.node_registration, { ignorePreflightErrors = ["DirAvailable--var-lib-etcd"] }) : local.node_registration
    localAPIEndpoint = local.local_api_endpoint
  }

  cluster_configuration = {
    apiVersion           = local.api_version
    kind                 = "ClusterConfiguration"
    clusterName          = var.cluster_name
    kubernetesVersion    = "v${var.kubernetes_version}"
    controlPlaneEndpoint = local.control_plane_endpoint
    certificatesDir      = local.pki_dir
    networking = {
      podSubnet     = var.pod_cidr
      serviceSubnet = var.service_cidr
      dnsDomain     = var.cluster_domain
    }
    etcd = local.etcd
    apiServer = {
      certSANs = [var.apiserver_endpoint]
    }
    # kubeadm binds both to 127.0.0.1, so Prometheus (modules/observability, on the workers)
    # cannot scrape them (kube-prometheus #718). They serve /metrics on their secure ports
    # (10257, 10259) with delegated authentication and authorization, which stay on: only a
    # caller RBAC allows `get /metrics` (Prometheus's service account) reads them. One
    # ClusterConfiguration serves every control-plane node (joining nodes read it from the
    # cluster), so the address is 0.0.0.0 rather than the node's own IP; the security groups
    # decide who reaches the ports.
    controllerManager = {
      extraArgs = [{ name = "bind-address", value = "0.0.0.0" }]
    }
    scheduler = {
      extraArgs = [{ name = "bind-address", value = "0.0.0.0" }]
    }
  }

  join_configuration = merge(
    {
      apiVersion       = local.api_version
      kind             = "JoinConfiguration"
      nodeRegistration = local.node_registration
      discovery = {
        bootstrapToken = {
          apiServerEndpoint = local.control_plane_endpoint
          token             = local.token_placeholder
          # Pins the cluster CA: a node never trusts an apiserver that merely knows the token.
          caCertHashes = [var.ca_cert_hash]
        }
      }
    },
    # The certificates are pre-distributed in the bundle, so no certificateKey is needed.
    contains(["control-plane-join", "control-plane-init"], var.role) ? { controlPlane = { localAPIEndpoint = local.local_api_endpoint } } : {},
  )

  # A stacked init node with the membership script also carries a JoinConfiguration: replaced
  # while the other control-plane nodes run, it joins them (the script's init-or-join decides at
  # boot) instead of starting a second etcd cluster with kubeadm init. Its bundle has the CAs and
  # the bootstrap token a control-plane join needs.
  init_joins       = local.stacked_membership && var.role == "control-plane-init"
  join_config_path = "${local.config_dir}/control-plane-init-join.yaml"
  join_config_files = local.init_joins ? [{
    path        = local.join_config_path
    owner       = "root:root"
    permissions = "0644"
    content     = yamlencode(local.join_configuration)
  }] : []

  # kubeadm join reads only a JoinConfiguration (it takes the cluster's from the kubeadm-config
  # ConfigMap); init and a dedicated etcd member read Init + Cluster.
  kubeadm_documents = (
    local.systemd_etcd ? [] :
    contains(["control-plane-join", "worker"], var.role)
    ? [yamlencode(local.join_configuration)]
    : [yamlencode(local.init_configuration), yamlencode(local.cluster_configuration)]
  )
  kubeadm_config = join("---\n", local.kubeadm_documents)

  # A dedicated etcd member runs etcd as a static pod under a standalone kubelet (no apiserver):
  # kubeadm's documented way to run external etcd.
  etcd_kubelet_config = yamlencode({
    apiVersion    = "kubelet.config.k8s.io/v1beta1"
    kind          = "KubeletConfiguration"
    cgroupDriver  = "systemd"
    address       = "127.0.0.1"
    staticPodPath = "/etc/kubernetes/manifests"
    authentication = {
      anonymous = { enabled = false }
      webhook   = { enabled = false }
    }
    authorization = { mode = "AlwaysAllow" }
  })

  etcd_kubelet_files = var.role == "etcd" ? [
    {
      path        = "/etc/systemd/system/kubelet.service.d/kubelet.conf"
      owner       = "root:root"
      permissions = "0644"
      content     = local.etcd_kubelet_config
    },
    {
      path        = "/etc/systemd/system/kubelet.service.d/20-etcd-service-manager.conf"
      owner       = "root:root"
      permissions = "0644"
      # The empty ExecStart= clears kubeadm's own drop-in, which expects a kubeconfig.
      content = "[Service]\nExecStart=\nExecStart=/usr/bin/kubelet --config=/etc/systemd/system/kubelet.service.d/kubelet.conf --container-runtime-endpoint=${local.cri_socket}\nRestart=always\n"
    },
  ] : []

  # etcd_restore (templates/etcd-restore.sh.tftpl): the member's restore flags come from its
  # own etcd config file (dedicated members) or from what kubeadm gives a stacked init node's
  # local member (its node name, its IP, data dir /var/lib/etcd, etcd's default cluster token).
  restore_stacked     = var.etcd_restore != null && var.role == "control-plane-init" && var.etcd.topology == "stacked"
  restoring           = var.etcd_restore != null && (local.systemd_etcd || local.restore_stacked)
  restore_conf        = yamldecode(local.systemd_etcd ? local.etcd_service.config_file : "{}")
  restore_script_path = "/usr/local/sbin/slipway-etcd-restore"
  etcd_restore_script = local.restoring ? templatefile("${path.module}/templates/etcd-restore.sh.tftpl", {
    name                        = local.systemd_etcd ? local.restore_conf["name"] : var.node_name
    data_dir                    = local.systemd_etcd ? local.restore_conf["data-dir"] : "/var/lib/etcd"
    initial_cluster             = local.systemd_etcd ? local.restore_conf["initial-cluster"] : "${var.node_name}=https://${var.node_ip}:2380"
    initial_cluster_token       = local.systemd_etcd ? local.restore_conf["initial-cluster-token"] : "etcd-cluster"
    initial_advertise_peer_urls = local.systemd_etcd ? local.restore_conf["initial-advertise-peer-urls"] : "https://${var.node_ip}:2380"
    # Other members' client URLs (dedicated members: modules/etcd-nodes passes them); a stacked
    # init node has no peer yet.
    health_urls  = local.systemd_etcd ? join(" ", var.etcd.endpoints) : ""
    ca_file      = local.systemd_etcd ? local.restore_conf["client-transport-security"]["trusted-ca-file"] : "${local.pki_dir}/etcd/ca.crt"
    cert_file    = local.systemd_etcd ? local.restore_conf["client-transport-security"]["cert-file"] : "${local.pki_dir}/etcd/healthcheck-client.crt"
    key_file     = local.systemd_etcd ? local.restore_conf["client-transport-security"]["key-file"] : "${local.pki_dir}/etcd/healthcheck-client.key"
    bucket       = var.etcd_restore.bucket
    key          = var.etcd_restore.key
    sha256       = var.etcd_restore.sha256
    etcd_version = var.etcd_version
    etcd_sha256  = join(" ", [for arch in sort(keys(local.etcd_sha256)) : "${arch}=${local.etcd_sha256[arch]}"])
  }) : ""
  restore_files = local.restoring ? [{
    path        = local.restore_script_path
    owner       = "root:root"
    permissions = "0755"
    # gzip+base64 (cloud-init decodes it): an etcd member's user-data also carries the
    # membership and snapshot scripts, and EC2 refuses user-data over 16 KiB.
    content  = base64gzip(local.etcd_restore_script)
    encoding = "gz+b64"
  }] : []

  # A stacked control-plane node with modules/etcd's membership script (modules/kubeadm-nodes
  # etcd_membership): etcdctl from the pinned release, remove-stale before the join, the timer.
  stacked_membership = var.etcd_membership && var.etcd.topology == "stacked" && contains(["control-plane-init", "control-plane-join"], var.role)

  bootstrap_script = templatefile("${path.module}/templates/bootstrap.sh.tftpl", {
    role               = var.role
    bundle_s3_uri      = var.bundle_s3_uri
    kubernetes_minor   = local.kubernetes_minor
    package_version    = local.package_version
    containerd_version = var.containerd_version
    config_path        = local.systemd_etcd ? "" : local.config_path
    token_placeholder  = local.token_placeholder
    needs_token        = local.needs_token
    pki_dir            = local.pki_dir
    systemd_etcd       = local.systemd_etcd
    etcd_tools         = local.systemd_etcd || local.stacked_membership
    stacked_membership = local.stacked_membership
    etcd_version       = var.etcd_version
    etcd_sha256        = join(" ", [for arch in sort(keys(local.etcd_sha256)) : "${arch}=${local.etcd_sha256[arch]}"])
    etcd_data_dir      = local.etcd_service.data_dir
    etcd_data_devices  = local.data_devices
    wait_for_etcd      = var.role == "control-plane-init" && var.etcd.topology == "external"
    etcd_endpoints     = join(" ", var.etcd.endpoints)
    apiserver_url      = "https://${local.control_plane_endpoint}"
    etcd_restore       = local.restoring ? local.restore_script_path : ""
    init_joins         = local.init_joins
    join_config_path   = local.init_joins ? local.join_config_path : ""
    etcd_snapshot_hook = local.etcd_snapshot_hook
  })

  # gzip+base64 (cloud-init decodes it before writing), and without its comment lines (the
  # template has them; modules/etcd-nodes strips the membership script the same way): with an
  # etcd member's membership, snapshot and restore scripts the plain text would pass EC2's
  # 16 KiB user-data limit.
  script_file = {
    path        = local.script_path
    owner       = "root:root"
    permissions = "0755"
    content = base64gzip(join("\n", [
      for line in split("\n", local.bootstrap_script) : line if !startswith(trimspace(line), "#") || startswith(line, "#!")
    ]))
    encoding = "gz+b64"
  }

  # modules/etcd's config file and unit, unchanged; the unit (external topology) refuses to start
  # unless data_dir is a mount point, which the script makes it.
  etcd_service_files = [
    {
      path        = local.etcd_service.config_path
      owner       = "root:root"
      permissions = "0644"
      content     = local.etcd_service.config_file
    },
    {
      path        = "/etc/systemd/system/etcd.service"
      owner       = "root:root"
      permissions = "0644"
      content     = local.etcd_service.systemd_unit
    },
    local.script_file,
  ]

  cloud_config = {
    # Unpinned helpers from the distribution; the pinned Kubernetes packages come from
    # pkgs.k8s.io in the bootstrap script, once its signing key is installed.
    package_update = true
    # jq: modules/etcd's membership script parses etcdctl's JSON with it.
    packages = ["awscli", "ca-certificates", "curl", "gpg", "jq", "python3"]
    write_files = concat(local.systemd_etcd ? local.etcd_service_files : concat(
      [
        {
          path        = local.config_path
          owner       = "root:root"
          permissions = "0644"
          content     = local.kubeadm_config
        },
        {
          path        = "/etc/modules-load.d/k8s.conf"
          owner       = "root:root"
          permissions = "0644"
          content     = "overlay\nbr_netfilter\n"
        },
        {
          path        = "/etc/sysctl.d/99-kubernetes.conf"
          owner       = "root:root"
          permissions = "0644"
          content     = "net.bridge.bridge-nf-call-iptables = 1\nnet.bridge.bridge-nf-call-ip6tables = 1\nnet.ipv4.ip_forward = 1\n"
        },
        local.script_file,
      ],
      local.join_config_files,
      local.etcd_kubelet_files,
    ), local.snapshot_files, local.restore_files, [for f in var.extra_files : merge(f, { owner = "root:root" })])
    # runcmd runs in cloud-init's final stage, after write_files and the packages above.
    runcmd = [[local.script_path]]
  }

  user_data = "#cloud-config\n${yamlencode(local.cloud_config)}"

  # `scripts` only when there are some: every other node's bundle keeps its bytes.
  bundle = jsonencode(merge({
    files           = var.pki_files
    bootstrap_token = local.needs_token ? var.bootstrap_token : null
  }, length(var.bundle_scripts) > 0 ? { scripts = var.bundle_scripts } : {}))
}
