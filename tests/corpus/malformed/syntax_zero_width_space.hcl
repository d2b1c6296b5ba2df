locals {
  x​ = 1
}
