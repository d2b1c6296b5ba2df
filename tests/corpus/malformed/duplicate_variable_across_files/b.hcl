variable "region" {
  default = "b"
}
