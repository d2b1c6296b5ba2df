output "vpc_id" {
  value = aws_vpc.this.id
}

output "vpc_cidr" {
  value = var.vpc_cidr
}

output "public_subnet_ids" {
  description = "By availability zone."
  value       = { for az, s in aws_subnet.public : az => s.id }
}

output "private_subnet_ids" {
  description = "By availability zone."
  value       = { for az, s in aws_subnet.private : az => s.id }
}

output "private_subnet_cidrs" {
  description = "By availability zone: nodes take static addresses from these with cidrhost()."
  value       = { for az, i in local.zones : az => cidrsubnet(var.vpc_cidr, 8, i + 10) }
}
