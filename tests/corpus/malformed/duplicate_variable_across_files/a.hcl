variable "region" {
  default = "a"
}
