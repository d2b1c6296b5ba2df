//! aws_lb: a network load balancer, named by default from its `Name` tag and the client token
//! (`default_name`), read through the account-wide listing and tag round of `super`.

use std::time::Instant;

use aws_sdk_elasticloadbalancingv2::types::{
    LoadBalancer as AwsLoadBalancer, LoadBalancerSchemeEnum, LoadBalancerTypeEnum,
};

use super::{default_name, describe_listed, list_load_balancers};
use crate::declare::{self, Field, TagApi, delete_call, erase, returned_id};
use crate::provider::{AttributeSchema as A, ProviderError};
use crate::resource::{
    Attrs, Create, Ctx, Observed, Query, ResourceType, bool_attr, normalize_set, observe_by_ids,
    str_attr, strs_attr, vset,
};
use crate::value::{Type, Value};

pub(super) struct LoadBalancer;

impl LoadBalancer {
    fn shape() -> Vec<Field<AwsLoadBalancer>> {
        type F = Field<AwsLoadBalancer>;
        vec![
            F::attr("name", A::optional_computed(Type::String).force_new())
                .read_str(AwsLoadBalancer::load_balancer_name),
            F::attr("internal", A::optional(Type::Bool).force_new().default(Value::Bool(false)))
                .read(|l| Value::Bool(l.scheme() == Some(&LoadBalancerSchemeEnum::Internal))),
            F::attr(
                "load_balancer_type",
                A::optional(Type::String).force_new().default(Value::string("network")),
            )
            .read_str(|l| l.r#type().map(LoadBalancerTypeEnum::as_str)),
            F::attr("subnets", A::required(Type::List(Box::new(Type::String))).force_new()).read(
                |l| {
                    let zones = l.availability_zones().iter();
                    vset(zones.filter_map(|z| z.subnet_id().map(str::to_string)))
                },
            ),
            F::computed("arn", AwsLoadBalancer::load_balancer_arn),
            F::computed("dns_name", AwsLoadBalancer::dns_name),
            F::computed("zone_id", AwsLoadBalancer::canonical_hosted_zone_id),
            F::computed("vpc_id", AwsLoadBalancer::vpc_id),
        ]
    }
}

#[async_trait::async_trait]
impl ResourceType for LoadBalancer {
    fn name(&self) -> &'static str {
        "aws_lb"
    }
    fn description(&self) -> &'static str {
        "A network load balancer (the apiserver endpoint)."
    }
    fn fields(&self) -> Vec<Field> {
        erase(&LoadBalancer::shape())
    }
    fn normalize(&self, a: &mut Attrs) {
        normalize_set(a, "subnets");
    }
    async fn describe(&self, cx: &Ctx, q: Query<'_>) -> Result<Vec<Observed>, ProviderError> {
        let lbs = list_load_balancers(cx).await?;
        let arn = AwsLoadBalancer::load_balancer_arn;
        describe_listed(cx, q, &lbs, arn, &LoadBalancer::shape()).await
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
        returned_id(
            "elbv2:CreateLoadBalancer",
            out.load_balancers().first().and_then(|l| l.load_balancer_arn()),
        )
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
