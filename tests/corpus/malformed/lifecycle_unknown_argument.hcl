resource "random_id" "a" {
  byte_length = 4

  lifecycle {
    prevent_destory = true
  }
}
