output "t" {
  value = templatefile("${path.module}/nope.tftpl", { a = 1 })
}
