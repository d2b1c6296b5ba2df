//! aws_lb_target_group and aws_lb_target_group_attachment: where a load balancer sends
//! traffic, and what is registered there.
//!
//! A target group's health check has AWS's defaults filled in on both sides (configuration and
//! read), so an unset block plans as no-op. An attachment carries no tags: its id is derived
//! from (target group, target, port), and it is read with one DescribeTargetHealth per target
//! group.

use std::collections::BTreeMap;

use aws_sdk_elasticloadbalancingv2::operation::create_target_group::builders::CreateTargetGroupFluentBuilder as NewTg;
use aws_sdk_elasticloadbalancingv2::operation::register_targets::builders::RegisterTargetsFluentBuilder as NewAttachment;
use aws_sdk_elasticloadbalancingv2::types::{
    ProtocolEnum, TargetDescription, TargetGroup as AwsTargetGroup, TargetHealthStateEnum,
    TargetTypeEnum,
};

use super::{describe_listed, list_target_groups};
use crate::client::to_provider_error;
use crate::declare::{
    Field, Identity, Naming, Refresh, TagApi, build, create_call, declared, delete_call,
    derived_id, elb_tags, remove_call, updater,
};
use crate::provider::{AttributeSchema as A, BlockNesting, Schema};
use crate::resource::{
    Attrs, Create, Ctx, Observed, Query, ResourceType, Result, attrs, block_attr, changed,
    default_attr, distinct_attr, int, int_attr, str_attr, text, vnum, vstr,
};
use crate::value::{Type, Value};

/// The health check block, with AWS's defaults (also filled into the planned block by
/// `health_check_defaults`, since declared defaults apply to top-level attributes only).
fn health_check_schema() -> Schema {
    Schema::new()
        .attr("protocol", A::optional(Type::String).default(Value::string("TCP")))
        .attr("port", A::optional(Type::String).default(Value::string("traffic-port")))
        .attr("path", A::optional(Type::String))
        .attr("interval", A::optional(Type::Number).default(Value::Number(30.0)))
        .attr("healthy_threshold", A::optional(Type::Number).default(Value::Number(3.0)))
        .attr("unhealthy_threshold", A::optional(Type::Number).default(Value::Number(3.0)))
}

fn health_check_defaults(a: &mut Attrs) {
    let mut h = a.get("health_check").and_then(Value::as_map).cloned().unwrap_or_default();
    for (k, s) in health_check_schema().attributes {
        default_attr(&mut h, &k, s.default.unwrap_or(Value::Null));
    }
    a.insert("health_check".into(), Value::Map(h));
}

/// Sets the health check of block `hc` on a CreateTargetGroup or ModifyTargetGroup request
/// (the same six setters, on two builder types).
macro_rules! with_health_check {
    ($req:expr, $hc:expr) => {
        $req.set_health_check_protocol(
            str_attr($hc, "protocol").map(|p| ProtocolEnum::from(p.as_str())),
        )
        .set_health_check_port(str_attr($hc, "port"))
        .set_health_check_path(str_attr($hc, "path"))
        .set_health_check_interval_seconds(int_attr($hc, "interval").map(|n| n as i32))
        .set_healthy_threshold_count(int_attr($hc, "healthy_threshold").map(|n| n as i32))
        .set_unhealthy_threshold_count(int_attr($hc, "unhealthy_threshold").map(|n| n as i32))
    };
}

pub(super) struct TargetGroup;

impl TargetGroup {
    fn shape() -> Vec<Field<AwsTargetGroup, NewTg>> {
        type F = Field<AwsTargetGroup, NewTg>;
        let fixed = |d: &str| A::optional(Type::String).force_new().default(Value::string(d));
        vec![
            F::attr("name", A::optional_computed(Type::String).force_new())
                .read_str(AwsTargetGroup::target_group_name),
            F::attr("port", A::required(Type::Number).force_new())
                .read(|t| vnum(t.port().map(i64::from)))
                .write(|b, v| b.set_port(int(v))),
            F::attr("protocol", fixed("TCP"))
                .read_str(|t| t.protocol().map(ProtocolEnum::as_str))
                .write(|b, v| b.protocol(text(v).as_deref().unwrap_or("TCP").into())),
            F::attr("vpc_id", A::required(Type::String).force_new())
                .read_str(AwsTargetGroup::vpc_id)
                .write(|b, v| b.set_vpc_id(text(v))),
            F::attr("target_type", fixed("instance").one_of(&["instance", "ip", "alb"]))
                .read_str(|t| t.target_type().map(TargetTypeEnum::as_str))
                .write(|b, v| b.target_type(text(v).as_deref().unwrap_or("instance").into())),
            F::computed("arn", AwsTargetGroup::target_group_arn),
            F::block("health_check", BlockNesting::Single, health_check_schema())
                .by(updater!("elbv2:ModifyTargetGroup", TargetGroup::modify_health_check))
                .read(|t| {
                    let protocol = t.health_check_protocol().map(ProtocolEnum::as_str);
                    let count = |n: Option<i32>| vnum(n.map(i64::from));
                    Value::Map(attrs(vec![
                        ("protocol", vstr(protocol)),
                        ("port", vstr(t.health_check_port())),
                        ("path", vstr(t.health_check_path())),
                        ("interval", count(t.health_check_interval_seconds())),
                        ("healthy_threshold", count(t.healthy_threshold_count())),
                        ("unhealthy_threshold", count(t.unhealthy_threshold_count())),
                    ]))
                })
                .write(|b, hc| with_health_check!(b, hc)),
        ]
    }

    async fn modify_health_check(cx: &Ctx, id: &str, prior: &Value, planned: &Value) -> Result<()> {
        if !changed(prior, planned, "health_check") {
            return Ok(());
        }
        let hc = block_attr(planned, "health_check").unwrap_or(Value::Null);
        let req =
            with_health_check!(cx.clients.elb.modify_target_group().target_group_arn(id), &hc);
        cx.clients.run("elbv2:ModifyTargetGroup", || req.clone().send()).await?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl ResourceType for TargetGroup {
    declared!(
        "aws_lb_target_group",
        "A target group (TCP) with its health check.",
        TargetGroup::shape(),
        tags: TagApi::Elbv2,
        refresh: Refresh::ByIds,
    );
    fn normalize(&self, a: &mut Attrs) {
        health_check_defaults(a);
    }
    async fn describe(&self, cx: &Ctx, q: Query<'_>) -> Result<Vec<Observed>> {
        let tgs = list_target_groups(cx).await?;
        let arn = AwsTargetGroup::target_group_arn;
        describe_listed(cx, q, &tgs, arn, &TargetGroup::shape()).await
    }
    async fn create(&self, cx: &Ctx, c: Create<'_>) -> Result<String> {
        // The name is derived from the tags and the client token when unset.
        let name = Naming::Elb.name(&c);
        let new = cx.clients.elb.create_target_group().name(name).set_tags(Some(elb_tags(c.tags)));
        let req = build(&TargetGroup::shape(), new, c.planned);
        let id = create_call(
            cx,
            "elbv2:CreateTargetGroup",
            || req.clone().send(),
            |o| o.target_groups().first()?.target_group_arn(),
        );
        id.await
    }
    async fn delete(&self, cx: &Ctx, id: &str, _prior: &Value) -> Result<()> {
        let req = cx.clients.elb.delete_target_group().target_group_arn(id);
        // Still referenced by a listener that is being deleted.
        delete_call(cx, "elbv2:DeleteTargetGroup", Some("ResourceInUse"), || req.clone().send())
            .await
    }
}

/// A registered target. Id derived from (target group, target, port).
pub(super) struct TargetGroupAttachment;

impl TargetGroupAttachment {
    fn shape() -> Vec<Field<(), NewAttachment>> {
        type F = Field<(), NewAttachment>;
        // The target and its port go into one TargetDescription (`target`).
        vec![
            F::attr("target_group_arn", A::required(Type::String).force_new())
                .write(|b, v| b.set_target_group_arn(text(v))),
            F::attr("target_id", A::required(Type::String).force_new()),
            F::attr("port", A::optional(Type::Number).force_new()),
        ]
    }

    fn attachment_id(v: &Value) -> String {
        let (s, port) = (|k| str_attr(v, k).unwrap_or_default(), int_attr(v, "port"));
        let port = port.map(|p| p.to_string()).unwrap_or_default();
        derived_id("tga", &[&s("target_group_arn"), &s("target_id"), &port])
    }

    fn target(v: &Value) -> TargetDescription {
        let port = int_attr(v, "port").map(|p| p as i32);
        TargetDescription::builder().set_id(str_attr(v, "target_id")).set_port(port).build()
    }
}

#[async_trait::async_trait]
impl ResourceType for TargetGroupAttachment {
    declared!(
        "aws_lb_target_group_attachment",
        "Registers an instance with a target group.",
        TargetGroupAttachment::shape(),
        tags: TagApi::None,
        identity: Identity::Derived(|v| Some(Self::attachment_id(v))),
    );
    /// One DescribeTargetHealth per target group (not per attachment).
    async fn observe(&self, cx: &Ctx, priors: &[Value]) -> Result<Vec<Option<Observed>>> {
        let api = "elbv2:DescribeTargetHealth";
        let mut registered: BTreeMap<String, Vec<(String, Option<i32>)>> = BTreeMap::new();
        for g in distinct_attr(priors, "target_group_arn") {
            let req = cx.clients.elb.describe_target_health().target_group_arn(&g);
            let health = match cx.clients.call(api, || req.clone().send()).await {
                Ok(resp) => resp.target_health_descriptions.unwrap_or_default(),
                Err(e) if e.is_not_found() => Vec::new(),
                Err(e) => return Err(to_provider_error(api, e)),
            };
            // Draining targets are on their way out.
            let draining = Some(&TargetHealthStateEnum::Draining);
            let live =
                health.iter().filter(|d| d.target_health().and_then(|h| h.state()) != draining);
            let targets = live.filter_map(|d| d.target());
            let targets = targets.filter_map(|t| Some((t.id()?.to_string(), t.port())));
            registered.insert(g, targets.collect());
        }
        let found = |p: &Value| {
            let (g, id) = (str_attr(p, "target_group_arn")?, str_attr(p, "target_id")?);
            let port = int_attr(p, "port").map(|p| p as i32);
            let on = registered
                .get(&g)?
                .iter()
                .any(|(t, pt)| *t == id && (port.is_none() || *pt == port));
            on.then(|| Observed { id: Self::attachment_id(p), attrs: Attrs::new(), tags: None })
        };
        Ok(priors.iter().map(found).collect())
    }
    async fn create(&self, cx: &Ctx, c: Create<'_>) -> Result<String> {
        let new = cx.clients.elb.register_targets().targets(Self::target(c.planned));
        let req = build(&Self::shape(), new, c.planned);
        cx.clients.run("elbv2:RegisterTargets", || req.clone().send()).await?;
        Ok(Self::attachment_id(c.planned))
    }
    async fn delete(&self, cx: &Ctx, _id: &str, prior: &Value) -> Result<()> {
        let Some(g) = str_attr(prior, "target_group_arn") else { return Ok(()) };
        let req =
            cx.clients.elb.deregister_targets().target_group_arn(g).targets(Self::target(prior));
        // InvalidTarget: not registered (any more).
        let done = ["InvalidTarget"];
        remove_call(cx, "elbv2:DeregisterTargets", None, &done, || req.clone().send()).await
    }
}
