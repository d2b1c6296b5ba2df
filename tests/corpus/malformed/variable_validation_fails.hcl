variable "size" {
  type    = number
  default = 3

  validation {
    condition     = var.size > 5
    error_message = "size must be more than 5."
  }
}
