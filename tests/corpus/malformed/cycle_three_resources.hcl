resource "random_id" "a" {
  byte_length = 4
  prefix      = random_id.c.hex
}

resource "random_id" "b" {
  byte_length = 4
  prefix      = random_id.a.hex
}

resource "random_id" "c" {
  byte_length = 4
  prefix      = random_id.b.hex
}
