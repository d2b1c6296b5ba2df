locals {
  x = {for k, v in {} : k => }
}
