resource "random_id" "a" {
  byte_length = 4
  byte_length = 8
}
