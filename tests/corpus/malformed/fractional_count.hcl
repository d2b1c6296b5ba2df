resource "random_id" "a" {
  count       = 1.5
  byte_length = 4
}
