locals {
  x = ...[1]
}
