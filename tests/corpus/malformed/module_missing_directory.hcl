module "net" {
  source = "./does-not-exist"
}
