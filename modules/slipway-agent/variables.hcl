variable "namespace" {
  description = "Namespace the agent runs in (created by this module); the Lease lives there too."
  type        = string
  default     = "slipway"
}

variable "name" {
  description = "Name of the Deployment, Service, ServiceAccount, Role and PodDisruptionBudget."
  type        = string
  default     = "slipway-agent"
}

variable "image" {
  description = "The slipway image, pinned to a release (never a moving tag)."
  type        = string
  default     = "ghcr.io/example/slipway:0.1.0"
}

variable "replicas" {
  description = "Agents running at once; one leads (Lease), the others wait to take over. More than one needs a remote state backend."
  type        = number
  default     = 2

  validation {
    condition     = var.replicas >= 1
    error_message = "At least one replica is needed."
  }
}

variable "repo" {
  description = "Git URL the agent follows (ssh://, git://, file://)."
  type        = string
}

variable "branch" {
  description = "Branch the agent follows."
  type        = string
  default     = "main"
}

variable "path" {
  description = "Environment directory inside the repository, e.g. environments/prod. Its `slipway { backend \"s3\" { … } }` block must name a remote backend when replicas > 1."
  type        = string
}

variable "policy" {
  description = "When to apply without approval: auto, safe or manual."
  type        = string
  default     = "safe"

  validation {
    condition     = contains(["auto", "safe", "manual"], var.policy)
    error_message = "policy must be auto, safe or manual."
  }
}

variable "on_drift" {
  description = "What to do about drift: report or correct."
  type        = string
  default     = "report"

  validation {
    condition     = contains(["report", "correct"], var.on_drift)
    error_message = "on_drift must be report or correct."
  }
}

variable "interval" {
  description = "Git polling interval (`0`: webhooks only)."
  type        = string
  default     = "5m"
}

variable "drift_interval" {
  description = "Drift check interval (`0`: never)."
  type        = string
  default     = "30m"
}

variable "lease_name" {
  description = "Name of the coordination.k8s.io/v1 Lease the replicas elect a leader on."
  type        = string
  default     = "slipway-agent"
}

variable "lease_duration" {
  description = "How long followers wait after the Lease last changed before taking over."
  type        = string
  default     = "15s"
}

variable "renew_deadline" {
  description = "A leader that has not renewed for this long stops starting work (shorter than lease_duration)."
  type        = string
  default     = "10s"
}

variable "retry_period" {
  description = "How often every replica tries to acquire or renew the Lease (shorter than renew_deadline)."
  type        = string
  default     = "2s"
}

variable "webhook_secret" {
  description = "Webhook HMAC key and bearer token for /webhook and /approve. Stored in a Secret, never in plan output."
  type        = string
  sensitive   = true
}

variable "env" {
  description = "Extra environment for the agent, e.g. AWS_REGION for an S3 state backend."
  type        = map(string)
  default     = {}
}

variable "env_from_secrets" {
  description = "Existing Secrets in the namespace loaded as environment (envFrom), e.g. the S3 backend's credentials."
  type        = list(string)
  default     = []
}

variable "resources" {
  description = "The container's resources (requests and limits)."
  type = object({
    requests = map(string)
    limits   = map(string)
  })
  default = {
    requests = { cpu = "50m", memory = "64Mi" }
    limits   = { memory = "512Mi" }
  }
}

variable "extra_rules" {
  description = "More RBAC rules for the agent's Role in its namespace (what the environment it applies must read); the Lease rules are always there."
  type = list(object({
    apiGroups = list(string)
    resources = list(string)
    verbs     = list(string)
  }))
  default = []
}
