resource "random_id" "a" {
  byte_length = 4

  dynamic "nope" {
    for_each = [1]
    content {}
  }
}
