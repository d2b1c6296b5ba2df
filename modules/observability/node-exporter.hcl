# node-exporter on every node, control plane included: host network and host PID namespace (it
# reports the node, not a container), the host's /proc, /sys and / read-only.

locals {
  node_exporter_labels = { "app.kubernetes.io/name" = "node-exporter", "app.kubernetes.io/part-of" = "slipway-observability" }
}

resource "kubernetes_manifest" "node_exporter_service_account" {
  manifest = {
    apiVersion = "v1"
    kind       = "ServiceAccount"
    metadata   = { name = "node-exporter", namespace = local.ns, labels = local.node_exporter_labels }
    # It calls no API.
    automountServiceAccountToken = false
  }
}

resource "kubernetes_manifest" "node_exporter" {
  timeout = "300s"
  manifest = {
    apiVersion = "apps/v1"
    kind       = "DaemonSet"
    metadata   = { name = "node-exporter", namespace = local.ns, labels = local.node_exporter_labels }
    spec = {
      selector       = { matchLabels = local.node_exporter_labels }
      updateStrategy = { type = "RollingUpdate", rollingUpdate = { maxUnavailable = 1 } }
      template = {
        metadata = { labels = local.node_exporter_labels }
        spec = {
          serviceAccountName           = "node-exporter"
          automountServiceAccountToken = false
          hostNetwork                  = true
          hostPID                      = true
          securityContext              = local.nonroot_pod
          # Every node, the tainted control-plane ones too: node count and node health are
          # about all nodes.
          tolerations = [{ operator = "Exists" }]
          containers = [{
            name  = "node-exporter"
            image = local.images.node_exporter
            args = [
              "--web.listen-address=:${var.node_exporter_port}",
              "--path.procfs=/host/proc",
              "--path.sysfs=/host/sys",
              "--path.rootfs=/host/root",
              "--collector.filesystem.mount-points-exclude=^/(dev|proc|sys|run/containerd/.+|var/lib/kubelet/.+)($|/)",
            ]
            ports           = [{ name = "metrics", containerPort = var.node_exporter_port }]
            resources       = local.resources.node_exporter
            securityContext = local.restricted_container
            readinessProbe  = { httpGet = { path = "/", port = var.node_exporter_port }, periodSeconds = 10 }
            volumeMounts = [
              { name = "proc", mountPath = "/host/proc", readOnly = true },
              { name = "sys", mountPath = "/host/sys", readOnly = true },
              { name = "root", mountPath = "/host/root", readOnly = true, mountPropagation = "HostToContainer" },
            ]
          }]
          volumes = [
            { name = "proc", hostPath = { path = "/proc" } },
            { name = "sys", hostPath = { path = "/sys" } },
            { name = "root", hostPath = { path = "/" } },
          ]
        }
      }
    }
  }
  depends_on = [kubernetes_manifest.node_exporter_service_account]
}
