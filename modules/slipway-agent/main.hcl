# `slipway watch --leader-elect` as a Deployment of N replicas: one leads (a Lease in the
# namespace), the others follow and take over within the lease duration. The manifests are
# locals so that `output "manifests"` shows exactly what is applied (the Secret aside).

locals {
  labels = { "app.kubernetes.io/name" = "slipway-agent", "app.kubernetes.io/instance" = var.name }
  # The Service and pods carry the scrape annotations; the observability stack's job is
  # `slipway-agent`, selected by the app.kubernetes.io/name label and the `http` port.
  scrape = {
    "prometheus.io/scrape" = "true"
    "prometheus.io/port"   = "8080"
    "prometheus.io/path"   = "/metrics"
  }
  port        = 8080
  work_dir    = "/var/lib/slipway"
  secret_name = "${var.name}-webhook"

  args = [
    "watch",
    "--repo=${var.repo}",
    "--branch=${var.branch}",
    "--path=${var.path}",
    "--policy=${var.policy}",
    "--on-drift=${var.on_drift}",
    "--interval=${var.interval}",
    "--drift-interval=${var.drift_interval}",
    "--listen=0.0.0.0:${local.port}",
    "--work-dir=${local.work_dir}",
    "--webhook-secret-file=/etc/slipway/webhook/secret",
    "--leader-elect",
    "--lease-name=${var.lease_name}",
    "--lease-duration=${var.lease_duration}",
    "--renew-deadline=${var.renew_deadline}",
    "--retry-period=${var.retry_period}",
  ]

  env = concat(
    [
      # The Lease holder's identity and the Lease's namespace (--lease-namespace's default).
      { name = "POD_NAME", valueFrom = { fieldRef = { fieldPath = "metadata.name" } } },
      { name = "POD_NAMESPACE", valueFrom = { fieldRef = { fieldPath = "metadata.namespace" } } },
      { name = "HOME", value = local.work_dir },
    ],
    [for k, v in var.env : { name = k, value = v }],
  )

  namespace = {
    apiVersion = "v1"
    kind       = "Namespace"
    metadata   = { name = var.namespace }
  }

  service_account = {
    apiVersion                   = "v1"
    kind                         = "ServiceAccount"
    metadata                     = { name = var.name, namespace = var.namespace, labels = local.labels }
    automountServiceAccountToken = true
  }

  # Only its own Lease: get/update it by name; create cannot be limited by name in RBAC.
  role = {
    apiVersion = "rbac.authorization.k8s.io/v1"
    kind       = "Role"
    metadata   = { name = var.name, namespace = var.namespace, labels = local.labels }
    rules = concat(
      [
        {
          apiGroups     = ["coordination.k8s.io"]
          resources     = ["leases"]
          resourceNames = [var.lease_name]
          verbs         = ["get", "update"]
        },
        {
          apiGroups = ["coordination.k8s.io"]
          resources = ["leases"]
          verbs     = ["create"]
        },
      ],
      var.extra_rules,
    )
  }

  role_binding = {
    apiVersion = "rbac.authorization.k8s.io/v1"
    kind       = "RoleBinding"
    metadata   = { name = var.name, namespace = var.namespace, labels = local.labels }
    roleRef    = { apiGroup = "rbac.authorization.k8s.io", kind = "Role", name = var.name }
    subjects   = [{ kind = "ServiceAccount", name = var.name, namespace = var.namespace }]
  }

  deployment = {
    apiVersion = "apps/v1"
    kind       = "Deployment"
    metadata   = { name = var.name, namespace = var.namespace, labels = local.labels }
    spec = {
      replicas = var.replicas
      # Leader election makes overlapping pods safe: a new pod follows until it wins the Lease.
      strategy = { type = "RollingUpdate", rollingUpdate = { maxUnavailable = 0, maxSurge = 1 } }
      selector = { matchLabels = local.labels }
      template = {
        metadata = { labels = local.labels, annotations = local.scrape }
        spec = {
          serviceAccountName           = var.name
          automountServiceAccountToken = true
          # Room for a leader to finish an apply and release the Lease on SIGTERM.
          terminationGracePeriodSeconds = 300
          securityContext               = { runAsNonRoot = true, runAsUser = 10001, fsGroup = 10001 }
          affinity = {
            podAntiAffinity = {
              preferredDuringSchedulingIgnoredDuringExecution = [{
                weight = 100
                podAffinityTerm = {
                  labelSelector = { matchLabels = local.labels }
                  topologyKey   = "kubernetes.io/hostname"
                }
              }]
            }
          }
          containers = [{
            name    = "agent"
            image   = var.image
            args    = local.args
            env     = local.env
            envFrom = [for s in var.env_from_secrets : { secretRef = { name = s } }]
            ports   = [{ name = "http", containerPort = local.port }]
            readinessProbe = {
              httpGet       = { path = "/healthz", port = "http" }
              periodSeconds = 10
            }
            livenessProbe = {
              httpGet       = { path = "/healthz", port = "http" }
              periodSeconds = 30
            }
            resources = var.resources
            securityContext = {
              allowPrivilegeEscalation = false
              readOnlyRootFilesystem   = true
              capabilities             = { drop = ["ALL"] }
            }
            volumeMounts = [
              { name = "work", mountPath = local.work_dir },
              { name = "webhook", mountPath = "/etc/slipway/webhook", readOnly = true },
              { name = "tmp", mountPath = "/tmp" },
            ]
          }]
          volumes = [
            # Per pod: Git mirror, checkouts, held plans. A new leader clones again.
            { name = "work", emptyDir = {} },
            { name = "webhook", secret = { secretName = local.secret_name } },
            { name = "tmp", emptyDir = {} },
          ]
        }
      }
    }
  }

  service = {
    apiVersion = "v1"
    kind       = "Service"
    metadata = {
      name        = var.name
      namespace   = var.namespace
      labels      = local.labels
      annotations = local.scrape
    }
    spec = {
      selector = local.labels
      ports    = [{ name = "http", port = local.port, targetPort = "http" }]
    }
  }

  pdb = {
    apiVersion = "policy/v1"
    kind       = "PodDisruptionBudget"
    metadata   = { name = var.name, namespace = var.namespace, labels = local.labels }
    spec = {
      minAvailable = 1
      selector     = { matchLabels = local.labels }
    }
  }
}

resource "kubernetes_manifest" "namespace" {
  manifest = local.namespace
}

resource "kubernetes_manifest" "service_account" {
  manifest = local.service_account
}

resource "kubernetes_manifest" "role" {
  manifest = local.role
}

resource "kubernetes_manifest" "role_binding" {
  manifest = local.role_binding
}

# The webhook secret: a sensitive variable, so plans show it as (sensitive value).
resource "kubernetes_manifest" "webhook_secret" {
  manifest = {
    apiVersion = "v1"
    kind       = "Secret"
    metadata   = { name = local.secret_name, namespace = var.namespace, labels = local.labels }
    type       = "Opaque"
    stringData = { secret = var.webhook_secret }
  }
}

resource "kubernetes_manifest" "deployment" {
  timeout  = "300s"
  manifest = local.deployment
  # The pods mount the Secret and run as the ServiceAccount bound to the Role.
  depends_on = [
    kubernetes_manifest.webhook_secret,
    kubernetes_manifest.service_account,
    kubernetes_manifest.role_binding,
  ]
}

resource "kubernetes_manifest" "service" {
  manifest = local.service
}

resource "kubernetes_manifest" "pdb" {
  manifest = local.pdb
}
