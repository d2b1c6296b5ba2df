resource "random_id" "a" {
  count       = 2
  byte_length = 4
}

output "x" {
  value = random_id.a["k"].hex
}
