//! ELBv2 (network load balancers): aws_lb, aws_lb_target_group, aws_lb_listener,
//! aws_lb_target_group_attachment.
//!
//! ELBv2 has no tag filter on its Describe calls. Refresh therefore lists the account's load
//! balancers (or target groups) — one paginated call, 400 per page — and fetches tags with
//! DescribeTags, 20 ARNs per call: O(types + objects/20) calls, still not one per object. In
//! one refresh the listings and a single DescribeTags round are shared by both types.
//! Listeners are read with one DescribeListeners over all listener ARNs in state; attachments
//! with one DescribeTargetHealth per target group.
//!
//! Names: load balancer and target group names are unique per account and region and at most 32
//! characters. The default name is the `Name` tag cut short plus 8 hex digits of the client
//! token, so a replacement (a new generation) never collides with its predecessor.
//!
//! Delete ordering AWS enforces and moto does not: a target group in use by a listener cannot
//! be deleted (ResourceInUse, retried here until the ready timeout); a load balancer's ENIs
//! linger for minutes after deletion and block its subnets' and security groups' deletion
//! (handled by the DependencyViolation retry of those types).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, LoadBalancer as AwsLoadBalancer, LoadBalancerSchemeEnum,
    LoadBalancerTypeEnum, ProtocolEnum, TargetDescription, TargetGroup as AwsTargetGroup,
    TargetTypeEnum,
};
use sha2::Digest;

use super::client::to_provider_error;
use super::declare::{self, Field, Identity, TagApi, attr, block, delete_call, updater};
use super::resource::{
    Attrs, Ctx, Observed, Query, ResourceType, attrs, block_attr, blocks_attr, bool_attr, changed,
    default_attr, gone_ok, int_attr, normalize_set, str_attr, strs_attr, vnum, vset, vstr,
};
use super::tags::{ADDRESS_TAG, NAME_TAG, STACK_TAG, Tags};
use crate::provider::{AttributeSchema as A, BlockNesting, ProviderError, Schema};
use crate::value::{Type, Value};

pub fn types() -> Vec<Box<dyn ResourceType>> {
    vec![
        Box::new(LoadBalancer),
        Box::new(TargetGroup),
        Box::new(Listener),
        Box::new(TargetGroupAttachment),
    ]
}

/// Collects every page of an ELBv2 Describe (marker-paginated, 400 per page).
macro_rules! paginate_marker {
    ($cx:expr, $api:literal, $build:expr, $items:ident) => {{
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let resp = $cx
                .clients
                .run($api, || {
                    $build.page_size(400).set_marker(marker.clone()).send()
                })
                .await?;
            out.extend(resp.$items().iter().cloned());
            match resp.next_marker() {
                Some(m) if !m.is_empty() => marker = Some(m.to_string()),
                _ => break,
            }
        }
        out
    }};
}

/// Every load balancer of the account and region (ELBv2 cannot filter by tag), listed once per
/// refresh.
async fn list_load_balancers(cx: &Ctx) -> Result<Arc<Vec<AwsLoadBalancer>>, ProviderError> {
    cx.shared("elbv2:DescribeLoadBalancers", || async {
        let elb = &cx.clients.elb;
        Ok(paginate_marker!(
            cx,
            "elbv2:DescribeLoadBalancers",
            elb.describe_load_balancers(),
            load_balancers
        ))
    })
    .await
}

/// Every target group of the account and region, listed once per refresh.
async fn list_target_groups(cx: &Ctx) -> Result<Arc<Vec<AwsTargetGroup>>, ProviderError> {
    cx.shared("elbv2:DescribeTargetGroups", || async {
        let elb = &cx.clients.elb;
        Ok(paginate_marker!(
            cx,
            "elbv2:DescribeTargetGroups",
            elb.describe_target_groups(),
            target_groups
        ))
    })
    .await
}

/// Tags of these ARNs (all of existing objects). ELBv2 Describe calls return no tags, so each
/// type would need its own DescribeTags; in a refresh of both load balancers and target
/// groups, one shared round covers every ARN of either type that state holds and AWS lists.
async fn elb_tags(cx: &Ctx, arns: &[String]) -> Result<Arc<BTreeMap<String, Tags>>, ProviderError> {
    const TYPES: [&str; 2] = ["aws_lb", "aws_lb_target_group"];
    if TYPES.iter().all(|t| cx.refreshing(t)) {
        let shared = cx
            .shared("elbv2:DescribeTags", || async {
                let lbs = list_load_balancers(cx).await?;
                let tgs = list_target_groups(cx).await?;
                let listed = lbs
                    .iter()
                    .filter_map(|l| l.load_balancer_arn())
                    .chain(tgs.iter().filter_map(|t| t.target_group_arn()));
                let in_state: Vec<String> = listed
                    .filter(|a| {
                        TYPES
                            .iter()
                            .any(|t| cx.refresh_ids(t).iter().any(|i| i == a))
                    })
                    .map(str::to_string)
                    .collect();
                tags_of_arns(cx, &in_state).await
            })
            .await?;
        if arns.iter().all(|a| shared.contains_key(a)) {
            return Ok(shared);
        }
    }
    tags_of_arns(cx, arns).await.map(Arc::new)
}

/// Tags of many ARNs, 20 per DescribeTags call (the API's limit).
async fn tags_of_arns(cx: &Ctx, arns: &[String]) -> Result<BTreeMap<String, Tags>, ProviderError> {
    let elb = &cx.clients.elb;
    let mut out = BTreeMap::new();
    for chunk in arns.chunks(20) {
        let resp = cx
            .clients
            .run("elbv2:DescribeTags", || {
                elb.describe_tags()
                    .set_resource_arns(Some(chunk.to_vec()))
                    .send()
            })
            .await?;
        for d in resp.tag_descriptions() {
            if let Some(arn) = d.resource_arn() {
                out.insert(
                    arn.to_string(),
                    d.tags()
                        .iter()
                        .filter_map(|t| {
                            Some((t.key()?.to_string(), t.value().unwrap_or("").to_string()))
                        })
                        .collect(),
                );
            }
        }
    }
    Ok(out)
}

/// Keeps the objects a query asks for, given every object of the type with its tags.
fn select(cx: &Ctx, q: Query<'_>, all: Vec<Observed>) -> Vec<Observed> {
    all.into_iter()
        .filter(|o| {
            let tags = o.tags.clone().unwrap_or_default();
            let ours = tags.get(STACK_TAG) == Some(&cx.stack_id);
            match q {
                Query::Stack => ours,
                Query::Address(a) => ours && tags.get(ADDRESS_TAG).map(String::as_str) == Some(a),
                Query::Ids(ids) => ids.contains(&o.id),
            }
        })
        .collect()
}

fn default_name(tags: &Tags, client_token: &str) -> String {
    let base: String = tags
        .get(NAME_TAG)
        .map(String::as_str)
        .unwrap_or("slipway")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(23)
        .collect();
    let base = base.trim_matches('-');
    let h = hex::encode(sha2::Sha256::digest(client_token.as_bytes()));
    format!(
        "{}-{}",
        if base.is_empty() { "slipway" } else { base },
        &h[..8]
    )
}

/// The default observation would list the account twice (by stack, then by id); one listing
/// covers both.
async fn observe_by_ids<T: ResourceType + ?Sized>(
    t: &T,
    cx: &Ctx,
    priors: &[Value],
) -> Result<Vec<Option<Observed>>, ProviderError> {
    let ids: Vec<String> = priors.iter().filter_map(|p| str_attr(p, "id")).collect();
    if ids.is_empty() {
        return Ok(priors.iter().map(|_| None).collect());
    }
    let found = t.describe(cx, Query::Ids(&ids)).await?;
    Ok(priors
        .iter()
        .map(|p| {
            let id = str_attr(p, "id")?;
            found.iter().find(|o| o.id == id).cloned()
        })
        .collect())
}

// ---------------------------------------------------------------------------------------------

pub struct LoadBalancer;

#[async_trait::async_trait]
impl ResourceType for LoadBalancer {
    fn name(&self) -> &'static str {
        "aws_lb"
    }
    fn description(&self) -> &'static str {
        "A network load balancer (the apiserver endpoint)."
    }
    fn fields(&self) -> Vec<Field> {
        vec![
            attr("name", A::optional_computed(Type::String).force_new()),
            attr(
                "internal",
                A::optional(Type::Bool)
                    .force_new()
                    .default(Value::Bool(false)),
            ),
            attr(
                "load_balancer_type",
                A::optional(Type::String)
                    .force_new()
                    .default(Value::string("network")),
            ),
            attr(
                "subnets",
                A::required(Type::List(Box::new(Type::String))).force_new(),
            ),
            attr("arn", A::computed(Type::String)),
            attr("dns_name", A::computed(Type::String)),
            attr("zone_id", A::computed(Type::String)),
            attr("vpc_id", A::computed(Type::String)),
        ]
    }
    fn normalize(&self, a: &mut Attrs) {
        normalize_set(a, "subnets");
    }
    async fn describe(&self, cx: &Ctx, q: Query<'_>) -> Result<Vec<Observed>, ProviderError> {
        let lbs = list_load_balancers(cx).await?;
        // Tags only for candidates: by id when asked by id, else every load balancer.
        let arns: Vec<String> = lbs
            .iter()
            .filter_map(|l| l.load_balancer_arn().map(str::to_string))
            .filter(|a| match q {
                Query::Ids(ids) => ids.contains(a),
                _ => true,
            })
            .collect();
        let tags = elb_tags(cx, &arns).await?;
        let all = lbs
            .iter()
            .filter_map(|l| {
                let arn = l.load_balancer_arn()?.to_string();
                let t = tags.get(&arn)?.clone();
                Some(Observed {
                    attrs: attrs(vec![
                        ("name", vstr(l.load_balancer_name())),
                        (
                            "internal",
                            Value::Bool(l.scheme() == Some(&LoadBalancerSchemeEnum::Internal)),
                        ),
                        ("load_balancer_type", vstr(l.r#type().map(|t| t.as_str()))),
                        (
                            "subnets",
                            vset(
                                l.availability_zones()
                                    .iter()
                                    .filter_map(|z| z.subnet_id().map(str::to_string)),
                            ),
                        ),
                        ("arn", Value::string(arn.clone())),
                        ("dns_name", vstr(l.dns_name())),
                        ("zone_id", vstr(l.canonical_hosted_zone_id())),
                        ("vpc_id", vstr(l.vpc_id())),
                    ]),
                    tags: Some(t),
                    id: arn,
                })
            })
            .collect();
        Ok(select(cx, q, all))
    }
    async fn observe(
        &self,
        cx: &Ctx,
        priors: &[Value],
    ) -> Result<Vec<Option<Observed>>, ProviderError> {
        observe_by_ids(self, cx, priors).await
    }
    async fn create(
        &self,
        cx: &Ctx,
        planned: &Value,
        tags: &Tags,
        client_token: &str,
    ) -> Result<String, ProviderError> {
        let lb_type = str_attr(planned, "load_balancer_type").unwrap_or_else(|| "network".into());
        if lb_type != "network" {
            return Err(ProviderError::fatal(format!(
                "aws_lb: load_balancer_type {lb_type:?} is not supported yet (only \"network\")"
            )));
        }
        let name = str_attr(planned, "name").unwrap_or_else(|| default_name(tags, client_token));
        let scheme = if bool_attr(planned, "internal").unwrap_or(false) {
            LoadBalancerSchemeEnum::Internal
        } else {
            LoadBalancerSchemeEnum::InternetFacing
        };
        let subnets = strs_attr(planned, "subnets");
        let elb = &cx.clients.elb;
        let out = cx
            .clients
            .run("elbv2:CreateLoadBalancer", || {
                elb.create_load_balancer()
                    .name(&name)
                    .r#type(LoadBalancerTypeEnum::Network)
                    .scheme(scheme.clone())
                    .set_subnets(Some(subnets.clone()))
                    .set_tags(Some(declare::elb_tags(tags)))
                    .send()
            })
            .await?;
        out.load_balancers()
            .first()
            .and_then(|l| l.load_balancer_arn())
            .map(str::to_string)
            .ok_or_else(|| ProviderError::fatal("CreateLoadBalancer returned no ARN"))
    }
    async fn wait_ready(&self, cx: &Ctx, id: &str) -> Result<(), ProviderError> {
        let elb = &cx.clients.elb;
        let start = Instant::now();
        loop {
            let resp = cx
                .clients
                .run("elbv2:DescribeLoadBalancers", || {
                    elb.describe_load_balancers().load_balancer_arns(id).send()
                })
                .await?;
            let state = resp
                .load_balancers()
                .first()
                .and_then(|l| l.state())
                .and_then(|s| s.code())
                .map(|c| c.as_str().to_string());
            match state.as_deref() {
                Some("active") => return Ok(()),
                Some("failed") => {
                    return Err(ProviderError::fatal(format!("load balancer {id} failed")));
                }
                _ if start.elapsed() >= cx.clients.policy.ready_timeout => {
                    return Err(ProviderError::fatal(format!(
                        "timed out waiting for load balancer {id} to be active"
                    )));
                }
                _ => tokio::time::sleep(cx.clients.policy.poll_interval).await,
            }
        }
    }
    fn tag_api(&self) -> TagApi {
        TagApi::Elbv2
    }
    async fn delete(&self, cx: &Ctx, id: &str, _prior: &Value) -> Result<(), ProviderError> {
        let elb = &cx.clients.elb;
        delete_call(cx, "elbv2:DeleteLoadBalancer", None, || {
            elb.delete_load_balancer().load_balancer_arn(id).send()
        })
        .await
    }
}

// ---------------------------------------------------------------------------------------------

pub struct TargetGroup;

fn health_check_schema() -> Schema {
    Schema::new()
        .attr(
            "protocol",
            A::optional(Type::String).default(Value::string("TCP")),
        )
        .attr(
            "port",
            A::optional(Type::String).default(Value::string("traffic-port")),
        )
        .attr("path", A::optional(Type::String))
        .attr(
            "interval",
            A::optional(Type::Number).default(Value::Number(30.0)),
        )
        .attr(
            "healthy_threshold",
            A::optional(Type::Number).default(Value::Number(3.0)),
        )
        .attr(
            "unhealthy_threshold",
            A::optional(Type::Number).default(Value::Number(3.0)),
        )
}

fn health_check_defaults(a: &mut Attrs) {
    let mut h = a
        .get("health_check")
        .and_then(Value::as_map)
        .cloned()
        .unwrap_or_default();
    default_attr(&mut h, "protocol", Value::string("TCP"));
    default_attr(&mut h, "port", Value::string("traffic-port"));
    default_attr(&mut h, "path", Value::Null);
    default_attr(&mut h, "interval", Value::Number(30.0));
    default_attr(&mut h, "healthy_threshold", Value::Number(3.0));
    default_attr(&mut h, "unhealthy_threshold", Value::Number(3.0));
    a.insert("health_check".into(), Value::Map(h));
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
        let fixed = |d: &str| {
            A::optional(Type::String)
                .force_new()
                .default(Value::string(d))
        };
        vec![
            attr("name", A::optional_computed(Type::String).force_new()),
            attr("port", A::required(Type::Number).force_new()),
            attr("protocol", fixed("TCP")),
            attr("vpc_id", A::required(Type::String).force_new()),
            attr("target_type", fixed("instance")),
            attr("arn", A::computed(Type::String)),
            block("health_check", BlockNesting::Single, health_check_schema()).by(updater!(
                "elbv2:ModifyTargetGroup",
                TargetGroup::modify_health_check
            )),
        ]
    }
    fn normalize(&self, a: &mut Attrs) {
        health_check_defaults(a);
    }
    async fn describe(&self, cx: &Ctx, q: Query<'_>) -> Result<Vec<Observed>, ProviderError> {
        let tgs = list_target_groups(cx).await?;
        let arns: Vec<String> = tgs
            .iter()
            .filter_map(|t| t.target_group_arn().map(str::to_string))
            .filter(|a| match q {
                Query::Ids(ids) => ids.contains(a),
                _ => true,
            })
            .collect();
        let tags = elb_tags(cx, &arns).await?;
        let all = tgs
            .iter()
            .filter_map(|t| {
                let arn = t.target_group_arn()?.to_string();
                let tg_tags = tags.get(&arn)?.clone();
                let mut hc = Attrs::new();
                hc.insert(
                    "protocol".into(),
                    vstr(t.health_check_protocol().map(|p| p.as_str())),
                );
                hc.insert("port".into(), vstr(t.health_check_port()));
                hc.insert("path".into(), vstr(t.health_check_path()));
                hc.insert(
                    "interval".into(),
                    vnum(t.health_check_interval_seconds().map(i64::from)),
                );
                hc.insert(
                    "healthy_threshold".into(),
                    vnum(t.healthy_threshold_count().map(i64::from)),
                );
                hc.insert(
                    "unhealthy_threshold".into(),
                    vnum(t.unhealthy_threshold_count().map(i64::from)),
                );
                Some(Observed {
                    attrs: attrs(vec![
                        ("name", vstr(t.target_group_name())),
                        ("port", vnum(t.port().map(i64::from))),
                        ("protocol", vstr(t.protocol().map(|p| p.as_str()))),
                        ("vpc_id", vstr(t.vpc_id())),
                        ("target_type", vstr(t.target_type().map(|p| p.as_str()))),
                        ("arn", Value::string(arn.clone())),
                        ("health_check", Value::Map(hc)),
                    ]),
                    tags: Some(tg_tags),
                    id: arn,
                })
            })
            .collect();
        Ok(select(cx, q, all))
    }
    async fn observe(
        &self,
        cx: &Ctx,
        priors: &[Value],
    ) -> Result<Vec<Option<Observed>>, ProviderError> {
        observe_by_ids(self, cx, priors).await
    }
    async fn create(
        &self,
        cx: &Ctx,
        planned: &Value,
        tags: &Tags,
        client_token: &str,
    ) -> Result<String, ProviderError> {
        let name = str_attr(planned, "name").unwrap_or_else(|| default_name(tags, client_token));
        let hc = block_attr(planned, "health_check").unwrap_or(Value::Null);
        let elb = &cx.clients.elb;
        let out = cx
            .clients
            .run("elbv2:CreateTargetGroup", || {
                elb.create_target_group()
                    .name(&name)
                    .protocol(ProtocolEnum::from(
                        str_attr(planned, "protocol").as_deref().unwrap_or("TCP"),
                    ))
                    .set_port(int_attr(planned, "port").map(|p| p as i32))
                    .set_vpc_id(str_attr(planned, "vpc_id"))
                    .target_type(TargetTypeEnum::from(
                        str_attr(planned, "target_type")
                            .as_deref()
                            .unwrap_or("instance"),
                    ))
                    .set_health_check_protocol(
                        str_attr(&hc, "protocol").map(|p| ProtocolEnum::from(p.as_str())),
                    )
                    .set_health_check_port(str_attr(&hc, "port"))
                    .set_health_check_path(str_attr(&hc, "path"))
                    .set_health_check_interval_seconds(int_attr(&hc, "interval").map(|n| n as i32))
                    .set_healthy_threshold_count(
                        int_attr(&hc, "healthy_threshold").map(|n| n as i32),
                    )
                    .set_unhealthy_threshold_count(
                        int_attr(&hc, "unhealthy_threshold").map(|n| n as i32),
                    )
                    .set_tags(Some(declare::elb_tags(tags)))
                    .send()
            })
            .await?;
        out.target_groups()
            .first()
            .and_then(|t| t.target_group_arn())
            .map(str::to_string)
            .ok_or_else(|| ProviderError::fatal("CreateTargetGroup returned no ARN"))
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
                elb.modify_target_group()
                    .target_group_arn(id)
                    .set_health_check_protocol(
                        str_attr(&hc, "protocol").map(|p| ProtocolEnum::from(p.as_str())),
                    )
                    .set_health_check_port(str_attr(&hc, "port"))
                    .set_health_check_path(str_attr(&hc, "path"))
                    .set_health_check_interval_seconds(int_attr(&hc, "interval").map(|n| n as i32))
                    .set_healthy_threshold_count(
                        int_attr(&hc, "healthy_threshold").map(|n| n as i32),
                    )
                    .set_unhealthy_threshold_count(
                        int_attr(&hc, "unhealthy_threshold").map(|n| n as i32),
                    )
                    .send()
            })
            .await?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------

/// Untagged here: found by (load balancer, port), which AWS keeps unique.
pub struct Listener;

fn forward_actions(planned: &Value) -> Vec<Action> {
    blocks_attr(planned, "default_action")
        .iter()
        .map(|a| {
            Action::builder()
                .r#type(ActionTypeEnum::from(
                    str_attr(a, "type").as_deref().unwrap_or("forward"),
                ))
                .set_target_group_arn(str_attr(a, "target_group_arn"))
                .build()
        })
        .collect()
}

#[async_trait::async_trait]
impl ResourceType for Listener {
    fn name(&self) -> &'static str {
        "aws_lb_listener"
    }
    fn description(&self) -> &'static str {
        "A listener forwarding a port of a load balancer to a target group."
    }
    fn fields(&self) -> Vec<Field> {
        // One ModifyListener carries port, protocol and actions.
        let modify = updater!("elbv2:ModifyListener", Listener::modify);
        vec![
            attr("load_balancer_arn", A::required(Type::String).force_new()),
            attr("port", A::required(Type::Number)).by(modify),
            attr(
                "protocol",
                A::optional(Type::String).default(Value::string("TCP")),
            )
            .by(modify),
            attr("arn", A::computed(Type::String)),
            block(
                "default_action",
                BlockNesting::List,
                Schema::new()
                    .attr("type", A::required(Type::String))
                    .attr("target_group_arn", A::optional(Type::String)),
            )
            .by(modify),
        ]
    }
    fn tag_api(&self) -> TagApi {
        TagApi::None
    }
    fn identity(&self) -> Identity {
        Identity::UniqueKey
    }
    fn normalize(&self, a: &mut Attrs) {
        if let Some(Value::List(actions)) = a.get("default_action") {
            let canon: Vec<Value> = actions
                .iter()
                .map(|x| {
                    Value::Map(attrs(vec![
                        ("type", x.get_attr("type").unwrap_or(Value::Null)),
                        (
                            "target_group_arn",
                            x.get_attr("target_group_arn").unwrap_or(Value::Null),
                        ),
                    ]))
                })
                .collect();
            a.insert("default_action".into(), Value::List(canon));
        }
    }
    async fn describe(&self, cx: &Ctx, q: Query<'_>) -> Result<Vec<Observed>, ProviderError> {
        let Query::Ids(ids) = q else {
            return Ok(Vec::new());
        };
        let elb = &cx.clients.elb;
        let r = cx
            .clients
            .call("elbv2:DescribeListeners", || {
                elb.describe_listeners()
                    .set_listener_arns(Some(ids.to_vec()))
                    .send()
            })
            .await;
        let resp = match r {
            Ok(resp) => resp,
            // One missing ARN fails the batch; then they are all looked up through their
            // load balancers by `observe`'s caller on the next refresh. Treat as gone here
            // only when asked for a single listener.
            Err(e) if e.code == "ListenerNotFound" && ids.len() == 1 => return Ok(Vec::new()),
            Err(e) => return Err(to_provider_error("elbv2:DescribeListeners", e)),
        };
        Ok(resp
            .listeners()
            .iter()
            .filter_map(|l| {
                let arn = l.listener_arn()?.to_string();
                let actions: Vec<Value> = l
                    .default_actions()
                    .iter()
                    .map(|a| {
                        Value::Map(attrs(vec![
                            (
                                "type",
                                vstr(Some(a.r#type().map(|t| t.as_str()).unwrap_or(""))),
                            ),
                            ("target_group_arn", vstr(a.target_group_arn())),
                        ]))
                    })
                    .collect();
                Some(Observed {
                    attrs: attrs(vec![
                        ("load_balancer_arn", vstr(l.load_balancer_arn())),
                        ("port", vnum(l.port().map(i64::from))),
                        ("protocol", vstr(l.protocol().map(|p| p.as_str()))),
                        ("arn", Value::string(arn.clone())),
                        ("default_action", Value::List(actions)),
                    ]),
                    tags: None,
                    id: arn,
                })
            })
            .collect())
    }
    /// One DescribeListeners by ARN; if any ARN is gone (which fails the whole call), one
    /// DescribeListeners per load balancer instead.
    async fn observe(
        &self,
        cx: &Ctx,
        priors: &[Value],
    ) -> Result<Vec<Option<Observed>>, ProviderError> {
        let ids: Vec<String> = priors.iter().filter_map(|p| str_attr(p, "id")).collect();
        if ids.is_empty() {
            return Ok(priors.iter().map(|_| None).collect());
        }
        let found = match self.describe(cx, Query::Ids(&ids)).await {
            Ok(f) => f,
            Err(e) if e.message.contains("ListenerNotFound") => {
                let mut lbs: Vec<String> = priors
                    .iter()
                    .filter_map(|p| str_attr(p, "load_balancer_arn"))
                    .collect();
                lbs.sort();
                lbs.dedup();
                let mut all = Vec::new();
                for lb in lbs {
                    all.extend(self.listeners_of(cx, &lb).await?);
                }
                all
            }
            Err(e) => return Err(e),
        };
        Ok(priors
            .iter()
            .map(|p| {
                let id = str_attr(p, "id")?;
                found.iter().find(|o| o.id == id).cloned()
            })
            .collect())
    }
    async fn find_existing(
        &self,
        cx: &Ctx,
        planned: &Value,
        _tags: &Tags,
        _token: &str,
    ) -> Result<Option<String>, ProviderError> {
        let (Some(lb), Some(port)) = (
            str_attr(planned, "load_balancer_arn"),
            int_attr(planned, "port"),
        ) else {
            return Ok(None);
        };
        Ok(self
            .listeners_of(cx, &lb)
            .await?
            .into_iter()
            .find(|o| o.attrs.get("port") == Some(&Value::Number(port as f64)))
            .map(|o| o.id))
    }
    async fn create(
        &self,
        cx: &Ctx,
        planned: &Value,
        _tags: &Tags,
        _token: &str,
    ) -> Result<String, ProviderError> {
        let elb = &cx.clients.elb;
        let out = cx
            .clients
            .run("elbv2:CreateListener", || {
                elb.create_listener()
                    .set_load_balancer_arn(str_attr(planned, "load_balancer_arn"))
                    .set_port(int_attr(planned, "port").map(|p| p as i32))
                    .protocol(ProtocolEnum::from(
                        str_attr(planned, "protocol").as_deref().unwrap_or("TCP"),
                    ))
                    .set_default_actions(Some(forward_actions(planned)))
                    .send()
            })
            .await?;
        out.listeners()
            .first()
            .and_then(|l| l.listener_arn())
            .map(str::to_string)
            .ok_or_else(|| ProviderError::fatal("CreateListener returned no ARN"))
    }
    async fn delete(&self, cx: &Ctx, id: &str, _prior: &Value) -> Result<(), ProviderError> {
        let elb = &cx.clients.elb;
        delete_call(cx, "elbv2:DeleteListener", None, || {
            elb.delete_listener().listener_arn(id).send()
        })
        .await
    }
}

impl Listener {
    async fn modify(
        cx: &Ctx,
        id: &str,
        prior: &Value,
        planned: &Value,
    ) -> Result<(), ProviderError> {
        if !["port", "protocol", "default_action"]
            .iter()
            .any(|k| changed(prior, planned, k))
        {
            return Ok(());
        }
        let elb = &cx.clients.elb;
        cx.clients
            .run("elbv2:ModifyListener", || {
                elb.modify_listener()
                    .listener_arn(id)
                    .set_port(int_attr(planned, "port").map(|p| p as i32))
                    .set_protocol(
                        str_attr(planned, "protocol").map(|p| ProtocolEnum::from(p.as_str())),
                    )
                    .set_default_actions(Some(forward_actions(planned)))
                    .send()
            })
            .await?;
        Ok(())
    }
}

impl Listener {
    async fn listeners_of(&self, cx: &Ctx, lb: &str) -> Result<Vec<Observed>, ProviderError> {
        let elb = &cx.clients.elb;
        let r = cx
            .clients
            .call("elbv2:DescribeListeners", || {
                elb.describe_listeners().load_balancer_arn(lb).send()
            })
            .await;
        let resp = match r {
            Ok(r) => r,
            Err(e) if e.is_not_found() => return Ok(Vec::new()),
            Err(e) => return Err(to_provider_error("elbv2:DescribeListeners", e)),
        };
        let arns: Vec<String> = resp
            .listeners()
            .iter()
            .filter_map(|l| l.listener_arn().map(str::to_string))
            .collect();
        if arns.is_empty() {
            return Ok(Vec::new());
        }
        self.describe(cx, Query::Ids(&arns)).await
    }
}

// ---------------------------------------------------------------------------------------------

/// A registered target. Id derived from (target group, target, port).
pub struct TargetGroupAttachment;

impl TargetGroupAttachment {
    fn attachment_id(v: &Value) -> String {
        let key = format!(
            "{}|{}|{}",
            str_attr(v, "target_group_arn").unwrap_or_default(),
            str_attr(v, "target_id").unwrap_or_default(),
            int_attr(v, "port")
                .map(|p| p.to_string())
                .unwrap_or_default()
        );
        format!(
            "tga-{}",
            &hex::encode(sha2::Sha256::digest(key.as_bytes()))[..16]
        )
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
        let mut groups: Vec<String> = priors
            .iter()
            .filter_map(|p| str_attr(p, "target_group_arn"))
            .collect();
        groups.sort();
        groups.dedup();
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
    async fn create(
        &self,
        cx: &Ctx,
        planned: &Value,
        _tags: &Tags,
        _token: &str,
    ) -> Result<String, ProviderError> {
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
                elb.deregister_targets()
                    .target_group_arn(&g)
                    .targets(Self::target(prior))
                    .send()
            })
            .await
            .map(|_| ());
        match r {
            Err(e) if e.code == "InvalidTarget" => Ok(()),
            other => gone_ok("elbv2:DeregisterTargets", other),
        }
    }
}
