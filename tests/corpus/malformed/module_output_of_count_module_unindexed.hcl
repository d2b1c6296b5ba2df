module "a" {
  source = "./nope"
  count  = 2
}
