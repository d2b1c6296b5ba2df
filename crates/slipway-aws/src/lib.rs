//! The `aws` provider: EC2 networking and instances, EBS, (later) ELBv2, IAM and S3.
//!
//! Construction is free: no network, no credentials, so the provider can be registered in
//! `slipway::providers::builtin_registry` and its schema inspected offline. Only
//! [`Provider::configure`] resolves region and credentials (aws-config's standard chain,
//! overridden by `region`, `endpoint`, `access_key`/`secret_key` in the provider block) and builds
//! the shared [`client::Clients`].
//!
//! Each resource type is one entry of a table ([`resource::ResourceType`]); the machinery that
//! reads in batches, adopts before creating, waits, updates tags and reads back lives once in
//! [`resource`]. See `tags` for the ownership-tag rules.
//!
//! **Invariants:**
//! - `read` costs one Describe per type (plus one describe-by-id when state holds objects the
//!   stack tag does not find), whatever the number of objects; `read_types` (a whole refresh)
//!   costs less, since types that list the same objects share the answer ([`resource::Ctx::shared`]).
//! - `create` never makes a second object for an address that already has one in this stack.
//! - Errors AWS will repeat (validation, not found, quota) are fatal and name the AWS code;
//!   throttling and 5xx are retried inside the client with backoff.

/// Collects every page of a paginated Describe: `$build` makes the request (re-evaluated per
/// attempt and page), `$items` names the output's list accessor.
macro_rules! paginate {
    ($cx:expr, $api:expr, $build:expr, $items:ident) => {{
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let resp =
                $cx.clients.run($api, || $build.set_next_token(token.clone()).send()).await?;
            out.extend(resp.$items().iter().cloned());
            match resp.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => break,
            }
        }
        out
    }};
}

/// The `describe` of an EC2 type: one paginated `$op` (`$api`) filtered by the query (ids by
/// `$id_filter`), each listed object (`$items` of each page) read through the declaration
/// `$shape`, under its `$id`. Written as
/// `ec2_describe!(cx, q, Vpc::shape(), "ec2:DescribeVpcs" => describe_vpcs().vpcs, "vpc-id" => vpc_id)`.
macro_rules! ec2_describe {
    ($cx:expr, $q:expr, $shape:expr, $api:expr => $op:ident().$items:ident, $id_filter:expr => $id:ident) => {{
        let filters = $crate::resource::ec2_filters($cx, $q, $id_filter);
        let ec2 = &$cx.clients.ec2;
        let listed = paginate!($cx, $api, ec2.$op().set_filters(Some(filters.clone())), $items);
        let shape = $shape;
        let obs = listed
            .iter()
            .filter_map(|o| $crate::resource::ec2_observed($cx, &shape, o, o.$id(), o.tags()));
        Ok(obs.collect())
    }};
}

/// The parent objects `$priors` name in `$key` (the volumes of attachments, the groups of
/// rules), read by the parent type's listing `$list(cx, query)`. In a refresh of
/// `$parent_type` too they come from its stack-wide answer, which that type's refresh shares
/// (so no second call); the rest are asked for by id. (A macro: the listing's future borrows
/// its query, which a generic helper cannot state and keep `Send`.)
macro_rules! parents_of {
    ($cx:expr, $priors:expr, $key:expr, $parent_type:expr, $list:path, $id:expr) => {{
        let ids = $crate::resource::distinct_attr($priors, $key);
        let (mut found, missing) = if !ids.is_empty() && $cx.refreshing($parent_type) {
            let stack = $list($cx, $crate::resource::Query::Stack).await?;
            $crate::resource::take_listed(&stack, ids, $id)
        } else {
            (Vec::new(), ids)
        };
        if !missing.is_empty() {
            found.extend($list($cx, $crate::resource::Query::Ids(&missing)).await?.iter().cloned());
        }
        found
    }};
}

pub mod client;
mod data;
pub mod declare;
mod ebs;
mod ec2_egress;
mod ec2_instance;
mod ec2_network;
mod elb;
mod iam;
mod private_ip;
pub mod resource;
mod s3;
pub mod s3_backend;
mod s3_config;
pub mod tags;
mod values;

/// What an AWS object is billed as (the plan's footprint): instances by type and their root
/// volumes, EBS volumes by type and size, load balancers by type, NAT gateways (billed per hour
/// and per GB) with their Elastic IPs (public IPv4 addresses are billed per hour), interface
/// endpoints (gateway endpoints are free), buckets. Unknown values
/// (known only after apply) give a kind of `None`; a root volume without a size set counts
/// without GiB (the image decides it).
fn footprint(rtype: &str, o: &Value) -> Vec<FootprintItem> {
    use resource::{block_attr, int_attr, str_attr};
    let item = |category, kind: Option<String>, gib: Option<i64>| FootprintItem {
        category,
        kind,
        count: 1,
        gib: gib.map_or(0, |g| g.max(0) as u64),
    };
    match rtype {
        "aws_instance" => {
            let root = block_attr(o, "root_block_device");
            let root_type = root
                .as_ref()
                .and_then(|r| str_attr(r, "volume_type"))
                .unwrap_or_else(|| "image's type".to_string());
            vec![
                item("instances", str_attr(o, "instance_type"), None),
                item(
                    "volumes",
                    Some(format!("{root_type}, root")),
                    root.as_ref().and_then(|r| int_attr(r, "volume_size")),
                ),
            ]
        }
        "aws_ebs_volume" => vec![item("volumes", str_attr(o, "type"), int_attr(o, "size"))],
        "aws_lb" => vec![item(
            "load balancers",
            str_attr(o, "load_balancer_type").or_else(|| Some("application".to_string())),
            None,
        )],
        "aws_s3_bucket" => vec![item("S3 buckets", Some("standard".to_string()), None)],
        "aws_nat_gateway" => vec![item(
            "NAT gateways",
            str_attr(o, "connectivity_type").or_else(|| Some("public".to_string())),
            None,
        )],
        "aws_eip" => vec![item("public IPv4 addresses", Some("Elastic IP".to_string()), None)],
        "aws_vpc_endpoint" if str_attr(o, "vpc_endpoint_type").as_deref() == Some("Interface") => {
            vec![item("VPC endpoints", Some("Interface".to_string()), None)]
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
pub mod testing;
#[cfg(test)]
mod tests;

// The engine's modules under the paths this code was written against (`crate::provider`, …).
pub use s3_backend::S3Backend;
pub(crate) use slipway_core::{addr, provider, state, value};

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::provider::{
    AttributeSchema as A, CreateRequest, DiscoveredObject, Discovery, FootprintItem, PlannedObject,
    Provider, ProviderContext, ProviderError, ProviderSchema, ReadRequest, ResourceSchema, Schema,
    TypeBatch,
};
use crate::value::{Type, Value};
use client::{CallPolicy, Clients};
use resource::{Ctx, ResourceType};

/// A data source: configuration in, attributes out.
#[async_trait::async_trait]
pub trait DataSource: Send + Sync {
    fn name(&self) -> &'static str;
    fn description(&self) -> &'static str;
    fn schema(&self) -> Schema;
    async fn read(&self, cx: &Ctx, config: &Value) -> Result<Value, ProviderError>;
}

pub struct AwsProvider {
    schema: ProviderSchema,
    types: BTreeMap<&'static str, Box<dyn ResourceType>>,
    data: BTreeMap<&'static str, Box<dyn DataSource>>,
    ctx: RwLock<Option<Arc<Ctx>>>,
}

fn provider_schema() -> Schema {
    Schema::new()
        .attr(
            "region",
            A::optional(Type::String).describe("AWS region; else AWS_REGION / the profile's"),
        )
        .attr(
            "endpoint",
            A::optional(Type::String).describe("Endpoint override for every service (emulators)"),
        )
        .attr(
            "access_key",
            A::optional(Type::String).describe("Static credentials; else the standard chain"),
        )
        .attr("secret_key", A::optional(Type::String).sensitive())
        .attr(
            "default_tags",
            A::optional(Type::Map(Box::new(Type::String)))
                .describe("Tags added to every object (a resource's own tags win)"),
        )
        .attr("max_retries", A::optional(Type::Number))
        .attr(
            "requests_per_second",
            A::optional(Type::Number).describe("Client-side rate limit per API"),
        )
        .attr("ready_timeout_seconds", A::optional(Type::Number))
        .attr("poll_interval_seconds", A::optional(Type::Number))
        .attr(
            "propagation_timeout_seconds",
            A::optional(Type::Number)
                .describe("How long a create retries a reference AWS does not see yet (120)"),
        )
}

impl AwsProvider {
    pub fn new() -> AwsProvider {
        let mut types: BTreeMap<&'static str, Box<dyn ResourceType>> = BTreeMap::new();
        for t in ec2_network::types()
            .into_iter()
            .chain(ec2_egress::types())
            .chain(ec2_instance::types())
            .chain(ebs::types())
            .chain(elb::types())
            .chain(iam::types())
            .chain(s3::types())
            .chain(s3_config::types())
        {
            types.insert(t.name(), t);
        }
        let mut data: BTreeMap<&'static str, Box<dyn DataSource>> = BTreeMap::new();
        for d in data::sources() {
            data.insert(d.name(), d);
        }
        let schema = ProviderSchema {
            provider: provider_schema(),
            resources: types
                .iter()
                .map(|(n, t)| {
                    (
                        n.to_string(),
                        ResourceSchema::new(t.description(), resource::full_schema(t.as_ref())),
                    )
                })
                .collect(),
            data_sources: data
                .iter()
                .map(|(n, d)| (n.to_string(), ResourceSchema::new(d.description(), d.schema())))
                .collect(),
        };
        AwsProvider { schema, types, data, ctx: RwLock::new(None) }
    }

    fn ctx(&self) -> Result<Arc<Ctx>, ProviderError> {
        self.ctx
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or_else(|| ProviderError::fatal("the aws provider is used before it is configured"))
    }

    fn rtype(&self, rtype: &str) -> Result<&dyn ResourceType, ProviderError> {
        self.types
            .get(rtype)
            .map(|t| t.as_ref())
            .ok_or_else(|| ProviderError::fatal(format!("unknown resource type {rtype}")))
    }

    /// HTTP attempts per `service:Operation` since `configure`.
    pub fn call_stats(&self) -> BTreeMap<String, u64> {
        self.ctx().map(|c| c.clients.call_stats()).unwrap_or_default()
    }

    /// The configured clients (tests use them to change things behind slipway's back).
    pub fn context(&self) -> Result<Arc<Ctx>, ProviderError> {
        self.ctx()
    }
}

impl Default for AwsProvider {
    fn default() -> Self {
        Self::new()
    }
}

fn config_str(config: &Value, k: &str) -> Option<String> {
    resource::str_attr(config, k)
}

fn config_secs(config: &Value, k: &str) -> Option<Duration> {
    config.get_attr(k).and_then(|v| v.as_f64()).filter(|n| *n >= 0.0).map(Duration::from_secs_f64)
}

#[async_trait::async_trait]
impl Provider for AwsProvider {
    fn name(&self) -> &'static str {
        "aws"
    }

    fn call_stats(&self) -> BTreeMap<String, u64> {
        AwsProvider::call_stats(self)
    }

    fn footprint(&self, rtype: &str, object: &Value) -> Vec<FootprintItem> {
        footprint(rtype, object)
    }

    fn schema(&self) -> &ProviderSchema {
        &self.schema
    }

    async fn configure(&self, pctx: &ProviderContext, config: &Value) -> Result<(), ProviderError> {
        use aws_credential_types::provider::ProvideCredentials;

        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            // Retries happen in `Clients::call`, through the rate limiter.
            .retry_config(aws_config::retry::RetryConfig::disabled());
        if let Some(region) = config_str(config, "region") {
            loader = loader.region(aws_config::Region::new(region));
        }
        if let Some(endpoint) = config_str(config, "endpoint") {
            loader = loader.endpoint_url(endpoint);
        }
        match (config_str(config, "access_key"), config_str(config, "secret_key")) {
            (Some(ak), Some(sk)) => {
                loader = loader.credentials_provider(aws_credential_types::Credentials::new(
                    ak,
                    sk,
                    None,
                    None,
                    "slipway-provider-block",
                ));
            }
            (None, None) => {}
            _ => {
                return Err(ProviderError::fatal(
                    "aws provider: set both access_key and secret_key, or neither",
                ));
            }
        }
        let sdk = loader.load().await;
        let region = sdk.region().map(|r| r.to_string()).ok_or_else(|| {
            ProviderError::fatal(
                "aws provider: no region. Set `region` in the provider block, or AWS_REGION, \
                 or a region in the AWS profile",
            )
        })?;
        let creds = sdk.credentials_provider().ok_or_else(|| {
            ProviderError::fatal("aws provider: no credentials provider could be built")
        })?;
        if let Err(e) = creds.provide_credentials().await {
            return Err(ProviderError::fatal(format!(
                "aws provider: no credentials found ({e}). Set AWS_ACCESS_KEY_ID/\
                 AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or access_key/secret_key in the provider block"
            )));
        }
        let mut policy = CallPolicy::default();
        if let Some(n) = config.get_attr("max_retries").and_then(|v| v.as_f64()) {
            policy.max_retries = n.clamp(0.0, 20.0) as u32;
        }
        if let Some(n) = config.get_attr("requests_per_second").and_then(|v| v.as_f64())
            && n > 0.0
        {
            policy.requests_per_second = n;
            policy.burst = n.max(1.0) * 2.0;
        }
        if let Some(d) = config_secs(config, "ready_timeout_seconds") {
            policy.ready_timeout = d;
        }
        if let Some(d) = config_secs(config, "poll_interval_seconds") {
            policy.poll_interval = d;
        }
        if let Some(d) = config_secs(config, "propagation_timeout_seconds") {
            policy.propagation_timeout = d;
        }
        let ctx = Ctx::new(
            Clients::new(&sdk, region, policy),
            pctx.stack_id.clone(),
            tags::tags_of(config.get_attr("default_tags")),
        );
        if ctx.stack_id.is_empty() {
            return Err(ProviderError::fatal(
                "aws provider: empty stack id (objects could not be told apart from others)",
            ));
        }
        *self.ctx.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(ctx));
        Ok(())
    }

    fn plan(
        &self,
        rtype: &str,
        prior: Option<&Value>,
        proposed: Value,
    ) -> Result<PlannedObject, ProviderError> {
        let t = self.rtype(rtype)?;
        let mut planned = resource::normalize_planned(t, proposed);
        if let (Some(prior), Value::Map(m)) = (prior, &mut planned) {
            for k in t.keep_prior_when_empty() {
                let empty = m
                    .get(*k)
                    .is_none_or(|v| v.is_null() || v.as_list().is_some_and(<[Value]>::is_empty));
                if empty && let Some(p) = prior.get_attr(k) {
                    m.insert(k.to_string(), p);
                }
            }
        }
        // tags_all follows tags and default_tags: computed here the way `update` will apply
        // it, so that a change of either shows in the plan. On create it is unknown (the
        // address is not known here).
        if let (Some(prior), Value::Map(m)) = (prior, &mut planned)
            && t.tagged()
        {
            let current = tags::tags_of(prior.get_attr("tags_all"));
            let prior_user = tags::tags_of(prior.get_attr("tags"));
            let user = tags::tags_of(m.get("tags").cloned());
            let all = match self.ctx() {
                Ok(cx) => tags::tags_value(&tags::updated_tags(
                    &current,
                    &cx.stack_id,
                    &cx.default_tags,
                    &prior_user,
                    &user,
                )),
                Err(_) if prior_user != user => Value::Unknown,
                Err(_) => tags::tags_value(&current),
            };
            m.insert("tags_all".into(), all);
        }
        // What AWS refuses in place in this direction (a smaller volume) is a replacement.
        let requires_replace =
            prior.map_or_else(Vec::new, |p| declare::replacing(&t.fields(), p, &planned));
        Ok(PlannedObject { planned, requires_replace })
    }

    async fn read(
        &self,
        rtype: &str,
        requests: &[ReadRequest],
    ) -> Result<Vec<Option<Value>>, ProviderError> {
        let t = self.rtype(rtype)?;
        resource::read_batch(t, &*self.ctx()?, requests).await
    }

    /// All types in one context, so that types reading the same objects (a group and its
    /// rules, a route table and its associations, a volume and its attachments, the load
    /// balancers' and target groups' tags) share one Describe.
    async fn read_types(
        &self,
        batches: &[TypeBatch],
    ) -> Vec<Result<Vec<Option<Value>>, ProviderError>> {
        let cx = match self.ctx() {
            Ok(cx) => cx.for_refresh(batches),
            Err(e) => return batches.iter().map(|_| Err(e.clone())).collect(),
        };
        let cx = &cx;
        futures_util::future::join_all(batches.iter().map(|b| async move {
            resource::read_batch(self.rtype(&b.rtype)?, cx, &b.requests).await
        }))
        .await
    }

    async fn create(
        &self,
        rtype: &str,
        request: CreateRequest<'_>,
    ) -> Result<Value, ProviderError> {
        let t = self.rtype(rtype)?;
        // A create names what was created a moment ago (its subnet, groups, profile) and is
        // then waited for and read back by id: AWS's eventual consistency is retried here.
        // Boxed: the create future is deep enough that another layer of scope overflows the
        // compiler's query depth.
        client::propagating(Box::pin(resource::create(
            t,
            &*self.ctx()?,
            request.address,
            request.client_token,
            request.ownership_tags,
            request.planned,
            request.resuming,
        )))
        .await
    }

    async fn update(
        &self,
        rtype: &str,
        prior: &Value,
        planned: &Value,
    ) -> Result<Value, ProviderError> {
        let t = self.rtype(rtype)?;
        client::propagating(Box::pin(resource::update(t, &*self.ctx()?, prior, planned))).await
    }

    async fn delete(&self, rtype: &str, prior: &Value) -> Result<(), ProviderError> {
        let t = self.rtype(rtype)?;
        resource::delete(t, &*self.ctx()?, prior).await
    }

    async fn recover(
        &self,
        rtype: &str,
        address: &crate::addr::ResourceInstanceAddr,
        client_token: &str,
        pending: &Value,
    ) -> Result<Option<Value>, ProviderError> {
        let t = self.rtype(rtype)?;
        resource::recover(t, &*self.ctx()?, address, client_token, pending).await
    }

    /// Tagged types: one Describe by the stack tag (the query refresh makes); each object at
    /// the address of its `slipway:address` tag. Untagged types (associations, attachments,
    /// rules, inline policies, S3 objects) and types adopted by identity (buckets, roles,
    /// instance profiles) are found from their configuration by `recover`, the way an
    /// interrupted create's object is.
    async fn discover(&self, rtype: &str) -> Result<Discovery, ProviderError> {
        let t = self.rtype(rtype)?;
        // Types adopted by identity (buckets, instance profiles: AWS cannot list them by tag
        // in one call) are found by the name their configuration gives, like untagged ones.
        if !t.tagged() || t.adopt_by_identity() {
            return Ok(Discovery::FromConfiguration);
        }
        let cx = self.ctx()?;
        let found = t.describe(&cx, resource::Query::Stack).await?;
        Ok(Discovery::Marked(
            found
                .into_iter()
                .map(|o| DiscoveredObject {
                    address: o.tags.as_ref().and_then(|t| t.get(tags::ADDRESS_TAG).cloned()),
                    value: resource::observed_value(&cx, o),
                })
                .collect(),
        ))
    }

    /// The values of the `slipway:stack` tag on EC2 objects (every environment has a VPC),
    /// in one paginated DescribeTags.
    async fn stacks(&self) -> Result<Vec<String>, ProviderError> {
        let cx = self.ctx()?;
        let ec2 = &cx.clients.ec2;
        let filter =
            aws_sdk_ec2::types::Filter::builder().name("key").values(tags::STACK_TAG).build();
        let found =
            paginate!(cx, "ec2:DescribeTags", ec2.describe_tags().filters(filter.clone()), tags);
        let mut out: Vec<String> =
            found.iter().filter_map(|t| t.value().map(str::to_string)).collect();
        out.sort();
        out.dedup();
        Ok(out)
    }

    async fn import(&self, rtype: &str, id: &str) -> Result<Value, ProviderError> {
        let t = self.rtype(rtype)?;
        let req = ReadRequest {
            address: crate::addr::ResourceInstanceAddr::parse(&format!("{rtype}.imported"))
                .map_err(|e| ProviderError::fatal(e.to_string()))?,
            prior: Value::Map(BTreeMap::from([("id".to_string(), Value::string(id))])),
        };
        resource::read_batch(t, &*self.ctx()?, std::slice::from_ref(&req))
            .await?
            .pop()
            .flatten()
            .ok_or_else(|| ProviderError::fatal(format!("{rtype} {id} does not exist")))
    }

    async fn read_data(&self, rtype: &str, config: &Value) -> Result<Value, ProviderError> {
        let d = self
            .data
            .get(rtype)
            .ok_or_else(|| ProviderError::fatal(format!("aws has no data source {rtype}")))?;
        d.read(&*self.ctx()?, config).await
    }
}
