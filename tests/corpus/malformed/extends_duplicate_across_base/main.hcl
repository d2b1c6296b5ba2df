slipway {
  extends = "./base"
}

variable "region" {
  default = "eu-west-1"
}
