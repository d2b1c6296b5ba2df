resource "random_id" "a" {
  byte_length = 4
}

output "x" {
  value = data.random_id.a.hex
}
