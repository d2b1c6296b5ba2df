module "a" {
  source = "./modules/m"
  input  = module.a.out
}
