module "a" {
  source = "./modules/m"
  input  = module.b.out
}

module "b" {
  source = "./modules/m"
  input  = module.a.out
}
