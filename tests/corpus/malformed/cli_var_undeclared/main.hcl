variable "region" {
  type    = string
  default = "eu"
}
