locals {
  x = 1 / 0
}

resource "random_id" "a" {
  byte_length = local.x
}
