resource "random_id" "a" {
  byte_length = 1e400
}
