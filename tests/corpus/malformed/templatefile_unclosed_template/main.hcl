output "t" {
  value = templatefile("${path.module}/t.tftpl", { a = 1 })
}
