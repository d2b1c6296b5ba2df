# Alertmanager: a one-replica StatefulSet whose configuration is a Secret (receivers hold webhook
# URLs and tokens), and the Service Prometheus sends alerts to.

locals {
  alertmanager_labels = { "app.kubernetes.io/name" = "alertmanager", "app.kubernetes.io/part-of" = "slipway-observability" }

  alertmanager_claims = var.alertmanager_storage == null ? {} : {
    volumeClaimTemplates = [{
      metadata = { name = "data" }
      spec = {
        accessModes      = ["ReadWriteOnce"]
        storageClassName = var.alertmanager_storage.storage_class
        resources        = { requests = { storage = var.alertmanager_storage.size } }
      }
    }]
  }
  alertmanager_data_volume = var.alertmanager_storage == null ? [{ name = "data", emptyDir = { sizeLimit = "1Gi" } }] : []
}

resource "kubernetes_manifest" "alertmanager_config" {
  manifest = {
    apiVersion = "v1"
    kind       = "Secret"
    metadata   = { name = "alertmanager-config", namespace = local.ns, labels = local.alertmanager_labels }
    type       = "Opaque"
    stringData = { "alertmanager.yml" = local.alertmanager_config }
  }
}

resource "kubernetes_manifest" "alertmanager_service" {
  manifest = {
    apiVersion = "v1"
    kind       = "Service"
    metadata   = { name = "alertmanager", namespace = local.ns, labels = local.alertmanager_labels }
    spec = {
      selector = local.alertmanager_labels
      ports    = [{ name = "http", port = 9093, targetPort = "http" }]
    }
  }
}

resource "kubernetes_manifest" "alertmanager" {
  timeout = "300s"
  manifest = {
    apiVersion = "apps/v1"
    kind       = "StatefulSet"
    metadata   = { name = "alertmanager", namespace = local.ns, labels = local.alertmanager_labels }
    spec = merge({
      replicas    = 1
      serviceName = "alertmanager"
      # OrderedReady would never replace a pod that is not Ready (kubernetes#67250): a broken
      # configuration could then not be rolled forward. One replica has no order to keep.
      podManagementPolicy = "Parallel"
      selector            = { matchLabels = local.alertmanager_labels }
      template = {
        metadata = {
          labels      = local.alertmanager_labels
          annotations = { "slipway.dev/config-sha256" = local.alertmanager_checksum }
        }
        spec = {
          securityContext = local.nonroot_pod
          containers = [{
            name  = "alertmanager"
            image = local.images.alertmanager
            args = [
              "--config.file=/etc/alertmanager/alertmanager.yml",
              "--storage.path=/alertmanager",
              "--web.listen-address=:9093",
              # One replica: no gossip peers to look for.
              "--cluster.listen-address=",
            ]
            ports           = [{ name = "http", containerPort = 9093 }]
            resources       = local.resources.alertmanager
            securityContext = local.restricted_container
            readinessProbe  = { httpGet = { path = "/-/ready", port = "http" }, periodSeconds = 10 }
            volumeMounts = [
              { name = "config", mountPath = "/etc/alertmanager", readOnly = true },
              { name = "data", mountPath = "/alertmanager" },
            ]
          }]
          volumes = concat(
            [{ name = "config", secret = { secretName = "alertmanager-config", defaultMode = 288 } }],
            local.alertmanager_data_volume,
          )
        }
      }
    }, local.alertmanager_claims)
  }
  depends_on = [kubernetes_manifest.alertmanager_config, kubernetes_manifest.alertmanager_service]
}
