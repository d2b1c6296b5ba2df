variable "name" {
  type        = string
  description = "Prefix for the Name tag of everything in the network."
}

variable "vpc_cidr" {
  type    = string
  default = "10.0.0.0/16"

  validation {
    condition     = can(cidrnetmask(var.vpc_cidr))
    error_message = "vpc_cidr must be an IPv4 CIDR block, such as 10.0.0.0/16."
  }
}

variable "availability_zones" {
  type        = list(string)
  description = "One public and one private subnet per zone, in this order."

  validation {
    condition     = length(var.availability_zones) >= 1 && length(var.availability_zones) <= 6
    error_message = "Give between 1 and 6 availability zones."
  }
}

# Per zone by default: a zone's outage (or its NAT gateway's) cuts off only that zone's nodes,
# and cross-zone traffic (billed per GB) is avoided. "single" saves the hourly price of all but
# one gateway (about 32 USD a month each in us-east-1) at the cost of one zone's fate; "none"
# leaves the private subnets with S3 only (the nodes' bootstrap then needs a mirror).
variable "nat_gateways" {
  type        = string
  default     = "per_zone"
  description = "Egress for the private subnets: per_zone (a NAT gateway and Elastic IP in each zone), single (one, in the first zone, shared), or none."

  validation {
    condition     = contains(["per_zone", "single", "none"], var.nat_gateways)
    error_message = "nat_gateways must be \"per_zone\", \"single\" or \"none\"."
  }
}
