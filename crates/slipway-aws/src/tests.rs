//! Provider tests against a real moto server (see `testing`). Each test starts its own server.

/// One row per registered type, through its whole lifecycle.
mod lifecycle_table;

use aws_sdk_ec2::types::{Filter, IpPermission, IpRange, Tag};

use super::testing::*;
use crate::provider::Provider;
use crate::value::Value;

fn rule(proto: &str, from: f64, to: f64, cidrs: &[&str]) -> Value {
    obj(&[
        ("protocol", s(proto)),
        ("from_port", n(from)),
        ("to_port", n(to)),
        ("cidr_blocks", list(&cidrs.iter().map(|c| s(c)).collect::<Vec<_>>())),
    ])
}

async fn count_tagged_vpcs(p: &super::AwsProvider, stack: &str) -> usize {
    let cx = p.context().unwrap();
    cx.clients
        .ec2
        .describe_vpcs()
        .filters(Filter::builder().name("tag:slipway:stack").values(stack).build())
        .send()
        .await
        .unwrap()
        .vpcs()
        .len()
}

#[test]
fn registered_without_network_or_credentials() {
    let mut reg = crate::provider::ProviderRegistry::default();
    reg.register(std::sync::Arc::new(crate::AwsProvider::new()));
    let schema = reg.resource_schema("aws_instance").expect("aws_instance");
    assert!(schema.block.attributes["ami"].force_new);
    assert!(schema.block.attributes["subnet_id"].force_new);
    assert!(schema.block.attributes["private_ip"].force_new);
    assert!(!schema.block.attributes["instance_type"].force_new);
    let vpc = reg.resource_schema("aws_vpc").unwrap();
    assert!(vpc.block.attributes["cidr_block"].force_new);
    assert!(vpc.block.attributes["tags_all"].computed);
    let subnet = reg.resource_schema("aws_subnet").unwrap();
    assert!(subnet.block.attributes["cidr_block"].force_new);
    assert!(subnet.block.attributes["availability_zone"].force_new);
    assert!(reg.data_schema("aws_ami").is_some());
    assert!(reg.data_schema("aws_availability_zones").is_some());
}

/// The declaration table is complete: every type lists its fields (the published schema is
/// exactly them), every settable field either replaces the object or names the updater that
/// changes it in place, and a type with tags names the API that carries them.
#[test]
fn every_settable_field_forces_replacement_or_has_an_updater() {
    use super::declare::{Change, Identity, TagApi};
    let p = super::AwsProvider::new();
    let mut problems = Vec::new();
    for (name, t) in &p.types {
        let fields = t.fields();
        if fields.is_empty() {
            problems.push(format!("{name}: declares no fields"));
        }
        let schema = t.schema();
        let mut declared: Vec<&str> = fields.iter().map(|f| f.name).collect();
        declared.sort();
        let mut published: Vec<&str> = schema.names().collect();
        published.sort();
        if declared != published {
            problems.push(format!("{name}: schema {published:?} is not its fields {declared:?}"));
        }
        for f in &fields {
            if matches!(f.change, Change::Undeclared) {
                problems.push(format!(
                    "{name}.{}: settable, but neither force-new nor updated by any API",
                    f.name
                ));
            }
        }
        // Tags are updated through the type's tag API; an untagged type has no tags to update
        // and must be found some other way than by them.
        let full = super::resource::full_schema(t.as_ref());
        match (t.tag_api(), full.attributes.contains_key("tags")) {
            (TagApi::None, true) => problems.push(format!("{name}: tags without a tag API")),
            (TagApi::None, false) if matches!(t.identity(), Identity::Tags) => {
                problems.push(format!("{name}: untagged but identified by tags"))
            }
            _ => {}
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    // The check can fail: an optional field with no updater is reported.
    let bare = super::declare::attr(
        "x",
        crate::provider::AttributeSchema::optional(crate::value::Type::String),
    );
    assert!(matches!(bare.change, Change::Undeclared));
}

#[test]
fn a_create_request_is_built_from_the_declared_writers() {
    use super::declare::{Field, build};
    use super::resource::{text, texts};
    use crate::provider::AttributeSchema as A;
    use crate::value::Type;
    // A request that records what each writer set, in declaration order.
    type F = Field<(), Vec<String>>;
    let fields = vec![
        F::attr("cidr", A::required(Type::String)).write(|mut b, v| {
            b.push(format!("cidr={:?}", text(v)));
            b
        }),
        F::attr("zones", A::optional(Type::List(Box::new(Type::String)))).write(|mut b, v| {
            b.push(format!("zones={:?}", texts(v)));
            b
        }),
        F::attr("name", A::optional(Type::String)).write(|mut b, v| {
            b.push(format!("name={:?}", text(v)));
            b
        }),
        // No writer: create cannot set it, so it is not in the request.
        F::attr("dns", A::optional(Type::Bool)),
    ];
    let planned = obj(&[
        ("cidr", s("10.0.0.0/16")),
        ("zones", list(&[s("a"), s("b")])),
        ("name", s("")),
        ("dns", Value::Bool(true)),
    ]);
    assert_eq!(
        build(&fields, Vec::new(), &planned),
        ["cidr=Some(\"10.0.0.0/16\")", "zones=Some([\"a\", \"b\"])", "name=None"],
        "every writer runs once, in order, with the planned value; an empty string is unset"
    );
    // An attribute the plan leaves out is written as unset, not skipped; an empty list is
    // left out of the request like a null one.
    let sparse = obj(&[("cidr", s("10.1.0.0/16")), ("zones", list(&[]))]);
    assert_eq!(
        build(&fields, Vec::new(), &sparse),
        ["cidr=Some(\"10.1.0.0/16\")", "zones=None", "name=None"]
    );
}

#[tokio::test]
async fn unconfigured_provider_says_so() {
    let p = super::AwsProvider::new();
    let err = p.read("aws_vpc", &[]).await.unwrap_err();
    assert!(err.message.contains("before it is configured"), "{err:?}");
}

#[tokio::test]
async fn network_create_read_update_drift_delete() {
    let moto = Moto::start();
    let p =
        moto.provider_with("stack-net", &[("default_tags", obj(&[("team", s("infra"))]))]).await;

    // --- create ---
    let vpc_cfg = obj(&[
        ("cidr_block", s("10.0.0.0/16")),
        ("enable_dns_hostnames", Value::Bool(true)),
        ("tags", obj(&[("env", s("test"))])),
    ]);
    let vpc = create(&p, "aws_vpc", "aws_vpc.main", vpc_cfg.clone()).await.unwrap();
    let vpc_id = attr_str(&vpc, "id");
    assert!(vpc_id.starts_with("vpc-"));
    let tags_all = attr(&vpc, "tags_all");
    assert_eq!(attr_str(&tags_all, "slipway:stack"), "stack-net");
    assert_eq!(attr_str(&tags_all, "slipway:address"), "aws_vpc.main");
    assert_eq!(attr_str(&tags_all, "Name"), "main");
    assert_eq!(attr_str(&tags_all, "team"), "infra");
    assert_eq!(attr(&vpc, "tags"), obj(&[("env", s("test"))]));
    assert!(attr_str(&vpc, "arn").contains(&vpc_id));

    let mut subnets = Vec::new();
    for (i, az) in ["us-east-1a", "us-east-1b", "us-east-1c"].iter().enumerate() {
        let cfg = obj(&[
            ("vpc_id", s(&vpc_id)),
            ("cidr_block", s(&format!("10.0.{i}.0/24"))),
            ("availability_zone", s(az)),
        ]);
        let sn = create(&p, "aws_subnet", &format!("aws_subnet.private[{i}]"), cfg.clone())
            .await
            .unwrap();
        assert_eq!(attr_str(&attr(&sn, "tags_all"), "Name"), format!("private-{i}"));
        subnets.push((format!("aws_subnet.private[{i}]"), sn, cfg));
    }

    let igw_cfg = obj(&[("vpc_id", s(&vpc_id))]);
    let igw = create(&p, "aws_internet_gateway", "aws_internet_gateway.gw", igw_cfg.clone())
        .await
        .unwrap();
    let igw_id = attr_str(&igw, "id");
    assert_eq!(attr_str(&igw, "vpc_id"), vpc_id);

    let rt_cfg = obj(&[
        ("vpc_id", s(&vpc_id)),
        ("route", list(&[obj(&[("cidr_block", s("0.0.0.0/0")), ("gateway_id", s(&igw_id))])])),
    ]);
    let rt = create(&p, "aws_route_table", "aws_route_table.public", rt_cfg.clone()).await.unwrap();
    let rt_id = attr_str(&rt, "id");
    let routes = attr(&rt, "route");
    assert_eq!(routes.as_list().unwrap().len(), 1, "{routes:?}");

    let subnet0 = attr_str(&subnets[0].1, "id");
    let rta_cfg = obj(&[("subnet_id", s(&subnet0)), ("route_table_id", s(&rt_id))]);
    let rta =
        create(&p, "aws_route_table_association", "aws_route_table_association.a", rta_cfg.clone())
            .await
            .unwrap();
    assert!(attr_str(&rta, "id").starts_with("rtbassoc-"));

    let sg_cfg = obj(&[
        ("vpc_id", s(&vpc_id)),
        (
            "ingress",
            list(&[
                rule("tcp", 22.0, 22.0, &["10.0.0.0/8", "192.168.0.0/16"]),
                obj(&[
                    ("protocol", s("all")),
                    ("from_port", n(0.0)),
                    ("to_port", n(0.0)),
                    ("self", Value::Bool(true)),
                ]),
            ]),
        ),
    ]);
    let sg =
        create(&p, "aws_security_group", "aws_security_group.nodes", sg_cfg.clone()).await.unwrap();
    let sg_id = attr_str(&sg, "id");
    // Two CIDRs and self: three canonical rules.
    assert_eq!(attr(&sg, "ingress").as_list().unwrap().len(), 3, "{sg:?}");

    // A separate rule on a group without inline rules (inline rules are authoritative, so a
    // separate rule on `nodes` would be revoked by the next update of `nodes`).
    let lb_sg =
        create(&p, "aws_security_group", "aws_security_group.lb", obj(&[("vpc_id", s(&vpc_id))]))
            .await
            .unwrap();
    let lb_sg_id = attr_str(&lb_sg, "id");
    let rule_cfg = obj(&[
        ("type", s("ingress")),
        ("security_group_id", s(&lb_sg_id)),
        ("protocol", s("tcp")),
        ("from_port", n(6443.0)),
        ("to_port", n(6443.0)),
        ("cidr_blocks", list(&[s("0.0.0.0/0")])),
    ]);
    let sgr =
        create(&p, "aws_security_group_rule", "aws_security_group_rule.api", rule_cfg.clone())
            .await
            .unwrap();
    assert!(attr_str(&sgr, "id").starts_with("sgrule-"));

    // --- batched read: one Describe per type, whatever the count ---
    let before = p.call_stats();
    let priors: Vec<(&str, &Value)> = subnets.iter().map(|(a, v, _)| (a.as_str(), v)).collect();
    let read_subnets = read(&p, "aws_subnet", &priors).await;
    assert_eq!(calls_since(&p, &before, "ec2:DescribeSubnets"), 1);
    for ((_, prior, cfg), now) in subnets.iter().zip(&read_subnets) {
        let now = now.as_ref().expect("subnet exists");
        assert_eq!(now, prior);
        assert!(plan_is_noop(&p, "aws_subnet", now, cfg.clone()));
    }
    let read_vpc = read(&p, "aws_vpc", &[("aws_vpc.main", &vpc)]).await;
    assert!(plan_is_noop(&p, "aws_vpc", read_vpc[0].as_ref().unwrap(), vpc_cfg.clone()));
    let read_rt = read(&p, "aws_route_table", &[("aws_route_table.public", &rt)]).await;
    assert!(plan_is_noop(&p, "aws_route_table", read_rt[0].as_ref().unwrap(), rt_cfg.clone()));
    let read_sg = read(&p, "aws_security_group", &[("aws_security_group.nodes", &sg)]).await;
    let read_sg = read_sg[0].clone().unwrap();
    assert!(plan_is_noop(&p, "aws_security_group", &read_sg, sg_cfg.clone()));
    // Unmanaged inline rules (none configured) plan as no-op though the separate rule exists.
    let read_lb_sg = read(&p, "aws_security_group", &[("aws_security_group.lb", &lb_sg)]).await;
    let read_lb_sg = read_lb_sg[0].clone().unwrap();
    assert_eq!(attr(&read_lb_sg, "ingress").as_list().unwrap().len(), 1);
    assert!(plan_is_noop(&p, "aws_security_group", &read_lb_sg, obj(&[("vpc_id", s(&vpc_id))])));
    let read_igw = read(&p, "aws_internet_gateway", &[("aws_internet_gateway.gw", &igw)]).await;
    assert!(plan_is_noop(
        &p,
        "aws_internet_gateway",
        read_igw[0].as_ref().unwrap(),
        igw_cfg.clone()
    ));
    let before = p.call_stats();
    let read_rules =
        read(&p, "aws_security_group_rule", &[("aws_security_group_rule.api", &sgr)]).await;
    assert_eq!(read_rules[0].as_ref(), Some(&sgr));
    assert_eq!(calls_since(&p, &before, "ec2:DescribeSecurityGroups"), 1);
    let read_rta =
        read(&p, "aws_route_table_association", &[("aws_route_table_association.a", &rta)]).await;
    assert_eq!(read_rta[0].as_ref(), Some(&rta));

    // --- update in place, with the narrow APIs ---
    let before = p.call_stats();
    let vpc2 = update(
        &p,
        "aws_vpc",
        &vpc,
        obj(&[
            ("cidr_block", s("10.0.0.0/16")),
            ("enable_dns_hostnames", Value::Bool(true)),
            ("tags", obj(&[("owner", s("me"))])),
        ]),
    )
    .await;
    assert_eq!(attr_str(&vpc2, "id"), vpc_id);
    assert_eq!(attr(&vpc2, "tags"), obj(&[("owner", s("me"))]));
    assert_eq!(calls_since(&p, &before, "ec2:CreateTags"), 1);
    assert_eq!(calls_since(&p, &before, "ec2:DeleteTags"), 1);
    assert_eq!(calls_since(&p, &before, "ec2:ModifyVpcAttribute"), 0);

    let (sa, s0, _) = &subnets[0];
    let s0b =
        update(&p, "aws_subnet", s0, obj(&[("map_public_ip_on_launch", Value::Bool(true))])).await;
    assert_eq!(attr(&s0b, "map_public_ip_on_launch"), Value::Bool(true));
    let _ = sa;

    let sg_cfg2 = obj(&[
        ("vpc_id", s(&vpc_id)),
        (
            "ingress",
            list(&[
                rule("tcp", 22.0, 22.0, &["10.0.0.0/8"]),
                rule("tcp", 443.0, 443.0, &["0.0.0.0/0"]),
            ]),
        ),
    ]);
    let before = p.call_stats();
    let sg2 = update(&p, "aws_security_group", &read_sg, sg_cfg2.clone()).await;
    // One Revoke for the two rules dropped, one Authorize for the new one.
    assert_eq!(calls_since(&p, &before, "ec2:RevokeSecurityGroupIngress"), 1);
    assert_eq!(calls_since(&p, &before, "ec2:AuthorizeSecurityGroupIngress"), 1);
    assert_eq!(calls_since(&p, &before, "ec2:DeleteSecurityGroup"), 0);
    assert_eq!(attr(&sg2, "ingress").as_list().unwrap().len(), 2, "{sg2:?}");
    assert!(plan_is_noop(&p, "aws_security_group", &sg2, sg_cfg2.clone()));

    // --- drift made behind slipway's back ---
    let cx = p.context().unwrap();
    let ec2 = &cx.clients.ec2;
    ec2.authorize_security_group_ingress()
        .group_id(&sg_id)
        .ip_permissions(
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(3306)
                .to_port(3306)
                .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    ec2.create_tags()
        .resources(&subnet0)
        .tags(Tag::builder().key("env").value("hacked").build())
        .send()
        .await
        .unwrap();
    ec2.delete_route()
        .route_table_id(&rt_id)
        .destination_cidr_block("0.0.0.0/0")
        .send()
        .await
        .unwrap();

    let sg3 = read(&p, "aws_security_group", &[("aws_security_group.nodes", &sg2)]).await[0]
        .clone()
        .unwrap();
    assert_eq!(attr(&sg3, "ingress").as_list().unwrap().len(), 3);
    assert!(!plan_is_noop(&p, "aws_security_group", &sg3, sg_cfg2.clone()));
    // Applying the plan removes the rule added outside.
    let sg4 = update(&p, "aws_security_group", &sg3, sg_cfg2.clone()).await;
    assert_eq!(attr(&sg4, "ingress"), attr(&sg2, "ingress"));

    let s0c = read(&p, "aws_subnet", &[(sa.as_str(), &s0b)]).await[0].clone().unwrap();
    assert_eq!(attr(&s0c, "tags"), obj(&[("env", s("hacked"))]));
    assert_ne!(s0c, s0b);

    let rt2 =
        read(&p, "aws_route_table", &[("aws_route_table.public", &rt)]).await[0].clone().unwrap();
    assert_eq!(attr(&rt2, "route"), list(&[]));
    let rt3 = update(&p, "aws_route_table", &rt2, rt_cfg.clone()).await;
    assert_eq!(attr(&rt3, "route"), attr(&rt, "route"));

    // The separate rule is gone once revoked outside.
    ec2.revoke_security_group_ingress()
        .group_id(&lb_sg_id)
        .ip_permissions(
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(6443)
                .to_port(6443)
                .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    let gone = read(&p, "aws_security_group_rule", &[("aws_security_group_rule.api", &sgr)]).await;
    assert_eq!(gone[0], None);

    // --- delete (dependents first, as the engine orders it) ---
    p.delete("aws_security_group_rule", &sgr).await.unwrap();
    p.delete("aws_route_table_association", &rta).await.unwrap();
    p.delete("aws_route_table", &rt3).await.unwrap();
    p.delete("aws_internet_gateway", &igw).await.unwrap();
    p.delete("aws_security_group", &sg4).await.unwrap();
    p.delete("aws_security_group", &lb_sg).await.unwrap();
    for (_, sn, _) in &subnets {
        p.delete("aws_subnet", sn).await.unwrap();
    }
    p.delete("aws_vpc", &vpc2).await.unwrap();
    // Deleting again is fine: already gone.
    p.delete("aws_vpc", &vpc2).await.unwrap();

    assert_eq!(read(&p, "aws_vpc", &[("aws_vpc.main", &vpc2)]).await, vec![None]);
    assert_eq!(read(&p, "aws_subnet", &priors).await, vec![None, None, None]);
    assert_eq!(
        read(&p, "aws_route_table_association", &[("aws_route_table_association.a", &rta)]).await,
        vec![None]
    );
    assert_eq!(count_tagged_vpcs(&p, "stack-net").await, 0);
    // For the record (run with --nocapture): what the whole lifecycle cost.
    eprintln!("network lifecycle call stats: {:?}", p.call_stats());
}

#[tokio::test]
async fn network_create_adopts_instead_of_duplicating() {
    let moto = Moto::start();
    let p = moto.provider("stack-adopt").await;
    let other = moto.provider("stack-other").await;
    let cfg = obj(&[("cidr_block", s("10.1.0.0/16"))]);
    let a = create(&p, "aws_vpc", "aws_vpc.main", cfg.clone()).await.unwrap();
    // Another stack's object at the same address is not ours to adopt.
    let o = create(&other, "aws_vpc", "aws_vpc.main", cfg.clone()).await.unwrap();
    assert_ne!(attr_str(&a, "id"), attr_str(&o, "id"));
    // A rerun after a kill between CreateVpc and the state write: same address, same token.
    let before = p.call_stats();
    let b = create(&p, "aws_vpc", "aws_vpc.main", cfg.clone()).await.unwrap();
    assert_eq!(attr_str(&a, "id"), attr_str(&b, "id"));
    assert_eq!(calls_since(&p, &before, "ec2:CreateVpc"), 0);
    assert_eq!(count_tagged_vpcs(&p, "stack-adopt").await, 1);

    // Untagged kinds adopt by identity.
    let vpc_id = attr_str(&a, "id");
    let sn = create(
        &p,
        "aws_subnet",
        "aws_subnet.a",
        obj(&[("vpc_id", s(&vpc_id)), ("cidr_block", s("10.1.1.0/24"))]),
    )
    .await
    .unwrap();
    let rt_cfg = obj(&[("vpc_id", s(&vpc_id))]);
    let rt = create(&p, "aws_route_table", "aws_route_table.r", rt_cfg.clone()).await.unwrap();
    let rt_again = create(&p, "aws_route_table", "aws_route_table.r", rt_cfg).await.unwrap();
    assert_eq!(attr_str(&rt, "id"), attr_str(&rt_again, "id"));
    let rta_cfg =
        obj(&[("subnet_id", s(&attr_str(&sn, "id"))), ("route_table_id", s(&attr_str(&rt, "id")))]);
    let x =
        create(&p, "aws_route_table_association", "aws_route_table_association.a", rta_cfg.clone())
            .await
            .unwrap();
    let before = p.call_stats();
    let y = create(&p, "aws_route_table_association", "aws_route_table_association.a", rta_cfg)
        .await
        .unwrap();
    assert_eq!(attr_str(&x, "id"), attr_str(&y, "id"));
    assert_eq!(calls_since(&p, &before, "ec2:AssociateRouteTable"), 0);

    let sg =
        create(&p, "aws_security_group", "aws_security_group.s", obj(&[("vpc_id", s(&vpc_id))]))
            .await
            .unwrap();
    let sg_again =
        create(&p, "aws_security_group", "aws_security_group.s", obj(&[("vpc_id", s(&vpc_id))]))
            .await
            .unwrap();
    assert_eq!(attr_str(&sg, "id"), attr_str(&sg_again, "id"));
    let rule_cfg = obj(&[
        ("type", s("ingress")),
        ("security_group_id", s(&attr_str(&sg, "id"))),
        ("protocol", s("tcp")),
        ("from_port", n(2379.0)),
        ("to_port", n(2380.0)),
        ("self", Value::Bool(true)),
    ]);
    let r1 =
        create(&p, "aws_security_group_rule", "aws_security_group_rule.etcd", rule_cfg.clone())
            .await
            .unwrap();
    let before = p.call_stats();
    let r2 = create(&p, "aws_security_group_rule", "aws_security_group_rule.etcd", rule_cfg)
        .await
        .unwrap();
    assert_eq!(r1, r2);
    assert_eq!(calls_since(&p, &before, "ec2:AuthorizeSecurityGroupIngress"), 0);
}

#[tokio::test]
async fn network_errors_are_fatal_and_name_the_aws_code() {
    let moto = Moto::start();
    let p = moto.provider("stack-err").await;
    let err = create(&p, "aws_vpc", "aws_vpc.bad", obj(&[("cidr_block", s("10.0.0.0/33"))]))
        .await
        .unwrap_err();
    assert!(!err.retryable, "{err:?}");
    assert!(err.message.contains("ec2:CreateVpc"), "{err:?}");
    assert!(err.message.contains("InvalidParameterValue"), "{err:?}");

    let err = create(
        &p,
        "aws_subnet",
        "aws_subnet.bad",
        obj(&[("vpc_id", s("vpc-00000000")), ("cidr_block", s("10.0.0.0/24"))]),
    )
    .await
    .unwrap_err();
    assert!(!err.retryable, "{err:?}");
    assert!(err.message.contains("InvalidVpcID.NotFound"), "{err:?}");
    let stats = p.call_stats();
    // Fatal errors are not retried.
    assert_eq!(stats.get("ec2:CreateSubnet"), Some(&1), "{stats:?}");
}

#[tokio::test]
async fn data_sources_read_once() {
    let moto = Moto::start();
    let p = moto.provider("stack-data").await;
    let azs =
        p.read_data("aws_availability_zones", &obj(&[("state", s("available"))])).await.unwrap();
    let names = attr(&azs, "names");
    assert!(names.as_list().unwrap().len() >= 3, "{azs:?}");
    assert_eq!(names.as_list().unwrap()[0], s("us-east-1a"));

    let ami = p
        .read_data(
            "aws_ami",
            &obj(&[
                ("owners", list(&[s("amazon")])),
                ("most_recent", Value::Bool(true)),
                (
                    "filter",
                    list(&[obj(&[
                        ("name", s("name")),
                        ("values", list(&[s("al2023-ami-*-x86_64")])),
                    ])]),
                ),
            ]),
        )
        .await
        .unwrap();
    assert!(attr_str(&ami, "id").starts_with("ami-"), "{ami:?}");
    assert!(attr_str(&ami, "name").starts_with("al2023-ami-"), "{ami:?}");
    let stats = p.call_stats();
    assert_eq!(stats.get("ec2:DescribeImages"), Some(&1));
    let err = p
        .read_data(
            "aws_ami",
            &obj(&[
                ("owners", list(&[s("amazon")])),
                (
                    "filter",
                    list(&[obj(&[("name", s("name")), ("values", list(&[s("no-such-*")]))])]),
                ),
            ]),
        )
        .await
        .unwrap_err();
    assert!(err.message.contains("no AMI matches"), "{err:?}");
}

/// A VPC, subnet and security group for instance tests.
async fn instance_network(p: &super::AwsProvider) -> (String, String, String) {
    let vpc = create(p, "aws_vpc", "aws_vpc.main", obj(&[("cidr_block", s("10.9.0.0/16"))]))
        .await
        .unwrap();
    let vpc_id = attr_str(&vpc, "id");
    let sn = create(
        p,
        "aws_subnet",
        "aws_subnet.a",
        obj(&[
            ("vpc_id", s(&vpc_id)),
            ("cidr_block", s("10.9.1.0/24")),
            ("availability_zone", s("us-east-1a")),
        ]),
    )
    .await
    .unwrap();
    let sg =
        create(p, "aws_security_group", "aws_security_group.nodes", obj(&[("vpc_id", s(&vpc_id))]))
            .await
            .unwrap();
    (vpc_id, attr_str(&sn, "id"), attr_str(&sg, "id"))
}

fn instance_cfg(subnet: &str, sg: &str, ip: &str) -> Value {
    obj(&[
        ("ami", s(AMI)),
        ("instance_type", s("t3.small")),
        ("subnet_id", s(subnet)),
        ("private_ip", s(ip)),
        ("vpc_security_group_ids", list(&[s(sg)])),
        ("user_data", s("#!/bin/sh\necho hello\n")),
        ("root_block_device", obj(&[("volume_size", n(30.0)), ("volume_type", s("gp3"))])),
        ("tags", obj(&[("role", s("control-plane"))])),
    ])
}

#[tokio::test]
async fn instance_create_read_update_drift_delete() {
    let moto = Moto::start();
    let p = moto.provider("stack-inst").await;
    let (vpc_id, subnet, sg) = instance_network(&p).await;

    let mut instances = Vec::new();
    for i in 0..3 {
        let cfg = instance_cfg(&subnet, &sg, &format!("10.9.1.{}", 10 + i));
        let inst = create(&p, "aws_instance", &format!("aws_instance.cp[{i}]"), cfg.clone())
            .await
            .unwrap();
        assert!(attr_str(&inst, "id").starts_with("i-"));
        assert_eq!(attr_str(&inst, "private_ip"), format!("10.9.1.{}", 10 + i));
        assert_eq!(attr_str(&inst, "instance_state"), "running");
        assert!(attr_str(&inst, "arn").ends_with(&attr_str(&inst, "id")));
        assert_eq!(attr_str(&attr(&inst, "metadata_options"), "http_tokens"), "required");
        assert_eq!(attr(&inst, "user_data_sha256").as_str().map(str::len), Some(64));
        assert!(plan_is_noop(&p, "aws_instance", &inst, cfg.clone()));
        instances.push((format!("aws_instance.cp[{i}]"), inst, cfg));
    }

    // Batched read: one DescribeInstances for three instances.
    let before = p.call_stats();
    let priors: Vec<(&str, &Value)> = instances.iter().map(|(a, v, _)| (a.as_str(), v)).collect();
    let now = read(&p, "aws_instance", &priors).await;
    assert_eq!(calls_since(&p, &before, "ec2:DescribeInstances"), 1);
    for ((_, prior, cfg), now) in instances.iter().zip(&now) {
        let now = now.as_ref().unwrap();
        assert_eq!(now, prior);
        assert!(plan_is_noop(&p, "aws_instance", now, cfg.clone()));
    }

    // Update in place: security groups and tags (ModifyInstanceAttribute, CreateTags), then
    // instance type (stop, modify, start).
    let sg2 = attr_str(
        &create(
            &p,
            "aws_security_group",
            "aws_security_group.extra",
            obj(&[("vpc_id", s(&vpc_id))]),
        )
        .await
        .unwrap(),
        "id",
    );
    let (a0, i0, cfg0) = &instances[0];
    let mut cfg = cfg0.as_map().unwrap().clone();
    cfg.insert("vpc_security_group_ids".into(), list(&[s(&sg), s(&sg2)]));
    cfg.insert("instance_type".into(), s("t3.medium"));
    cfg.insert("tags".into(), obj(&[("role", s("worker"))]));
    let before = p.call_stats();
    let i0b = update(&p, "aws_instance", i0, Value::Map(cfg.clone())).await;
    assert_eq!(attr_str(&i0b, "id"), attr_str(i0, "id"));
    assert_eq!(attr_str(&i0b, "instance_type"), "t3.medium");
    assert_eq!(attr(&i0b, "vpc_security_group_ids").as_list().unwrap().len(), 2);
    assert_eq!(attr(&i0b, "tags"), obj(&[("role", s("worker"))]));
    assert_eq!(calls_since(&p, &before, "ec2:ModifyInstanceAttribute"), 2);
    assert_eq!(calls_since(&p, &before, "ec2:RunInstances"), 0);
    assert_eq!(calls_since(&p, &before, "ec2:TerminateInstances"), 0);
    assert!(plan_is_noop(&p, "aws_instance", &i0b, Value::Map(cfg)));

    // Drift: a tag changed and an instance terminated outside slipway.
    let cx = p.context().unwrap();
    let id1 = attr_str(&instances[1].1, "id");
    cx.clients
        .ec2
        .create_tags()
        .resources(attr_str(&i0b, "id"))
        .tags(Tag::builder().key("role").value("hacked").build())
        .send()
        .await
        .unwrap();
    cx.clients.ec2.terminate_instances().instance_ids(&id1).send().await.unwrap();
    let now = read(
        &p,
        "aws_instance",
        &[
            (a0.as_str(), &i0b),
            (instances[1].0.as_str(), &instances[1].1),
            (instances[2].0.as_str(), &instances[2].1),
        ],
    )
    .await;
    assert_eq!(attr(now[0].as_ref().unwrap(), "tags"), obj(&[("role", s("hacked"))]));
    assert_eq!(now[1], None, "terminated instance reads as gone");
    assert!(now[2].is_some());

    // Adoption: re-creating the address of a live instance finds it.
    let before = p.call_stats();
    let again = create(&p, "aws_instance", &instances[2].0, instances[2].2.clone()).await.unwrap();
    assert_eq!(attr_str(&again, "id"), attr_str(&instances[2].1, "id"));
    assert_eq!(calls_since(&p, &before, "ec2:RunInstances"), 0);

    // Delete waits for termination.
    p.delete("aws_instance", &i0b).await.unwrap();
    p.delete("aws_instance", &instances[2].1).await.unwrap();
    p.delete("aws_instance", &instances[1].1).await.unwrap();
    let now = read(&p, "aws_instance", &priors).await;
    assert_eq!(now, vec![None, None, None]);
    eprintln!("instance lifecycle call stats: {:?}", p.call_stats());
}

#[tokio::test]
async fn instance_errors_are_fatal_and_name_the_aws_code() {
    let moto = Moto::start();
    let p = moto.provider("stack-inst-err").await;
    let (_, subnet, sg) = instance_network(&p).await;

    let mut bad_ami = instance_cfg(&subnet, &sg, "10.9.1.50").as_map().unwrap().clone();
    bad_ami.insert("ami".into(), s("ami-00000000deadbeef0"));
    let err =
        create(&p, "aws_instance", "aws_instance.bad", Value::Map(bad_ami)).await.unwrap_err();
    assert!(!err.retryable, "{err:?}");
    assert!(err.message.contains("InvalidAMIID"), "{err:?}");

    let err = create(
        &p,
        "aws_instance",
        "aws_instance.bad",
        instance_cfg("subnet-0000000000000000", &sg, "10.9.1.51"),
    )
    .await
    .unwrap_err();
    assert!(!err.retryable, "{err:?}");
    assert!(err.message.contains("InvalidSubnetID.NotFound"), "{err:?}");

    let mut bad_type = instance_cfg(&subnet, &sg, "10.9.1.52").as_map().unwrap().clone();
    bad_type.insert("instance_type".into(), s("t3.gigantic"));
    let err =
        create(&p, "aws_instance", "aws_instance.bad", Value::Map(bad_type)).await.unwrap_err();
    assert!(!err.retryable, "{err:?}");
    // AWS answers InvalidParameterValue here; moto InvalidInstanceType.NotFound.
    assert!(
        err.message.contains("InvalidParameterValue")
            || err.message.contains("InvalidInstanceType"),
        "{err:?}"
    );
    // No retries of fatal errors: the bad AMI already fails at DescribeImages (looking up
    // its root device name), the two others at RunInstances.
    let stats = p.call_stats();
    assert_eq!(stats.get("ec2:DescribeImages"), Some(&3), "{stats:?}");
    assert_eq!(stats.get("ec2:RunInstances"), Some(&2), "{stats:?}");
}

#[tokio::test]
async fn ebs_volume_and_attachment_lifecycle() {
    let moto = Moto::start();
    let p = moto.provider("stack-ebs").await;
    let (_, subnet, sg) = instance_network(&p).await;
    let inst =
        create(&p, "aws_instance", "aws_instance.etcd", instance_cfg(&subnet, &sg, "10.9.1.20"))
            .await
            .unwrap();
    let vol_cfg = obj(&[("availability_zone", s("us-east-1a")), ("size", n(20.0))]);
    let vol = create(&p, "aws_ebs_volume", "aws_ebs_volume.data", vol_cfg.clone()).await.unwrap();
    let vol_id = attr_str(&vol, "id");
    assert!(vol_id.starts_with("vol-"));
    assert_eq!(attr(&vol, "type"), s("gp3"));
    assert!(plan_is_noop(&p, "aws_ebs_volume", &vol, vol_cfg.clone()));

    // Grow in place; shrinking (which AWS refuses in place) plans a replacement instead.
    let resized = |size: f64| {
        let mut proposed = vol.as_map().cloned().unwrap_or_default();
        proposed.insert("size".into(), n(size));
        p.plan("aws_ebs_volume", Some(&vol), Value::Map(proposed)).unwrap().requires_replace
    };
    assert_eq!(resized(40.0), Vec::<String>::new());
    assert_eq!(resized(10.0), vec!["size".to_string()]);
    let vol2 = update(&p, "aws_ebs_volume", &vol, obj(&[("size", n(40.0))])).await;
    assert_eq!(attr(&vol2, "size"), n(40.0));
    assert_eq!(p.call_stats().get("ec2:ModifyVolume"), Some(&1));

    let att_cfg = obj(&[
        ("device_name", s("/dev/sdf")),
        ("volume_id", s(&vol_id)),
        ("instance_id", s(&attr_str(&inst, "id"))),
    ]);
    let att = create(&p, "aws_volume_attachment", "aws_volume_attachment.data", att_cfg.clone())
        .await
        .unwrap();
    assert!(attr_str(&att, "id").starts_with("vai-"));
    let before = p.call_stats();
    let again = create(&p, "aws_volume_attachment", "aws_volume_attachment.data", att_cfg.clone())
        .await
        .unwrap();
    assert_eq!(again, att);
    assert_eq!(calls_since(&p, &before, "ec2:AttachVolume"), 0);
    let before = p.call_stats();
    let now = read(&p, "aws_volume_attachment", &[("aws_volume_attachment.data", &att)]).await;
    assert_eq!(now[0].as_ref(), Some(&att));
    assert_eq!(calls_since(&p, &before, "ec2:DescribeVolumes"), 1);

    // Drift: detached outside slipway.
    let cx = p.context().unwrap();
    cx.clients
        .ec2
        .detach_volume()
        .volume_id(&vol_id)
        .instance_id(attr_str(&inst, "id"))
        .send()
        .await
        .unwrap();
    let now = read(&p, "aws_volume_attachment", &[("aws_volume_attachment.data", &att)]).await;
    assert_eq!(now[0], None);
    let att =
        create(&p, "aws_volume_attachment", "aws_volume_attachment.data", att_cfg).await.unwrap();

    p.delete("aws_volume_attachment", &att).await.unwrap();
    p.delete("aws_ebs_volume", &vol2).await.unwrap();
    p.delete("aws_instance", &inst).await.unwrap();
    assert_eq!(read(&p, "aws_ebs_volume", &[("aws_ebs_volume.data", &vol2)]).await, vec![None]);
}

/// Elastic IPs, NAT gateways and a gateway endpoint for S3: created and read back, planned
/// empty, updated (tags; the endpoint's route tables in place), adopted by their tags instead of
/// created twice, refreshed in one Describe per type, deleted with nothing left.
#[tokio::test]
async fn egress_eip_nat_gateway_endpoint_lifecycle() {
    let moto = Moto::start();
    let p = moto.provider("stack-egress").await;
    let (vpc_id, subnet, _) = instance_network(&p).await;
    let rt = |name: &str| {
        let a = format!("aws_route_table.{name}");
        let p = &p;
        let vpc = obj(&[("vpc_id", s(&vpc_id))]);
        async move { attr_str(&create(p, "aws_route_table", &a, vpc).await.unwrap(), "id") }
    };
    let (rt_a, rt_b) = (rt("a").await, rt("b").await);

    let eip_cfg = obj(&[("tags", obj(&[("Name", s("egress-a"))]))]);
    let eip = create(&p, "aws_eip", "aws_eip.nat[\"a\"]", eip_cfg.clone()).await.unwrap();
    let alloc = attr_str(&eip, "id");
    assert!(alloc.starts_with("eipalloc-"), "{eip:?}");
    assert_eq!(attr(&eip, "domain"), s("vpc"));
    assert!(!attr_str(&eip, "public_ip").is_empty());
    assert!(plan_is_noop(&p, "aws_eip", &eip, eip_cfg));

    let nat_cfg = obj(&[
        ("subnet_id", s(&subnet)),
        ("allocation_id", s(&alloc)),
        ("tags", obj(&[("Name", s("egress-a"))])),
    ]);
    let nat = create(&p, "aws_nat_gateway", "aws_nat_gateway.this[\"a\"]", nat_cfg.clone())
        .await
        .unwrap();
    let nat_id = attr_str(&nat, "id");
    assert!(nat_id.starts_with("nat-"), "{nat:?}");
    assert_eq!(attr(&nat, "public_ip"), attr(&eip, "public_ip"));
    assert_eq!(attr(&nat, "vpc_id"), s(&vpc_id));
    assert_eq!(attr(&nat, "connectivity_type"), s("public"));
    assert!(plan_is_noop(&p, "aws_nat_gateway", &nat, nat_cfg.clone()));
    // The address is now the gateway's: refresh says so, and nothing is planned for it.
    let eip = read(&p, "aws_eip", &[("aws_eip.nat[\"a\"]", &eip)]).await[0].clone().unwrap();
    assert!(!attr_str(&eip, "association_id").is_empty(), "{eip:?}");
    assert!(plan_is_noop(&p, "aws_eip", &eip, obj(&[("tags", obj(&[("Name", s("egress-a"))]))])));
    // A tag changes in place.
    let before = p.call_stats();
    let eip = update(&p, "aws_eip", &eip, obj(&[("tags", obj(&[("Name", s("egress-a2"))]))])).await;
    assert_eq!(attr(&eip, "tags"), obj(&[("Name", s("egress-a2"))]));
    assert_eq!(calls_since(&p, &before, "ec2:CreateTags"), 1);
    assert_eq!(calls_since(&p, &before, "ec2:AllocateAddress"), 0);

    // A rerun of the create (a kill before the state write) adopts the tagged gateway.
    let before = p.call_stats();
    let again =
        create(&p, "aws_nat_gateway", "aws_nat_gateway.this[\"a\"]", nat_cfg).await.unwrap();
    assert_eq!(attr_str(&again, "id"), nat_id);
    assert_eq!(calls_since(&p, &before, "ec2:CreateNatGateway"), 0);

    let s3 = "com.amazonaws.us-east-1.s3";
    let ep_cfg = |tables: &[&str]| {
        obj(&[
            ("vpc_id", s(&vpc_id)),
            ("service_name", s(s3)),
            ("route_table_ids", list(&tables.iter().map(|t| s(t)).collect::<Vec<_>>())),
        ])
    };
    let ep = create(&p, "aws_vpc_endpoint", "aws_vpc_endpoint.s3", ep_cfg(&[&rt_b, &rt_a]))
        .await
        .unwrap();
    let ep_id = attr_str(&ep, "id");
    assert!(ep_id.starts_with("vpce-"), "{ep:?}");
    assert_eq!(attr(&ep, "vpc_endpoint_type"), s("Gateway"));
    assert_eq!(attr(&ep, "state"), s("available"));
    // The route tables are a set: the order of the list does not matter.
    let mut both = [rt_a.clone(), rt_b.clone()];
    both.sort();
    let both = list(&both.iter().map(|t| s(t)).collect::<Vec<_>>());
    assert_eq!(attr(&ep, "route_table_ids"), both);
    assert!(plan_is_noop(&p, "aws_vpc_endpoint", &ep, ep_cfg(&[&rt_a, &rt_b])));
    // They change in place, in one call. (Removing, not adding: moto adds no route for a table
    // added by ModifyVpcEndpoint, and then fails the endpoint's delete on that missing route.)
    let before = p.call_stats();
    let ep = update(&p, "aws_vpc_endpoint", &ep, ep_cfg(&[&rt_b])).await;
    assert_eq!(calls_since(&p, &before, "ec2:ModifyVpcEndpoint"), 1);
    assert_eq!(calls_since(&p, &before, "ec2:CreateVpcEndpoint"), 0);
    assert_eq!(attr(&ep, "route_table_ids"), list(&[s(&rt_b)]));
    assert!(plan_is_noop(&p, "aws_vpc_endpoint", &ep, ep_cfg(&[&rt_b])));
    let before = p.call_stats();
    let adopted =
        create(&p, "aws_vpc_endpoint", "aws_vpc_endpoint.s3", ep_cfg(&[&rt_b])).await.unwrap();
    assert_eq!(attr_str(&adopted, "id"), ep_id);
    assert_eq!(calls_since(&p, &before, "ec2:CreateVpcEndpoint"), 0);

    // A second zone's pair; then one Describe per type refreshes both.
    let eip_b = create(&p, "aws_eip", "aws_eip.nat[\"b\"]", obj(&[])).await.unwrap();
    let nat_b = create(
        &p,
        "aws_nat_gateway",
        "aws_nat_gateway.this[\"b\"]",
        obj(&[("subnet_id", s(&subnet)), ("allocation_id", s(&attr_str(&eip_b, "id")))]),
    )
    .await
    .unwrap();
    let before = p.call_stats();
    let eips =
        read(&p, "aws_eip", &[("aws_eip.nat[\"a\"]", &eip), ("aws_eip.nat[\"b\"]", &eip_b)]).await;
    let nats = read(
        &p,
        "aws_nat_gateway",
        &[("aws_nat_gateway.this[\"a\"]", &nat), ("aws_nat_gateway.this[\"b\"]", &nat_b)],
    )
    .await;
    let eps = read(&p, "aws_vpc_endpoint", &[("aws_vpc_endpoint.s3", &ep)]).await;
    assert!(eips.iter().chain(&nats).chain(&eps).all(Option::is_some));
    assert_eq!(nats[1].as_ref().unwrap(), &nat_b);
    assert_eq!(calls_since(&p, &before, "ec2:DescribeAddresses"), 1);
    assert_eq!(calls_since(&p, &before, "ec2:DescribeNatGateways"), 1);
    assert_eq!(calls_since(&p, &before, "ec2:DescribeVpcEndpoints"), 1);

    // Dependents first, as the graph orders them: endpoint, gateways, then their addresses.
    p.delete("aws_vpc_endpoint", &ep).await.unwrap();
    p.delete("aws_nat_gateway", &nat).await.unwrap();
    p.delete("aws_nat_gateway", &nat_b).await.unwrap();
    p.delete("aws_eip", &eip).await.unwrap();
    p.delete("aws_eip", &eip_b).await.unwrap();
    assert_eq!(read(&p, "aws_vpc_endpoint", &[("aws_vpc_endpoint.s3", &ep)]).await, vec![None]);
    assert_eq!(
        read(&p, "aws_nat_gateway", &[("aws_nat_gateway.this[\"a\"]", &nat)]).await,
        vec![None]
    );
    assert_eq!(read(&p, "aws_eip", &[("aws_eip.nat[\"a\"]", &eip)]).await, vec![None]);
    // Nothing left: no address allocated, every gateway and endpoint deleted.
    let cx = p.context().unwrap();
    let ec2 = &cx.clients.ec2;
    let addresses = ec2.describe_addresses().send().await.unwrap();
    assert!(addresses.addresses().is_empty(), "{addresses:?}");
    let gws = ec2.describe_nat_gateways().send().await.unwrap();
    assert!(
        gws.nat_gateways().iter().all(|g| g.state().map(|s| s.as_str()) == Some("deleted")),
        "{gws:?}"
    );
    let eps = ec2.describe_vpc_endpoints().send().await.unwrap();
    assert!(
        eps.vpc_endpoints().iter().all(|e| e.state().map(|s| s.as_str()) == Some("deleted")),
        "{eps:?}"
    );
    // Releasing again is a no-op (an address already gone counts as released).
    p.delete("aws_eip", &eip).await.unwrap();
}

#[tokio::test]
async fn lb_target_group_listener_attachment_lifecycle() {
    let moto = Moto::start();
    let p = moto.provider("stack-lb").await;
    let (vpc_id, subnet, sg) = instance_network(&p).await;
    let subnet_b = attr_str(
        &create(
            &p,
            "aws_subnet",
            "aws_subnet.b",
            obj(&[
                ("vpc_id", s(&vpc_id)),
                ("cidr_block", s("10.9.2.0/24")),
                ("availability_zone", s("us-east-1b")),
            ]),
        )
        .await
        .unwrap(),
        "id",
    );
    let inst =
        create(&p, "aws_instance", "aws_instance.cp", instance_cfg(&subnet, &sg, "10.9.1.30"))
            .await
            .unwrap();

    let lb_cfg =
        obj(&[("internal", Value::Bool(false)), ("subnets", list(&[s(&subnet), s(&subnet_b)]))]);
    let lb = create(&p, "aws_lb", "aws_lb.api", lb_cfg.clone()).await.unwrap();
    let lb_arn = attr_str(&lb, "id");
    assert!(lb_arn.starts_with("arn:aws:elasticloadbalancing:"), "{lb:?}");
    assert!(!attr_str(&lb, "dns_name").is_empty());
    assert!(attr_str(&lb, "name").starts_with("api-"), "{lb:?}");
    assert!(plan_is_noop(&p, "aws_lb", &lb, lb_cfg.clone()));

    let tg_cfg = obj(&[
        ("port", n(6443.0)),
        ("protocol", s("TCP")),
        ("vpc_id", s(&vpc_id)),
        ("health_check", obj(&[("protocol", s("TCP")), ("interval", n(10.0))])),
    ]);
    let tg =
        create(&p, "aws_lb_target_group", "aws_lb_target_group.api", tg_cfg.clone()).await.unwrap();
    let tg_arn = attr_str(&tg, "id");
    assert!(plan_is_noop(&p, "aws_lb_target_group", &tg, tg_cfg.clone()));

    let listener_cfg = |port: f64| {
        obj(&[
            ("load_balancer_arn", s(&lb_arn)),
            ("port", n(port)),
            ("protocol", s("TCP")),
            (
                "default_action",
                list(&[obj(&[("type", s("forward")), ("target_group_arn", s(&tg_arn))])]),
            ),
        ])
    };
    let l_cfg = listener_cfg(6443.0);
    let listener =
        create(&p, "aws_lb_listener", "aws_lb_listener.api", l_cfg.clone()).await.unwrap();
    assert!(plan_is_noop(&p, "aws_lb_listener", &listener, l_cfg.clone()));
    let before = p.call_stats();
    let again = create(&p, "aws_lb_listener", "aws_lb_listener.api", l_cfg.clone()).await.unwrap();
    assert_eq!(attr_str(&again, "id"), attr_str(&listener, "id"));
    assert_eq!(calls_since(&p, &before, "elbv2:CreateListener"), 0);
    // Found by one listing of its load balancer's listeners (which holds them whole, so no
    // second read by ARN), then read back by ARN twice as every adoption is: 3 (4 before).
    assert_eq!(calls_since(&p, &before, "elbv2:DescribeListeners"), 3);

    let att_cfg = obj(&[
        ("target_group_arn", s(&tg_arn)),
        ("target_id", s(&attr_str(&inst, "id"))),
        ("port", n(6443.0)),
    ]);
    let att = create(
        &p,
        "aws_lb_target_group_attachment",
        "aws_lb_target_group_attachment.cp",
        att_cfg.clone(),
    )
    .await
    .unwrap();
    let before = p.call_stats();
    let again =
        create(&p, "aws_lb_target_group_attachment", "aws_lb_target_group_attachment.cp", att_cfg)
            .await
            .unwrap();
    assert_eq!(again, att);
    assert_eq!(calls_since(&p, &before, "elbv2:RegisterTargets"), 0);

    // Adoption of the load balancer (moto would happily make a second one by name).
    let before = p.call_stats();
    let lb_again = create(&p, "aws_lb", "aws_lb.api", lb_cfg.clone()).await.unwrap();
    assert_eq!(attr_str(&lb_again, "id"), lb_arn);
    assert_eq!(calls_since(&p, &before, "elbv2:CreateLoadBalancer"), 0);

    // Batched read.
    let before = p.call_stats();
    let now = read(&p, "aws_lb", &[("aws_lb.api", &lb)]).await;
    assert_eq!(now[0].as_ref(), Some(&lb));
    assert_eq!(calls_since(&p, &before, "elbv2:DescribeLoadBalancers"), 1);
    assert_eq!(calls_since(&p, &before, "elbv2:DescribeTags"), 1);
    let now = read(&p, "aws_lb_listener", &[("aws_lb_listener.api", &listener)]).await;
    assert_eq!(now[0].as_ref(), Some(&listener));
    let now =
        read(&p, "aws_lb_target_group_attachment", &[("aws_lb_target_group_attachment.cp", &att)])
            .await;
    assert_eq!(now[0].as_ref(), Some(&att));

    // Update in place: health check and tags.
    let before = p.call_stats();
    let tg2 = update(
        &p,
        "aws_lb_target_group",
        &tg,
        obj(&[
            ("health_check", obj(&[("protocol", s("TCP")), ("interval", n(30.0))])),
            ("tags", obj(&[("tier", s("api"))])),
        ]),
    )
    .await;
    assert_eq!(attr_str(&tg2, "id"), tg_arn);
    assert_eq!(attr(&attr(&tg2, "health_check"), "interval"), n(30.0));
    assert_eq!(attr(&tg2, "tags"), obj(&[("tier", s("api"))]));
    assert_eq!(calls_since(&p, &before, "elbv2:ModifyTargetGroup"), 1);
    assert_eq!(calls_since(&p, &before, "elbv2:AddTags"), 1);

    // Drift: target deregistered outside slipway.
    let cx = p.context().unwrap();
    cx.clients
        .elb
        .deregister_targets()
        .target_group_arn(&tg_arn)
        .targets(
            aws_sdk_elasticloadbalancingv2::types::TargetDescription::builder()
                .id(attr_str(&inst, "id"))
                .port(6443)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let now =
        read(&p, "aws_lb_target_group_attachment", &[("aws_lb_target_group_attachment.cp", &att)])
            .await;
    assert_eq!(now[0], None);

    // A listener deleted outside slipway: AWS fails the batched read by ARN (ListenerNotFound)
    // and the fallback reads each load balancer's listeners once, 2 calls; moto answers with
    // the listeners it has, 1 call. Either way the other one is still found.
    let l2_cfg = listener_cfg(22623.0);
    let l2 = create(&p, "aws_lb_listener", "aws_lb_listener.mc", l2_cfg).await.unwrap();
    let gone = cx.clients.elb.delete_listener().listener_arn(attr_str(&listener, "id"));
    gone.send().await.unwrap();
    let before = p.call_stats();
    let pair = [("aws_lb_listener.api", &listener), ("aws_lb_listener.mc", &l2)];
    assert_eq!(read(&p, "aws_lb_listener", &pair).await, vec![None, Some(l2.clone())]);
    assert!(calls_since(&p, &before, "elbv2:DescribeListeners") <= 2);

    p.delete("aws_lb_listener", &l2).await.unwrap();
    p.delete("aws_lb_listener", &listener).await.unwrap();
    p.delete("aws_lb_target_group", &tg2).await.unwrap();
    p.delete("aws_lb", &lb).await.unwrap();
    assert_eq!(read(&p, "aws_lb", &[("aws_lb.api", &lb)]).await, vec![None]);
    assert_eq!(
        read(&p, "aws_lb_listener", &[("aws_lb_listener.api", &listener)]).await,
        vec![None]
    );
}

const ASSUME_EC2: &str = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}"#;

#[tokio::test]
async fn iam_role_policy_profile_lifecycle() {
    let moto = Moto::start();
    let p = moto.provider("stack-iam").await;
    let role_cfg = obj(&[("assume_role_policy", s(ASSUME_EC2))]);
    let role = create(&p, "aws_iam_role", "aws_iam_role.node", role_cfg.clone()).await.unwrap();
    let role_name = attr_str(&role, "id");
    assert!(role_name.starts_with("node-"), "{role:?}");
    assert!(attr_str(&role, "arn").ends_with(&role_name));
    assert!(plan_is_noop(&p, "aws_iam_role", &role, role_cfg.clone()));
    let before = p.call_stats();
    let again = create(&p, "aws_iam_role", "aws_iam_role.node", role_cfg.clone()).await.unwrap();
    assert_eq!(attr_str(&again, "id"), role_name);
    assert_eq!(calls_since(&p, &before, "iam:CreateRole"), 0);

    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::keys/node-a/*"}]}"#;
    let pol_cfg = obj(&[("role", s(&role_name)), ("name", s("keys")), ("policy", s(policy))]);
    let pol = create(&p, "aws_iam_role_policy", "aws_iam_role_policy.keys", pol_cfg.clone())
        .await
        .unwrap();
    assert_eq!(attr_str(&pol, "id"), format!("{role_name}:keys"));
    assert!(plan_is_noop(&p, "aws_iam_role_policy", &pol, pol_cfg.clone()));

    let prof_cfg = obj(&[("role", s(&role_name))]);
    let prof =
        create(&p, "aws_iam_instance_profile", "aws_iam_instance_profile.node", prof_cfg.clone())
            .await
            .unwrap();
    assert_eq!(attr_str(&prof, "role"), role_name);
    assert!(plan_is_noop(&p, "aws_iam_instance_profile", &prof, prof_cfg.clone()));

    // Batched: one GetAccountAuthorizationDetails for roles, one for their policies.
    let before = p.call_stats();
    assert_eq!(
        read(&p, "aws_iam_role", &[("aws_iam_role.node", &role)]).await[0].as_ref(),
        Some(&role)
    );
    assert_eq!(
        read(&p, "aws_iam_role_policy", &[("aws_iam_role_policy.keys", &pol)]).await[0].as_ref(),
        Some(&pol)
    );
    assert_eq!(calls_since(&p, &before, "iam:GetAccountAuthorizationDetails"), 2);

    // Update: policy document in place (PutRolePolicy), role tags.
    let policy2 = policy.replace("node-a", "node-b");
    let pol2 = update(&p, "aws_iam_role_policy", &pol, obj(&[("policy", s(&policy2))])).await;
    assert!(attr_str(&pol2, "policy").contains("node-b"));
    let role2 = update(&p, "aws_iam_role", &role, obj(&[("tags", obj(&[("k", s("v"))]))])).await;
    assert_eq!(attr(&role2, "tags"), obj(&[("k", s("v"))]));

    // Drift: policy deleted outside.
    let cx = p.context().unwrap();
    cx.clients
        .iam
        .delete_role_policy()
        .role_name(&role_name)
        .policy_name("keys")
        .send()
        .await
        .unwrap();
    assert_eq!(
        read(&p, "aws_iam_role_policy", &[("aws_iam_role_policy.keys", &pol2)]).await,
        vec![None]
    );

    p.delete("aws_iam_instance_profile", &prof).await.unwrap();
    p.delete("aws_iam_role_policy", &pol2).await.unwrap();
    p.delete("aws_iam_role", &role2).await.unwrap();
    assert_eq!(read(&p, "aws_iam_role", &[("aws_iam_role.node", &role2)]).await, vec![None]);
    assert_eq!(
        read(&p, "aws_iam_instance_profile", &[("aws_iam_instance_profile.node", &prof)]).await,
        vec![None]
    );
}

#[tokio::test]
async fn s3_bucket_and_object_lifecycle() {
    let moto = Moto::start();
    let p = moto.provider("stack-s3").await;
    let b_cfg = obj(&[("bucket", s("slipway-test-keys")), ("force_destroy", Value::Bool(true))]);
    let bucket = create(&p, "aws_s3_bucket", "aws_s3_bucket.keys", b_cfg.clone()).await.unwrap();
    assert_eq!(attr_str(&bucket, "id"), "slipway-test-keys");
    assert_eq!(attr_str(&attr(&bucket, "tags_all"), "slipway:stack"), "stack-s3");
    assert!(plan_is_noop(&p, "aws_s3_bucket", &bucket, b_cfg.clone()));
    let before = p.call_stats();
    let again = create(&p, "aws_s3_bucket", "aws_s3_bucket.keys", b_cfg.clone()).await.unwrap();
    assert_eq!(again, bucket);
    assert_eq!(calls_since(&p, &before, "s3:CreateBucket"), 0);

    let secret = Value::string("-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n")
        .mark_sensitive();
    let o_cfg = obj(&[
        ("bucket", s("slipway-test-keys")),
        ("key", s("node-a/apiserver.key")),
        ("content", secret.clone()),
    ]);
    let mut objects = Vec::new();
    for i in 0..3 {
        let mut cfg = o_cfg.as_map().unwrap().clone();
        cfg.insert("key".into(), s(&format!("node-{i}/apiserver.key")));
        let o = create(
            &p,
            "aws_s3_object",
            &format!("aws_s3_object.key[{i}]"),
            Value::Map(cfg.clone()),
        )
        .await
        .unwrap();
        assert!(attr(&o, "content").is_sensitive());
        assert!(attr(&o, "etag").is_sensitive());
        assert!(plan_is_noop(&p, "aws_s3_object", &o, Value::Map(cfg)));
        objects.push((format!("aws_s3_object.key[{i}]"), o));
    }
    let before = p.call_stats();
    let priors: Vec<(&str, &Value)> = objects.iter().map(|(a, v)| (a.as_str(), v)).collect();
    let now = read(&p, "aws_s3_object", &priors).await;
    assert_eq!(calls_since(&p, &before, "s3:ListObjectsV2"), 1);
    for ((_, o), n) in objects.iter().zip(&now) {
        assert_eq!(n.as_ref(), Some(o));
    }

    // Drift: content replaced outside; the etag no longer matches the configuration.
    let cx = p.context().unwrap();
    cx.clients
        .s3
        .put_object()
        .bucket("slipway-test-keys")
        .key("node-0/apiserver.key")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"tampered"))
        .send()
        .await
        .unwrap();
    let now = read(&p, "aws_s3_object", &priors).await;
    let drifted = now[0].clone().unwrap();
    assert_ne!(attr(&drifted, "etag"), attr(&objects[0].1, "etag"));
    let mut cfg0 = o_cfg.as_map().unwrap().clone();
    cfg0.insert("key".into(), s("node-0/apiserver.key"));
    assert!(!plan_is_noop(&p, "aws_s3_object", &drifted, Value::Map(cfg0.clone())));
    let fixed = update(&p, "aws_s3_object", &drifted, Value::Map(cfg0)).await;
    assert_eq!(attr(&fixed, "etag"), attr(&objects[0].1, "etag"));

    // Tags drift on the bucket.
    let b2 =
        update(&p, "aws_s3_bucket", &bucket, obj(&[("tags", obj(&[("purpose", s("pki"))]))])).await;
    assert_eq!(attr(&b2, "tags"), obj(&[("purpose", s("pki"))]));
    assert_eq!(attr_str(&attr(&b2, "tags_all"), "slipway:stack"), "stack-s3");

    p.delete("aws_s3_object", &objects[1].1).await.unwrap();
    // force_destroy empties the bucket first.
    p.delete("aws_s3_bucket", &b2).await.unwrap();
    assert_eq!(read(&p, "aws_s3_bucket", &[("aws_s3_bucket.keys", &b2)]).await, vec![None]);
    assert_eq!(read(&p, "aws_s3_object", &priors).await, vec![None, None, None]);
}

/// The interceptor's counts agree with moto's own request log, so `call_stats` measures what
/// AWS would see (and would throttle).
#[tokio::test]
async fn call_stats_match_what_moto_received() {
    let moto = Moto::start();
    let p = moto.provider("stack-rec").await;
    moto.http("POST", "/moto-api/recorder/start-recording").expect("moto recorder");
    let before = p.call_stats();
    let vpc = create(&p, "aws_vpc", "aws_vpc.main", obj(&[("cidr_block", s("10.2.0.0/16"))]))
        .await
        .unwrap();
    let mut subnets = Vec::new();
    for i in 0..4 {
        let addr = format!("aws_subnet.s[{i}]");
        let sn = create(
            &p,
            "aws_subnet",
            &addr,
            obj(&[
                ("vpc_id", s(&attr_str(&vpc, "id"))),
                ("cidr_block", s(&format!("10.2.{i}.0/24"))),
            ]),
        )
        .await
        .unwrap();
        subnets.push((addr, sn));
    }
    let priors: Vec<(&str, &Value)> = subnets.iter().map(|(a, v)| (a.as_str(), v)).collect();
    let before_read = p.call_stats();
    read(&p, "aws_subnet", &priors).await;
    assert_eq!(calls_since(&p, &before_read, "ec2:DescribeSubnets"), 1);
    moto.http("POST", "/moto-api/recorder/stop-recording");
    let log = moto.http("GET", "/moto-api/recorder/download-recording").expect("recording");
    // One JSON object per request after the HTTP head; bodies are base64 when binary-safe.
    use base64::Engine as _;
    let bodies: Vec<String> = log
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or("")
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|r| {
            let body = r["body"].as_str().unwrap_or("").to_string();
            if r["body_encoded"].as_bool() == Some(true) {
                let raw =
                    base64::engine::general_purpose::STANDARD.decode(body).unwrap_or_default();
                String::from_utf8_lossy(&raw).into_owned()
            } else {
                body
            }
        })
        .collect();
    assert!(!bodies.is_empty(), "empty recording");
    for op in ["DescribeSubnets", "CreateSubnet", "DescribeVpcs", "CreateVpc"] {
        let recorded =
            bodies.iter().filter(|b| b.starts_with(&format!("Action={op}&"))).count() as u64;
        let counted = calls_since(&p, &before, &format!("ec2:{op}"));
        assert_eq!(recorded, counted, "{op}: moto saw {recorded}, we counted {counted}");
        assert!(counted > 0, "{op}");
    }
}

/// A run killed right after CreateVpc (before ModifyVpcAttribute and before state was saved):
/// the next create adopts the tagged VPC and finishes the job instead of making a second one.
#[tokio::test]
async fn create_after_kill_adopts_and_converges() {
    let moto = Moto::start();
    let p = moto.provider("stack-kill").await;
    let cx = p.context().unwrap();
    let tags =
        [("slipway:stack", "stack-kill"), ("slipway:address", "aws_vpc.main"), ("Name", "main")];
    let mut spec = aws_sdk_ec2::types::TagSpecification::builder()
        .resource_type(aws_sdk_ec2::types::ResourceType::Vpc);
    for (k, v) in tags {
        spec = spec.tags(Tag::builder().key(k).value(v).build());
    }
    let orphan = cx
        .clients
        .ec2
        .create_vpc()
        .cidr_block("10.3.0.0/16")
        .tag_specifications(spec.build())
        .send()
        .await
        .unwrap();
    let orphan_id = orphan.vpc().unwrap().vpc_id().unwrap().to_string();

    let before = p.call_stats();
    let cfg = obj(&[
        ("cidr_block", s("10.3.0.0/16")),
        ("enable_dns_hostnames", Value::Bool(true)),
        ("tags", obj(&[("team", s("infra"))])),
    ]);
    let vpc = create(&p, "aws_vpc", "aws_vpc.main", cfg.clone()).await.unwrap();
    assert_eq!(attr_str(&vpc, "id"), orphan_id);
    assert_eq!(calls_since(&p, &before, "ec2:CreateVpc"), 0);
    // The steps the killed run never made: DNS hostnames on, user tags added.
    assert_eq!(calls_since(&p, &before, "ec2:ModifyVpcAttribute"), 1);
    assert_eq!(calls_since(&p, &before, "ec2:CreateTags"), 1);
    assert_eq!(attr(&vpc, "tags"), obj(&[("team", s("infra"))]));
    assert_eq!(count_tagged_vpcs(&p, "stack-kill").await, 1);
    assert!(plan_is_noop(&p, "aws_vpc", &vpc, cfg));
}

#[tokio::test]
async fn configure_errors_are_clear() {
    let p = super::AwsProvider::new();
    let ctx = crate::provider::ProviderContext { stack_id: "s".into(), environment: "test".into() };
    let err = p
        .configure(&ctx, &obj(&[("region", s("us-east-1")), ("access_key", s("AKIA"))]))
        .await
        .unwrap_err();
    assert!(err.message.contains("both access_key and secret_key"), "{err:?}");

    // No region anywhere (this test process has no AWS_REGION and no profile; the IMDS
    // lookup fails): the error says where to set one.
    let env_region =
        std::env::var_os("AWS_REGION").or_else(|| std::env::var_os("AWS_DEFAULT_REGION"));
    let r = p.configure(&ctx, &obj(&[("access_key", s("a")), ("secret_key", s("b"))])).await;
    match env_region {
        None => {
            let err = r.unwrap_err();
            assert!(err.message.contains("no region"), "{err:?}");
            assert!(err.message.contains("AWS_REGION"), "{err:?}");
        }
        // The environment supplies one: then it is used.
        Some(_) => r.unwrap(),
    }

    let err = p
        .configure(
            &crate::provider::ProviderContext::default(),
            &obj(&[("region", s("us-east-1")), ("access_key", s("a")), ("secret_key", s("b"))]),
        )
        .await
        .unwrap_err();
    assert!(err.message.contains("empty stack id"), "{err:?}");
}

/// Configured egress replaces AWS's default allow-all; an instance launches with an instance
/// profile made by this provider.
#[tokio::test]
async fn egress_is_authoritative_and_instances_take_a_profile() {
    let moto = Moto::start();
    let p = moto.provider("stack-egress").await;
    let (vpc_id, subnet, _) = instance_network(&p).await;
    let sg_cfg = obj(&[
        ("vpc_id", s(&vpc_id)),
        ("egress", list(&[rule("tcp", 443.0, 443.0, &["0.0.0.0/0"])])),
    ]);
    let sg = create(&p, "aws_security_group", "aws_security_group.locked", sg_cfg.clone())
        .await
        .unwrap();
    assert_eq!(
        attr(&sg, "egress"),
        list(&[obj(&[
            ("protocol", s("tcp")),
            ("from_port", n(443.0)),
            ("to_port", n(443.0)),
            ("cidr_blocks", list(&[s("0.0.0.0/0")])),
            ("security_groups", list(&[])),
            ("self", Value::Bool(false)),
            ("description", s("")),
        ])])
    );
    assert!(plan_is_noop(&p, "aws_security_group", &sg, sg_cfg));

    let role = create(
        &p,
        "aws_iam_role",
        "aws_iam_role.node",
        obj(&[("assume_role_policy", s(ASSUME_EC2))]),
    )
    .await
    .unwrap();
    let prof = create(
        &p,
        "aws_iam_instance_profile",
        "aws_iam_instance_profile.node",
        obj(&[("role", s(&attr_str(&role, "id")))]),
    )
    .await
    .unwrap();
    let mut cfg =
        instance_cfg(&subnet, &attr_str(&sg, "id"), "10.9.1.40").as_map().unwrap().clone();
    cfg.insert("iam_instance_profile".into(), s(&attr_str(&prof, "id")));
    let inst =
        create(&p, "aws_instance", "aws_instance.node", Value::Map(cfg.clone())).await.unwrap();
    assert_eq!(attr_str(&inst, "instance_state"), "running");
    let cx = p.context().unwrap();
    let described = cx
        .clients
        .ec2
        .describe_instances()
        .instance_ids(attr_str(&inst, "id"))
        .send()
        .await
        .unwrap();
    let arn = described.reservations()[0].instances()[0]
        .iam_instance_profile()
        .and_then(|p| p.arn())
        .unwrap_or("")
        .to_string();
    assert_eq!(arn, attr_str(&prof, "arn"));
    assert!(plan_is_noop(&p, "aws_instance", &inst, Value::Map(cfg)));
}

/// An object whose stack tag was removed outside slipway is still found (by id, in one extra
/// batched call) and its missing tag shows as drift; the root volume got the configured size.
#[tokio::test]
async fn untagged_objects_in_state_are_read_by_id() {
    let moto = Moto::start();
    let p = moto.provider("stack-untag").await;
    let (_, subnet, sg) = instance_network(&p).await;
    let mut subnets = Vec::new();
    for i in 0..3 {
        let inst = create(
            &p,
            "aws_instance",
            &format!("aws_instance.w[{i}]"),
            instance_cfg(&subnet, &sg, &format!("10.9.1.{}", 60 + i)),
        )
        .await
        .unwrap();
        subnets.push((format!("aws_instance.w[{i}]"), inst));
    }
    let cx = p.context().unwrap();
    let id0 = attr_str(&subnets[0].1, "id");
    cx.clients
        .ec2
        .delete_tags()
        .resources(&id0)
        .tags(Tag::builder().key("slipway:stack").build())
        .send()
        .await
        .unwrap();
    let priors: Vec<(&str, &Value)> = subnets.iter().map(|(a, v)| (a.as_str(), v)).collect();
    let before = p.call_stats();
    let now = read(&p, "aws_instance", &priors).await;
    // One by stack tag (finds two), one by id for the third: still O(1) per type.
    assert_eq!(calls_since(&p, &before, "ec2:DescribeInstances"), 2);
    let untagged = now[0].clone().expect("found by id");
    assert_eq!(attr_str(&untagged, "id"), id0);
    assert_ne!(attr(&untagged, "tags_all"), attr(&subnets[0].1, "tags_all"));
    assert_eq!(now[1].as_ref(), Some(&subnets[1].1));
    // Applying the plan restores the ownership tag.
    let fixed =
        update(&p, "aws_instance", &untagged, instance_cfg(&subnet, &sg, "10.9.1.60")).await;
    assert_eq!(attr_str(&attr(&fixed, "tags_all"), "slipway:stack"), "stack-untag");

    // root_block_device reached RunInstances (device name looked up from the AMI).
    let vols = cx
        .clients
        .ec2
        .describe_volumes()
        .filters(Filter::builder().name("attachment.instance-id").values(&id0).build())
        .send()
        .await
        .unwrap();
    assert_eq!(vols.volumes()[0].size(), Some(30), "{vols:?}");
}

#[tokio::test]
async fn one_refresh_shares_the_describes_of_related_types() {
    use crate::provider::{ReadRequest, TypeBatch};
    let moto = Moto::start();
    let p = moto.provider("stack-share").await;
    let (vpc_id, _, _) = instance_network(&p).await;
    let sg =
        create(&p, "aws_security_group", "aws_security_group.web", obj(&[("vpc_id", s(&vpc_id))]))
            .await
            .unwrap();
    let rule_on = |group: &str| {
        obj(&[
            ("type", s("ingress")),
            ("security_group_id", s(group)),
            ("protocol", s("tcp")),
            ("from_port", n(443.0)),
            ("to_port", n(443.0)),
            ("cidr_blocks", list(&[s("0.0.0.0/0")])),
        ])
    };
    let sg_id = attr_str(&sg, "id");
    let rule =
        create(&p, "aws_security_group_rule", "aws_security_group_rule.https", rule_on(&sg_id))
            .await
            .unwrap();
    // A group made outside slipway (not tagged with the stack), with a rule slipway manages.
    let cx = p.context().unwrap();
    let foreign = cx
        .clients
        .ec2
        .create_security_group()
        .group_name("foreign")
        .description("made by hand")
        .vpc_id(&vpc_id)
        .send()
        .await
        .unwrap()
        .group_id()
        .unwrap()
        .to_string();
    let foreign_rule =
        create(&p, "aws_security_group_rule", "aws_security_group_rule.foreign", rule_on(&foreign))
            .await
            .unwrap();
    let sg_now =
        read(&p, "aws_security_group", &[("aws_security_group.web", &sg)]).await.remove(0).unwrap();
    let batch = |rtype: &str, objs: &[(&str, &Value)]| TypeBatch {
        rtype: rtype.to_string(),
        requests: objs
            .iter()
            .map(|(a, v)| ReadRequest { address: addr(a), prior: (*v).clone() })
            .collect(),
    };
    let groups = batch("aws_security_group", &[("aws_security_group.web", &sg_now)]);
    let both_rules = batch(
        "aws_security_group_rule",
        &[
            ("aws_security_group_rule.https", &rule),
            ("aws_security_group_rule.foreign", &foreign_rule),
        ],
    );

    // The stack's groups are described once for the groups and the rule on one of them; the
    // group outside the stack costs one describe by id.
    let before = p.call_stats();
    let got = p.read_types(&[groups.clone(), both_rules]).await;
    assert_eq!(calls_since(&p, &before, "ec2:DescribeSecurityGroups"), 2);
    assert_eq!(got[0].as_ref().unwrap(), &vec![Some(sg_now.clone())]);
    assert_eq!(got[1].as_ref().unwrap(), &vec![Some(rule.clone()), Some(foreign_rule.clone())]);

    // Rules of the stack's groups only: the groups' answer is all it takes.
    let stack_rule = batch("aws_security_group_rule", &[("aws_security_group_rule.https", &rule)]);
    let before = p.call_stats();
    let got = p.read_types(&[groups.clone(), stack_rule.clone()]).await;
    assert_eq!(calls_since(&p, &before, "ec2:DescribeSecurityGroups"), 1);
    assert_eq!(got[1].as_ref().unwrap(), &vec![Some(rule.clone())]);

    // A rule revoked behind slipway's back shows as gone through the shared answer.
    cx.clients
        .ec2
        .revoke_security_group_ingress()
        .group_id(&sg_id)
        .ip_permissions(
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(443)
                .to_port(443)
                .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    let got = p.read_types(&[groups, stack_rule]).await;
    assert_eq!(got[1].as_ref().unwrap(), &vec![None]);
}

#[tokio::test]
async fn s3_bucket_policy_and_lifecycle_lifecycle() {
    let moto = Moto::start();
    let p = moto.provider("stack-s3cfg").await;
    let b_cfg = obj(&[("bucket", s("slipway-test-snaps"))]);
    create(&p, "aws_s3_bucket", "aws_s3_bucket.b", b_cfg).await.unwrap();
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "DenyUnencryptedPuts",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObject",
            "Resource": "arn:aws:s3:::slipway-test-snaps/etcd/*",
            "Condition": { "Null": { "s3:x-amz-server-side-encryption": "true" } }
        }]
    });
    let pol_cfg = obj(&[
        ("bucket", s("slipway-test-snaps")),
        ("policy", s(&serde_json::to_string_pretty(&policy).unwrap())),
    ]);
    let pol = create(&p, "aws_s3_bucket_policy", "aws_s3_bucket_policy.b", pol_cfg.clone())
        .await
        .unwrap();
    assert_eq!(attr_str(&pol, "id"), "slipway-test-snaps");
    assert!(plan_is_noop(&p, "aws_s3_bucket_policy", &pol, pol_cfg));
    let rule = |id: &str, prefix: &str, days: f64| {
        obj(&[
            ("id", s(id)),
            ("status", s("Enabled")),
            ("filter", list(&[obj(&[("prefix", s(prefix))])])),
            ("expiration", list(&[obj(&[("days", n(days))])])),
        ])
    };
    let lc_cfg = obj(&[
        ("bucket", s("slipway-test-snaps")),
        (
            "rule",
            list(&[rule("frequent", "etcd/frequent/", 1.0), rule("daily", "etcd/daily/", 30.0)]),
        ),
    ]);
    let lc = create(
        &p,
        "aws_s3_bucket_lifecycle_configuration",
        "aws_s3_bucket_lifecycle_configuration.b",
        lc_cfg.clone(),
    )
    .await
    .unwrap();
    assert!(plan_is_noop(&p, "aws_s3_bucket_lifecycle_configuration", &lc, lc_cfg));
    // Drift: a retention changed outside is seen, and the update puts it back.
    let changed = obj(&[
        ("bucket", s("slipway-test-snaps")),
        ("rule", list(&[rule("frequent", "etcd/frequent/", 2.0)])),
    ]);
    let drifted = update(&p, "aws_s3_bucket_lifecycle_configuration", &lc, changed.clone()).await;
    let now = read(
        &p,
        "aws_s3_bucket_lifecycle_configuration",
        &[("aws_s3_bucket_lifecycle_configuration.b", &drifted)],
    )
    .await;
    assert!(plan_is_noop(
        &p,
        "aws_s3_bucket_lifecycle_configuration",
        now[0].as_ref().unwrap(),
        changed
    ));
    p.delete("aws_s3_bucket_lifecycle_configuration", &drifted).await.unwrap();
    p.delete("aws_s3_bucket_policy", &pol).await.unwrap();
    assert_eq!(
        read(&p, "aws_s3_bucket_policy", &[("aws_s3_bucket_policy.b", &pol)]).await,
        vec![None]
    );
    assert_eq!(
        read(
            &p,
            "aws_s3_bucket_lifecycle_configuration",
            &[("aws_s3_bucket_lifecycle_configuration.b", &drifted)]
        )
        .await,
        vec![None]
    );
}

#[test]
fn default_names_follow_each_apis_rules_and_are_stable() {
    use super::declare::Naming;
    use super::tags::{NAME_TAG, Tags};
    let tags: Tags = [(NAME_TAG.to_string(), "etcd member/1 ä".to_string())].into();
    // sha256("tok-123") starts c8963414. These names are in state and in AWS: they must not
    // change between versions.
    assert_eq!(Naming::Elb.derive(&tags, "tok-123"), "etcd-member-1-c8963414");
    assert_eq!(Naming::Iam.derive(&tags, "tok-123"), "etcdmember1-c8963414");
    assert_eq!(Naming::SecurityGroup.derive(&tags, "tok-123"), "etcd member/1 ä-tok123");
    let long: Tags = [(NAME_TAG.to_string(), "x".repeat(80))].into();
    assert_eq!(Naming::Elb.derive(&long, "tok-123").len(), 32, "ELBv2 allows 32 characters");
    assert_eq!(Naming::Iam.derive(&long, "tok-123").len(), 59, "IAM allows 64");
    // No usable Name tag: the provider's own prefix.
    let dashes: Tags = [(NAME_TAG.to_string(), "///".to_string())].into();
    assert_eq!(Naming::Elb.derive(&dashes, "tok-123"), "slipway-c8963414");
    assert_eq!(Naming::Iam.derive(&Tags::new(), "tok-123"), "slipway-c8963414");
    // A new token (a replacement) is a new name.
    assert_ne!(Naming::Elb.derive(&tags, "tok-124"), Naming::Elb.derive(&tags, "tok-123"));
}

#[test]
fn derived_ids_are_stable() {
    // State holds these ids: the derivation must not change. sha256("a|b|c") starts so.
    assert_eq!(super::declare::derived_id("vai", &["a", "b", "c"]), "vai-a52dd81bfd5e4e66");
}
