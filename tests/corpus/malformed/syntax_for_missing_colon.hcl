locals {
  x = [for v in [1] v]
}
