output "ca_cert_pem" {
  description = "Cluster CA certificate (ca.crt, CN kubernetes)."
  value       = tls_self_signed_cert.ca["ca"].cert_pem
}

output "etcd_ca_cert_pem" {
  description = "etcd CA certificate (etcd/ca.crt, CN etcd-ca)."
  value       = tls_self_signed_cert.ca["etcd-ca"].cert_pem
}

output "front_proxy_ca_cert_pem" {
  description = "Front-proxy CA certificate (front-proxy-ca.crt, CN front-proxy-ca)."
  value       = tls_self_signed_cert.ca["front-proxy-ca"].cert_pem
}

output "sa_public_key_pem" {
  description = "Service-account verification key (sa.pub), PKIX PEM."
  value       = tls_private_key.sa.public_key_pem
}

# The provider's key id is the hex SHA-256 of the key's DER SubjectPublicKeyInfo, which is what
# kubeadm hashes from the CA certificate (tests/pki.rs checks it against openssl).
output "ca_cert_hash" {
  description = "Value for `kubeadm join --discovery-token-ca-cert-hash`: sha256:<hex SHA-256 of the cluster CA's DER SubjectPublicKeyInfo>."
  value       = "sha256:${tls_private_key.ca["ca"].id}"
}

output "bundles" {
  description = "Node name => (absolute file path => PEM): what each control-plane node and etcd member installs under /etc/kubernetes/pki. Holds private keys: for S3, never user-data."
  value       = local.bundles
  sensitive   = true
}

output "admin_kubeconfig" {
  description = "kubeconfig for kubernetes-admin (group kubeadm:cluster-admins) through the load balancer."
  value       = local.admin_kubeconfig
  sensitive   = true
}

output "etcd_metrics_client" {
  description = "The dedicated etcd client certificate Prometheus scrapes etcd's /metrics with: { cert_pem, key_pem, ca_cert_pem } (ca_cert_pem: the etcd CA, to verify the members). In no node's bundle; for modules/observability only."
  value = {
    cert_pem    = tls_locally_signed_cert.leaf["etcd-metrics-client"].cert_pem
    key_pem     = tls_private_key.leaf["etcd-metrics-client"].private_key_pem
    ca_cert_pem = tls_self_signed_cert.ca["etcd-ca"].cert_pem
  }
  sensitive = true
}

output "certificate_expiry" {
  description = "Certificate name => validity_end_time (RFC 3339) of every certificate this module issued: the three CAs by their key (ca, etcd-ca, front-proxy-ca) and every leaf by its key (apiserver, etcd-server/<member>, …). modules/observability turns it into the slipway:certificate_expiry_timestamp_seconds series."
  value = merge(
    { for name, cert in tls_self_signed_cert.ca : name => cert.validity_end_time },
    { for name, cert in tls_locally_signed_cert.leaf : name => cert.validity_end_time },
  )
}

output "admin_client" {
  description = "The admin client pair of admin_kubeconfig as PEM ({ cert_pem, key_pem }), with ca_cert_pem: what a `provider \"kubernetes\"` block takes as client_certificate / client_key / cluster_ca_certificate."
  value = {
    cert_pem = tls_locally_signed_cert.leaf["admin"].cert_pem
    key_pem  = tls_private_key.leaf["admin"].private_key_pem
  }
  sensitive = true
}
