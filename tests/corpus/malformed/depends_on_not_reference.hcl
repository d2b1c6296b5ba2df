resource "random_id" "a" {
  byte_length = 4
  depends_on  = ["random_id.b"]
}
