module "net" {
  source = "git::https://example.com/net.git"
}
