# the environment and its base are one module

variable "region" {
  default = "us-east-1"
}
