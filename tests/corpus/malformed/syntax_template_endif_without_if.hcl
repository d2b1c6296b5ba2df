locals {
  x = "%{ endif }"
}
