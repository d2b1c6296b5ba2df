variable "etcd_snapshots" {
  description = "Stacked etcd only: scheduled snapshots from every control-plane node (modules/node-bootstrap etcd_snapshots: { bucket, prefix, interval, client_port }); only the leader uploads. Null: none. The roles' write permission comes from modules/etcd-snapshots."
  type = object({
    bucket      = string
    prefix      = string
    interval    = string
    client_port = number
  })
  default = null
}
