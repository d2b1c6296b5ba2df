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
