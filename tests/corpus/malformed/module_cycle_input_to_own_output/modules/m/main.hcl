variable "input" {
  type = string
}

resource "random_id" "r" {
  byte_length = 4
  prefix      = var.input
}

output "out" {
  value = random_id.r.hex
}
