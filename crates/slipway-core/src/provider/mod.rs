//! The provider seam: the only way slipway touches the outside world.
//!
//! A provider publishes a [`ProviderSchema`] (what attributes each resource type has, which are
//! required, computed, force a replacement, or are sensitive) and implements CRUD over resource
//! *objects*, which are always [`Value::Map`]s of attributes with an `id`.
//!
//! **Architecture invariants:**
//! - The engine (config, eval, graph, plan) never calls a cloud API; only providers do.
//! - `read` is batched: one call per resource type, never one per resource, so refresh costs
//!   O(resource types) round trips (design invariant 3).
//! - `create` receives a deterministic client token; a provider that can adopt what an
//!   interrupted run created (by token or tags) must do so before creating anything new.

pub mod schema;

use std::collections::BTreeMap;
use std::sync::Arc;

pub use schema::{
    AttributeSchema, BlockNesting, BlockSchema, ProviderSchema, ResourceSchema, Schema,
};

use crate::addr::ResourceInstanceAddr;
use crate::value::Value;

/// What went wrong inside a provider, and whether trying again can help.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
#[error("{message}")]
pub struct ProviderError {
    pub message: String,
    /// True for throttling and transient faults (retry with backoff); false for errors that
    /// will not heal (validation, quota, not found).
    pub retryable: bool,
}

impl ProviderError {
    pub fn fatal(message: impl Into<String>) -> ProviderError {
        ProviderError { message: message.into(), retryable: false }
    }

    pub fn retryable(message: impl Into<String>) -> ProviderError {
        ProviderError { message: message.into(), retryable: true }
    }
}

/// Who is asking: the stack a provider works for. Given once, at configure time.
#[derive(Clone, Debug, Default)]
pub struct ProviderContext {
    /// Stable id of the environment's stack (the `slipway:stack` tag; see state).
    pub stack_id: String,
    /// The environment's name (`dev`, `prod`).
    pub environment: String,
}

/// The ownership tags every cloud object slipway creates carries (design: conventions). Refresh,
/// adoption after a crash and `state recover` find objects by them; defined once, here.
pub const STACK_TAG: &str = "slipway:stack";
/// The object's resource address in the configuration.
pub const ADDRESS_TAG: &str = "slipway:address";
/// The client token of the create that made the object (stack, address, generation).
pub const TOKEN_TAG: &str = "slipway:token";

/// Context for a create call.
#[derive(Clone, Debug)]
pub struct CreateRequest<'a> {
    pub address: &'a ResourceInstanceAddr,
    /// Deterministic idempotency token (stack id, address, generation).
    pub client_token: &'a str,
    /// Tags every cloud object must carry (`slipway:stack`, `slipway:address`).
    pub ownership_tags: &'a BTreeMap<String, String>,
    /// The planned object: configuration with computed attributes unknown.
    pub planned: &'a Value,
    /// An earlier run journaled this create and did not finish it: something may exist
    /// already, so the provider must look before creating. False for a fresh intent (journaled
    /// just now, with a new token), where looking would find nothing and cost a call.
    pub resuming: bool,
}

/// One object to refresh.
#[derive(Clone, Debug)]
pub struct ReadRequest {
    pub address: ResourceInstanceAddr,
    /// The object as last saved in state.
    pub prior: Value,
}

/// Every object of one type that a refresh reads.
#[derive(Clone, Debug)]
pub struct TypeBatch {
    pub rtype: String,
    pub requests: Vec<ReadRequest>,
}

/// What a provider decides when planning one instance.
#[derive(Clone, Debug, PartialEq)]
pub struct PlannedObject {
    /// The object after apply, with unknowns where the provider will compute values.
    pub planned: Value,
    /// Attributes whose change forces a replacement, beyond those the schema marks force-new
    /// (e.g. a certificate inside its early-renewal window).
    pub requires_replace: Vec<String>,
}

impl PlannedObject {
    /// The proposal, unchanged: what most plans are.
    pub fn as_proposed(proposed: Value) -> PlannedObject {
        PlannedObject { planned: proposed, requires_replace: Vec::new() }
    }
}

/// One remote object found by [`Provider::discover`]: the address its ownership marks name
/// (None when it carries the stack's mark but no address) and the object as state would hold
/// it, with only what the remote system reports.
#[derive(Clone, Debug)]
pub struct DiscoveredObject {
    pub address: Option<String>,
    pub value: Value,
}

/// What [`Provider::discover`] can say about a resource type.
#[derive(Clone, Debug)]
pub enum Discovery {
    /// Every object of the type carrying this stack's marks.
    Marked(Vec<DiscoveredObject>),
    /// Objects of the type carry no marks: they can only be found from their configuration,
    /// through [`Provider::recover`] (an association found by the ids it joins).
    FromConfiguration,
    /// The type's objects exist only in state (keys, random values, timestamps made by
    /// slipway itself): nothing remote to read back.
    LocalOnly,
    /// This provider cannot look (yet).
    Unsupported,
}

/// What one object costs to run, as a bill itemises it: a category ("instances"), a kind in
/// it ("t3.large", "gp3"; `None` when the plan does not know it yet), how many, and the GiB it
/// provisions (volumes) where that is what is billed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FootprintItem {
    pub category: &'static str,
    pub kind: Option<String>,
    pub count: u64,
    pub gib: u64,
}

/// A provider of resource types.
#[async_trait::async_trait]
pub trait Provider: Send + Sync {
    /// The provider's name: the prefix of its resource types (`aws`, `tls`, `random`).
    fn name(&self) -> &'static str;

    fn schema(&self) -> &ProviderSchema;

    /// Configures the provider from its evaluated `provider "name" { … }` block (a map, or
    /// null when the configuration has no such block).
    async fn configure(
        &self,
        _ctx: &ProviderContext,
        _config: &Value,
    ) -> Result<(), ProviderError> {
        Ok(())
    }

    /// Accepts that this run's configuration is known only after apply (its `provider` block
    /// refers to resources not created yet, e.g. the certificates of the cluster it talks to).
    /// Until [`Provider::configure`] is called during apply, the provider must contact
    /// nothing: refresh answers the objects in state as they were (`read_types` returns the
    /// priors), and plan works from the configuration alone. A provider that cannot work that
    /// way refuses, which is the default.
    async fn configure_deferred(&self, _ctx: &ProviderContext) -> Result<(), ProviderError> {
        Err(ProviderError::fatal(format!(
            "provider \"{}\" cannot be configured from values known only after apply",
            self.name()
        )))
    }

    /// Refines a plan for one instance. `prior` is the refreshed object (None when creating),
    /// `proposed` the configuration merged over prior computed values. The default keeps the
    /// proposal as it is.
    fn plan(
        &self,
        _rtype: &str,
        _prior: Option<&Value>,
        proposed: Value,
    ) -> Result<PlannedObject, ProviderError> {
        Ok(PlannedObject::as_proposed(proposed))
    }

    /// Refines the plan of a create or an update by asking the remote system what it would
    /// store (a dry run), after [`Provider::plan`]. `prior` is the refreshed object of an
    /// update, None for a create. Called only when the instance's configuration is wholly
    /// known and something changes, so an unchanged configuration costs nothing. An error is
    /// a plan-time error for the instance (the remote system refuses it). The default keeps
    /// `planned` as it is.
    async fn plan_remotely(
        &self,
        _rtype: &str,
        _prior: Option<&Value>,
        planned: Value,
    ) -> Result<Value, ProviderError> {
        Ok(planned)
    }

    /// Dependencies between this provider's planned objects that no reference in the
    /// configuration states (Kubernetes: a custom resource on the CRD defining its kind, a
    /// namespaced object on its Namespace). `objects` are (resource type, planned value) of
    /// every object the plan keeps; the answer is (dependent, dependency) index pairs. Pure:
    /// called once per plan, no I/O.
    fn implicit_dependencies(&self, _objects: &[(&str, &Value)]) -> Vec<(usize, usize)> {
        Vec::new()
    }

    /// What `object` (of `rtype`, as planned or as it exists) costs to run, for the plan's
    /// footprint summary: nothing for the types that are not billed by themselves (the
    /// default). Pure, no I/O.
    fn footprint(&self, _rtype: &str, _object: &Value) -> Vec<FootprintItem> {
        Vec::new()
    }

    /// Reads the current form of many objects of one type in one batch. Returns, in order, the
    /// object as it exists now, or None when it is gone.
    async fn read(
        &self,
        rtype: &str,
        requests: &[ReadRequest],
    ) -> Result<Vec<Option<Value>>, ProviderError>;

    /// Reads every object in state of this provider's types, for one refresh: `batches` holds
    /// one batch per type, and the answer holds, per batch and in its order, what
    /// [`Provider::read`] would. Providers whose types can share remote reads override this
    /// (the AWS provider reads a security group's rules from the groups' own Describe); the
    /// default reads the types concurrently, each on its own.
    async fn read_types(
        &self,
        batches: &[TypeBatch],
    ) -> Vec<Result<Vec<Option<Value>>, ProviderError>> {
        futures_util::future::join_all(batches.iter().map(|b| self.read(&b.rtype, &b.requests)))
            .await
    }

    async fn create(&self, rtype: &str, request: CreateRequest<'_>)
    -> Result<Value, ProviderError>;

    async fn update(
        &self,
        rtype: &str,
        prior: &Value,
        planned: &Value,
    ) -> Result<Value, ProviderError>;

    async fn delete(&self, rtype: &str, prior: &Value) -> Result<(), ProviderError>;

    /// Finds what a create that did not finish (interrupted, or failed after its call landed)
    /// left behind: `pending` is the planned object the intent recorded, `client_token` the
    /// create's token. Refresh calls this for every pending create, so that plan (and destroy)
    /// see the object instead of nothing. Providers whose creates leave nothing outside the
    /// state have nothing to find.
    async fn recover(
        &self,
        _rtype: &str,
        _address: &ResourceInstanceAddr,
        _client_token: &str,
        _pending: &Value,
    ) -> Result<Option<Value>, ProviderError> {
        Ok(None)
    }

    /// Every object of `rtype` that carries this stack's ownership marks, for
    /// `slipway state recover` (which rebuilds a lost state from them), or why there is no
    /// such list ([`Discovery`]). Batched like `read`: one listing per type. The default
    /// cannot look.
    async fn discover(&self, _rtype: &str) -> Result<Discovery, ProviderError> {
        Ok(Discovery::Unsupported)
    }

    /// The stack ids whose ownership marks this provider can see, for `state recover` without
    /// a stack id (the lost state held it). The default sees none.
    async fn stacks(&self) -> Result<Vec<String>, ProviderError> {
        Ok(Vec::new())
    }

    /// Reads an existing object by its id, for `slipway import`.
    async fn import(&self, rtype: &str, id: &str) -> Result<Value, ProviderError> {
        Err(ProviderError::fatal(format!("{rtype} does not support import (id {id})")))
    }

    /// Calls made to the outside world since `configure`, per `service:Operation` (every
    /// attempt, retries included), for `--stats`. Providers without remote calls report none.
    fn call_stats(&self) -> BTreeMap<String, u64> {
        BTreeMap::new()
    }

    /// Evaluates a data source.
    async fn read_data(&self, rtype: &str, _config: &Value) -> Result<Value, ProviderError> {
        Err(ProviderError::fatal(format!("{} has no data source {rtype}", self.name())))
    }
}

/// The providers known to this build, by name.
#[derive(Clone, Default)]
pub struct ProviderRegistry {
    providers: BTreeMap<&'static str, Arc<dyn Provider>>,
}

impl ProviderRegistry {
    pub fn register(&mut self, p: Arc<dyn Provider>) {
        self.providers.insert(p.name(), p);
    }

    pub fn get(&self, name: &str) -> Option<&Arc<dyn Provider>> {
        self.providers.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.providers.keys().copied()
    }

    /// The provider that owns a resource type: the part before the first `_`.
    pub fn for_type(&self, rtype: &str) -> Option<&Arc<dyn Provider>> {
        self.get(provider_name_of(rtype))
    }

    /// The schema of a managed resource type, if any provider publishes it.
    pub fn resource_schema(&self, rtype: &str) -> Option<&ResourceSchema> {
        self.for_type(rtype)?.schema().resources.get(rtype)
    }

    pub fn data_schema(&self, rtype: &str) -> Option<&ResourceSchema> {
        self.for_type(rtype)?.schema().data_sources.get(rtype)
    }

    /// A provider's object with the schema's sensitive marks applied (see
    /// [`Schema::mark_sensitive`]).
    pub fn mark_sensitive(&self, rtype: &str, value: Value) -> Value {
        match self.resource_schema(rtype).or_else(|| self.data_schema(rtype)) {
            Some(s) => s.block.mark_sensitive(value),
            None => value,
        }
    }
}

/// `aws_instance` → `aws`.
pub fn provider_name_of(rtype: &str) -> &str {
    rtype.split('_').next().unwrap_or(rtype)
}
