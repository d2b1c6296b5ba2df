# kubeadm's certificate set (`kubeadm init phase certs all`), issued by the tls provider so that
# certificates exist before the nodes do and every node can fetch its own bundle.

locals {
  # kubeadm's CAs: key usages of client-go's NewSelfSignedCACert, and the CN repeated as a DNS
  # SAN as kubeadm writes it.
  cas = {
    ca             = "kubernetes"
    etcd-ca        = "etcd-ca"
    front-proxy-ca = "front-proxy-ca"
  }
  ca_uses = ["cert_signing", "digital_signature", "key_encipherment"]

  # kubeadm gives every RSA leaf these key usages; only the extended usages differ.
  leaf_key_uses = ["digital_signature", "key_encipherment"]

  # The `kubernetes` service takes the first host of the service range.
  kubernetes_service_ip = cidrhost(var.service_cidr, 1)

  apiserver_dns_names = concat(
    [
      var.apiserver_lb_dns_name,
      "kubernetes",
      "kubernetes.default",
      "kubernetes.default.svc",
      "kubernetes.default.svc.${var.cluster_domain}",
    ],
    sort(keys(var.control_plane_nodes)),
  )
  apiserver_ips = concat(
    [local.kubernetes_service_ip],
    [for name in sort(keys(var.control_plane_nodes)) : var.control_plane_nodes[name]],
  )

  # Leaves issued once per cluster. `file` is the kubeadm base name under /etc/kubernetes/pki.
  shared_leaves = {
    apiserver = {
      ca           = "ca"
      file         = "apiserver"
      common_name  = "kube-apiserver"
      organization = null
      dns_names    = local.apiserver_dns_names
      ip_addresses = local.apiserver_ips
      uses         = ["server_auth"]
    }
    apiserver-kubelet-client = {
      ca          = "ca"
      file        = "apiserver-kubelet-client"
      common_name = "kube-apiserver-kubelet-client"
      # kubeadm >= 1.29 binds this group to cluster-admin instead of using system:masters,
      # so the credential can be revoked by deleting the binding.
      organization = "kubeadm:cluster-admins"
      dns_names    = []
      ip_addresses = []
      uses         = ["client_auth"]
    }
    apiserver-etcd-client = {
      ca           = "etcd-ca"
      file         = "apiserver-etcd-client"
      common_name  = "kube-apiserver-etcd-client"
      organization = null
      dns_names    = []
      ip_addresses = []
      uses         = ["client_auth"]
    }
    front-proxy-client = {
      ca           = "front-proxy-ca"
      file         = "front-proxy-client"
      common_name  = "front-proxy-client"
      organization = null
      dns_names    = []
      ip_addresses = []
      uses         = ["client_auth"]
    }
    etcd-healthcheck-client = {
      ca           = "etcd-ca"
      file         = "etcd/healthcheck-client"
      common_name  = "kube-etcd-healthcheck-client"
      organization = null
      dns_names    = []
      ip_addresses = []
      uses         = ["client_auth"]
    }
    # Prometheus scrapes each etcd member's /metrics over TLS on the client port; with
    # client-cert-auth etcd wants a certificate from its CA. A dedicated one (not the
    # apiserver's or the healthcheck's) so it can be revoked, rotated and audited on its own.
    # It goes to the monitoring namespace only (output `etcd_metrics_client`), never into a
    # node's bundle.
    etcd-metrics-client = {
      ca           = "etcd-ca"
      file         = "etcd/metrics-client"
      common_name  = "slipway-prometheus-etcd-client"
      organization = null
      dns_names    = []
      ip_addresses = []
      uses         = ["client_auth"]
    }
    admin = {
      ca           = "ca"
      file         = "admin"
      common_name  = "kubernetes-admin"
      organization = "kubeadm:cluster-admins"
      dns_names    = []
      ip_addresses = []
      uses         = ["client_auth"]
    }
  }

  # etcd serves clients and peers with certificates that are both server and client: a member
  # dials its peers with its peer certificate, and etcdctl on the node uses the server pair.
  etcd_leaves = merge([
    for name, ip in var.etcd_members : {
      for kind in ["server", "peer"] : "etcd-${kind}/${name}" => {
        ca           = "etcd-ca"
        file         = "etcd/${kind}"
        common_name  = name
        organization = null
        dns_names    = [name, "localhost"]
        ip_addresses = [ip, "127.0.0.1", "::1"]
        uses         = ["server_auth", "client_auth"]
      }
    }
  ]...)

  leaves = merge(local.shared_leaves, local.etcd_leaves)
}

resource "tls_private_key" "ca" {
  for_each  = local.cas
  algorithm = "RSA"
  rsa_bits  = 2048
}

resource "tls_self_signed_cert" "ca" {
  for_each        = local.cas
  private_key_pem = tls_private_key.ca[each.key].private_key_pem

  subject {
    common_name = each.value
  }
  dns_names = [each.value]

  is_ca_certificate     = true
  allowed_uses          = local.ca_uses
  validity_period_hours = var.ca_validity_hours
  early_renewal_hours   = var.early_renewal_hours
}

# The service-account signing pair (sa.key / sa.pub): a bare key, no certificate.
resource "tls_private_key" "sa" {
  algorithm = "RSA"
  rsa_bits  = 2048
}

resource "tls_private_key" "leaf" {
  for_each  = local.leaves
  algorithm = "RSA"
  rsa_bits  = 2048
}

resource "tls_cert_request" "leaf" {
  for_each        = local.leaves
  private_key_pem = tls_private_key.leaf[each.key].private_key_pem

  subject {
    common_name  = each.value.common_name
    organization = each.value.organization
  }
  dns_names    = each.value.dns_names
  ip_addresses = each.value.ip_addresses
}

resource "tls_locally_signed_cert" "leaf" {
  for_each           = local.leaves
  cert_request_pem   = tls_cert_request.leaf[each.key].cert_request_pem
  ca_private_key_pem = tls_private_key.ca[each.value.ca].private_key_pem
  ca_cert_pem        = tls_self_signed_cert.ca[each.value.ca].cert_pem

  allowed_uses          = concat(local.leaf_key_uses, each.value.uses)
  validity_period_hours = var.leaf_validity_hours
  early_renewal_hours   = var.early_renewal_hours
}

locals {
  pki = "/etc/kubernetes/pki"

  ca_files = {
    ca             = "ca"
    etcd-ca        = "etcd/ca"
    front-proxy-ca = "front-proxy-ca"
  }

  # What `kubeadm join --control-plane` expects to find: the shared CAs with their keys (the
  # controller manager signs kubelet certificates with ca.key), the service-account pair, and
  # this module's pre-issued apiserver certificates. Only the etcd CA's certificate: the
  # apiserver is an etcd client, not an issuer.
  control_plane_bundle = merge(
    {
      "${local.pki}/ca.crt"             = tls_self_signed_cert.ca["ca"].cert_pem
      "${local.pki}/ca.key"             = tls_private_key.ca["ca"].private_key_pem
      "${local.pki}/front-proxy-ca.crt" = tls_self_signed_cert.ca["front-proxy-ca"].cert_pem
      "${local.pki}/front-proxy-ca.key" = tls_private_key.ca["front-proxy-ca"].private_key_pem
      "${local.pki}/etcd/ca.crt"        = tls_self_signed_cert.ca["etcd-ca"].cert_pem
      "${local.pki}/sa.key"             = tls_private_key.sa.private_key_pem
      "${local.pki}/sa.pub"             = tls_private_key.sa.public_key_pem
    },
    merge([
      for leaf in ["apiserver", "apiserver-kubelet-client", "apiserver-etcd-client", "front-proxy-client"] : {
        "${local.pki}/${local.leaves[leaf].file}.crt" = tls_locally_signed_cert.leaf[leaf].cert_pem
        "${local.pki}/${local.leaves[leaf].file}.key" = tls_private_key.leaf[leaf].private_key_pem
      }
    ]...),
  )

  # An etcd member needs its own server and peer pairs, the etcd CA to verify clients and peers,
  # and the healthcheck client that kubeadm's etcd liveness probe presents.
  etcd_bundles = {
    for name, ip in var.etcd_members : name => merge(
      {
        "${local.pki}/etcd/ca.crt"                 = tls_self_signed_cert.ca["etcd-ca"].cert_pem
        "${local.pki}/etcd/healthcheck-client.crt" = tls_locally_signed_cert.leaf["etcd-healthcheck-client"].cert_pem
        "${local.pki}/etcd/healthcheck-client.key" = tls_private_key.leaf["etcd-healthcheck-client"].private_key_pem
      },
      merge([
        for kind in ["server", "peer"] : {
          "${local.pki}/etcd/${kind}.crt" = tls_locally_signed_cert.leaf["etcd-${kind}/${name}"].cert_pem
          "${local.pki}/etcd/${kind}.key" = tls_private_key.leaf["etcd-${kind}/${name}"].private_key_pem
        }
      ]...),
    )
  }

  # A stacked node (both control plane and etcd member) gets both sets, plus the etcd CA key:
  # kubeadm's control-plane join with local etcd refuses to start without etcd/ca.key.
  node_names = distinct(concat(keys(var.control_plane_nodes), keys(var.etcd_members)))
  bundles = {
    for name in local.node_names : name => merge(
      contains(keys(var.control_plane_nodes), name) ? local.control_plane_bundle : {},
      contains(keys(var.etcd_members), name) ? local.etcd_bundles[name] : {},
      contains(keys(var.control_plane_nodes), name) && contains(keys(var.etcd_members), name) ? {
        "${local.pki}/etcd/ca.key" = tls_private_key.ca["etcd-ca"].private_key_pem
      } : {},
    )
  }

  admin_kubeconfig = <<-EOT
    apiVersion: v1
    kind: Config
    clusters:
    - cluster:
        certificate-authority-data: ${base64encode(tls_self_signed_cert.ca["ca"].cert_pem)}
        server: https://${var.apiserver_lb_dns_name}:${var.apiserver_port}
      name: ${var.cluster_name}
    contexts:
    - context:
        cluster: ${var.cluster_name}
        user: kubernetes-admin
      name: kubernetes-admin@${var.cluster_name}
    current-context: kubernetes-admin@${var.cluster_name}
    preferences: {}
    users:
    - name: kubernetes-admin
      user:
        client-certificate-data: ${base64encode(tls_locally_signed_cert.leaf["admin"].cert_pem)}
        client-key-data: ${base64encode(tls_private_key.leaf["admin"].private_key_pem)}
    EOT
}
