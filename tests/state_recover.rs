//! `slipway state recover`: a state lost after an apply against the emulator is rebuilt from the
//! objects' `slipway:stack`/`slipway:address` tags; the next plan leaves every recovered object
//! alone and creates exactly what recover said it could not recover. Also: nothing to recover
//! is a clear error that writes nothing, and an existing state is never overwritten without
//! `--force` (which keeps a copy).
//!
//! The fixture is the real `modules/network`, `modules/nodes` and `modules/apiserver-lb`
//! (VPC, subnets, gateway, route table and its untagged association, IAM role, its untagged
//! inline policy, instance profile, instance, load balancer, target group, untagged listener and
//! target attachment), a data volume with its untagged attachment, a bucket, and what no cloud
//! holds: a `tls_private_key` and a `random_password` (the latter inside the node's S3 bundle,
//! which therefore cannot be matched either).

use std::collections::BTreeSet;
use std::path::Path;

use crate::moto::Moto;
use crate::util::TestDir;

/// The environment; `../modules` is a link to the repository's modules.
fn fixture() -> String {
    let m = |name: &str| format!("../modules/{name}");
    format!(
        r##"
provider "aws" {{
  region = "us-east-1"
}}

data "aws_ami" "node" {{
  owners      = ["amazon"]
  most_recent = true
  filter {{
    name   = "name"
    values = ["al2023-ami-*-x86_64"]
  }}
}}

module "network" {{
  source             = "{network}"
  name               = "rec"
  vpc_cidr           = "10.30.0.0/16"
  availability_zones = ["us-east-1a"]
}}

resource "aws_security_group" "nodes" {{
  name        = "rec-nodes"
  description = "recover test"
  vpc_id      = module.network.vpc_id
  egress {{
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = ["0.0.0.0/0"]
  }}
}}

resource "aws_s3_bucket" "bundles" {{
  bucket = "rec-bundles-${{slipway.environment}}"
}}

resource "random_password" "token" {{
  length  = 16
  special = false
}}

resource "tls_private_key" "ca" {{
  algorithm = "ECDSA"
}}

module "nodes" {{
  source             = "{nodes}"
  role               = "worker"
  private_ips        = {{ "rec-a" = "10.30.10.10" }}
  subnet_ids         = {{ "rec-a" = module.network.private_subnet_ids["us-east-1a"] }}
  user_data          = {{ "rec-a" = "#cloud-config\n{{}}\n" }}
  bundles            = {{ "rec-a" = jsonencode({{ token = random_password.token.result }}) }}
  bundle_keys        = {{ "rec-a" = "nodes/rec-a/bundle.json" }}
  bucket             = aws_s3_bucket.bundles.bucket
  ami                = data.aws_ami.node.id
  security_group_ids = [aws_security_group.nodes.id]
}}

resource "aws_ebs_volume" "data" {{
  availability_zone = "us-east-1a"
  size              = 8
  type              = "gp3"
  encrypted         = true
}}

resource "aws_volume_attachment" "data" {{
  device_name = "/dev/sdf"
  volume_id   = aws_ebs_volume.data.id
  instance_id = module.nodes.instance_ids["rec-a"]
}}

module "apiserver_lb" {{
  source     = "{lb}"
  name       = "rec-api"
  vpc_id     = module.network.vpc_id
  subnet_ids = values(module.network.public_subnet_ids)
  targets    = module.nodes.instance_ids
}}
"##,
        network = m("network"),
        nodes = m("nodes"),
        lb = m("apiserver-lb"),
    )
}

fn strs(v: &serde_json::Value, key: &str) -> BTreeSet<String> {
    v[key]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|x| x["address"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn state_recover_rebuilds_a_lost_state_and_the_next_plan_creates_only_what_it_listed() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let moto = Moto::start();
    let dir = TestDir::new();
    let env = dir.join("rec");
    std::fs::create_dir_all(&env).unwrap();
    std::os::unix::fs::symlink(repo.join("modules"), dir.join("modules")).unwrap();
    std::fs::write(env.join("main.hcl"), fixture()).unwrap();
    let state = dir.join("state");
    moto.slipway(&env, &state, &["apply", "ENV", "-auto-approve"]).assert_code(0);
    let before = moto.slipway(&env, &state, &["state", "list", "--dir", "ENV"]);
    before.assert_code(0);
    let applied: BTreeSet<String> = before.stdout.lines().map(str::to_string).collect();
    assert!(applied.len() > 20, "{}", before.dump());

    // The state is lost.
    std::fs::remove_dir_all(&state).unwrap();

    let rec = moto.slipway(&env, &state, &["state", "recover", "ENV", "--json"]);
    rec.assert_code(0);
    let report = rec.json();
    let recovered = strs(&report, "recovered");
    let missing = strs(&report, "not_recovered");
    assert!(report["stack_id"].as_str().unwrap().starts_with("rec-"), "{}", rec.dump());
    // Tagged objects come back, and untagged ones are derived from what they join.
    for a in [
        "module.network.aws_vpc.this",
        "module.network.aws_route_table_association.public[\"us-east-1a\"]",
        "module.nodes.aws_instance.node[\"rec-a\"]",
        "module.nodes.aws_iam_role_policy.bundle[\"rec-a\"]",
        "aws_volume_attachment.data",
        "module.apiserver_lb.aws_lb_listener.api",
        "module.apiserver_lb.aws_lb_target_group_attachment.node[\"rec-a\"]",
        "aws_s3_bucket.bundles",
    ] {
        assert!(recovered.contains(a), "{a} not recovered: {}", rec.dump());
    }
    // What no cloud holds, and the bundle whose content depends on it, are listed.
    let expected_missing: BTreeSet<String> = [
        "random_password.token",
        "tls_private_key.ca",
        "module.nodes.aws_s3_object.bundle[\"rec-a\"]",
    ]
    .map(String::from)
    .into();
    assert_eq!(missing, expected_missing, "{}", rec.dump());
    assert_eq!(
        recovered.union(&missing).cloned().collect::<BTreeSet<_>>(),
        applied,
        "every applied instance is either recovered or listed"
    );
    assert_eq!(
        report["next_plan"]["create"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect::<BTreeSet<_>>(),
        missing,
        "{}",
        rec.dump()
    );

    // An independent plan agrees: no change to any recovered object, creates = the list.
    let plan = moto.slipway(&env, &state, &["plan", "ENV", "--json"]);
    plan.assert_code(0);
    let plan = plan.json();
    let mut creates = BTreeSet::new();
    for c in plan["resource_changes"].as_array().unwrap() {
        let addr = c["address"].as_str().unwrap().to_string();
        let action = c["action"].as_str().unwrap();
        if recovered.contains(&addr) {
            assert_eq!(action, "no-op", "recovered {addr} changes: {c}");
        } else if action == "create" {
            creates.insert(addr);
        } else if addr.starts_with("data.") || addr.contains(".data.") {
            assert!(action == "no-op" || action == "read", "{addr}: {action}");
        } else {
            panic!("{addr}: unexpected {action}");
        }
    }
    assert_eq!(creates, missing);

    // An existing state is refused without --force, and nothing changes.
    let again = moto.slipway(&env, &state, &["state", "recover", "ENV"]);
    again.assert_code(1);
    assert!(again.stderr.contains("--force"), "{}", again.dump());
    // With --force the replaced state is kept first.
    let backup = dir.join("before.json");
    let forced = moto.slipway(
        &env,
        &state,
        &["state", "recover", "ENV", "--force", "--backup", backup.to_str().unwrap()],
    );
    forced.assert_code(0);
    assert!(forced.stdout.contains("Not recoverable from the cloud (3)"), "{}", forced.dump());
    let kept: serde_json::Value = serde_json::from_slice(&std::fs::read(&backup).unwrap()).unwrap();
    assert_eq!(kept["resources"].as_object().unwrap().len(), recovered.len());

    // Another environment's name finds nothing: a clear message, no state written.
    let other = dir.join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("main.hcl"), fixture()).unwrap();
    let other_state = dir.join("other-state");
    let none = moto.slipway(&other, &other_state, &["state", "recover", "ENV"]);
    none.assert_code(1);
    assert!(none.stderr.contains("no objects of environment other were found"), "{}", none.dump());
    let list = moto.slipway(&other, &other_state, &["state", "list", "--dir", "ENV"]);
    assert_eq!(list.stdout.trim(), "", "{}", list.dump());
}
