//! Standalone `aws_security_group_rule`s against the moto server: every combination of a rule's
//! sources round-trips — applied, seen again by refresh, planned empty, destroyed. Regression for
//! two bugs a new user hits at once: a rule whose `source_security_group_id` is its own group (the
//! usual way to let a group's members talk to each other) was created but "not visible after
//! write", because AWS reports it as a self-reference; and an egress rule for `0.0.0.0/0` and
//! `::/0` lost its IPv6 half, because AWS refuses a whole call when one permission (the default
//! egress rule) already exists.

use crate::moto::Moto;
use crate::util::TestDir;

const RULES: &str = r#"
provider "aws" {
  region = "us-east-1"
}

variable "prefix_list" {
  type = string
}

resource "aws_vpc" "v" {
  cidr_block = "10.9.0.0/16"
}

resource "aws_security_group" "members" {
  name   = "members"
  vpc_id = aws_vpc.v.id
}

resource "aws_security_group" "clients" {
  name   = "clients"
  vpc_id = aws_vpc.v.id
}

resource "aws_security_group_rule" "self_by_source" {
  type                     = "ingress"
  security_group_id        = aws_security_group.members.id
  source_security_group_id = aws_security_group.members.id
  protocol                 = "tcp"
  from_port                = 2380
  to_port                  = 2380
}

resource "aws_security_group_rule" "self_flag" {
  type              = "ingress"
  security_group_id = aws_security_group.members.id
  self              = true
  protocol          = "udp"
  from_port         = 8472
  to_port           = 8472
  description       = "vxlan between members"
}

resource "aws_security_group_rule" "other_group" {
  type                     = "ingress"
  security_group_id        = aws_security_group.members.id
  source_security_group_id = aws_security_group.clients.id
  protocol                 = "tcp"
  from_port                = 2379
  to_port                  = 2379
}

resource "aws_security_group_rule" "v4_and_v6" {
  type              = "ingress"
  security_group_id = aws_security_group.members.id
  protocol          = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_blocks       = ["10.0.0.0/8", "192.168.0.0/16"]
  ipv6_cidr_blocks  = ["2001:db8::/32"]
}

resource "aws_security_group_rule" "prefix_list" {
  type              = "egress"
  security_group_id = aws_security_group.members.id
  protocol          = "tcp"
  from_port         = 443
  to_port           = 443
  prefix_list_ids   = [var.prefix_list]
}

# All protocols, both families: the IPv4 half is the group's default egress rule already.
resource "aws_security_group_rule" "all_out" {
  type              = "egress"
  security_group_id = aws_security_group.clients.id
  protocol          = "-1"
  from_port         = 0
  to_port           = 0
  cidr_blocks       = ["0.0.0.0/0"]
  ipv6_cidr_blocks  = ["::/0"]
}
"#;

#[test]
fn security_group_rules_round_trip_with_every_kind_of_source() {
    let moto = Moto::start();
    let dir = TestDir::new();
    dir.write("environments/rules/main.hcl", RULES);
    let env = dir.join("environments/rules");
    let state = dir.join("state");
    // An AWS-managed prefix list of the emulated region (S3's), as a real account has.
    let lists = moto.boto3(
        "for p in ec2.describe_managed_prefix_lists()['PrefixLists']:\n    out.append(p['PrefixListId'])",
    );
    let prefix_list = lists[0].as_str().expect("a managed prefix list").to_string();
    let var = format!("prefix_list={prefix_list}");

    let apply = moto.slipway(&env, &state, &["apply", "ENV", "-auto-approve", "-var", &var]);
    apply.assert_code(0);
    assert!(apply.stdout.contains("Apply complete! Resources: 9 added"), "{}", apply.dump());
    // What AWS holds now: each rule exactly once, in the form AWS reports.
    let groups = moto.boto3(
        "for g in ec2.describe_security_groups(Filters=[{'Name': 'group-name', 'Values': ['members', 'clients']}])['SecurityGroups']:\n    out.append({'name': g['GroupName'], 'id': g['GroupId'], 'in': g['IpPermissions'], 'out': g['IpPermissionsEgress']})",
    );
    let by_name =
        |n: &str| groups.as_array().unwrap().iter().find(|g| g["name"] == n).unwrap().clone();
    let (members, clients) = (by_name("members"), by_name("clients"));
    let text = members["in"].to_string();
    let self_pairs = text.matches(members["id"].as_str().unwrap()).count();
    assert_eq!(self_pairs, 2, "tcp/2380 and udp/8472 from the group itself: {text}");
    assert!(text.contains(clients["id"].as_str().unwrap()), "{text}");
    assert!(text.contains("2001:db8::/32") && text.contains("192.168.0.0/16"), "{text}");
    assert!(members["out"].to_string().contains(&prefix_list), "{}", members["out"]);
    let out = clients["out"].to_string();
    assert!(out.contains("::/0") && out.contains("0.0.0.0/0"), "{out}");

    // Refresh finds every rule again: nothing to do.
    let plan = moto.slipway(&env, &state, &["plan", "ENV", "--detailed-exitcode", "-var", &var]);
    plan.assert_code(0);

    let destroy = moto.slipway(&env, &state, &["destroy", "ENV", "-auto-approve", "-var", &var]);
    destroy.assert_code(0);
    assert!(destroy.stdout.contains("9 destroyed"), "{}", destroy.dump());
}
