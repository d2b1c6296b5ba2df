variable "size" {
  type    = number
  default = 3

  validation {
    condition = var.size > 5
  }
}
