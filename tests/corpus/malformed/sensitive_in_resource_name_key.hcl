variable "pw" {
  type      = string
  default   = "x"
  sensitive = true
}

resource "random_id" "a" {
  for_each    = { (var.pw) = 1 }
  byte_length = 4
}
