locals {
  x = "À¯"
}
