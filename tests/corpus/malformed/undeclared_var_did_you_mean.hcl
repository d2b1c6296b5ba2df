variable "region" {
  type    = string
  default = "eu"
}

resource "random_id" "a" {
  byte_length = 4
  prefix      = var.regoin
}
