resource "random_id" "a" {
  count       = "many"
  byte_length = 4
}
