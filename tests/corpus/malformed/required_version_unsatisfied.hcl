slipway {
  required_version = ">= 99.0"
}

resource "random_id" "a" {
  byte_length = 4
}
