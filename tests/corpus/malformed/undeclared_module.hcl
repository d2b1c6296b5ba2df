resource "random_id" "a" {
  byte_length = 4
}

output "x" {
  value = module.nope.out
}
