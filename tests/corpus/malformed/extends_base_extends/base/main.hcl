slipway {
  extends = "../other"
}

variable "x" {}
