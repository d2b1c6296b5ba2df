provider "random" {
  seed = 42
}

resource "random_id" "a" {
  byte_length = 4
}
