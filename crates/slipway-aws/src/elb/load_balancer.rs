//! aws_lb: a network load balancer, named by default from its `Name` tag and the client token
//! (`Naming::Elb`), read through the account-wide listing and tag round of `super`.

use aws_sdk_elasticloadbalancingv2::operation::create_load_balancer::builders::CreateLoadBalancerFluentBuilder as NewLb;
use aws_sdk_elasticloadbalancingv2::types::{
    LoadBalancer as AwsLoadBalancer, LoadBalancerSchemeEnum as Scheme, LoadBalancerState,
    LoadBalancerTypeEnum,
};

use super::{describe_listed, list_load_balancers};
use crate::declare::{
    Field, Goal, Naming, Refresh, TagApi, build, create_call, declared, delete_call, elb_tags,
    wait_status,
};
use crate::provider::AttributeSchema as A;
use crate::resource::{
    Attrs, Create, Ctx, Observed, Query, ResourceType, Result, flag, normalize_set, texts, vset,
};
use crate::value::{Type, Value};

pub(super) struct LoadBalancer;

impl LoadBalancer {
    fn shape() -> Vec<Field<AwsLoadBalancer, NewLb>> {
        type F = Field<AwsLoadBalancer, NewLb>;
        let kind = A::optional(Type::String).force_new().default(Value::string("network"));
        // Application and gateway load balancers are not supported yet: refused at plan time.
        let kind = kind.one_of(&["network"]);
        vec![
            F::attr("name", A::optional_computed(Type::String).force_new())
                .read_str(AwsLoadBalancer::load_balancer_name),
            F::attr("internal", A::optional(Type::Bool).force_new().default(Value::Bool(false)))
                .read(|l| Value::Bool(l.scheme() == Some(&Scheme::Internal)))
                .write(|b, v| {
                    let internal = flag(v).unwrap_or(false);
                    b.scheme(if internal { Scheme::Internal } else { Scheme::InternetFacing })
                }),
            F::attr("load_balancer_type", kind)
                .read_str(|l| l.r#type().map(LoadBalancerTypeEnum::as_str)),
            F::attr("subnets", A::required(Type::List(Box::new(Type::String))).force_new())
                .read(|l| {
                    let zones = l.availability_zones().iter();
                    vset(zones.filter_map(|z| z.subnet_id().map(str::to_string)))
                })
                .write(|b, v| b.set_subnets(Some(texts(v).unwrap_or_default()))),
            F::computed("arn", AwsLoadBalancer::load_balancer_arn),
            F::computed("dns_name", AwsLoadBalancer::dns_name),
            F::computed("zone_id", AwsLoadBalancer::canonical_hosted_zone_id),
            F::computed("vpc_id", AwsLoadBalancer::vpc_id),
        ]
    }
}

#[async_trait::async_trait]
impl ResourceType for LoadBalancer {
    declared!(
        "aws_lb",
        "A network load balancer (the apiserver endpoint).",
        LoadBalancer::shape(),
        tags: TagApi::Elbv2,
        refresh: Refresh::ByIds,
    );
    fn normalize(&self, a: &mut Attrs) {
        normalize_set(a, "subnets");
    }
    async fn describe(&self, cx: &Ctx, q: Query<'_>) -> Result<Vec<Observed>> {
        let lbs = list_load_balancers(cx).await?;
        let arn = AwsLoadBalancer::load_balancer_arn;
        describe_listed(cx, q, &lbs, arn, &LoadBalancer::shape()).await
    }
    async fn create(&self, cx: &Ctx, c: Create<'_>) -> Result<String> {
        // The name is derived from the tags and the client token when unset; the type is
        // always Network (its `one_of`), AWS's default being Application.
        let name = Naming::Elb.name(&c);
        let new = cx.clients.elb.create_load_balancer().name(name);
        let new = new.r#type(LoadBalancerTypeEnum::Network).set_tags(Some(elb_tags(c.tags)));
        let req = build(&LoadBalancer::shape(), new, c.planned);
        let id = create_call(
            cx,
            "elbv2:CreateLoadBalancer",
            || req.clone().send(),
            |o| o.load_balancers().first()?.load_balancer_arn(),
        );
        id.await
    }
    async fn wait_ready(&self, cx: &Ctx, id: &str) -> Result<()> {
        let req = cx.clients.elb.describe_load_balancers().load_balancer_arns(id);
        let status = || async {
            let resp = cx.clients.run("elbv2:DescribeLoadBalancers", || req.clone().send()).await?;
            let state = resp.load_balancers().first().and_then(|l| l.state());
            let why = |s: &LoadBalancerState| s.reason().map(str::to_string);
            Ok(state.map(|s| (s.code().map_or("", |c| c.as_str()).to_string(), why(s))))
        };
        let goal = Goal { name: "active", done: &["active"], fail: &["failed"] };
        wait_status(cx, &format!("load balancer {id}"), goal, status).await
    }
    async fn delete(&self, cx: &Ctx, id: &str, _prior: &Value) -> Result<()> {
        let req = cx.clients.elb.delete_load_balancer().load_balancer_arn(id);
        delete_call(cx, "elbv2:DeleteLoadBalancer", None, || req.clone().send()).await
    }
}
