resource "random_id" "a" {
  count       = null
  byte_length = 4
}
