locals {
  x = "%{ for v in 5 }${v}%{ endfor }"
}

output "x" {
  value = local.x
}
