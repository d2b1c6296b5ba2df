resource "random_id" "a" {
  count       = -1
  byte_length = 4
}
