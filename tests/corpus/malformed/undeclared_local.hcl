locals {
  name = "x"
}

resource "random_id" "a" {
  byte_length = 4
  prefix      = local.nmae
}
