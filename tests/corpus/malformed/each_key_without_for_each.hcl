resource "random_id" "a" {
  prefix      = each.key
  byte_length = 4
}
