resource "random_id" "k" {
  byte_length = 4
}

resource "random_id" "a" {
  for_each    = toset([random_id.k.hex])
  byte_length = 4
}
