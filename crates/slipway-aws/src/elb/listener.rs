//! aws_lb_listener: a port of a load balancer forwarding to a target group. Untagged here: it
//! is found by (load balancer, port), which AWS keeps unique, and read with one
//! DescribeListeners over all listener ARNs in state.

use aws_sdk_elasticloadbalancingv2::operation::create_listener::builders::CreateListenerFluentBuilder as NewListener;
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, Listener as AwsListener, ProtocolEnum,
};

use crate::client::to_provider_error;
use crate::declare::{
    Field, Identity, TagApi, build, create_call, declared, delete_call, observed, updater,
};
use crate::provider::{AttributeSchema as A, BlockNesting, Schema};
use crate::resource::{
    Attrs, Create, Ctx, Observed, Query, ResourceType, Result, attrs, changed, distinct_attr, int,
    int_attr, observe_ids_with, str_attr, text, vnum, vstr,
};
use crate::value::{Type, Value};

/// The `default_action` blocks `v` as the SDK's actions (CreateListener and ModifyListener).
fn forward_actions(v: &Value) -> Vec<Action> {
    let action = |a: &Value| {
        let kind = ActionTypeEnum::from(str_attr(a, "type").as_deref().unwrap_or("forward"));
        Action::builder().r#type(kind).set_target_group_arn(str_attr(a, "target_group_arn")).build()
    };
    v.as_list().unwrap_or_default().iter().map(action).collect()
}

/// One `default_action` block in its canonical form (configuration and read alike).
fn action_block(kind: Value, target_group_arn: Value) -> Value {
    Value::Map(attrs(vec![("type", kind), ("target_group_arn", target_group_arn)]))
}

/// Untagged here: found by (load balancer, port), which AWS keeps unique.
pub(super) struct Listener;

impl Listener {
    fn shape() -> Vec<Field<AwsListener, NewListener>> {
        type F = Field<AwsListener, NewListener>;
        // One ModifyListener carries port, protocol and actions.
        let modify = updater!("elbv2:ModifyListener", Listener::modify);
        vec![
            F::attr("load_balancer_arn", A::required(Type::String).force_new())
                .read_str(AwsListener::load_balancer_arn)
                .write(|b, v| b.set_load_balancer_arn(text(v))),
            F::attr("port", A::required(Type::Number))
                .by(modify)
                .read(|l| vnum(l.port().map(i64::from)))
                .write(|b, v| b.set_port(int(v))),
            F::attr("protocol", A::optional(Type::String).default(Value::string("TCP")))
                .by(modify)
                .read_str(|l| l.protocol().map(ProtocolEnum::as_str))
                .write(|b, v| b.protocol(text(v).as_deref().unwrap_or("TCP").into())),
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
                let kind = |a: &Action| vstr(a.r#type().map(ActionTypeEnum::as_str));
                let action = |a: &Action| action_block(kind(a), vstr(a.target_group_arn()));
                Value::List(l.default_actions().iter().map(action).collect())
            })
            .write(|b, v| b.set_default_actions(Some(forward_actions(v)))),
        ]
    }

    async fn modify(cx: &Ctx, id: &str, prior: &Value, planned: &Value) -> Result<()> {
        if !["port", "protocol", "default_action"].iter().any(|k| changed(prior, planned, k)) {
            return Ok(());
        }
        let protocol = str_attr(planned, "protocol").map(|p| ProtocolEnum::from(p.as_str()));
        let actions = forward_actions(&planned.get_attr("default_action").unwrap_or(Value::Null));
        let req = cx.clients.elb.modify_listener().listener_arn(id);
        let req = req.set_port(int_attr(planned, "port").map(|p| p as i32)).set_protocol(protocol);
        let req = req.set_default_actions(Some(actions));
        cx.clients.run("elbv2:ModifyListener", || req.clone().send()).await?;
        Ok(())
    }

    async fn listeners_of(&self, cx: &Ctx, lb: &str) -> Result<Vec<Observed>> {
        let req = cx.clients.elb.describe_listeners().load_balancer_arn(lb);
        let resp = match cx.clients.call("elbv2:DescribeListeners", || req.clone().send()).await {
            Ok(r) => r,
            Err(e) if e.is_not_found() => return Ok(Vec::new()),
            Err(e) => return Err(to_provider_error("elbv2:DescribeListeners", e)),
        };
        // The answer holds every listener whole: no second read by ARN.
        Ok(Self::observed_all(cx, resp.listeners()))
    }

    fn observed_all(cx: &Ctx, listeners: &[AwsListener]) -> Vec<Observed> {
        let shape = Listener::shape();
        listeners.iter().filter_map(|l| observed(cx, &shape, l, l.listener_arn(), None)).collect()
    }
}

#[async_trait::async_trait]
impl ResourceType for Listener {
    declared!(
        "aws_lb_listener",
        "A listener forwarding a port of a load balancer to a target group.",
        Listener::shape(),
        tags: TagApi::None,
        identity: Identity::UniqueKey,
    );
    fn normalize(&self, a: &mut Attrs) {
        if let Some(Value::List(actions)) = a.get("default_action") {
            let get = |x: &Value, k| x.get_attr(k).unwrap_or(Value::Null);
            let canon = |x: &Value| action_block(get(x, "type"), get(x, "target_group_arn"));
            let canon = actions.iter().map(canon).collect();
            a.insert("default_action".into(), Value::List(canon));
        }
    }
    async fn describe(&self, cx: &Ctx, q: Query<'_>) -> Result<Vec<Observed>> {
        let Query::Ids(ids) = q else {
            return Ok(Vec::new());
        };
        let req = cx.clients.elb.describe_listeners().set_listener_arns(Some(ids.to_vec()));
        let resp = match cx.clients.call("elbv2:DescribeListeners", || req.clone().send()).await {
            Ok(resp) => resp,
            // One missing ARN fails the batch; then they are all looked up through their
            // load balancers by `observe`'s caller on the next refresh. Treat as gone here
            // only when asked for a single listener.
            Err(e) if e.code == "ListenerNotFound" && ids.len() == 1 => return Ok(Vec::new()),
            Err(e) => return Err(to_provider_error("elbv2:DescribeListeners", e)),
        };
        Ok(Self::observed_all(cx, resp.listeners()))
    }
    /// One DescribeListeners by ARN; if any ARN is gone (which fails the whole call), one
    /// DescribeListeners per load balancer instead.
    async fn observe(&self, cx: &Ctx, priors: &[Value]) -> Result<Vec<Option<Observed>>> {
        observe_ids_with(priors, |ids| async move {
            match self.describe(cx, Query::Ids(&ids)).await {
                // Every listener of the prior objects' load balancers: one call each.
                Err(e) if e.message.contains("ListenerNotFound") => {
                    let mut all = Vec::new();
                    for lb in distinct_attr(priors, "load_balancer_arn") {
                        all.extend(self.listeners_of(cx, &lb).await?);
                    }
                    Ok(all)
                }
                found => found,
            }
        })
        .await
    }
    async fn find_existing(&self, cx: &Ctx, c: Create<'_>) -> Result<Option<String>> {
        let lb = str_attr(c.planned, "load_balancer_arn");
        let (Some(lb), Some(port)) = (lb, int_attr(c.planned, "port")) else {
            return Ok(None);
        };
        let (listeners, port) = (self.listeners_of(cx, &lb).await?, Value::Number(port as f64));
        Ok(listeners.into_iter().find(|o| o.attrs.get("port") == Some(&port)).map(|o| o.id))
    }
    async fn create(&self, cx: &Ctx, c: Create<'_>) -> Result<String> {
        let (api, new) = ("elbv2:CreateListener", cx.clients.elb.create_listener());
        let req = build(&Listener::shape(), new, c.planned);
        create_call(cx, api, || req.clone().send(), |o| o.listeners().first()?.listener_arn()).await
    }
    async fn delete(&self, cx: &Ctx, id: &str, _prior: &Value) -> Result<()> {
        let req = cx.clients.elb.delete_listener().listener_arn(id);
        delete_call(cx, "elbv2:DeleteListener", None, || req.clone().send()).await
    }
}
