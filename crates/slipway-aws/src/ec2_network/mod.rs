//! EC2 networking: aws_vpc, aws_subnet, aws_internet_gateway, aws_route_table (routes inline),
//! aws_route_table_association, aws_security_group (rules inline), aws_security_group_rule.
//!
//! Set-like nested lists (routes, security group rules) have one canonical form, produced both
//! by `normalize` (from configuration) and by `describe` (from AWS): security group rules are
//! split into one entry per source (a CIDR, a group, or `self`), protocols spelled
//! `tcp`/`udp`/`icmp`/`-1`, sorted; routes sorted by destination with every target key
//! present. That is what lets an unchanged configuration plan as no-op.
//!
//! Inline `route`, `ingress` and `egress` are authoritative when present and unmanaged when
//! absent (so separate aws_security_group_rule resources and the default egress rule do not
//! show as perpetual drift) — the same contract as Terraform's.
//!
//! Delete ordering AWS enforces and moto does not: an internet gateway must be detached before
//! deletion (done here); a subnet, security group or VPC cannot be deleted while ENIs or
//! instances still use it (DependencyViolation, retried here until `ready_timeout` because
//! terminated instances release their ENIs asynchronously); a route table cannot be deleted
//! while associated. The engine's dependency graph deletes dependents first.
//!
//! One file per topic: `vpc` (the VPC, subnets, internet gateway), `route_table` (tables and
//! associations), `sg_rules` (the canonical rule form and the calls that change rules),
//! `security_group` (groups and separate rules); `arn` and `set_bool` are shared here.

use aws_sdk_ec2::types::AttributeBooleanValue;

use crate::resource::ResourceType;

mod route_table;
mod security_group;
mod sg_rules;
mod vpc;

use route_table::{RouteTable, RouteTableAssociation};
use security_group::{SecurityGroup, SecurityGroupRule};
use vpc::{InternetGateway, Subnet, Vpc};

pub fn types() -> Vec<Box<dyn ResourceType>> {
    vec![
        Box::new(Vpc),
        Box::new(Subnet),
        Box::new(InternetGateway),
        Box::new(RouteTable),
        Box::new(RouteTableAssociation),
        Box::new(SecurityGroup),
        Box::new(SecurityGroupRule),
    ]
}

fn set_bool(v: bool) -> AttributeBooleanValue {
    AttributeBooleanValue::builder().value(v).build()
}
