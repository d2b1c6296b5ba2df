variable "name" {
  type        = string
  description = "Load balancer and target group name (AWS allows 32 characters)."

  validation {
    condition     = length(var.name) <= 28
    error_message = "name must be at most 28 characters: \"-api\" is appended for the target group."
  }
}

variable "vpc_id" {
  type = string
}

variable "subnet_ids" {
  type        = list(string)
  description = "One subnet per availability zone the NLB spans."
}

variable "internal" {
  type    = bool
  default = false
}

variable "port" {
  type    = number
  default = 6443
}

variable "targets" {
  type        = map(string)
  description = "Control-plane node name => instance id."
}
