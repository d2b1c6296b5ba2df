locals {
  x = 5 % 0
}

resource "random_id" "a" {
  byte_length = local.x
}
