resource "random_id" "a" {
  byte_length = 4

  provisioner "local-exec" {
    command = "echo hi"
  }
}
