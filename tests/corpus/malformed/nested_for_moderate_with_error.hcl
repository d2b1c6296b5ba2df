locals {
  x = [for a in [1] : [for b in [2] : [for c in [3] : a + b + c + d]]]
}
