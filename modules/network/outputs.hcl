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
  description = "By availability zone; known once the subnets' egress is in place, so that nodes launched into them can bootstrap."
  value       = { for az, s in aws_subnet.private : az => s.id }
  # A node fetches packages and its S3 bundle at first boot: its subnet's route out (through the
  # NAT gateway, pending for minutes on AWS) and the S3 endpoint must exist before it launches.
  depends_on = [aws_route_table_association.private, aws_vpc_endpoint.s3]
}

output "private_subnet_cidrs" {
  description = "By availability zone: nodes take static addresses from these with cidrhost()."
  value       = { for az, i in local.zones : az => cidrsubnet(var.vpc_cidr, 8, i + 10) }
}

output "nat_gateway_ids" {
  description = "By availability zone, for the zones that hold one (var.nat_gateways)."
  value       = { for az, g in aws_nat_gateway.this : az => g.id }
}

output "nat_public_ips" {
  description = "By availability zone: the addresses the private subnets reach the internet from."
  value       = { for az, e in aws_eip.nat : az => e.public_ip }
}

output "private_route_table_ids" {
  description = "By availability zone."
  value       = { for az, rt in aws_route_table.private : az => rt.id }
}

output "s3_endpoint_id" {
  value = aws_vpc_endpoint.s3.id
}
