variable "name" {
  type = string
}

# Relative to this file: base/child.
module "child" {
  source = "./child"
  name   = var.name
}

output "greeting" {
  value = module.child.greeting
}
