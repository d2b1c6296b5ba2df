//! aws_lb_target_group and aws_lb_target_group_attachment: where a load balancer sends
//! traffic, and what is registered there.
//!
//! A target group's health check has AWS's defaults filled in on both sides (configuration and
//! read), so an unset block plans as no-op. An attachment carries no tags: its id is derived
//! from (target group, target, port), and it is read with one DescribeTargetHealth per target
//! group.

use std::collections::BTreeMap;

use aws_sdk_elasticloadbalancingv2::types::{
    ProtocolEnum, TargetDescription, TargetGroup as AwsTargetGroup, TargetTypeEnum,
};
use sha2::Digest;

use super::{default_name, describe_listed, list_target_groups};
use crate::client::to_provider_error;
use crate::declare::{
    self, Field, Identity, TagApi, attr, delete_call, erase, returned_id, updater,
};
use crate::provider::{AttributeSchema as A, BlockNesting, ProviderError, Schema};
use crate::resource::{
    Attrs, Create, Ctx, Observed, Query, ResourceType, attrs, block_attr, changed, default_attr,
    distinct_attr, gone_ok, int_attr, observe_by_ids, str_attr, vnum, vstr,
};
use crate::value::{Type, Value};

pub(super) struct TargetGroup;

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
    default_attr(&mut h, "protocol", Value::string("TCP"));
    default_attr(&mut h, "port", Value::string("traffic-port"));
    default_attr(&mut h, "path", Value::Null);
    default_attr(&mut h, "interval", Value::Number(30.0));
    default_attr(&mut h, "healthy_threshold", Value::Number(3.0));
    default_attr(&mut h, "unhealthy_threshold", Value::Number(3.0));
    a.insert("health_check".into(), Value::Map(h));
}

impl TargetGroup {
    fn shape() -> Vec<Field<AwsTargetGroup>> {
        type F = Field<AwsTargetGroup>;
        let fixed = |d: &str| A::optional(Type::String).force_new().default(Value::string(d));
        vec![
            F::attr("name", A::optional_computed(Type::String).force_new())
                .read_str(AwsTargetGroup::target_group_name),
            F::attr("port", A::required(Type::Number).force_new())
                .read(|t| vnum(t.port().map(i64::from))),
            F::attr("protocol", fixed("TCP")).read_str(|t| t.protocol().map(ProtocolEnum::as_str)),
            F::attr("vpc_id", A::required(Type::String).force_new())
                .read_str(AwsTargetGroup::vpc_id),
            F::attr("target_type", fixed("instance"))
                .read_str(|t| t.target_type().map(TargetTypeEnum::as_str)),
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
                }),
        ]
    }
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

#[async_trait::async_trait]
impl ResourceType for TargetGroup {
    fn name(&self) -> &'static str {
        "aws_lb_target_group"
    }
    fn description(&self) -> &'static str {
        "A target group (TCP) with its health check."
    }
    fn fields(&self) -> Vec<Field> {
        erase(&TargetGroup::shape())
    }
    fn normalize(&self, a: &mut Attrs) {
        health_check_defaults(a);
    }
    async fn describe(&self, cx: &Ctx, q: Query<'_>) -> Result<Vec<Observed>, ProviderError> {
        let tgs = list_target_groups(cx).await?;
        let arn = AwsTargetGroup::target_group_arn;
        describe_listed(cx, q, &tgs, arn, &TargetGroup::shape()).await
    }
    async fn observe(
        &self,
        cx: &Ctx,
        priors: &[Value],
    ) -> Result<Vec<Option<Observed>>, ProviderError> {
        observe_by_ids(self, cx, priors).await
    }
    async fn create(&self, cx: &Ctx, c: Create<'_>) -> Result<String, ProviderError> {
        let (planned, tags, client_token) = (c.planned, c.tags, c.token);
        let name = str_attr(planned, "name").unwrap_or_else(|| default_name(tags, client_token));
        let hc = block_attr(planned, "health_check").unwrap_or(Value::Null);
        let elb = &cx.clients.elb;
        let out = cx
            .clients
            .run("elbv2:CreateTargetGroup", || {
                let req = elb
                    .create_target_group()
                    .name(&name)
                    .protocol(ProtocolEnum::from(
                        str_attr(planned, "protocol").as_deref().unwrap_or("TCP"),
                    ))
                    .set_port(int_attr(planned, "port").map(|p| p as i32))
                    .set_vpc_id(str_attr(planned, "vpc_id"))
                    .target_type(TargetTypeEnum::from(
                        str_attr(planned, "target_type").as_deref().unwrap_or("instance"),
                    ));
                with_health_check!(req, &hc).set_tags(Some(declare::elb_tags(tags))).send()
            })
            .await?;
        returned_id(
            "elbv2:CreateTargetGroup",
            out.target_groups().first().and_then(|t| t.target_group_arn()),
        )
    }
    fn tag_api(&self) -> TagApi {
        TagApi::Elbv2
    }
    async fn delete(&self, cx: &Ctx, id: &str, _prior: &Value) -> Result<(), ProviderError> {
        let elb = &cx.clients.elb;
        // Still referenced by a listener that is being deleted.
        delete_call(cx, "elbv2:DeleteTargetGroup", Some("ResourceInUse"), || {
            elb.delete_target_group().target_group_arn(id).send()
        })
        .await
    }
}

impl TargetGroup {
    async fn modify_health_check(
        cx: &Ctx,
        id: &str,
        prior: &Value,
        planned: &Value,
    ) -> Result<(), ProviderError> {
        if !changed(prior, planned, "health_check") {
            return Ok(());
        }
        let hc = block_attr(planned, "health_check").unwrap_or(Value::Null);
        let elb = &cx.clients.elb;
        cx.clients
            .run("elbv2:ModifyTargetGroup", || {
                let req = elb.modify_target_group().target_group_arn(id);
                with_health_check!(req, &hc).send()
            })
            .await?;
        Ok(())
    }
}

/// A registered target. Id derived from (target group, target, port).
pub(super) struct TargetGroupAttachment;

impl TargetGroupAttachment {
    fn attachment_id(v: &Value) -> String {
        let key = format!(
            "{}|{}|{}",
            str_attr(v, "target_group_arn").unwrap_or_default(),
            str_attr(v, "target_id").unwrap_or_default(),
            int_attr(v, "port").map(|p| p.to_string()).unwrap_or_default()
        );
        format!("tga-{}", &hex::encode(sha2::Sha256::digest(key.as_bytes()))[..16])
    }

    fn target(v: &Value) -> TargetDescription {
        TargetDescription::builder()
            .set_id(str_attr(v, "target_id"))
            .set_port(int_attr(v, "port").map(|p| p as i32))
            .build()
    }
}

#[async_trait::async_trait]
impl ResourceType for TargetGroupAttachment {
    fn name(&self) -> &'static str {
        "aws_lb_target_group_attachment"
    }
    fn description(&self) -> &'static str {
        "Registers an instance with a target group."
    }
    fn fields(&self) -> Vec<Field> {
        vec![
            attr("target_group_arn", A::required(Type::String).force_new()),
            attr("target_id", A::required(Type::String).force_new()),
            attr("port", A::optional(Type::Number).force_new()),
        ]
    }
    fn tag_api(&self) -> TagApi {
        TagApi::None
    }
    fn identity(&self) -> Identity {
        Identity::Derived(|v| Some(Self::attachment_id(v)))
    }
    /// One DescribeTargetHealth per target group (not per attachment).
    async fn observe(
        &self,
        cx: &Ctx,
        priors: &[Value],
    ) -> Result<Vec<Option<Observed>>, ProviderError> {
        let groups = distinct_attr(priors, "target_group_arn");
        let elb = &cx.clients.elb;
        let mut registered: BTreeMap<String, Vec<(String, Option<i32>)>> = BTreeMap::new();
        for g in groups {
            let r = cx
                .clients
                .call("elbv2:DescribeTargetHealth", || {
                    elb.describe_target_health().target_group_arn(&g).send()
                })
                .await;
            let targets = match r {
                Ok(resp) => resp
                    .target_health_descriptions()
                    .iter()
                    .filter(|d| {
                        // Draining targets are on their way out.
                        d.target_health()
                            .and_then(|h| h.state())
                            .is_none_or(|s| s.as_str() != "draining")
                    })
                    .filter_map(|d| {
                        let t = d.target()?;
                        Some((t.id()?.to_string(), t.port()))
                    })
                    .collect(),
                Err(e) if e.is_not_found() => Vec::new(),
                Err(e) => return Err(to_provider_error("elbv2:DescribeTargetHealth", e)),
            };
            registered.insert(g, targets);
        }
        Ok(priors
            .iter()
            .map(|p| {
                let g = str_attr(p, "target_group_arn")?;
                let id = str_attr(p, "target_id")?;
                let port = int_attr(p, "port").map(|p| p as i32);
                registered
                    .get(&g)?
                    .iter()
                    .any(|(t, pt)| *t == id && (port.is_none() || *pt == port))
                    .then(|| Observed {
                        id: Self::attachment_id(p),
                        attrs: Attrs::new(),
                        tags: None,
                    })
            })
            .collect())
    }
    async fn create(&self, cx: &Ctx, c: Create<'_>) -> Result<String, ProviderError> {
        let planned = c.planned;
        let elb = &cx.clients.elb;
        cx.clients
            .run("elbv2:RegisterTargets", || {
                elb.register_targets()
                    .set_target_group_arn(str_attr(planned, "target_group_arn"))
                    .targets(Self::target(planned))
                    .send()
            })
            .await?;
        Ok(Self::attachment_id(planned))
    }
    async fn delete(&self, cx: &Ctx, _id: &str, prior: &Value) -> Result<(), ProviderError> {
        let Some(g) = str_attr(prior, "target_group_arn") else {
            return Ok(());
        };
        let elb = &cx.clients.elb;
        let r = cx
            .clients
            .call("elbv2:DeregisterTargets", || {
                elb.deregister_targets().target_group_arn(&g).targets(Self::target(prior)).send()
            })
            .await
            .map(|_| ());
        match r {
            Err(e) if e.code == "InvalidTarget" => Ok(()),
            other => gone_ok("elbv2:DeregisterTargets", other),
        }
    }
}
