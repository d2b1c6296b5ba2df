output "summary" {
  description = "The environments' `cluster` output: endpoint, node names => IPs, the init node, etcd, the CA hash."
  value = {
    endpoint       = "https://${local.apiserver_endpoint}:6443"
    control_plane  = module.control_plane_placement.ips
    init_node      = module.control_plane.init_node
    workers        = module.worker_placement.ips
    etcd_members   = local.etcd_ips
    etcd_endpoints = module.etcd.endpoints
    ca_cert_hash   = module.pki.ca_cert_hash
  }
}

output "kubernetes" {
  description = "What the kubernetes provider needs to reach the API server through the load balancer with the admin certificate: { host, cluster_ca_certificate, client_certificate, client_key }."
  value = {
    host                   = "https://${local.apiserver_endpoint}:6443"
    cluster_ca_certificate = module.pki.ca_cert_pem
    client_certificate     = module.pki.admin_client.cert_pem
    client_key             = module.pki.admin_client.key_pem
  }
  sensitive = true
}

output "admin_kubeconfig" {
  value     = module.pki.admin_kubeconfig
  sensitive = true
}

output "bootstrap_token" {
  value     = local.bootstrap_token
  sensitive = true
}

output "join_token" {
  description = "The bootstrap token as modules/cluster-addons keeps it in the cluster: { id, secret, expiration } (RFC 3339: one rotation period after the next rotation)."
  value = {
    id         = random_string.bootstrap_token_id.result
    secret     = random_password.bootstrap_token_secret.result
    expiration = timeadd(time_rotating.bootstrap_token.rotation_rfc3339, "${var.bootstrap_token_rotation_hours}h")
  }
  sensitive = true
}

output "etcd_endpoints" {
  description = "etcd client URLs."
  value       = module.etcd.endpoints
}

output "etcd_client" {
  description = "The etcd CA and a client certificate it signed (PEM), for `slipway etcd` and `slipway dr`: the healthcheck client every member's bundle carries (modules/pki)."
  value = {
    ca_certificate     = module.pki.etcd_ca_cert_pem
    client_certificate = module.pki.bundles[sort(keys(local.etcd_ips))[0]]["/etc/kubernetes/pki/etcd/healthcheck-client.crt"]
    client_key         = module.pki.bundles[sort(keys(local.etcd_ips))[0]]["/etc/kubernetes/pki/etcd/healthcheck-client.key"]
  }
  sensitive = true
}

output "etcd_snapshots" {
  description = "Where the scheduled snapshots are: { bucket, prefix }."
  value       = local.stacked ? module.etcd_snapshots[0].location : module.etcd_nodes[0].snapshots
}

output "observed" {
  description = "What modules/cluster-addons' observability stack watches: { declared_node_count, certificate_expiry, control_plane_ips, etcd_member_ips }."
  value = {
    declared_node_count = var.control_plane_count + var.worker_count
    certificate_expiry  = module.pki.certificate_expiry
    control_plane_ips   = values(module.control_plane_placement.ips)
    etcd_member_ips     = values(local.etcd_ips)
  }
}

output "etcd_metrics_client" {
  description = "modules/pki etcd_metrics_client: the certificate Prometheus scrapes etcd with."
  value       = module.pki.etcd_metrics_client
  sensitive   = true
}
