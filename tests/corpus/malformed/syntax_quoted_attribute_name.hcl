locals {
  "x" = 1
}
