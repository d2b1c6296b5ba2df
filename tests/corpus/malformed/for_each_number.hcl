resource "random_id" "a" {
  for_each    = 3
  byte_length = 4
}
