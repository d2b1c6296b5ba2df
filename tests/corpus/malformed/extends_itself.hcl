slipway {
  extends = "."
}

variable "x" {}
