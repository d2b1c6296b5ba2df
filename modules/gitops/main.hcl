# Flux bootstrapped by slipway: the CRDs (vendored from the Go module proxy by
# scripts/vendor-flux), the four controllers as Flux's own install manifests deploy them, the
# Git credentials Secret with a deploy key from the tls provider, and the GitRepository +
# Kustomization that sync the environment's apps path. Everything is a kubernetes_manifest, so
# a change of branch, path or version is planned as an update of the cluster objects (not of
# files in Git, which is how terraform-provider-flux loses track: its #653 and #740).

locals {
  vendor   = "${path.module}/vendor/${var.flux_version}"
  versions = jsondecode(file("${local.vendor}/versions.json"))

  sync_name = "flux-system"
  # The deploy key is for ssh URLs; over http(s) source-controller would ignore it anyway.
  use_ssh = startswith(var.url, "ssh://")

  # Labels of Flux's install kustomization (manifests/install/labels.yaml), plus the version.
  labels = {
    "app.kubernetes.io/part-of"  = "flux"
    "app.kubernetes.io/instance" = var.namespace
    "app.kubernetes.io/version"  = var.flux_version
  }

  events_addr = "--events-addr=http://notification-controller.${var.namespace}.svc.cluster.local./"

  # What differs between the controllers' config/manager/deployment.yaml and flux2's
  # manifests/bases/<controller>/patch.yaml. Every entry has the same shape.
  controllers = {
    source-controller = {
      strategy    = "Recreate"
      grace       = 10
      priority    = true
      events      = true
      cpu_request = "50m"
      ports = [
        { name = "http", port = 9090 },
        { name = "http-prom", port = 8080 },
        { name = "healthz", port = 9440 },
      ]
      args = [
        "--storage-path=/data",
        "--storage-adv-addr=source-controller.$(RUNTIME_NAMESPACE).svc.cluster.local.",
      ]
      # Fulcio's root CA is written under /tmp (the root filesystem is read-only).
      env       = [{ name = "TUF_ROOT", value = "/tmp/.sigstore" }]
      readiness = { path = "/", port = "http" }
      volumes = [
        { name = "data", path = "/data" },
        { name = "tmp", path = "/tmp" },
      ]
    }
    kustomize-controller = {
      strategy    = "RollingUpdate"
      grace       = 60
      priority    = true
      events      = true
      cpu_request = "100m"
      ports = [
        { name = "http-prom", port = 8080 },
        { name = "healthz", port = 9440 },
      ]
      args      = []
      env       = []
      readiness = { path = "/readyz", port = "healthz" }
      volumes   = [{ name = "temp", path = "/tmp" }]
    }
    helm-controller = {
      strategy    = "RollingUpdate"
      grace       = 600
      priority    = true
      events      = true
      cpu_request = "100m"
      ports = [
        { name = "http-prom", port = 8080 },
        { name = "healthz", port = 9440 },
      ]
      args      = []
      env       = []
      readiness = { path = "/readyz", port = "healthz" }
      volumes   = [{ name = "temp", path = "/tmp" }]
    }
    notification-controller = {
      strategy    = "RollingUpdate"
      grace       = 10
      priority    = false
      events      = false
      cpu_request = "100m"
      ports = [
        { name = "http", port = 9090 },
        { name = "http-webhook", port = 9292 },
        { name = "http-prom", port = 8080 },
        { name = "healthz", port = 9440 },
      ]
      args      = []
      env       = []
      readiness = { path = "/readyz", port = "healthz" }
      volumes   = [{ name = "temp", path = "/tmp" }]
    }
  }

  services = {
    source-controller       = { app = "source-controller", target = "http" }
    notification-controller = { app = "notification-controller", target = "http" }
    webhook-receiver        = { app = "notification-controller", target = "http-webhook" }
  }

  # flux2's manifests/policies.
  network_policies = var.network_policies ? {
    allow-egress = {
      policyTypes = ["Ingress", "Egress"]
      ingress     = [{ from = [{ podSelector = {} }] }]
      egress      = [{}]
      podSelector = {}
    }
    allow-scraping = {
      policyTypes = ["Ingress"]
      ingress     = [{ from = [{ namespaceSelector = {} }], ports = [{ protocol = "TCP", port = 8080 }] }]
      egress      = null
      podSelector = {}
    }
    allow-webhooks = {
      policyTypes = ["Ingress"]
      ingress     = [{ from = [{ namespaceSelector = {} }], ports = [{ protocol = "TCP", port = 9292 }] }]
      egress      = null
      podSelector = { matchLabels = { app = "notification-controller" } }
    }
  } : {}

  flux_groups = [
    "source.toolkit.fluxcd.io",
    "kustomize.toolkit.fluxcd.io",
    "helm.toolkit.fluxcd.io",
    "notification.toolkit.fluxcd.io",
    "image.toolkit.fluxcd.io",
    "source.extensions.fluxcd.io",
  ]
}

# --- CRDs --------------------------------------------------------------------------------------

# One file per CRD (config/crd/bases layout), joined and split again: the map is keyed
# CustomResourceDefinition/<name>, so the addresses stay stable across versions.
data "kubernetes_yaml_documents" "crds" {
  content = join("\n", [for f in sort(fileset("${local.vendor}/crds", "*.yaml")) : file("${local.vendor}/crds/${f}")])
}

resource "kubernetes_manifest" "crd" {
  for_each = data.kubernetes_yaml_documents.crds.documents
  manifest = merge(each.value, {
    metadata = merge(each.value.metadata, {
      labels = merge(lookup(each.value.metadata, "labels", {}), local.labels)
    })
  })
}

# --- namespace, accounts, RBAC ------------------------------------------------------------------

resource "kubernetes_manifest" "namespace" {
  manifest = {
    apiVersion = "v1"
    kind       = "Namespace"
    metadata = {
      name = var.namespace
      labels = merge(local.labels, {
        "pod-security.kubernetes.io/warn"         = "restricted"
        "pod-security.kubernetes.io/warn-version" = "latest"
      })
    }
  }
}

# Flux's critical pods run outside kube-system; a quota with this scope is what admits them
# where the cluster limits critical priority classes (manifests/rbac/resourcequota.yaml).
resource "kubernetes_manifest" "critical_pods" {
  manifest = {
    apiVersion = "v1"
    kind       = "ResourceQuota"
    metadata   = { name = "critical-pods-${var.namespace}", namespace = var.namespace, labels = local.labels }
    spec = {
      hard = { pods = "1000" }
      scopeSelector = {
        matchExpressions = [{
          operator  = "In"
          scopeName = "PriorityClass"
          values    = ["system-node-critical", "system-cluster-critical"]
        }]
      }
    }
  }
}

resource "kubernetes_manifest" "service_account" {
  for_each = local.controllers
  manifest = {
    apiVersion = "v1"
    kind       = "ServiceAccount"
    metadata = {
      name      = each.key
      namespace = var.namespace
      labels    = merge(local.labels, { "app.kubernetes.io/component" = each.key })
    }
  }
}

resource "kubernetes_manifest" "crd_controller_role" {
  manifest = {
    apiVersion = "rbac.authorization.k8s.io/v1"
    kind       = "ClusterRole"
    metadata   = { name = "crd-controller-${var.namespace}", labels = local.labels }
    rules = concat(
      [for g in local.flux_groups : { apiGroups = [g], resources = ["*"], verbs = ["*"] }],
      [
        { apiGroups = [""], resources = ["namespaces", "secrets", "configmaps", "serviceaccounts"], verbs = ["get", "list", "watch"] },
        { apiGroups = [""], resources = ["events"], verbs = ["create", "patch"] },
        # Leader election.
        { apiGroups = [""], resources = ["configmaps"], verbs = ["get", "list", "watch", "create", "update", "patch", "delete"] },
        { apiGroups = [""], resources = ["configmaps/status"], verbs = ["get", "update", "patch"] },
        { apiGroups = ["coordination.k8s.io"], resources = ["leases"], verbs = ["get", "list", "watch", "create", "update", "patch", "delete"] },
        # Object-level workload identity.
        { apiGroups = [""], resources = ["serviceaccounts/token"], verbs = ["create"] },
        # Flow control.
        { nonResourceURLs = ["/livez/ping"], verbs = ["head"] },
      ],
    )
  }
}

resource "kubernetes_manifest" "crd_controller_binding" {
  manifest = {
    apiVersion = "rbac.authorization.k8s.io/v1"
    kind       = "ClusterRoleBinding"
    metadata   = { name = "crd-controller-${var.namespace}", labels = local.labels }
    roleRef    = { apiGroup = "rbac.authorization.k8s.io", kind = "ClusterRole", name = kubernetes_manifest.crd_controller_role.manifest.metadata.name }
    subjects   = [for c in sort(keys(local.controllers)) : { kind = "ServiceAccount", name = c, namespace = var.namespace }]
  }
}

# kustomize-controller and helm-controller apply whatever the apps path holds: cluster-admin,
# as Flux grants it (manifests/rbac/reconciler.yaml).
resource "kubernetes_manifest" "cluster_reconciler" {
  manifest = {
    apiVersion = "rbac.authorization.k8s.io/v1"
    kind       = "ClusterRoleBinding"
    metadata   = { name = "cluster-reconciler-${var.namespace}", labels = local.labels }
    roleRef    = { apiGroup = "rbac.authorization.k8s.io", kind = "ClusterRole", name = "cluster-admin" }
    subjects = [
      { kind = "ServiceAccount", name = "kustomize-controller", namespace = var.namespace },
      { kind = "ServiceAccount", name = "helm-controller", namespace = var.namespace },
    ]
  }
}

# Aggregated into the built-in edit/admin and view roles (manifests/rbac/edit.yaml, view.yaml).
resource "kubernetes_manifest" "aggregated_role" {
  for_each = {
    edit = {
      labels = { "rbac.authorization.k8s.io/aggregate-to-edit" = "true", "rbac.authorization.k8s.io/aggregate-to-admin" = "true" }
      verbs  = ["create", "delete", "deletecollection", "patch", "update"]
    }
    view = {
      labels = { "rbac.authorization.k8s.io/aggregate-to-admin" = "true", "rbac.authorization.k8s.io/aggregate-to-edit" = "true", "rbac.authorization.k8s.io/aggregate-to-view" = "true" }
      verbs  = ["get", "list", "watch"]
    }
  }
  manifest = {
    apiVersion = "rbac.authorization.k8s.io/v1"
    kind       = "ClusterRole"
    metadata   = { name = "flux-${each.key}-${var.namespace}", labels = merge(local.labels, each.value.labels) }
    rules = [{
      apiGroups = sort([for g in local.flux_groups : g])
      resources = ["*"]
      verbs     = each.value.verbs
    }]
  }
}

# --- controllers --------------------------------------------------------------------------------

resource "kubernetes_manifest" "deployment" {
  for_each = local.controllers
  timeout  = var.timeout
  manifest = {
    apiVersion = "apps/v1"
    kind       = "Deployment"
    metadata = {
      name      = each.key
      namespace = var.namespace
      labels    = merge(local.labels, { "app.kubernetes.io/component" = each.key, "control-plane" = "controller" })
    }
    spec = {
      replicas = 1
      selector = { matchLabels = { app = each.key } }
      strategy = { type = each.value.strategy }
      template = {
        metadata = {
          labels      = merge(local.labels, { app = each.key, "app.kubernetes.io/component" = each.key })
          annotations = { "prometheus.io/scrape" = "true", "prometheus.io/port" = "8080" }
        }
        spec = {
          serviceAccountName            = kubernetes_manifest.service_account[each.key].manifest.metadata.name
          priorityClassName             = each.value.priority ? "system-cluster-critical" : null
          terminationGracePeriodSeconds = each.value.grace
          # Required for IAM roles for service accounts (EKS) to read the projected token.
          securityContext = { fsGroup = 1337 }
          containers = [{
            name            = "manager"
            image           = "${var.registry}/${each.key}:${local.versions[each.key]}"
            imagePullPolicy = "IfNotPresent"
            securityContext = {
              allowPrivilegeEscalation = false
              readOnlyRootFilesystem   = true
              runAsNonRoot             = true
              capabilities             = { drop = ["ALL"] }
              seccompProfile           = { type = "RuntimeDefault" }
            }
            ports = [for p in each.value.ports : { containerPort = p.port, name = p.name, protocol = "TCP" }]
            env = concat(
              [{ name = "RUNTIME_NAMESPACE", valueFrom = { fieldRef = { fieldPath = "metadata.namespace" } } }],
              each.value.env,
              [{ name = "GOMEMLIMIT", valueFrom = { resourceFieldRef = { containerName = "manager", resource = "limits.memory" } } }],
            )
            args = concat(
              each.value.events ? [local.events_addr] : [],
              ["--watch-all-namespaces", "--log-level=info", "--log-encoding=json", "--enable-leader-election"],
              each.value.args,
            )
            readinessProbe = { httpGet = { path = each.value.readiness.path, port = each.value.readiness.port } }
            livenessProbe  = { httpGet = { path = "/healthz", port = "healthz" } }
            resources = {
              limits   = { cpu = "1000m", memory = "1Gi" }
              requests = { cpu = each.value.cpu_request, memory = "64Mi" }
            }
            volumeMounts = [for v in each.value.volumes : { name = v.name, mountPath = v.path }]
          }]
          volumes = [for v in each.value.volumes : { name = v.name, emptyDir = {} }]
        }
      }
    }
  }
  depends_on = [
    kubernetes_manifest.crd,
    kubernetes_manifest.crd_controller_binding,
    kubernetes_manifest.cluster_reconciler,
    kubernetes_manifest.critical_pods,
  ]
}

resource "kubernetes_manifest" "service" {
  for_each = local.services
  manifest = {
    apiVersion = "v1"
    kind       = "Service"
    metadata = {
      name      = each.key
      namespace = var.namespace
      labels    = merge(local.labels, { "app.kubernetes.io/component" = each.value.app, "control-plane" = "controller" })
    }
    spec = {
      type     = "ClusterIP"
      selector = { app = each.value.app }
      ports    = [{ name = "http", port = 80, protocol = "TCP", targetPort = each.value.target }]
    }
  }
}

resource "kubernetes_manifest" "network_policy" {
  for_each = local.network_policies
  manifest = {
    apiVersion = "networking.k8s.io/v1"
    kind       = "NetworkPolicy"
    metadata   = { name = each.key, namespace = var.namespace, labels = local.labels }
    spec       = each.value
  }
}

# --- Git credentials and sync -------------------------------------------------------------------

# The deploy key: generated once, kept in state (sensitive), never printed. Only its public
# half is an output, to be registered read-only with the Git host.
resource "tls_private_key" "deploy" {
  algorithm = var.deploy_key_algorithm
}

# source-controller's SSH auth keys: identity (PEM private key), identity.pub, known_hosts.
resource "kubernetes_manifest" "git_credentials" {
  manifest = {
    apiVersion = "v1"
    kind       = "Secret"
    metadata   = { name = local.sync_name, namespace = var.namespace, labels = local.labels }
    type       = "Opaque"
    stringData = {
      identity       = tls_private_key.deploy.private_key_pem
      "identity.pub" = tls_private_key.deploy.public_key_openssh
      known_hosts    = var.known_hosts
    }
  }
}

resource "kubernetes_manifest" "git_repository" {
  wait    = var.wait_for_sync
  timeout = var.timeout
  manifest = {
    apiVersion = "source.toolkit.fluxcd.io/v1"
    kind       = "GitRepository"
    metadata   = { name = local.sync_name, namespace = var.namespace, labels = local.labels }
    spec = {
      interval  = var.interval
      url       = var.url
      ref       = { branch = var.branch }
      secretRef = local.use_ssh ? { name = kubernetes_manifest.git_credentials.manifest.metadata.name } : null
    }
  }
  depends_on = [kubernetes_manifest.crd]
}

resource "kubernetes_manifest" "kustomization" {
  wait    = var.wait_for_sync
  timeout = var.timeout
  manifest = {
    apiVersion = "kustomize.toolkit.fluxcd.io/v1"
    kind       = "Kustomization"
    metadata   = { name = local.sync_name, namespace = var.namespace, labels = local.labels }
    spec = {
      interval  = var.sync_interval
      path      = var.path
      prune     = var.prune
      sourceRef = { kind = "GitRepository", name = kubernetes_manifest.git_repository.manifest.metadata.name }
    }
  }
  depends_on = [kubernetes_manifest.crd]
}
