region = "eu-west-1"
resource "random_id" "a" {
  byte_length = 4
}
