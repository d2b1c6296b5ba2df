slipway {
  extends = "./base"
}

variable "x" {}
