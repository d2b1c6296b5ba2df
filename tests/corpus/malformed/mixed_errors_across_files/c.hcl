locals {
  z = uppper("a")
}
