resource "random_id" "a" {
  prefix = "ÿşÃ("
  byte_length = 4
}
