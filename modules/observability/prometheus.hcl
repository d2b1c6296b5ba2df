# Prometheus: a one-replica StatefulSet (a TSDB is one writer), its configuration and rules from
# ConfigMaps, its etcd client certificate from a Secret, and the RBAC discovery and scraping need.

locals {
  prometheus_labels = { "app.kubernetes.io/name" = "prometheus", "app.kubernetes.io/part-of" = "slipway-observability" }

  # emptyDir unless storage is configured: the claim template's name is the volume's.
  prometheus_claims = var.prometheus_storage == null ? {} : {
    volumeClaimTemplates = [{
      metadata = { name = "data" }
      spec = {
        accessModes      = ["ReadWriteOnce"]
        storageClassName = var.prometheus_storage.storage_class
        resources        = { requests = { storage = var.prometheus_storage.size } }
      }
    }]
  }
  prometheus_data_volume = var.prometheus_storage == null ? [{ name = "data", emptyDir = { sizeLimit = "10Gi" } }] : []
}

resource "kubernetes_manifest" "prometheus_service_account" {
  manifest = {
    apiVersion = "v1"
    kind       = "ServiceAccount"
    metadata   = { name = "prometheus", namespace = local.ns, labels = local.prometheus_labels }
  }
}

# Discovery (nodes, services, endpointslices, pods) and scraping: kubelet metrics are authorized as
# nodes/metrics, the control-plane components' /metrics as a non-resource URL. Read-only, and no
# nodes/proxy (which reaches much more of the kubelet API than metrics).
resource "kubernetes_manifest" "prometheus_cluster_role" {
  manifest = {
    apiVersion = "rbac.authorization.k8s.io/v1"
    kind       = "ClusterRole"
    metadata   = { name = "slipway-prometheus", labels = local.prometheus_labels }
    rules = [
      {
        apiGroups = [""]
        resources = ["nodes", "nodes/metrics", "services", "pods"]
        verbs     = ["get", "list", "watch"]
      },
      {
        apiGroups = ["discovery.k8s.io"]
        resources = ["endpointslices"]
        verbs     = ["get", "list", "watch"]
      },
      {
        nonResourceURLs = ["/metrics", "/metrics/cadvisor"]
        verbs           = ["get"]
      },
    ]
  }
}

resource "kubernetes_manifest" "prometheus_cluster_role_binding" {
  manifest = {
    apiVersion = "rbac.authorization.k8s.io/v1"
    kind       = "ClusterRoleBinding"
    metadata   = { name = "slipway-prometheus", labels = local.prometheus_labels }
    roleRef = {
      apiGroup = "rbac.authorization.k8s.io"
      kind     = "ClusterRole"
      name     = "slipway-prometheus"
    }
    subjects = [{ kind = "ServiceAccount", name = "prometheus", namespace = local.ns }]
  }
}

resource "kubernetes_manifest" "prometheus_config" {
  manifest = {
    apiVersion = "v1"
    kind       = "ConfigMap"
    metadata   = { name = "prometheus-config", namespace = local.ns, labels = local.prometheus_labels }
    data       = { "prometheus.yml" = local.prometheus_yml }
  }
}

resource "kubernetes_manifest" "prometheus_rules" {
  manifest = {
    apiVersion = "v1"
    kind       = "ConfigMap"
    metadata   = { name = "prometheus-rules", namespace = local.ns, labels = local.prometheus_labels }
    data       = local.rule_files
  }
}

resource "kubernetes_manifest" "prometheus_etcd_client" {
  manifest = {
    apiVersion = "v1"
    kind       = "Secret"
    metadata   = { name = "prometheus-etcd-client", namespace = local.ns, labels = local.prometheus_labels }
    type       = "Opaque"
    stringData = {
      "ca.crt"  = var.etcd_client.ca_cert_pem
      "tls.crt" = var.etcd_client.cert_pem
      "tls.key" = var.etcd_client.key_pem
    }
  }
}

resource "kubernetes_manifest" "prometheus_service" {
  manifest = {
    apiVersion = "v1"
    kind       = "Service"
    metadata   = { name = "prometheus", namespace = local.ns, labels = local.prometheus_labels }
    spec = {
      selector = local.prometheus_labels
      ports    = [{ name = "http", port = 9090, targetPort = "http" }]
    }
  }
}

resource "kubernetes_manifest" "prometheus" {
  timeout = "300s"
  manifest = {
    apiVersion = "apps/v1"
    kind       = "StatefulSet"
    metadata   = { name = "prometheus", namespace = local.ns, labels = local.prometheus_labels }
    spec = merge({
      replicas    = 1
      serviceName = "prometheus"
      # OrderedReady would never replace a pod that is not Ready (kubernetes#67250): a broken
      # configuration could then not be rolled forward. One replica has no order to keep.
      podManagementPolicy = "Parallel"
      selector            = { matchLabels = local.prometheus_labels }
      template = {
        metadata = {
          labels      = local.prometheus_labels
          annotations = { "slipway.dev/config-sha256" = local.prometheus_checksum }
        }
        spec = {
          serviceAccountName = "prometheus"
          securityContext    = local.nonroot_pod
          containers = [{
            name  = "prometheus"
            image = local.images.prometheus
            args = [
              "--config.file=/etc/prometheus/prometheus.yml",
              "--storage.tsdb.path=/prometheus",
              "--storage.tsdb.retention.time=${var.retention}",
              "--web.listen-address=:9090",
            ]
            ports           = [{ name = "http", containerPort = 9090 }]
            resources       = local.resources.prometheus
            securityContext = local.restricted_container
            readinessProbe  = { httpGet = { path = "/-/ready", port = "http" }, periodSeconds = 10 }
            livenessProbe   = { httpGet = { path = "/-/healthy", port = "http" }, periodSeconds = 30, failureThreshold = 6 }
            volumeMounts = [
              { name = "config", mountPath = "/etc/prometheus/prometheus.yml", subPath = "prometheus.yml", readOnly = true },
              { name = "rules", mountPath = local.rules_dir, readOnly = true },
              { name = "etcd-client", mountPath = local.etcd_tls_dir, readOnly = true },
              { name = "data", mountPath = "/prometheus" },
            ]
          }]
          volumes = concat(
            [
              { name = "config", configMap = { name = "prometheus-config" } },
              { name = "rules", configMap = { name = "prometheus-rules" } },
              { name = "etcd-client", secret = { secretName = "prometheus-etcd-client", defaultMode = 288 } },
            ],
            local.prometheus_data_volume,
          )
        }
      }
    }, local.prometheus_claims)
  }
  depends_on = [
    kubernetes_manifest.prometheus_config,
    kubernetes_manifest.prometheus_rules,
    kubernetes_manifest.prometheus_etcd_client,
    kubernetes_manifest.prometheus_cluster_role_binding,
    kubernetes_manifest.prometheus_service,
  ]
}
