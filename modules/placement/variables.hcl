variable "name_prefix" {
  description = "Node names are <name_prefix>-a, <name_prefix>-b, …"
  type        = string
}

variable "node_count" {
  type = number

  validation {
    condition     = var.node_count >= 0 && var.node_count <= 26 && floor(var.node_count) == var.node_count
    error_message = "node_count must be a whole number from 0 to 26."
  }
}

variable "zones" {
  description = "Availability zones, in order: node i goes to zones[i mod length(zones)]."
  type        = list(string)

  validation {
    condition     = length(var.zones) > 0
    error_message = "At least one zone is needed."
  }
}

variable "subnet_cidrs" {
  description = "Zone => private subnet CIDR (modules/network private_subnet_cidrs, known at plan time)."
  type        = map(string)
}

variable "first_host" {
  description = "Host number of the group's first node in each zone's subnet; keep groups' ranges apart (control plane 10, etcd 20, workers 100)."
  type        = number
}
