resource "random_id" "a" {
  count       = 2
  prefix      = each.value
  byte_length = 4
}
