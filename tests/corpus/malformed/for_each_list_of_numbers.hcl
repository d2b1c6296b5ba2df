resource "random_id" "a" {
  for_each    = [1, 2, 3]
  byte_length = 4
}
