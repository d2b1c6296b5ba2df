resource "random_id" "a" {
  byte_length = 4
  depends_on  = [random_id.b]
}

resource "random_id" "b" {
  byte_length = 4
  depends_on  = [random_id.a]
}
