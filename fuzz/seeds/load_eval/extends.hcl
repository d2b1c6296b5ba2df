# extends: a base read before evaluation (missing here: a located error).
slipway {
  required_version = ">= 0.1"
  extends          = "./base"
}

slipway {
  extends = "../other"
}

module "m" {
  source = "./m"
}
