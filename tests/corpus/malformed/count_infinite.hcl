resource "random_id" "a" {
  count       = 1/0
  byte_length = 4
}
