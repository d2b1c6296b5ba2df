resource "random_id" "a" {
  for_each    = null
  byte_length = 4
}
