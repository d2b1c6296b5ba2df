resource "random_id" "a" "b" {
  byte_length = 4
}
