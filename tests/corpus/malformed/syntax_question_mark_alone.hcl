locals {
  x = ?
}
