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
//! token (`Naming::Elb`), so a replacement (a new generation) never collides with its
//! predecessor.
//!
//! Delete ordering AWS enforces and moto does not: a target group in use by a listener cannot
//! be deleted (ResourceInUse, retried here until the ready timeout); a load balancer's ENIs
//! linger for minutes after deletion and block its subnets' and security groups' deletion
//! (handled by the DependencyViolation retry of those types).
//!
//! One file per type (`load_balancer`, `target_group` with its attachments, `listener`); the
//! account-wide listings, the shared tag round, the read of a listing through a type's fields
//! (`describe_listed`) are here, and the observation by id and the query
//! match that IAM roles, whose listing is account-wide too, share (`Refresh::ByIds`, `wanted`).

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_sdk_elasticloadbalancingv2::types::{
    LoadBalancer as AwsLoadBalancer, Tag, TargetGroup as AwsTargetGroup,
};

use super::declare::{Field, observed};
use super::resource::{Ctx, Observed, Query, ResourceType, Result, wanted};
use super::tags::Tags;

mod listener;
mod load_balancer;
mod target_group;

use listener::Listener;
use load_balancer::LoadBalancer;
use target_group::{TargetGroup, TargetGroupAttachment};

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
                .run($api, || $build.page_size(400).set_marker(marker.clone()).send())
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
async fn list_load_balancers(cx: &Ctx) -> Result<Arc<Vec<AwsLoadBalancer>>> {
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
async fn list_target_groups(cx: &Ctx) -> Result<Arc<Vec<AwsTargetGroup>>> {
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
async fn elb_tags(cx: &Ctx, arns: &[String]) -> Result<Arc<BTreeMap<String, Tags>>> {
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
                    .filter(|a| TYPES.iter().any(|t| cx.refresh_ids(t).iter().any(|i| i == a)))
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
async fn tags_of_arns(cx: &Ctx, arns: &[String]) -> Result<BTreeMap<String, Tags>> {
    let mut out = BTreeMap::new();
    let tag = |t: &Tag| Some((t.key()?.to_string(), t.value().unwrap_or("").to_string()));
    for chunk in arns.chunks(20) {
        let req = cx.clients.elb.describe_tags().set_resource_arns(Some(chunk.to_vec()));
        let resp = cx.clients.run("elbv2:DescribeTags", || req.clone().send()).await?;
        for d in resp.tag_descriptions() {
            if let Some(arn) = d.resource_arn() {
                out.insert(arn.to_string(), d.tags().iter().filter_map(tag).collect());
            }
        }
    }
    Ok(out)
}

/// The objects of an account-wide listing that `q` asks for, read through `fields`, with their
/// tags (one DescribeTags round, only for candidates: by id when asked by id, else all).
/// An object DescribeTags does not answer for (deleted meanwhile) is left out.
async fn describe_listed<S, B>(
    cx: &Ctx,
    q: Query<'_>,
    listed: &[S],
    arn_of: fn(&S) -> Option<&str>,
    fields: &[Field<S, B>],
) -> Result<Vec<Observed>> {
    let arns: Vec<String> = listed
        .iter()
        .filter_map(arn_of)
        .filter(|a| match q {
            Query::Ids(ids) => ids.iter().any(|i| i == a),
            _ => true,
        })
        .map(str::to_string)
        .collect();
    let tags = elb_tags(cx, &arns).await?;
    Ok(listed
        .iter()
        .filter_map(|s| {
            let arn = arn_of(s)?;
            let t = tags.get(arn).filter(|t| wanted(cx, q, arn, t))?;
            observed(cx, fields, s, Some(arn), Some(t.clone()))
        })
        .collect())
}
