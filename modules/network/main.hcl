# A VPC over N availability zones: a public subnet per zone (load balancer, NAT gateways) and a
# private subnet per zone (nodes). Subnet i of each kind is carved from the VPC block
# deterministically, so node IPs can be computed with cidrhost() before anything exists.
#
# Egress for the private subnets (nodes fetch packages, images and their S3 bundles): each
# private subnet has its own route table, with 0.0.0.0/0 through a NAT gateway (its zone's, or
# the single shared one: var.nat_gateways), and S3 through a gateway endpoint (free, and it keeps
# bundle and snapshot traffic off the NAT gateways, which bill per GB).

locals {
  zones = { for i, az in var.availability_zones : az => i }
  # The zones that hold a NAT gateway, and the gateway each private subnet routes through.
  nat_zones = (
    var.nat_gateways == "per_zone" ? local.zones :
    var.nat_gateways == "single" ? { (var.availability_zones[0]) = 0 } : {}
  )
  nat_of = {
    for az, i in local.zones : az => (var.nat_gateways == "single" ? var.availability_zones[0] : az)
  }
}

data "aws_region" "current" {}

resource "aws_vpc" "this" {
  cidr_block           = var.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true
  tags = {
    Name = var.name
  }
}

resource "aws_internet_gateway" "this" {
  vpc_id = aws_vpc.this.id
  tags = {
    Name = var.name
  }
}

resource "aws_subnet" "public" {
  for_each                = local.zones
  vpc_id                  = aws_vpc.this.id
  availability_zone       = each.key
  cidr_block              = cidrsubnet(var.vpc_cidr, 8, each.value)
  map_public_ip_on_launch = true
  tags = {
    Name = "${var.name}-public-${each.key}"
  }
}

resource "aws_subnet" "private" {
  for_each          = local.zones
  vpc_id            = aws_vpc.this.id
  availability_zone = each.key
  cidr_block        = cidrsubnet(var.vpc_cidr, 8, each.value + 10)
  tags = {
    Name = "${var.name}-private-${each.key}"
  }
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.this.id
  route {
    cidr_block = "0.0.0.0/0"
    gateway_id = aws_internet_gateway.this.id
  }
  tags = {
    Name = "${var.name}-public"
  }
}

resource "aws_route_table_association" "public" {
  for_each       = local.zones
  subnet_id      = aws_subnet.public[each.key].id
  route_table_id = aws_route_table.public.id
}

# One Elastic IP per NAT gateway: the cluster's fixed public source addresses (for allowlists).
resource "aws_eip" "nat" {
  for_each = local.nat_zones
  domain   = "vpc"
  tags = {
    Name = "${var.name}-nat-${each.key}"
  }
}

resource "aws_nat_gateway" "this" {
  for_each      = local.nat_zones
  subnet_id     = aws_subnet.public[each.key].id
  allocation_id = aws_eip.nat[each.key].id
  tags = {
    Name = "${var.name}-${each.key}"
  }
  # A public NAT gateway forwards through the VPC's internet gateway: attached first.
  depends_on = [aws_internet_gateway.this]
}

resource "aws_route_table" "private" {
  for_each = local.zones
  vpc_id   = aws_vpc.this.id
  dynamic "route" {
    for_each = var.nat_gateways == "none" ? [] : [local.nat_of[each.key]]
    content {
      cidr_block     = "0.0.0.0/0"
      nat_gateway_id = aws_nat_gateway.this[route.value].id
    }
  }
  tags = {
    Name = "${var.name}-private-${each.key}"
  }
}

resource "aws_route_table_association" "private" {
  for_each       = local.zones
  subnet_id      = aws_subnet.private[each.key].id
  route_table_id = aws_route_table.private[each.key].id
}

# S3 (the nodes' bundles, etcd snapshots) without the NAT gateways: AWS adds a route to S3's
# prefix list in each private route table.
resource "aws_vpc_endpoint" "s3" {
  vpc_id            = aws_vpc.this.id
  service_name      = "com.amazonaws.${data.aws_region.current.name}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = [for az, rt in aws_route_table.private : rt.id]
  tags = {
    Name = "${var.name}-s3"
  }
}
