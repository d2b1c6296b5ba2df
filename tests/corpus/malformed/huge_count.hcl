resource "random_id" "a" {
  count       = 1e12
  byte_length = 4
}
