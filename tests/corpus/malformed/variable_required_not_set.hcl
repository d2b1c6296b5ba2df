variable "size" {
  type = number
}

resource "random_id" "a" {
  byte_length = var.size
}
