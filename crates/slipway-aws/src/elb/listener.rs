//! aws_lb_listener: a port of a load balancer forwarding to a target group. Untagged here: it
//! is found by (load balancer, port), which AWS keeps unique, and read with one
//! DescribeListeners over all listener ARNs in state.

use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, Listener as AwsListener, ProtocolEnum,
};

use crate::client::to_provider_error;
use crate::declare::{Field, Identity, TagApi, delete_call, erase, observed, returned_id, updater};
use crate::provider::{AttributeSchema as A, BlockNesting, ProviderError, Schema};
use crate::resource::{
    Attrs, Create, Ctx, Observed, Query, ResourceType, attrs, blocks_attr, changed, distinct_attr,
    int_attr, observe_ids_with, str_attr, vnum, vstr,
};
use crate::value::{Type, Value};

/// Untagged here: found by (load balancer, port), which AWS keeps unique.
pub(super) struct Listener;

fn forward_actions(planned: &Value) -> Vec<Action> {
    blocks_attr(planned, "default_action")
        .iter()
        .map(|a| {
            Action::builder()
                .r#type(ActionTypeEnum::from(str_attr(a, "type").as_deref().unwrap_or("forward")))
                .set_target_group_arn(str_attr(a, "target_group_arn"))
                .build()
        })
        .collect()
}

impl Listener {
    fn shape() -> Vec<Field<AwsListener>> {
        type F = Field<AwsListener>;
        // One ModifyListener carries port, protocol and actions.
        let modify = updater!("elbv2:ModifyListener", Listener::modify);
        vec![
            F::attr("load_balancer_arn", A::required(Type::String).force_new())
                .read_str(AwsListener::load_balancer_arn),
            F::attr("port", A::required(Type::Number))
                .by(modify)
                .read(|l| vnum(l.port().map(i64::from))),
            F::attr("protocol", A::optional(Type::String).default(Value::string("TCP")))
                .by(modify)
                .read_str(|l| l.protocol().map(ProtocolEnum::as_str)),
            F::computed("arn", AwsListener::listener_arn),
            F::block(
                "default_action",
                BlockNesting::List,
                Schema::new()
                    .attr("type", A::required(Type::String))
                    .attr("target_group_arn", A::optional(Type::String)),
            )
            .by(modify)
            .read(|l| {
                let action = |a: &Action| {
                    Value::Map(attrs(vec![
                        ("type", vstr(a.r#type().map(ActionTypeEnum::as_str))),
                        ("target_group_arn", vstr(a.target_group_arn())),
                    ]))
                };
                Value::List(l.default_actions().iter().map(action).collect())
            }),
        ]
    }
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
        erase(&Listener::shape())
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
                        ("target_group_arn", x.get_attr("target_group_arn").unwrap_or(Value::Null)),
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
                elb.describe_listeners().set_listener_arns(Some(ids.to_vec())).send()
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
        let shape = Listener::shape();
        let obs = |l: &AwsListener| observed(cx, &shape, l, l.listener_arn(), None);
        Ok(resp.listeners().iter().filter_map(obs).collect())
    }
    /// One DescribeListeners by ARN; if any ARN is gone (which fails the whole call), one
    /// DescribeListeners per load balancer instead.
    async fn observe(
        &self,
        cx: &Ctx,
        priors: &[Value],
    ) -> Result<Vec<Option<Observed>>, ProviderError> {
        observe_ids_with(priors, |ids| async move {
            match self.describe(cx, Query::Ids(&ids)).await {
                Err(e) if e.message.contains("ListenerNotFound") => {
                    self.listeners_of_all(cx, priors).await
                }
                found => found,
            }
        })
        .await
    }
    async fn find_existing(
        &self,
        cx: &Ctx,
        c: Create<'_>,
    ) -> Result<Option<String>, ProviderError> {
        let planned = c.planned;
        let (Some(lb), Some(port)) =
            (str_attr(planned, "load_balancer_arn"), int_attr(planned, "port"))
        else {
            return Ok(None);
        };
        Ok(self
            .listeners_of(cx, &lb)
            .await?
            .into_iter()
            .find(|o| o.attrs.get("port") == Some(&Value::Number(port as f64)))
            .map(|o| o.id))
    }
    async fn create(&self, cx: &Ctx, c: Create<'_>) -> Result<String, ProviderError> {
        let planned = c.planned;
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
        returned_id("elbv2:CreateListener", out.listeners().first().and_then(|l| l.listener_arn()))
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
        if !["port", "protocol", "default_action"].iter().any(|k| changed(prior, planned, k)) {
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
    /// Every listener of the prior objects' load balancers: one DescribeListeners each.
    async fn listeners_of_all(
        &self,
        cx: &Ctx,
        priors: &[Value],
    ) -> Result<Vec<Observed>, ProviderError> {
        let lbs = distinct_attr(priors, "load_balancer_arn");
        let mut all = Vec::new();
        for lb in lbs {
            all.extend(self.listeners_of(cx, &lb).await?);
        }
        Ok(all)
    }

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
        let arns: Vec<String> =
            resp.listeners().iter().filter_map(|l| l.listener_arn().map(str::to_string)).collect();
        if arns.is_empty() {
            return Ok(Vec::new());
        }
        self.describe(cx, Query::Ids(&arns)).await
    }
}
