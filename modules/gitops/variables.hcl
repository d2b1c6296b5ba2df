variable "flux_version" {
  description = "Flux release to install: a directory under vendor/ written by scripts/vendor-flux (CRDs, and the controller versions that give the image tags)."
  type        = string
  default     = "v2.9.5"
}

variable "namespace" {
  description = "Namespace of the controllers, the Git credentials and the sync objects."
  type        = string
  default     = "flux-system"
}

variable "registry" {
  description = "Registry prefix of the controller images (<registry>/<controller>:<version>)."
  type        = string
  default     = "ghcr.io/fluxcd"
}

variable "url" {
  description = "URL of the Git repository Flux pulls (ssh://git@host/org/repo.git for the deploy key; http(s) URLs use no credentials)."
  type        = string
}

variable "branch" {
  description = "Branch Flux follows."
  type        = string
  default     = "main"
}

variable "path" {
  description = "Path inside the repository of the environment's apps (Kubernetes manifests, kustomizations, HelmReleases)."
  type        = string
}

variable "interval" {
  description = "How often source-controller fetches the repository."
  type        = string
  default     = "1m0s"
}

variable "sync_interval" {
  description = "How often kustomize-controller reapplies the apps path (and corrects drift)."
  type        = string
  default     = "10m0s"
}

variable "prune" {
  description = "Whether kustomize-controller deletes objects removed from the apps path."
  type        = bool
  default     = true
}

variable "known_hosts" {
  description = "known_hosts lines of the Git host (ssh-keyscan output), stored in the Git credentials Secret."
  type        = string
  default     = ""
}

variable "deploy_key_algorithm" {
  description = "Algorithm of the generated deploy key: ED25519, ECDSA or RSA."
  type        = string
  default     = "ED25519"
}

variable "network_policies" {
  description = "Whether to install Flux's NetworkPolicies (allow-egress, allow-scraping, allow-webhooks)."
  type        = bool
  default     = true
}

variable "wait_for_sync" {
  description = "Whether apply waits for the GitRepository and Kustomization to report Ready (needs the controllers running and the repository reachable)."
  type        = bool
  default     = false
}

variable "timeout" {
  description = "How long apply waits for each controller Deployment to become Available."
  type        = string
  default     = "5m"
}
