resource "random_id" "a" {
  byte_length = 4

  subject {
    common_name = "x"
  }
}
