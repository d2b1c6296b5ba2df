variable "p" {
  default = "./m"
}

module "net" {
  source = var.p
}
