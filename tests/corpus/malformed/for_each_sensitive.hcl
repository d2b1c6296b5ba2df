variable "names" {
  type      = set(string)
  default   = ["a"]
  sensitive = true
}

resource "random_id" "a" {
  for_each    = var.names
  byte_length = 4
}
