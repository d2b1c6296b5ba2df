variable "x" {
  type = strnig
}
