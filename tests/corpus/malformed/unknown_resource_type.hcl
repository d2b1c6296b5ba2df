resource "random_idx" "a" {
  byte_length = 4
}
