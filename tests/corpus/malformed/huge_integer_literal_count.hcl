resource "random_id" "a" {
  count       = 99999999999999999999999
  byte_length = 4
}
