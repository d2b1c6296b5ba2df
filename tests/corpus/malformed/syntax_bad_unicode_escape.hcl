locals {
  x = "\uZZZZ"
}
