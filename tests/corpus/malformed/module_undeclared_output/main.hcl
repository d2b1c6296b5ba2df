module "a" {
  source = "./modules/a"
}

output "x" {
  value = module.a.nope
}
