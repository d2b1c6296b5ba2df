resource "random_id" "a" {
  byte_length = 4
}

output "x" {
  value = random_id.a.nope
}
