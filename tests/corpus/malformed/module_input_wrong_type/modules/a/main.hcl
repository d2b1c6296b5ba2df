variable "size" {
  type = number
}

resource "random_id" "x" {
  byte_length = var.size
}
