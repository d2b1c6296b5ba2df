variable "size" {
  type    = number
  default = 3

  validation {
    condition     = "yes"
    error_message = "bad."
  }
}
