resource "random_id" "a"
