resource "random_id" "a" {
  byte_length = count.index
}
