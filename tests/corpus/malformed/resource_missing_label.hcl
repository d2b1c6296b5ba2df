resource "random_id" {
  byte_length = 4
}
