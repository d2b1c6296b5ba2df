locals {
  x = [1][*.]
}
