slipway {
  extends = "./nope"
}

variable "x" {}
