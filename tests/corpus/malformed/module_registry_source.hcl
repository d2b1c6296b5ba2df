module "net" {
  source = "hashicorp/consul/aws"
}
