resource "random_id" "a" {
  byte_length = 4
}

moved {
  from = random_id.old
}
