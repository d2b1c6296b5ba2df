locals {
  x = "í €"
}
