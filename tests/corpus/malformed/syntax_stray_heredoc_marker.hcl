locals {
  x = <<
}
