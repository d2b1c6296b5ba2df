module "a" {
  source = "./modules/a"
  size   = "big"
}
