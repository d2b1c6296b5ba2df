//! Egress and static addresses through the binary, against the moto server behind
//! `aws-fault-proxy` where AWS behaves in ways moto does not:
//! - `modules/network`'s `nat_gateways` variable: one shared NAT gateway for two zones, routes
//!   of both private route tables through it, the S3 endpoint on both; destroy releases the
//!   Elastic IP once the gateway is gone, waiting out the `AuthFailure` AWS gives while the
//!   gateway still holds it; a bad value is refused by validation.
//! - a node replaced on the same static private IP: RunInstances answers
//!   `InvalidIPAddress.InUse` while the old interface releases the address, and the launch is
//!   tried again rather than given up; an address held by an unrelated interface fails at once,
//!   naming the address. (That the wait ends in a launch is checked in the provider's unit tests:
//!   moto never frees a terminated instance's address.)

use crate::moto::{FaultProxy, Moto, slipway_at};
use crate::util::TestDir;

const NETWORK: &str = r#"
provider "aws" {
  region                = "us-east-1"
  poll_interval_seconds = 0.2
}

variable "nat_gateways" {
  type    = string
  default = "single"
}

module "network" {
  source             = "../../modules/network"
  name               = "egress"
  vpc_cidr           = "10.30.0.0/16"
  availability_zones = ["us-east-1a", "us-east-1b"]
  nat_gateways       = var.nat_gateways
}

output "nat_public_ips" {
  value = module.network.nat_public_ips
}
"#;

/// A scratch environment `environments/NAME` holding `main.hcl`, with the repository's modules.
fn environment(dir: &TestDir, name: &str, hcl: &str) -> std::path::PathBuf {
    dir.write(format!("environments/{name}/main.hcl"), hcl);
    let modules = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("modules");
    std::os::unix::fs::symlink(modules, dir.join("modules")).unwrap();
    dir.join(format!("environments/{name}"))
}

#[test]
fn one_shared_nat_gateway_routes_both_zones_and_its_address_is_released_after_it() {
    let moto = Moto::start();
    let dir = TestDir::new();
    let env = environment(&dir, "egress", NETWORK);
    let state = dir.join("state");
    let bad = moto.slipway(&env, &state, &["plan", "ENV", "-var", "nat_gateways=one"]);
    assert_ne!(bad.code, Some(0), "{}", bad.dump());
    assert!(bad.stderr.contains("nat_gateways must be"), "{}", bad.dump());

    let proxy = FaultProxy::start_with(&moto, dir.join("proxy.log"), &["--propagation-ms", "3000"]);
    let at = |args: &[&str]| slipway_at(&proxy.endpoint(), &env, &state, args);
    let apply = at(&["apply", "ENV", "-auto-approve"]);
    apply.assert_code(0);
    // VPC, IGW, 2 + 2 subnets, the public table and its 2 associations, one EIP and NAT gateway,
    // 2 private tables and their 2 associations, the S3 endpoint.
    assert!(apply.stdout.contains("Apply complete! Resources: 16 added"), "{}", apply.dump());
    let egress = moto.boto3(
        "nats = [g['NatGatewayId'] for g in ec2.describe_nat_gateways()['NatGateways'] if g['State'] == 'available']\n\
         out.append(len(nats))\n\
         out.append(len(ec2.describe_addresses()['Addresses']))\n\
         private = ec2.describe_route_tables(Filters=[{'Name': 'tag:Name', 'Values': ['egress-private-*']}])['RouteTables']\n\
         for t in private:\n    out.append([r.get('NatGatewayId') in nats for r in t['Routes'] if r.get('DestinationCidrBlock') == '0.0.0.0/0'])\n\
         for e in ec2.describe_vpc_endpoints()['VpcEndpoints']:\n    out.append(sorted(e['RouteTableIds']) == sorted(t['RouteTableId'] for t in private))",
    );
    assert_eq!(egress, serde_json::json!([1, 1, [true], [true], true]));
    let plan = at(&["plan", "ENV", "--detailed-exitcode"]);
    assert_eq!(plan.code, Some(0), "re-plan not empty: {}", plan.dump());

    let applied = proxy.calls().len();
    at(&["destroy", "ENV", "-auto-approve"]).assert_code(0);
    let calls = proxy.calls();
    let destroy = &calls[applied..];
    let refused = destroy
        .iter()
        .filter(|c| c.operation == "ReleaseAddress" && c.fate.contains("AuthFailure"))
        .count();
    assert!(refused > 0, "the release was never refused: {destroy:?}");
    // Released after the gateway was deleted, and in the end.
    let deleted = destroy
        .iter()
        .position(|c| c.operation == "DeleteNatGateway" && c.fate == "Forwarded")
        .expect("the gateway was deleted");
    let released = destroy
        .iter()
        .rposition(|c| c.operation == "ReleaseAddress" && c.fate == "Forwarded")
        .expect("the address was released");
    assert!(deleted < released);
    let left = moto.boto3(
        "out.extend(a['AllocationId'] for a in ec2.describe_addresses()['Addresses'])\n\
         out.extend(g['NatGatewayId'] for g in ec2.describe_nat_gateways()['NatGateways'] if g['State'] != 'deleted')\n\
         out.extend(e['VpcEndpointId'] for e in ec2.describe_vpc_endpoints()['VpcEndpoints'] if e['State'] != 'deleted')",
    );
    assert_eq!(left, serde_json::json!([]), "left after destroy");
}

const NODE: &str = r##"
provider "aws" {
  region                = "us-east-1"
  poll_interval_seconds = 0.2
  # moto's 500 for an address it never frees (see below) is not worth retrying long.
  max_retries = 1
}

variable "user_data" {
  type    = string
  default = "#!/bin/sh\necho one\n"
}

variable "ip" {
  type    = string
  default = "10.31.1.10"
}

resource "aws_vpc" "v" {
  cidr_block = "10.31.0.0/16"
}

resource "aws_subnet" "s" {
  vpc_id            = aws_vpc.v.id
  cidr_block        = "10.31.1.0/24"
  availability_zone = "us-east-1a"
}

resource "aws_instance" "node" {
  ami           = "ami-0d27e0fb3bac4d724"
  instance_type = "t3.micro"
  subnet_id     = aws_subnet.s.id
  private_ip    = var.ip
  user_data     = var.user_data
}
"##;

#[test]
fn a_replaced_node_retries_its_static_address_and_one_held_elsewhere_fails_fast() {
    let moto = Moto::start();
    let dir = TestDir::new();
    let env = environment(&dir, "node", NODE);
    let state = dir.join("state");
    let proxy = FaultProxy::start_with(
        &moto,
        dir.join("proxy.log"),
        &["--propagation-ms", "3000", "--ip-in-use", "10.31.1.99"],
    );
    let at = |args: &[&str]| slipway_at(&proxy.endpoint(), &env, &state, args);
    at(&["apply", "ENV", "-auto-approve"]).assert_code(0);

    // New user-data replaces the node on the same address: the old one is terminated first,
    // and AWS (here: the proxy) still sees the address in use for a while.
    let applied = proxy.calls().len();
    let replace = at(&["apply", "ENV", "-auto-approve", "-var", "user_data=#!/bin/sh\necho two\n"]);
    let calls = proxy.calls();
    let runs: Vec<&str> = calls[applied..]
        .iter()
        .filter(|c| c.operation == "RunInstances")
        .map(|c| c.fate.as_str())
        .collect();
    // Refused while the address is released, then tried again. moto itself never frees the
    // address of a terminated instance (it answers 500 "IP already in use"), so here the
    // launch that AWS would accept fails, and the apply with it.
    let first_forwarded = runs.iter().position(|f| *f == "Forwarded");
    assert!(
        runs.first().is_some_and(|f| f.contains("InvalidIPAddress.InUse"))
            && first_forwarded.is_some(),
        "{runs:?}\n{}",
        replace.dump()
    );
    assert!(!replace.stderr.contains("is in use"), "the wait gave up: {}", replace.dump());

    // An address another interface holds for good: one attempt, an error naming it.
    let before = proxy.calls().len();
    let held = at(&["apply", "ENV", "-auto-approve", "-var", "ip=10.31.1.99"]);
    assert_ne!(held.code, Some(0), "{}", held.dump());
    let out = format!("{}{}", held.stdout, held.stderr);
    assert!(
        out.contains("private IP 10.31.1.99 is in use")
            && out.contains("another network interface"),
        "{}",
        held.dump()
    );
    let attempts = proxy.calls()[before..].iter().filter(|c| c.operation == "RunInstances").count();
    assert_eq!(attempts, 1, "a permanent InUse was retried");
    at(&["destroy", "ENV", "-auto-approve", "-var", "ip=10.31.1.99"]).assert_code(0);
}
