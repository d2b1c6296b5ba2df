output "nodes" {
  description = "Node name => { zone, ip }: the nodes input of modules/kubeadm-nodes, modules/etcd-nodes."
  value       = local.nodes
}

output "ips" {
  description = "Node name => private IP: modules/pki control_plane_nodes / etcd_members, modules/etcd members."
  value       = { for name, n in local.nodes : name => n.ip }
}
