resource "random_id" "a" {
  count       = pow(10, 400)
  byte_length = 4
}
