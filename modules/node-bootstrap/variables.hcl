variable "cluster_name" {
  description = "Cluster name (ClusterConfiguration.clusterName)."
  type        = string
}

variable "role" {
  description = "What this node does: \"control-plane-init\" (the first control-plane node runs kubeadm init), \"control-plane-join\", \"worker\", or \"etcd\" (a dedicated member of an external etcd cluster)."
  type        = string

  validation {
    condition     = contains(["control-plane-init", "control-plane-join", "worker", "etcd"], var.role)
    error_message = "role must be one of control-plane-init, control-plane-join, worker, etcd."
  }
}

variable "node_name" {
  description = "Kubernetes node name (nodeRegistration.name); also the etcd member name of an etcd or stacked node."
  type        = string
}

variable "node_ip" {
  description = "The node's static private IP: advertise address of the apiserver and etcd, kubelet --node-ip."
  type        = string
}

variable "kubernetes_version" {
  description = "Exact Kubernetes version, e.g. \"1.35.4\": pins the apt packages and kubeadm's kubernetesVersion. Its minor version picks the pkgs.k8s.io repository."
  type        = string

  validation {
    condition     = length(split(".", var.kubernetes_version)) == 3 && can(tonumber(split(".", var.kubernetes_version)[0])) && can(tonumber(split(".", var.kubernetes_version)[1])) && can(tonumber(split(".", var.kubernetes_version)[2]))
    error_message = "kubernetes_version must be MAJOR.MINOR.PATCH without a leading v, e.g. \"1.35.4\"."
  }
}

variable "kubernetes_package_revision" {
  description = "Debian revision of the pkgs.k8s.io packages: kubelet=<kubernetes_version>-<revision>."
  type        = string
  default     = "1.1"

  validation {
    # Quoted verbatim in the bootstrap script.
    condition     = length(split("'", var.kubernetes_package_revision)) == 1 && length(split(" ", var.kubernetes_package_revision)) == 1
    error_message = "kubernetes_package_revision must not contain quotes or spaces."
  }
}

variable "containerd_version" {
  description = "Exact Debian version of the `containerd` package to install and hold (e.g. \"1.6.20~ds1-1+deb12u1\")."
  type        = string

  validation {
    # Quoted verbatim in the bootstrap script.
    condition     = length(var.containerd_version) > 0 && length(split("'", var.containerd_version)) == 1 && length(split(" ", var.containerd_version)) == 1
    error_message = "containerd_version must be a Debian version string, without quotes or spaces."
  }
}

variable "bundle_s3_uri" {
  description = "s3:// URI of this node's bundle (the `bundle` output, uploaded by the environment). The instance role must be able to read it and nothing beyond the node's prefix."
  type        = string

  validation {
    # Quoted verbatim in the bootstrap script, hence no quote or space.
    condition     = startswith(var.bundle_s3_uri, "s3://") && length(split("/", var.bundle_s3_uri)) >= 4 && length(split("'", var.bundle_s3_uri)) == 1 && length(split(" ", var.bundle_s3_uri)) == 1
    error_message = "bundle_s3_uri must look like s3://BUCKET/KEY, without quotes or spaces."
  }
}

variable "apiserver_endpoint" {
  description = "DNS name of the API server load balancer; controlPlaneEndpoint is <this>:<apiserver_port>."
  type        = string
}

variable "apiserver_port" {
  description = "Port of the load balancer's listener and of each apiserver (localAPIEndpoint.bindPort)."
  type        = number
  default     = 6443
}

variable "etcd" {
  description = "etcd topology: `stacked` (kubeadm runs a member on every control-plane node) or `external` (dedicated members). `endpoints` are the client URLs the apiservers use (external only); `members` (name => IP) forms --initial-cluster on dedicated members (role etcd)."
  type = object({
    topology  = string
    endpoints = list(string)
    members   = optional(map(string))
  })

  validation {
    condition     = contains(["stacked", "external"], var.etcd.topology)
    error_message = "etcd.topology must be \"stacked\" or \"external\"."
  }
}

variable "pod_cidr" {
  description = "Pod network CIDR (networking.podSubnet); must match the CNI's."
  type        = string
}

variable "service_cidr" {
  description = "Service CIDR (networking.serviceSubnet); must match the one the apiserver certificate was issued for."
  type        = string
  default     = "10.96.0.0/12"
}

variable "cluster_domain" {
  description = "Cluster DNS domain (networking.dnsDomain)."
  type        = string
  default     = "cluster.local"
}

variable "bootstrap_token" {
  description = "kubeadm bootstrap token \"[a-z0-9]{6}.[a-z0-9]{16}\". Goes into the sensitive `bundle` only, never into user_data or kubeadm_config. Needed by every role but etcd."
  type        = string
  sensitive   = true
  default     = null
}

variable "bootstrap_token_ttl" {
  description = "Lifetime of the bootstrap token created by kubeadm init (\"0s\" never expires). Workers that join later need a token that is still valid."
  type        = string
  default     = "24h0m0s"
}

variable "ca_cert_hash" {
  description = "\"sha256:<hex>\" of the cluster CA's public key (modules/pki output ca_cert_hash): what joining nodes pin the cluster CA to. Needed by control-plane-join and worker."
  type        = string
  default     = null
}

variable "pki_files" {
  description = "Absolute path => PEM of the files this node installs (one entry of modules/pki's `bundles`); empty for workers. Sensitive: goes into `bundle` only."
  type        = map(string)
  sensitive   = true
  default     = {}
}

variable "etcd_service" {
  description = "For role \"etcd\" only: run the member from modules/etcd's config file under systemd (the etcd release of etcd_version), with its data dir on the node's own EBS volume, instead of kubeadm's static pod. config_path/config_file/systemd_unit come from modules/etcd; data_volume_id is the aws_ebs_volume's id, data_device_name the aws_volume_attachment's device_name."
  type = object({
    config_path      = string
    config_file      = string
    systemd_unit     = string
    data_dir         = string
    data_volume_id   = string
    data_device_name = string
  })
  default = null
}

variable "extra_files" {
  description = "More files for write_files (owner root:root), e.g. modules/etcd's membership script and units on an etcd member. No secrets: they land in user-data. encoding is cloud-init's (\"text/plain\", or \"gz+b64\" with base64gzip content: EC2 refuses user-data over 16 KiB)."
  type = list(object({
    path        = string
    permissions = string
    content     = string
    encoding    = string
  }))
  default = []
}

variable "bundle_scripts" {
  description = "Absolute path => content of executables delivered in the node's S3 bundle rather than in user-data (EC2 refuses user-data over 16 KiB): the bootstrap script writes them (mode 0755) with the certificates, before anything runs. Paths must start with /usr/local/sbin/slipway-. No secrets needed, none allowed to matter: the bundle is read with the node's role only."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for path in keys(var.bundle_scripts) : startswith(path, "/usr/local/sbin/slipway-") && length(split("/../", path)) == 1])
    error_message = "bundle_scripts paths must start with /usr/local/sbin/slipway- (and hold no /../)."
  }
}

variable "etcd_membership" {
  description = "Stacked etcd, control-plane roles: this node carries modules/etcd's membership script and reconcile units (in extra_files). The bootstrap script then installs the pinned etcdctl/etcdutl (etcd_version, etcd_sha256) before `kubeadm join`, runs the script's remove-stale before the join, and starts the reconcile timer once the node's member runs."
  type        = bool
  default     = false
}

variable "etcd_version" {
  description = "etcd release an etcd_service member installs (the official linux tarball, verified by etcd_sha256). 3.6 is what Kubernetes 1.34+ runs and what kubeadm accepts as external etcd; Debian 12's etcd-server (3.4.23) is below both. The tests run this same version (scripts/install-kube)."
  type        = string
  default     = "3.6.14"

  validation {
    # Digits and dots only: the value is quoted verbatim in the bootstrap script.
    condition     = length(split(".", var.etcd_version)) == 3 && trim(var.etcd_version, "0123456789.") == "" && alltrue([for part in split(".", var.etcd_version) : length(part) > 0])
    error_message = "etcd_version must be MAJOR.MINOR.PATCH without a leading v, e.g. \"3.6.14\"."
  }
}

variable "etcd_sha256" {
  description = "SHA-256 of etcd-v<etcd_version>-linux-<arch>.tar.gz per Debian architecture (dpkg --print-architecture); null takes the module's own pins for the versions it knows (3.6.14). The script refuses a tarball whose digest differs, and an architecture with no digest."
  type        = map(string)
  default     = null

  validation {
    # trim(s, set) == "" exactly when every character of s is in set.
    condition     = var.etcd_sha256 == null ? true : length(var.etcd_sha256) > 0 && alltrue([for arch, digest in var.etcd_sha256 : length(arch) > 0 && trim(arch, "abcdefghijklmnopqrstuvwxyz0123456789") == "" && length(digest) == 64 && trim(digest, "0123456789abcdef") == ""])
    error_message = "etcd_sha256 maps a Debian architecture (amd64, arm64) to a 64-character lowercase hex SHA-256."
  }
}

variable "etcd_restore" {
  description = "`slipway dr rebuild`: restore this node's etcd member from the snapshot s3://bucket/key (its SHA-256 hex) before etcd first starts, when its data dir is empty and no declared peer reports health. Dedicated members (role etcd with etcd_service) and the stacked init node (role control-plane-init, local etcd) restore; other roles ignore it. null: no restore, and nothing of it is rendered."
  type = object({
    bucket = string
    key    = string
    sha256 = string
  })
  default = null

  validation {
    condition     = var.etcd_restore == null || can(regex("^[0-9a-f]{64}$", var.etcd_restore.sha256))
    error_message = "etcd_restore.sha256 must be 64 lowercase hex digits (the snapshot's SHA-256)."
  }
}
