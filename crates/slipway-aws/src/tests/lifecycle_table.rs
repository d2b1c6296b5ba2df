//! Every registered AWS resource type has one row in one table, and the table is run through
//! the whole lifecycle against the emulator (moto).
//!
//! **What the table guarantees.** [`the_table_covers_every_type`] holds the table to the
//! registry: the rows' types are exactly the registered types (so a new type cannot be
//! registered without a row), each row names an in-place change through one of the type's
//! declared updaters whenever the type declares any, and a row that claims "tags only" or
//! "nothing" is true to the type's declarations. [`every_type_through_its_lifecycle`] then
//! proves, for each row, against one moto server:
//!
//! - **create**: the row's create API is called exactly once, and the object has an id;
//! - **no-op**: planning the same configuration right after apply changes nothing;
//! - **adopt**: creating again at the same address with the same token (a run killed before
//!   its state write, resumed) returns the same object without a second create call;
//! - **in place**: the row's changed configuration is applied by the updater the row names,
//!   without a create, keeping the id; the changed attribute reads back as configured and the
//!   next plan is empty. Every tagged type also takes a new tag in place the same way;
//! - **refresh**: once every row exists, one batched read per type (and one whole refresh of
//!   all types) returns each object as it was left: no drift;
//! - **delete**: deleting in reverse order leaves nothing: each object reads back as gone, and
//!   nothing tagged with the stack is discovered.
//!
//! **Why.** These are the promises `resource` makes for every type (read in batches, adopt
//! before creating, narrow in-place updates, apply-then-plan is empty). They are written once
//! in the machinery, but each type supplies its own describe, normalize, create and updaters,
//! and any of them can break a promise for that type alone. One row per type, checked against
//! the registry, keeps that from going unnoticed; the hand-written lifecycle tests in `tests`
//! assert more specific things (drift behind slipway's back, batching counts, errors).
//!
//! Rows come in dependency order: a row's configuration is built from the objects the earlier
//! rows made ([`Made`]), and the table check fails when a row refers to a later one.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use crate::AwsProvider;
use crate::declare::{TagApi, updaters};
use crate::provider::{Discovery, Provider, ReadRequest, TypeBatch};
use crate::testing::*;
use crate::value::Value;

/// What the earlier rows made: each type's newest state value.
type Made = BTreeMap<&'static str, Value>;

/// Marks a reference to a type no earlier row made (see [`id`]).
const MISSING: &str = "<not made yet: ";

/// The id of the object the row of `rtype` made. A row that refers to a type not made before
/// it gets a marker instead of a panic, so the table check can name the misordered row.
fn id(made: &Made, rtype: &str) -> String {
    match made.get(rtype) {
        Some(v) => attr_str(v, "id"),
        None => format!("{MISSING}{rtype}>"),
    }
}

/// The types a configuration refers to that were not made before it.
fn missing_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => {
            if let Some(rest) = s.strip_prefix(MISSING) {
                out.push(rest.trim_end_matches('>').to_string());
            }
        }
        Value::List(items) => items.iter().for_each(|i| missing_refs(i, out)),
        Value::Map(m) => m.values().for_each(|i| missing_refs(i, out)),
        Value::Sensitive(inner) => missing_refs(inner, out),
        _ => {}
    }
}

/// How a row's object changes in place.
#[derive(Clone, Copy)]
enum Change {
    /// A changed configuration, applied by the declared updater named `api`; the attribute
    /// `check` reads back as the changed configuration plans it.
    InPlace { config: fn(&Made) -> Value, api: &'static str, check: &'static str },
    /// Its only in-place change is its tags (a tagged type without updaters).
    TagsOnly,
    /// Untagged and without updaters (associations, attachments, rules): any change replaces it.
    Nothing,
}

/// What creating again at the same address (resuming a killed run) does.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Resume {
    /// Finds the object the first attempt made: no create call.
    Adopts,
    /// The create call is a Put that overwrites whatever is at the object's key (S3 objects
    /// and bucket configurations): it is made again, onto the same object, never a second one.
    Overwrites,
}

struct Row {
    rtype: &'static str,
    address: &'static str,
    config: fn(&Made) -> Value,
    /// The API call that makes the object (`service:Operation`, as `call_stats` counts it).
    creates: &'static str,
    change: Change,
    resume: Resume,
    /// Attributes a later row changes through AWS (the NAT gateway takes the Elastic IP): they
    /// are left out when the final refresh is compared with the row's own last value.
    changed_later: &'static [&'static str],
}

fn row(
    rtype: &'static str,
    address: &'static str,
    creates: &'static str,
    config: fn(&Made) -> Value,
    change: Change,
) -> Row {
    Row { rtype, address, config, creates, change, resume: Resume::Adopts, changed_later: &[] }
}

impl Row {
    fn overwritten_on_resume(mut self) -> Row {
        self.resume = Resume::Overwrites;
        self
    }

    fn changed_later(mut self, attrs: &'static [&'static str]) -> Row {
        self.changed_later = attrs;
        self
    }
}

const ASSUME_EC2: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
const ASSUME_EC2_SID: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Nodes","Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
const BUCKET: &str = "slipway-lifecycle-rows";

fn allow_get(prefix: &str) -> Value {
    s(&format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::{BUCKET}/{prefix}/*"}}]}}"#
    ))
}

fn role_policy(prefix: &str) -> Value {
    s(&format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::{BUCKET}/{prefix}/*"}}]}}"#
    ))
}

fn egress(ports: &[f64]) -> Value {
    list(
        &ports
            .iter()
            .map(|p| {
                obj(&[
                    ("protocol", s("tcp")),
                    ("from_port", n(*p)),
                    ("to_port", n(*p)),
                    ("cidr_blocks", list(&[s("0.0.0.0/0")])),
                ])
            })
            .collect::<Vec<_>>(),
    )
}

fn routes(m: &Made, cidrs: &[&str]) -> Value {
    list(
        &cidrs
            .iter()
            .map(|c| {
                obj(&[("cidr_block", s(c)), ("gateway_id", s(&id(m, "aws_internet_gateway")))])
            })
            .collect::<Vec<_>>(),
    )
}

fn instance(m: &Made, instance_type: &str) -> Value {
    obj(&[
        ("ami", s(AMI)),
        ("instance_type", s(instance_type)),
        ("subnet_id", s(&id(m, "aws_subnet"))),
        ("private_ip", s("10.20.1.10")),
        ("vpc_security_group_ids", list(&[s(&id(m, "aws_security_group"))])),
        ("iam_instance_profile", s(&id(m, "aws_iam_instance_profile"))),
        ("user_data", s("#!/bin/sh\necho row\n")),
        ("root_block_device", obj(&[("volume_size", n(30.0)), ("volume_type", s("gp3"))])),
    ])
}

fn target_group(m: &Made, interval: f64) -> Value {
    obj(&[
        ("port", n(6443.0)),
        ("protocol", s("TCP")),
        ("vpc_id", s(&id(m, "aws_vpc"))),
        ("health_check", obj(&[("protocol", s("TCP")), ("interval", n(interval))])),
    ])
}

fn listener(m: &Made, port: f64) -> Value {
    obj(&[
        ("load_balancer_arn", s(&id(m, "aws_lb"))),
        ("port", n(port)),
        ("protocol", s("TCP")),
        (
            "default_action",
            list(&[obj(&[
                ("type", s("forward")),
                ("target_group_arn", s(&id(m, "aws_lb_target_group"))),
            ])]),
        ),
    ])
}

fn lifecycle_rules(m: &Made, days: f64) -> Value {
    obj(&[
        ("bucket", s(&id(m, "aws_s3_bucket"))),
        (
            "rule",
            list(&[obj(&[
                ("id", s("snapshots")),
                ("status", s("Enabled")),
                ("filter", list(&[obj(&[("prefix", s("etcd/"))])])),
                ("expiration", list(&[obj(&[("days", n(days))])])),
            ])]),
        ),
    ])
}

/// The table: one row per registered type, dependencies first. Configurations and changes
/// are the ones the hand-written lifecycle tests in `tests` run against moto.
fn rows() -> Vec<Row> {
    use Change::{InPlace, Nothing, TagsOnly};
    vec![
        row(
            "aws_vpc",
            "aws_vpc.t",
            "ec2:CreateVpc",
            |_| obj(&[("cidr_block", s("10.20.0.0/16"))]),
            // DescribeVpcs does not report the DNS attributes (they keep their prior value on
            // read): the ModifyVpcAttribute call count is what shows this change was applied.
            InPlace {
                config: |_| {
                    obj(&[
                        ("cidr_block", s("10.20.0.0/16")),
                        ("enable_dns_hostnames", Value::Bool(true)),
                    ])
                },
                api: "ec2:ModifyVpcAttribute",
                check: "enable_dns_hostnames",
            },
        ),
        row(
            "aws_subnet",
            "aws_subnet.t",
            "ec2:CreateSubnet",
            |m| {
                obj(&[
                    ("vpc_id", s(&id(m, "aws_vpc"))),
                    ("cidr_block", s("10.20.1.0/24")),
                    ("availability_zone", s("us-east-1a")),
                ])
            },
            InPlace {
                config: |m| {
                    obj(&[
                        ("vpc_id", s(&id(m, "aws_vpc"))),
                        ("cidr_block", s("10.20.1.0/24")),
                        ("availability_zone", s("us-east-1a")),
                        ("map_public_ip_on_launch", Value::Bool(true)),
                    ])
                },
                api: "ec2:ModifySubnetAttribute",
                check: "map_public_ip_on_launch",
            },
        ),
        // Made detached, then attached in place: moving it between VPCs would need a second
        // VPC, and the table has one object per type.
        row(
            "aws_internet_gateway",
            "aws_internet_gateway.t",
            "ec2:CreateInternetGateway",
            |_| obj(&[]),
            InPlace {
                config: |m| obj(&[("vpc_id", s(&id(m, "aws_vpc")))]),
                api: "ec2:AttachInternetGateway",
                check: "vpc_id",
            },
        ),
        row(
            "aws_route_table",
            "aws_route_table.t",
            "ec2:CreateRouteTable",
            |m| obj(&[("vpc_id", s(&id(m, "aws_vpc"))), ("route", routes(m, &["0.0.0.0/0"]))]),
            InPlace {
                config: |m| {
                    obj(&[
                        ("vpc_id", s(&id(m, "aws_vpc"))),
                        ("route", routes(m, &["0.0.0.0/0", "10.99.0.0/16"])),
                    ])
                },
                api: "ec2:CreateRoute",
                check: "route",
            },
        ),
        row(
            "aws_route_table_association",
            "aws_route_table_association.t",
            "ec2:AssociateRouteTable",
            |m| {
                obj(&[
                    ("subnet_id", s(&id(m, "aws_subnet"))),
                    ("route_table_id", s(&id(m, "aws_route_table"))),
                ])
            },
            Nothing,
        ),
        // Its egress is managed inline (authoritative); its ingress is left unmanaged, so the
        // separate rule of the next row shows there without being drift.
        row(
            "aws_security_group",
            "aws_security_group.t",
            "ec2:CreateSecurityGroup",
            |m| obj(&[("vpc_id", s(&id(m, "aws_vpc"))), ("egress", egress(&[443.0]))]),
            InPlace {
                config: |m| {
                    obj(&[("vpc_id", s(&id(m, "aws_vpc"))), ("egress", egress(&[443.0, 80.0]))])
                },
                api: "ec2:AuthorizeSecurityGroup*",
                check: "egress",
            },
        )
        .changed_later(&["ingress"]),
        row(
            "aws_security_group_rule",
            "aws_security_group_rule.t",
            "ec2:AuthorizeSecurityGroupIngress",
            |m| {
                obj(&[
                    ("type", s("ingress")),
                    ("security_group_id", s(&id(m, "aws_security_group"))),
                    ("protocol", s("tcp")),
                    ("from_port", n(6443.0)),
                    ("to_port", n(6443.0)),
                    ("cidr_blocks", list(&[s("10.0.0.0/8")])),
                ])
            },
            Nothing,
        ),
        row(
            "aws_iam_role",
            "aws_iam_role.t",
            "iam:CreateRole",
            |_| obj(&[("assume_role_policy", s(ASSUME_EC2))]),
            InPlace {
                config: |_| obj(&[("assume_role_policy", s(ASSUME_EC2_SID))]),
                api: "iam:UpdateAssumeRolePolicy",
                check: "assume_role_policy",
            },
        ),
        // PutRolePolicy both creates and changes it; adopting a policy AWS holds as planned
        // calls nothing.
        row(
            "aws_iam_role_policy",
            "aws_iam_role_policy.t",
            "iam:PutRolePolicy",
            |m| {
                obj(&[
                    ("role", s(&id(m, "aws_iam_role"))),
                    ("name", s("keys")),
                    ("policy", role_policy("node-a")),
                ])
            },
            InPlace {
                config: |m| {
                    obj(&[
                        ("role", s(&id(m, "aws_iam_role"))),
                        ("name", s("keys")),
                        ("policy", role_policy("node-b")),
                    ])
                },
                api: "iam:PutRolePolicy",
                check: "policy",
            },
        ),
        // Made without a role, which is then added in place (changing it would need a second
        // role). ListInstanceProfiles reports no tags: its tags read back from state, and the
        // TagInstanceProfile call count is what shows the tag step reached AWS.
        row(
            "aws_iam_instance_profile",
            "aws_iam_instance_profile.t",
            "iam:CreateInstanceProfile",
            |_| obj(&[]),
            InPlace {
                config: |m| obj(&[("role", s(&id(m, "aws_iam_role")))]),
                api: "iam:AddRoleToInstanceProfile",
                check: "role",
            },
        ),
        row(
            "aws_instance",
            "aws_instance.t",
            "ec2:RunInstances",
            |m| instance(m, "t3.small"),
            InPlace {
                config: |m| instance(m, "t3.medium"),
                api: "ec2:ModifyInstanceAttribute(type)",
                check: "instance_type",
            },
        ),
        row(
            "aws_ebs_volume",
            "aws_ebs_volume.t",
            "ec2:CreateVolume",
            |_| obj(&[("availability_zone", s("us-east-1a")), ("size", n(20.0))]),
            InPlace {
                config: |_| obj(&[("availability_zone", s("us-east-1a")), ("size", n(40.0))]),
                api: "ec2:ModifyVolume",
                check: "size",
            },
        ),
        row(
            "aws_volume_attachment",
            "aws_volume_attachment.t",
            "ec2:AttachVolume",
            |m| {
                obj(&[
                    ("device_name", s("/dev/sdf")),
                    ("volume_id", s(&id(m, "aws_ebs_volume"))),
                    ("instance_id", s(&id(m, "aws_instance"))),
                ])
            },
            Nothing,
        ),
        row("aws_eip", "aws_eip.t", "ec2:AllocateAddress", |_| obj(&[]), TagsOnly)
            // The NAT gateway's network interface takes the address.
            .changed_later(&["association_id", "network_interface", "private_ip"]),
        row(
            "aws_nat_gateway",
            "aws_nat_gateway.t",
            "ec2:CreateNatGateway",
            |m| {
                obj(&[
                    ("subnet_id", s(&id(m, "aws_subnet"))),
                    ("allocation_id", s(&id(m, "aws_eip"))),
                ])
            },
            TagsOnly,
        ),
        // The policy changes, not the route tables: moto adds no route for a table added by
        // ModifyVpcEndpoint (see `egress_eip_nat_gateway_endpoint_lifecycle`).
        row(
            "aws_vpc_endpoint",
            "aws_vpc_endpoint.t",
            "ec2:CreateVpcEndpoint",
            |m| {
                obj(&[
                    ("vpc_id", s(&id(m, "aws_vpc"))),
                    ("service_name", s("com.amazonaws.us-east-1.s3")),
                    ("route_table_ids", list(&[s(&id(m, "aws_route_table"))])),
                ])
            },
            InPlace {
                config: |m| {
                    obj(&[
                        ("vpc_id", s(&id(m, "aws_vpc"))),
                        ("service_name", s("com.amazonaws.us-east-1.s3")),
                        ("route_table_ids", list(&[s(&id(m, "aws_route_table"))])),
                        ("policy", allow_get("etcd")),
                    ])
                },
                api: "ec2:ModifyVpcEndpoint",
                check: "policy",
            },
        ),
        row(
            "aws_lb",
            "aws_lb.t",
            "elbv2:CreateLoadBalancer",
            |m| {
                obj(&[
                    ("internal", Value::Bool(false)),
                    ("subnets", list(&[s(&id(m, "aws_subnet"))])),
                ])
            },
            TagsOnly,
        ),
        row(
            "aws_lb_target_group",
            "aws_lb_target_group.t",
            "elbv2:CreateTargetGroup",
            |m| target_group(m, 10.0),
            InPlace {
                config: |m| target_group(m, 30.0),
                api: "elbv2:ModifyTargetGroup",
                check: "health_check",
            },
        ),
        row(
            "aws_lb_listener",
            "aws_lb_listener.t",
            "elbv2:CreateListener",
            |m| listener(m, 6443.0),
            InPlace { config: |m| listener(m, 6444.0), api: "elbv2:ModifyListener", check: "port" },
        ),
        row(
            "aws_lb_target_group_attachment",
            "aws_lb_target_group_attachment.t",
            "elbv2:RegisterTargets",
            |m| {
                obj(&[
                    ("target_group_arn", s(&id(m, "aws_lb_target_group"))),
                    ("target_id", s(&id(m, "aws_instance"))),
                    ("port", n(6443.0)),
                ])
            },
            Nothing,
        ),
        // force_destroy is state-only (not an updater): tags are its only in-place change.
        row(
            "aws_s3_bucket",
            "aws_s3_bucket.t",
            "s3:CreateBucket",
            |_| obj(&[("bucket", s(BUCKET)), ("force_destroy", Value::Bool(true))]),
            TagsOnly,
        ),
        // The etag is what a listing reports of the content (the content itself is not read).
        row(
            "aws_s3_object",
            "aws_s3_object.t",
            "s3:PutObject",
            |m| {
                obj(&[
                    ("bucket", s(&id(m, "aws_s3_bucket"))),
                    ("key", s("rows/a.txt")),
                    ("content", s("one")),
                ])
            },
            InPlace {
                config: |m| {
                    obj(&[
                        ("bucket", s(&id(m, "aws_s3_bucket"))),
                        ("key", s("rows/a.txt")),
                        ("content", s("two")),
                    ])
                },
                api: "s3:PutObject",
                check: "etag",
            },
        )
        .overwritten_on_resume(),
        row(
            "aws_s3_bucket_policy",
            "aws_s3_bucket_policy.t",
            "s3:PutBucketPolicy",
            |m| obj(&[("bucket", s(&id(m, "aws_s3_bucket"))), ("policy", allow_get("public"))]),
            InPlace {
                config: |m| {
                    obj(&[("bucket", s(&id(m, "aws_s3_bucket"))), ("policy", allow_get("shared"))])
                },
                api: "s3:PutBucketPolicy",
                check: "policy",
            },
        )
        .overwritten_on_resume(),
        row(
            "aws_s3_bucket_lifecycle_configuration",
            "aws_s3_bucket_lifecycle_configuration.t",
            "s3:PutBucketLifecycleConfiguration",
            |m| lifecycle_rules(m, 1.0),
            InPlace {
                config: |m| lifecycle_rules(m, 2.0),
                api: "s3:PutBucketLifecycleConfiguration",
                check: "rule",
            },
        )
        .overwritten_on_resume(),
    ]
}

/// What the table gets wrong about the registered types (empty when it is right).
fn problems(rows: &[Row], p: &AwsProvider) -> Vec<String> {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for r in rows {
        if !seen.insert(r.rtype) {
            out.push(format!("{}: more than one row", r.rtype));
        }
    }
    for t in p.types.keys() {
        if !seen.contains(t) {
            out.push(format!("{t}: registered without a lifecycle row"));
        }
    }
    // Stand-ins for the objects of the rows before each row: a configuration that refers to
    // a type not among them depends on a later row.
    let mut made = Made::new();
    for r in rows {
        let rtype = r.rtype;
        let Some(t) = p.types.get(rtype) else {
            out.push(format!("{rtype}: row for a type that is not registered"));
            continue;
        };
        if !r.address.starts_with(&format!("{rtype}."))
            || crate::addr::ResourceInstanceAddr::parse(r.address).is_err()
        {
            out.push(format!("{rtype}: address {} is not of this type", r.address));
        }
        if r.creates.split_once(':').is_none_or(|(svc, op)| svc.is_empty() || op.is_empty()) {
            out.push(format!("{rtype}: creates {:?} is not service:Operation", r.creates));
        }
        let mut configs = vec![(r.config)(&made)];
        if let Change::InPlace { config, .. } = r.change {
            configs.push(config(&made));
        }
        let mut missing = Vec::new();
        configs.iter().for_each(|c| missing_refs(c, &mut missing));
        for m in missing.into_iter().collect::<BTreeSet<_>>() {
            out.push(format!("{rtype}: refers to {m}, which no earlier row makes"));
        }
        made.insert(rtype, obj(&[("id", s(&format!("{rtype}-stand-in")))]));

        let fields = t.fields();
        let apis: Vec<&str> = updaters(&fields).iter().map(|u| u.api).collect();
        let tagged = t.tag_api() != TagApi::None;
        match r.change {
            Change::InPlace { api, check, .. } => {
                if !apis.contains(&api) {
                    out.push(format!(
                        "{rtype}: in-place api {api} is not among its updaters {apis:?}"
                    ));
                }
                if !fields.iter().any(|f| f.name == check) {
                    out.push(format!("{rtype}: checks {check}, which it does not declare"));
                }
            }
            Change::TagsOnly => {
                if !tagged || !t.tagged() {
                    out.push(format!("{rtype}: tags only, but the type has no tags"));
                }
                if !apis.is_empty() {
                    out.push(format!("{rtype}: tags only, but it declares updaters {apis:?}"));
                }
            }
            Change::Nothing => {
                if tagged {
                    out.push(format!("{rtype}: nothing to change, but it is tagged"));
                }
                if !apis.is_empty() {
                    out.push(format!(
                        "{rtype}: nothing to change, but it declares updaters {apis:?}"
                    ));
                }
            }
        }
    }
    out
}

#[test]
fn the_table_covers_every_type() {
    let p = AwsProvider::new();
    let table = rows();
    let found = problems(&table, &p);
    assert!(found.is_empty(), "{found:#?}");
    let mut types: Vec<&str> = table.iter().map(|r| r.rtype).collect();
    types.sort();
    let registered: Vec<&str> = p.types.keys().copied().collect();
    assert_eq!(types, registered);

    // The check can fail: a type without a row,
    let without: Vec<Row> =
        rows().into_iter().filter(|r| r.rtype != "aws_volume_attachment").collect();
    assert_eq!(
        problems(&without, &p),
        vec!["aws_volume_attachment: registered without a lifecycle row".to_string()]
    );
    // a row before the rows it depends on,
    let mut misordered = rows();
    misordered.swap(0, 1);
    assert_eq!(
        problems(&misordered, &p),
        vec!["aws_subnet: refers to aws_vpc, which no earlier row makes".to_string()]
    );
    // a tagged type with updaters claimed to have nothing to change,
    let mut untrue = rows();
    untrue[0].change = Change::Nothing;
    let found = problems(&untrue, &p);
    assert_eq!(found.len(), 2, "{found:#?}");
    assert!(found.iter().all(|f| f.starts_with("aws_vpc: nothing to change")));
    // and an in-place change through an API that is not one of the type's updaters.
    let mut wrong_api = rows();
    wrong_api[0].change = Change::InPlace {
        config: |_| obj(&[]),
        api: "ec2:ModifySubnetAttribute",
        check: "cidr_block",
    };
    assert_eq!(problems(&wrong_api, &p).len(), 1);
}

/// HTTP calls to `api` since `before`. An updater's api may name a family (`ec2:Authorize
/// SecurityGroup*`: Ingress and Egress) or say which use of a call it is
/// (`ec2:ModifyInstanceAttribute(type)`): both count the calls they stand for.
fn calls(p: &AwsProvider, before: &BTreeMap<String, u64>, api: &str) -> u64 {
    let op = api.split_once('(').map_or(api, |(op, _)| op);
    if let Some(prefix) = op.strip_suffix('*') {
        let count = |m: &BTreeMap<String, u64>| -> u64 {
            m.iter().filter(|(k, _)| k.starts_with(prefix)).map(|(_, v)| v).sum()
        };
        count(&p.call_stats()) - count(before)
    } else {
        calls_since(p, before, op)
    }
}

/// The call a tag API makes to add a tag.
fn tag_call(api: TagApi) -> &'static str {
    match api {
        TagApi::None => unreachable!("untagged types take no tags"),
        TagApi::Ec2 => "ec2:CreateTags",
        TagApi::Elbv2 => "elbv2:AddTags",
        TagApi::IamRole => "iam:TagRole",
        TagApi::IamInstanceProfile => "iam:TagInstanceProfile",
        TagApi::S3Bucket => "s3:PutBucketTagging",
    }
}

/// A row's configuration from what is made so far; every type it refers to must be made.
fn configured(rtype: &str, config: fn(&Made) -> Value, made: &Made) -> Value {
    let v = config(made);
    let mut missing = Vec::new();
    missing_refs(&v, &mut missing);
    assert!(missing.is_empty(), "{rtype}: refers to {missing:?}, not made yet");
    v
}

fn without(v: &Value, keys: &[&str]) -> Value {
    let mut m = v.as_map().cloned().unwrap_or_default();
    for k in keys {
        m.remove(*k);
    }
    Value::Map(m)
}

/// Create, plan, resume, change in place, tag: one row. Returns the object's newest value and
/// the configuration it was last applied with.
async fn through_its_steps(p: &AwsProvider, r: &Row, made: &Made) -> (Value, Value) {
    let rt = r.rtype;
    eprintln!("{rt}: create");
    let mut config = configured(rt, r.config, made);
    let before = p.call_stats();
    let v = create(p, rt, r.address, config.clone())
        .await
        .unwrap_or_else(|e| panic!("{rt}: create failed: {e:?}"));
    assert_eq!(calls(p, &before, r.creates), 1, "{rt}: {} calls", r.creates);
    let id = attr_str(&v, "id");
    assert!(!id.is_empty(), "{rt}: empty id in {v:?}");
    assert!(
        plan_is_noop(p, rt, &v, config.clone()),
        "{rt}: the plan right after apply is not empty"
    );

    eprintln!("{rt}: create again (resuming)");
    let before = p.call_stats();
    let resumed = create_with_token(p, rt, r.address, "tok-1", config.clone()).await;
    let expected = match r.resume {
        Resume::Overwrites => 1,
        _ => 0,
    };
    assert_eq!(
        calls(p, &before, r.creates),
        expected,
        "{rt}: {} calls when resuming ({:?})",
        r.creates,
        r.resume
    );
    let mut v = match resumed {
        Err(e) => panic!("{rt}: resumed create failed: {e:?}"),
        Ok(again) => {
            assert_eq!(attr_str(&again, "id"), id, "{rt}: resuming made another object");
            assert!(
                plan_is_noop(p, rt, &again, config.clone()),
                "{rt}: the plan after resuming is not empty"
            );
            again
        }
    };

    if let Change::InPlace { config: changed, api, check } = r.change {
        eprintln!("{rt}: change in place ({api})");
        let changed = configured(rt, changed, made);
        // What the change plans for `check`: the changed configuration, normalized the way
        // `update` applies it (defaults filled, documents canonical, computed etags).
        let mut proposed = v.as_map().cloned().unwrap_or_default();
        proposed.extend(changed.as_map().cloned().unwrap_or_default());
        let planned = p
            .plan(rt, Some(&v), Value::Map(proposed))
            .unwrap_or_else(|e| panic!("{rt}: plan of the change failed: {e:?}"))
            .planned;
        let want = planned.get_attr(check);
        assert!(
            want.is_some() && v.get_attr(check) != want,
            "{rt}: the changed configuration does not change {check} ({want:?})"
        );
        let before = p.call_stats();
        let v2 = update(p, rt, &v, changed.clone()).await;
        assert_eq!(attr_str(&v2, "id"), id, "{rt}: the change replaced the object");
        assert!(calls(p, &before, api) >= 1, "{rt}: {api} was not called");
        if api.split_once('(').map_or(api, |(op, _)| op) != r.creates {
            assert_eq!(calls(p, &before, r.creates), 0, "{rt}: the change called {}", r.creates);
        }
        assert_eq!(v2.get_attr(check), want, "{rt}: {check} after the change");
        assert!(
            plan_is_noop(p, rt, &v2, changed.clone()),
            "{rt}: the plan after the change is not empty"
        );
        v = v2;
        config = changed;
    }

    if p.types[rt].tagged() {
        eprintln!("{rt}: tag in place");
        let tags = obj(&[("lifecycle", s("row"))]);
        let mut tagged = config.as_map().cloned().unwrap_or_default();
        tagged.insert("tags".into(), tags.clone());
        let tagged = Value::Map(tagged);
        let before = p.call_stats();
        let v2 = update(p, rt, &v, tagged.clone()).await;
        assert_eq!(attr_str(&v2, "id"), id, "{rt}: tagging replaced the object");
        assert_eq!(attr(&v2, "tags"), tags, "{rt}: tags after tagging");
        let call = tag_call(p.types[rt].tag_api());
        assert!(calls(p, &before, call) >= 1, "{rt}: {call} was not called");
        assert_eq!(calls(p, &before, r.creates), 0, "{rt}: tagging called {}", r.creates);
        assert!(
            plan_is_noop(p, rt, &v2, tagged.clone()),
            "{rt}: the plan after tagging is not empty"
        );
        v = v2;
        config = tagged;
    }
    (v, config)
}

#[tokio::test]
async fn every_type_through_its_lifecycle() {
    let started = Instant::now();
    let moto = Moto::start();
    let p = moto.provider("stack-lifecycle").await;
    let table = rows();
    let mut made = Made::new();
    let mut configs: BTreeMap<&str, Value> = BTreeMap::new();
    for r in &table {
        let t = Instant::now();
        let (v, config) = through_its_steps(&p, r, &made).await;
        eprintln!("{}: made and changed in {:?}", r.rtype, t.elapsed());
        made.insert(r.rtype, v);
        configs.insert(r.rtype, config);
    }

    // Refresh, one batched read per type: each object as its row left it, and nothing to plan.
    for r in &table {
        let rt = r.rtype;
        let now = read(&p, rt, &[(r.address, &made[rt])]).await;
        let now = now[0].clone().unwrap_or_else(|| panic!("{rt}: refresh does not find it"));
        assert_eq!(
            without(&now, r.changed_later),
            without(&made[rt], r.changed_later),
            "{rt}: refresh differs from the value apply left"
        );
        assert!(plan_is_noop(&p, rt, &now, configs[rt].clone()), "{rt}: drift after refresh");
    }
    // The same through one whole refresh, where related types share their Describes.
    let batches: Vec<TypeBatch> = table
        .iter()
        .map(|r| TypeBatch {
            rtype: r.rtype.to_string(),
            requests: vec![ReadRequest { address: addr(r.address), prior: made[r.rtype].clone() }],
        })
        .collect();
    let refreshed = p.read_types(&batches).await;
    for (r, got) in table.iter().zip(refreshed) {
        let rt = r.rtype;
        let got = got.unwrap_or_else(|e| panic!("{rt}: whole refresh failed: {e:?}"));
        let now =
            got[0].clone().unwrap_or_else(|| panic!("{rt}: the whole refresh does not find it"));
        assert_eq!(
            without(&now, r.changed_later),
            without(&made[rt], r.changed_later),
            "{rt}: the whole refresh differs from the value apply left"
        );
    }

    // Delete, dependents first: each object is gone, and nothing tagged with the stack is left.
    for r in table.iter().rev() {
        let rt = r.rtype;
        eprintln!("{rt}: delete");
        p.delete(rt, &made[rt]).await.unwrap_or_else(|e| panic!("{rt}: delete failed: {e:?}"));
        assert_eq!(
            read(&p, rt, &[(r.address, &made[rt])]).await,
            vec![None],
            "{rt}: still there after delete"
        );
    }
    for r in &table {
        let rt = r.rtype;
        match p.discover(rt).await {
            Ok(Discovery::Marked(left)) => {
                assert!(left.is_empty(), "{rt}: left behind {left:?}")
            }
            Ok(Discovery::FromConfiguration) => {}
            other => panic!("{rt}: discover answers {other:?}"),
        }
    }
    eprintln!(
        "{} rows through their lifecycle in {:?}; calls: {:?}",
        table.len(),
        started.elapsed(),
        p.call_stats()
    );
}
