# Only settings: every block is in the base.
slipway {
  required_version = ">= 0.1"
  extends          = "./base"
}
