# The in-cluster observability stack as plain Kubernetes objects (kubernetes_manifest, server-side
# apply): Prometheus, Alertmanager, node-exporter, kube-state-metrics and Grafana in one
# namespace. No operator and no CRD: every object is one slipway resource whose changes the plan
# shows field by field.
#
# Invariants: the scrape job names are the contract with rules/*.yaml (see
# templates/prometheus.yml.tftpl); rules/tests/ is never loaded into Prometheus; no secret (the
# Grafana password, the etcd client key, Alertmanager receivers) appears outside a Secret and a
# sensitive output.

locals {
  ns = var.namespace

  default_images = {
    prometheus         = "quay.io/prometheus/prometheus:v3.5.0"
    alertmanager       = "quay.io/prometheus/alertmanager:v0.28.1"
    node_exporter      = "quay.io/prometheus/node-exporter:v1.9.1"
    kube_state_metrics = "registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.18.0"
    grafana            = "docker.io/grafana/grafana:11.6.0"
  }
  images = merge(local.default_images, var.images)

  default_resources = {
    prometheus = {
      requests = { cpu = "250m", memory = "1Gi" }
      limits   = { cpu = "1", memory = "2Gi" }
    }
    alertmanager = {
      requests = { cpu = "10m", memory = "64Mi" }
      limits   = { cpu = "100m", memory = "128Mi" }
    }
    node_exporter = {
      requests = { cpu = "50m", memory = "32Mi" }
      limits   = { cpu = "250m", memory = "64Mi" }
    }
    kube_state_metrics = {
      requests = { cpu = "50m", memory = "128Mi" }
      limits   = { cpu = "250m", memory = "256Mi" }
    }
    grafana = {
      requests = { cpu = "50m", memory = "128Mi" }
      limits   = { cpu = "500m", memory = "256Mi" }
    }
  }
  resources = merge(local.default_resources, var.resources)

  # In-cluster addresses. The kube-state-metrics and Alertmanager targets are Service names, not
  # discovery, so the rendered configuration can be run outside the cluster with only these
  # addresses rewritten (the real-data test does).
  alertmanager_address       = "alertmanager.${local.ns}.svc:9093"
  kube_state_metrics_address = "kube-state-metrics.${local.ns}.svc:8080"

  rules_dir    = "/etc/prometheus/rules"
  sa_dir       = "/var/run/secrets/kubernetes.io/serviceaccount"
  etcd_tls_dir = "/etc/prometheus/secrets/etcd"

  prometheus_yml = templatefile("${path.module}/templates/prometheus.yml.tftpl", {
    cluster_name               = var.cluster_name
    scrape_interval            = var.scrape_interval
    scrape_timeout             = "10s"
    evaluation_interval        = var.evaluation_interval
    rules_dir                  = local.rules_dir
    sa_dir                     = local.sa_dir
    etcd_tls_dir               = local.etcd_tls_dir
    alertmanager_address       = local.alertmanager_address
    kube_state_metrics_address = local.kube_state_metrics_address
    control_plane_ips          = var.control_plane_ips
    etcd_member_ips            = var.etcd_member_ips
    node_exporter_port         = var.node_exporter_port
  })

  # Static rule files: rules/*.yaml only — rules/tests/ holds promtool unit tests, not rules.
  static_rules = {
    for f in fileset(path.module, "rules/*.yaml") : basename(f) => file("${path.module}/${f}")
  }

  # Generated rules: what only slipway knows. The declared node count, and the expiry of every
  # certificate slipway issued (time_static turns RFC 3339 into unix seconds, as Terraform's
  # time provider does).
  generated_rules = yamlencode({
    groups = [{
      name = "slipway-generated"
      rules = concat(
        [{
          record = "slipway:declared_nodes"
          expr   = "vector(${var.declared_node_count})"
        }],
        [for name in sort(keys(var.certificate_expiry)) : {
          record = "slipway:certificate_expiry_timestamp_seconds"
          expr   = "vector(${time_static.certificate_expiry[name].unix})"
          labels = { certificate = name }
        }],
      )
    }]
  })

  # A generated file name no rules/*.yaml can take (they are the lead's, and `slipway-` is ours).
  rule_files = merge(local.static_rules, { "slipway-generated.yaml" = local.generated_rules })

  dashboards = {
    for f in fileset(path.module, "dashboards/*.json") : basename(f) => file("${path.module}/${f}")
  }

  default_alertmanager_config = yamlencode({
    route = {
      receiver        = "default"
      group_by        = ["alertname", "namespace"]
      group_wait      = "30s"
      group_interval  = "5m"
      repeat_interval = "4h"
    }
    receivers = [{ name = "default" }]
  })
  alertmanager_config = var.alertmanager_config == null ? local.default_alertmanager_config : var.alertmanager_config

  # Pods restart when their configuration changes (a checksum in the pod template); the digest of
  # the Alertmanager configuration is not the secret itself.
  prometheus_checksum   = sha256(join("\n", concat([local.prometheus_yml], [for k in sort(keys(local.rule_files)) : "${k}\n${local.rule_files[k]}"])))
  alertmanager_checksum = try(nonsensitive(sha256(local.alertmanager_config)), sha256(local.alertmanager_config))
  grafana_checksum      = sha256(join("\n", concat([local.grafana_datasources, local.grafana_dashboard_provider], [for k in sort(keys(local.dashboards)) : "${k}\n${local.dashboards[k]}"])))

  # Run as nobody, read-only root, no privilege escalation: nothing here needs more.
  restricted_container = {
    allowPrivilegeEscalation = false
    readOnlyRootFilesystem   = true
    capabilities             = { drop = ["ALL"] }
  }
  nonroot_pod = {
    runAsNonRoot   = true
    runAsUser      = 65534
    runAsGroup     = 65534
    fsGroup        = 65534
    seccompProfile = { type = "RuntimeDefault" }
  }
}

resource "time_static" "certificate_expiry" {
  for_each = var.certificate_expiry
  rfc3339  = each.value
}

resource "kubernetes_manifest" "namespace" {
  manifest = {
    apiVersion = "v1"
    kind       = "Namespace"
    metadata = {
      name   = local.ns
      labels = { "app.kubernetes.io/part-of" = "slipway-observability" }
    }
  }
}
