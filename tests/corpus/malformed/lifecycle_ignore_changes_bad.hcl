resource "random_id" "a" {
  byte_length = 4

  lifecycle {
    ignore_changes = "all"
  }
}
