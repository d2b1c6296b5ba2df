# kube-state-metrics: the state of Kubernetes objects as metrics (pods by phase, Jobs,
# Deployments, ReplicationControllers, nodes...). Read-only RBAC for exactly the kinds it lists;
# Secrets are left out (their metrics are not needed, and listing them reads their data).

locals {
  ksm_labels = { "app.kubernetes.io/name" = "kube-state-metrics", "app.kubernetes.io/part-of" = "slipway-observability" }

  # kube-state-metrics v2.18's default --resources minus secrets, by API group (its RBAC).
  ksm_kinds = {
    ""                             = ["configmaps", "limitranges", "namespaces", "nodes", "persistentvolumeclaims", "persistentvolumes", "pods", "replicationcontrollers", "resourcequotas", "services"]
    "admissionregistration.k8s.io" = ["mutatingwebhookconfigurations", "validatingwebhookconfigurations"]
    "apps"                         = ["daemonsets", "deployments", "replicasets", "statefulsets"]
    "autoscaling"                  = ["horizontalpodautoscalers"]
    "batch"                        = ["cronjobs", "jobs"]
    "certificates.k8s.io"          = ["certificatesigningrequests"]
    "coordination.k8s.io"          = ["leases"]
    "discovery.k8s.io"             = ["endpointslices"]
    "networking.k8s.io"            = ["ingresses", "networkpolicies"]
    "policy"                       = ["poddisruptionbudgets"]
    "storage.k8s.io"               = ["storageclasses", "volumeattachments"]
  }
  ksm_resources = sort(flatten(values(local.ksm_kinds)))
}

resource "kubernetes_manifest" "ksm_service_account" {
  manifest = {
    apiVersion = "v1"
    kind       = "ServiceAccount"
    metadata   = { name = "kube-state-metrics", namespace = local.ns, labels = local.ksm_labels }
  }
}

resource "kubernetes_manifest" "ksm_cluster_role" {
  manifest = {
    apiVersion = "rbac.authorization.k8s.io/v1"
    kind       = "ClusterRole"
    metadata   = { name = "slipway-kube-state-metrics", labels = local.ksm_labels }
    rules = [for group in sort(keys(local.ksm_kinds)) : {
      apiGroups = [group]
      resources = local.ksm_kinds[group]
      verbs     = ["list", "watch"]
    }]
  }
}

resource "kubernetes_manifest" "ksm_cluster_role_binding" {
  manifest = {
    apiVersion = "rbac.authorization.k8s.io/v1"
    kind       = "ClusterRoleBinding"
    metadata   = { name = "slipway-kube-state-metrics", labels = local.ksm_labels }
    roleRef    = { apiGroup = "rbac.authorization.k8s.io", kind = "ClusterRole", name = "slipway-kube-state-metrics" }
    subjects   = [{ kind = "ServiceAccount", name = "kube-state-metrics", namespace = local.ns }]
  }
}

resource "kubernetes_manifest" "ksm_service" {
  manifest = {
    apiVersion = "v1"
    kind       = "Service"
    metadata   = { name = "kube-state-metrics", namespace = local.ns, labels = local.ksm_labels }
    spec = {
      selector = local.ksm_labels
      ports = [
        { name = "http", port = 8080, targetPort = "http" },
        { name = "telemetry", port = 8081, targetPort = "telemetry" },
      ]
    }
  }
}

resource "kubernetes_manifest" "kube_state_metrics" {
  timeout = "300s"
  manifest = {
    apiVersion = "apps/v1"
    kind       = "Deployment"
    metadata   = { name = "kube-state-metrics", namespace = local.ns, labels = local.ksm_labels }
    spec = {
      replicas = 1
      selector = { matchLabels = local.ksm_labels }
      template = {
        metadata = { labels = local.ksm_labels }
        spec = {
          serviceAccountName = "kube-state-metrics"
          securityContext    = local.nonroot_pod
          containers = [{
            name  = "kube-state-metrics"
            image = local.images.kube_state_metrics
            args = [
              "--port=8080",
              "--telemetry-port=8081",
              "--resources=${join(",", local.ksm_resources)}",
            ]
            ports = [
              { name = "http", containerPort = 8080 },
              { name = "telemetry", containerPort = 8081 },
            ]
            resources       = local.resources.kube_state_metrics
            securityContext = local.restricted_container
            readinessProbe  = { httpGet = { path = "/readyz", port = "telemetry" }, periodSeconds = 10 }
            livenessProbe   = { httpGet = { path = "/livez", port = "http" }, periodSeconds = 30 }
          }]
        }
      }
    }
  }
  depends_on = [kubernetes_manifest.ksm_cluster_role_binding, kubernetes_manifest.ksm_service_account]
}
