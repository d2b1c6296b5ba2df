locals {
  😀 = 1
}
