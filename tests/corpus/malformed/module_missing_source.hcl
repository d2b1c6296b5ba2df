module "net" {
  x = 1
}
