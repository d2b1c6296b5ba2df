resource "random_id" "1bad" {
  byte_length = 4
}
