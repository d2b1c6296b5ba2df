locals {
  x = "caf√"
}
