module "a" {
  source = "./modules/a"
  sise   = 3
}
