resource "random_id" "a" {
  byte_length = 4
}

resource "random_id" "b" {
  byte_length = 4
  prefix      = random_id.c.hex
}
