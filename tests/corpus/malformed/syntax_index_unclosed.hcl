locals {
  x = [1][0
}
