resource "random_id" "a" {
  prefix = "abc
  byte_length = 4
}
