resource "random_id" "a" {
  count       = 1
  for_each    = toset(["a"])
  byte_length = 4
}
