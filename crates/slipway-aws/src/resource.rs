//! The resource-type table and the machinery every type shares.
//!
//! A [`ResourceType`] is a schema plus a small mapping onto AWS: how to create, how to find its
//! objects in one batched Describe ([`Query`]), how to turn an AWS object into attributes, which
//! narrow API updates which attribute, how to delete. Everything else is written once here:
//!
//! - **read** ([`read_batch`]): one paginated Describe filtered by `tag:slipway:stack`, plus one
//!   describe-by-id for objects in state that the tag query did not return (adopted or
//!   untagged objects) — never one call per object. Types whose objects carry no tags
//!   (associations, rules, attachments) are read by id in a single call, or, within one
//!   refresh that also reads their parents, from the parents' shared answer ([`Ctx::shared`]).
//! - **create** ([`create`]): first look for an object tagged with this stack and address and
//!   adopt it (that is what makes a kill -9 between the create call and the state write safe:
//!   moto ignores ClientToken, and not every AWS API has one), then create, wait until ready,
//!   read back. An adopted object is converged to the plan with the normal update path.
//! - **update** ([`update`]): tags by tag diff, the rest by the type's narrow APIs, then read back.
//! - **delete** ([`delete`]): an object already gone counts as deleted.
//!
//! **Invariants:** attribute maps produced by `describe` and by `normalize` have the same shape
//! (same keys, same ordering of set-like lists), so "apply, then plan" compares equal values.
//! Attributes AWS cannot report in a batched call (user data, VPC DNS attributes) keep their
//! prior value on read.

use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

use aws_sdk_ec2::types::{Filter, Tag, TagSpecification};

use super::client::{self, AwsFailure, Clients, to_provider_error};
use super::declare::{self, Field, Identity, Refresh, TagApi};
use super::tags::{self, ADDRESS_TAG, STACK_TAG, TOKEN_TAG, Tags};
use crate::addr::ResourceInstanceAddr;
use crate::provider::{ProviderError, ReadRequest, Schema, TypeBatch};
use crate::value::Value;

pub type Attrs = BTreeMap<String, Value>;

/// What a type's calls return: the provider's error unless said otherwise.
pub type Result<T, E = ProviderError> = std::result::Result<T, E>;

// The attribute helpers every type uses live in `values`; re-exported here so that a type takes
// its whole toolkit from this module.
pub use crate::values::{
    attrs, block_attr, blocks_attr, bool_attr, bool_change, changed, default_attr, flag, int,
    int_attr, normalize_set, str_attr, strs_attr, text, texts, vlist, vnum, vset, vstr,
};

/// What the provider knows after `configure`.
pub struct Ctx {
    pub clients: Arc<Clients>,
    pub stack_id: String,
    pub default_tags: Tags,
    /// Set only while one refresh reads every type ([`Ctx::for_refresh`]): the Describe
    /// answers its types share. Writes never see it, so nothing they read is stale.
    refresh: Option<SharedReads>,
}

impl Ctx {
    pub fn new(clients: Clients, stack_id: String, default_tags: Tags) -> Ctx {
        Ctx { clients: Arc::new(clients), stack_id, default_tags, refresh: None }
    }

    /// The context of one refresh of these batches.
    pub fn for_refresh(&self, batches: &[TypeBatch]) -> Ctx {
        let ids = batches
            .iter()
            .map(|b| {
                let ids = b.requests.iter().filter_map(|r| str_attr(&r.prior, "id"));
                (b.rtype.clone(), ids.collect())
            })
            .collect();
        Ctx {
            clients: self.clients.clone(),
            stack_id: self.stack_id.clone(),
            default_tags: self.default_tags.clone(),
            refresh: Some(SharedReads { ids, answers: Mutex::default() }),
        }
    }

    /// True inside a refresh that also reads objects of `rtype`: a read that `rtype`'s own
    /// read makes anyway costs nothing extra when shared.
    pub fn refreshing(&self, rtype: &str) -> bool {
        self.refresh.as_ref().is_some_and(|r| r.ids.contains_key(rtype))
    }

    /// Inside a refresh, the ids state holds for `rtype`; else none.
    pub fn refresh_ids(&self, rtype: &str) -> &[String] {
        self.refresh.as_ref().and_then(|r| r.ids.get(rtype)).map_or(&[], Vec::as_slice)
    }

    /// Inside a refresh, `read` runs once per `key` and every caller gets the first answer
    /// (a caller arriving while it runs waits for it; a failure is not kept, so the next
    /// caller tries again). Outside a refresh it simply runs.
    pub async fn shared<T, F, Fut>(&self, key: &str, read: F) -> Result<Arc<T>, ProviderError>
    where
        T: Send + Sync + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, ProviderError>>,
    {
        let Some(r) = &self.refresh else {
            return read().await.map(Arc::new);
        };
        let cell = r
            .answers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key.to_string())
            .or_default()
            .clone();
        let any = cell
            .get_or_try_init(|| async { read().await.map(|v| Arc::new(v) as SharedAnswer) })
            .await?
            .clone();
        any.downcast::<T>().map_err(|_| {
            ProviderError::fatal(format!("shared read {key} used with two different types"))
        })
    }

    /// [`Ctx::shared`] for the stack-wide query (every type of a refresh that lists these
    /// objects asks exactly that), a plain read for the others.
    pub async fn shared_if_stack<T, F, Fut>(
        &self,
        key: &str,
        q: Query<'_>,
        read: F,
    ) -> Result<Arc<T>, ProviderError>
    where
        T: Send + Sync + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, ProviderError>>,
    {
        match q {
            Query::Stack => self.shared(key, read).await,
            _ => read().await.map(Arc::new),
        }
    }
}

/// Splits `wanted` ids into the objects of `listed` that have them and the ids none has.
pub fn take_listed<T: Clone>(
    listed: &[T],
    wanted: Vec<String>,
    id_of: impl Fn(&T) -> Option<&str>,
) -> (Vec<T>, Vec<String>) {
    let found: Vec<T> = listed
        .iter()
        .filter(|o| id_of(o).is_some_and(|id| wanted.iter().any(|w| w == id)))
        .cloned()
        .collect();
    let missing = wanted
        .into_iter()
        .filter(|w| !found.iter().any(|o| id_of(o) == Some(w.as_str())))
        .collect();
    (found, missing)
}

/// One shared answer, of the type its key's reader returns.
type SharedAnswer = Arc<dyn Any + Send + Sync>;

/// Describe answers shared by the types of one refresh, by key.
struct SharedReads {
    /// The ids in state, by type being refreshed.
    ids: BTreeMap<String, Vec<String>>,
    answers: Mutex<HashMap<String, Arc<OnceCell<SharedAnswer>>>>,
}

/// Which objects of a type to describe.
#[derive(Clone, Copy, Debug)]
pub enum Query<'a> {
    /// Every object tagged with this stack.
    Stack,
    /// The object(s) tagged with this stack and this address (adoption).
    Address(&'a str),
    /// These ids (never empty).
    Ids(&'a [String]),
}

/// One AWS object, as attributes.
#[derive(Clone, Debug)]
pub struct Observed {
    pub id: String,
    pub attrs: Attrs,
    /// All tags on the object; None for types that cannot carry tags.
    pub tags: Option<Tags>,
}

/// Adoption for types whose id is derived from their configuration (attachments, rules): the
/// planned object is observed, under the id it would get, like any prior object.
async fn find_by_derived_id(
    r: &dyn ResourceType,
    cx: &Ctx,
    planned: &Value,
    id: String,
) -> Result<Option<String>, ProviderError> {
    let mut probe = planned.as_map().cloned().unwrap_or_default();
    probe.insert("id".into(), Value::string(id));
    Ok(r.observe(cx, &[Value::Map(probe)]).await?.pop().flatten().map(|o| o.id))
}

/// What a create (and the search for an earlier attempt's object) works from.
#[derive(Clone, Copy)]
pub struct Create<'a> {
    /// The planned object, normalized.
    pub planned: &'a Value,
    /// The full tag set to create it with (they carry the address: adoption finds it by them).
    pub tags: &'a Tags,
    /// This intent's client token (the same across a resumed run's attempts).
    pub token: &'a str,
}

#[async_trait::async_trait]
pub trait ResourceType: Send + Sync {
    fn name(&self) -> &'static str;
    fn description(&self) -> &'static str;
    /// Every field, once: schema, defaults, force-new and updaters (see [`declare`]).
    fn fields(&self) -> Vec<Field> {
        Vec::new()
    }
    /// Attributes and blocks; `id`, and for tagged types `tags`/`tags_all`, are added by
    /// [`full_schema`].
    fn schema(&self) -> Schema {
        declare::schema_of(&self.fields())
    }
    /// The API that carries the type's tags ([`TagApi::None`]: it has none, and so cannot be
    /// found by the stack tag).
    fn tag_api(&self) -> TagApi {
        TagApi::Ec2
    }
    /// Whether objects carry tags (and so can be found by the stack tag).
    fn tagged(&self) -> bool {
        self.tag_api() != TagApi::None
    }
    /// How the object an earlier attempt made is found again.
    fn identity(&self) -> Identity {
        Identity::Tags
    }
    /// Brings a planned object to the canonical shape `describe` produces beyond the declared
    /// defaults [`normalize_planned`] fills (set-like lists sorted, documents canonical). Must
    /// be idempotent.
    fn normalize(&self, _attrs: &mut Attrs) {}
    /// List blocks that are unmanaged when the configuration leaves them empty: the plan keeps
    /// what AWS has (Terraform's contract for inline routes and security group rules).
    fn keep_prior_when_empty(&self) -> &'static [&'static str] {
        &[]
    }
    /// One batched, paginated Describe. Default: nothing, for types observed through other
    /// objects' answers (attachments, rules, S3 objects and configurations: see `observe`).
    async fn describe(&self, _cx: &Ctx, _query: Query<'_>) -> Result<Vec<Observed>, ProviderError> {
        Ok(Vec::new())
    }
    /// The current form of each prior object (None when gone), in one batched round.
    async fn observe(
        &self,
        cx: &Ctx,
        priors: &[Value],
    ) -> Result<Vec<Option<Observed>>, ProviderError> {
        match self.refresh() {
            Refresh::ByTagThenId => observe_by_tag_then_id(self, cx, priors).await,
            Refresh::ByIds => observe_by_ids(self, cx, priors).await,
            Refresh::ByIdsTagsUnlisted => {
                let mut found = observe_by_ids(self, cx, priors).await?;
                for (p, o) in priors.iter().zip(&mut found) {
                    if let Some(o) = o {
                        o.tags = Some(tags::tags_of(p.get_attr("tags_all")));
                    }
                }
                Ok(found)
            }
        }
    }
    /// How a refresh finds the objects in state.
    fn refresh(&self) -> Refresh {
        Refresh::ByTagThenId
    }
    /// True when objects are adopted by identity (a unique name, or the same association)
    /// rather than by the address tag.
    fn adopt_by_identity(&self) -> bool {
        !matches!(self.identity(), Identity::Tags)
    }
    /// For [`Identity::UniqueKey`]: an existing object that is this plan's object (same unique
    /// name, same association), to adopt.
    async fn find_existing(
        &self,
        _cx: &Ctx,
        _c: Create<'_>,
    ) -> Result<Option<String>, ProviderError> {
        Ok(None)
    }
    /// Creates the object and returns its id.
    async fn create(&self, cx: &Ctx, c: Create<'_>) -> Result<String, ProviderError>;
    /// Waits until the object is usable (instance running, LB active).
    async fn wait_ready(&self, _cx: &Ctx, _id: &str) -> Result<(), ProviderError> {
        Ok(())
    }
    /// Applies non-tag changes with the narrowest APIs: the declared updaters.
    async fn update(
        &self,
        cx: &Ctx,
        id: &str,
        prior: &Value,
        planned: &Value,
    ) -> Result<(), ProviderError> {
        declare::run_updaters(&self.fields(), cx, id, prior, planned).await
    }
    async fn delete(&self, cx: &Ctx, id: &str, prior: &Value) -> Result<(), ProviderError>;
}

/// The published schema: the type's own plus `id` (and `tags`, `tags_all`).
pub fn full_schema(t: &dyn ResourceType) -> Schema {
    use crate::provider::AttributeSchema as A;
    use crate::value::Type;
    let mut s = t.schema().attr("id", A::computed(Type::String));
    if t.tagged() {
        s = s
            .attr("tags", A::optional(Type::Map(Box::new(Type::String))))
            .attr("tags_all", A::computed(Type::Map(Box::new(Type::String))));
    }
    s
}

/// Canonical planned attributes: the type's normalization plus `tags` null → {}.
pub fn normalize_planned(t: &dyn ResourceType, planned: Value) -> Value {
    let Value::Map(mut attrs) = planned else {
        return planned;
    };
    if t.tagged() && attrs.get("tags").is_none_or(Value::is_null) {
        attrs.insert("tags".into(), Value::Map(BTreeMap::new()));
    }
    declare::fill_defaults(&t.fields(), &mut attrs);
    t.normalize(&mut attrs);
    Value::Map(attrs)
}

/// The object as state will hold it: `base` (plan or prior) overlaid with what AWS reports.
fn merge(cx: &Ctx, base: &Value, obs: Observed) -> Value {
    let mut out = base.as_map().cloned().unwrap_or_default();
    out.extend(obs.attrs);
    out.insert("id".into(), Value::string(obs.id));
    if let Some(all) = obs.tags {
        out.insert("tags".into(), tags::tags_value(&tags::user_tags(&all, &cx.default_tags)));
        out.insert("tags_all".into(), tags::tags_value(&all));
    }
    // Whatever is still unknown was not reported by AWS: say so with null, not unknown.
    for v in out.values_mut() {
        if v.is_unknown() {
            *v = Value::Null;
        }
    }
    Value::Map(out)
}

/// An object as state would hold it from what AWS reports alone (`state recover`: there is
/// no prior object to lay it over).
pub fn observed_value(cx: &Ctx, obs: Observed) -> Value {
    merge(cx, &Value::Map(Attrs::new()), obs)
}

pub fn id_of(v: &Value) -> Result<String, ProviderError> {
    str_attr(v, "id").ok_or_else(|| ProviderError::fatal("object in state has no id"))
}

/// The default batched observation: one Describe by stack tag, then one describe-by-id for
/// whatever state holds that the tag query missed (adopted or untagged objects).
pub async fn observe_by_tag_then_id<T: ResourceType + ?Sized>(
    t: &T,
    cx: &Ctx,
    priors: &[Value],
) -> Result<Vec<Option<Observed>>, ProviderError> {
    let wanted: Vec<String> = priors.iter().filter_map(|p| str_attr(p, "id")).collect();
    let mut found: BTreeMap<String, Observed> = BTreeMap::new();
    if !wanted.is_empty() {
        if t.tagged() {
            for o in t.describe(cx, Query::Stack).await? {
                found.insert(o.id.clone(), o);
            }
        }
        let mut missing: Vec<String> =
            wanted.iter().filter(|id| !found.contains_key(*id)).cloned().collect();
        missing.sort();
        missing.dedup();
        if !missing.is_empty() {
            for o in t.describe(cx, Query::Ids(&missing)).await? {
                found.insert(o.id.clone(), o);
            }
        }
    }
    Ok(priors.iter().map(|p| found.get(&str_attr(p, "id")?).cloned()).collect())
}

/// Whether the object `id` with `tags` is one that query `q` asks for (for types whose listing
/// cannot filter by tag: ELBv2's, IAM roles).
pub fn wanted(cx: &Ctx, q: Query<'_>, id: &str, tags: &Tags) -> bool {
    let ours = tags.get(STACK_TAG) == Some(&cx.stack_id);
    match q {
        Query::Stack => ours,
        Query::Address(a) => ours && tags.get(ADDRESS_TAG).map(String::as_str) == Some(a),
        Query::Ids(ids) => ids.iter().any(|i| i == id),
    }
}

/// Observation by id alone, for types whose every Describe lists the whole account (so the
/// default, by stack and then by id, would list it twice): one `describe` by the ids in state.
pub async fn observe_by_ids<T: ResourceType + ?Sized>(
    t: &T,
    cx: &Ctx,
    priors: &[Value],
) -> Result<Vec<Option<Observed>>, ProviderError> {
    observe_ids_with(priors, |ids| async move { t.describe(cx, Query::Ids(&ids)).await }).await
}

/// Each prior object as found by one `read` of the ids state holds (not called when it holds
/// none); None for an id `read` does not return.
pub async fn observe_ids_with<F, Fut>(
    priors: &[Value],
    read: F,
) -> Result<Vec<Option<Observed>>, ProviderError>
where
    F: FnOnce(Vec<String>) -> Fut,
    Fut: Future<Output = Result<Vec<Observed>, ProviderError>>,
{
    let ids: Vec<String> = priors.iter().filter_map(|p| str_attr(p, "id")).collect();
    if ids.is_empty() {
        return Ok(priors.iter().map(|_| None).collect());
    }
    let found = read(ids).await?;
    Ok(priors
        .iter()
        .map(|p| {
            let id = str_attr(p, "id")?;
            found.iter().find(|o| o.id == id).cloned()
        })
        .collect())
}

/// The distinct values of attribute `k` over `priors` (the parents their objects are read
/// through: volumes of attachments, groups of rules, target groups of registrations), sorted.
pub fn distinct_attr(priors: &[Value], k: &str) -> Vec<String> {
    let mut out: Vec<String> = priors.iter().filter_map(|p| str_attr(p, k)).collect();
    out.sort();
    out.dedup();
    out
}

/// Batched refresh of many objects of one type.
pub async fn read_batch(
    t: &dyn ResourceType,
    cx: &Ctx,
    requests: &[ReadRequest],
) -> Result<Vec<Option<Value>>, ProviderError> {
    let priors: Vec<Value> = requests.iter().map(|r| r.prior.clone()).collect();
    let observed = t.observe(cx, &priors).await?;
    Ok(priors.iter().zip(observed).map(|(p, o)| o.map(|o| merge(cx, p, o))).collect())
}

/// Observes one object after a write; `base` carries the id and what `observe` needs to find
/// it (untagged kinds are identified by their attributes).
async fn observe_one(
    t: &dyn ResourceType,
    cx: &Ctx,
    id: &str,
    base: &Value,
) -> Result<(Value, Observed), ProviderError> {
    let mut b = base.as_map().cloned().unwrap_or_default();
    b.insert("id".into(), Value::string(id));
    let base = Value::Map(b);
    // AWS is eventually consistent: an object just created may not be listed yet.
    for attempt in 0..10 {
        if let Some(obs) = t.observe(cx, std::slice::from_ref(&base)).await?.pop().flatten() {
            return Ok((base, obs));
        }
        if attempt < 9 {
            tokio::time::sleep(cx.clients.policy.poll_interval).await;
        }
    }
    Err(ProviderError::retryable(format!("{} {id} not visible after write", t.name())))
}

/// Reads back one object after a write, over `base` for what AWS does not report.
async fn read_one(
    t: &dyn ResourceType,
    cx: &Ctx,
    id: &str,
    base: &Value,
) -> Result<Value, ProviderError> {
    let (base, obs) = observe_one(t, cx, id, base).await?;
    Ok(merge(cx, &base, obs))
}

/// Creates (or adopts) one object.
pub async fn create(
    t: &dyn ResourceType,
    cx: &Ctx,
    address: &ResourceInstanceAddr,
    client_token: &str,
    ownership: &Tags,
    planned: &Value,
    resuming: bool,
) -> Result<Value, ProviderError> {
    let planned = normalize_planned(t, planned.clone());
    let addr = address.to_string();
    let user = tags::tags_of(planned.get_attr("tags"));
    let all = tags::desired_tags(&cx.stack_id, address, ownership, &cx.default_tags, &user);
    // An attempt starts by looking — when resuming an interrupted run's create, and after an
    // attempt of this run whose answer was lost: either may have made the object already. Inside `converging`, an
    // ambiguous failure comes back here instead of being retried blindly.
    let mut attempt = 0u32;
    let id = loop {
        let step = client::converging(async {
            // A fresh intent's first attempt has nothing to find (its token is new).
            let look = resuming || attempt > 0;
            if look
                && let Some(id) = find_created(t, cx, &addr, &planned, &all, client_token).await?
            {
                tracing::info!(address = %addr, id, "adopting existing object");
                cx.clients.note_created(&id);
                t.wait_ready(cx, &id).await?;
                // Converge from what AWS reports only: an attribute it cannot report (set by a
                // call the interrupted run may never have made, like ModifyVpcAttribute) counts
                // as unset, so the update path applies it.
                let (_, obs) = observe_one(t, cx, &id, &planned).await?;
                let current = merge(cx, &Value::Map(Attrs::new()), obs);
                return update(t, cx, &current, &planned).await.map(Err);
            }
            let c = Create { planned: &planned, tags: &all, token: client_token };
            t.create(cx, c).await.map(Ok)
        })
        .await;
        match step {
            Ok(Ok(id)) => break id,
            Ok(Err(adopted)) => return Ok(adopted),
            Err(e) if e.retryable && attempt < cx.clients.policy.max_retries => {
                tracing::debug!(address = %addr, attempt, error = %e.message, "create failed, maybe after landing; looking again");
                attempt += 1;
                tokio::time::sleep(cx.clients.policy.base_backoff.saturating_mul(attempt)).await;
            }
            Err(e) => return Err(e),
        }
    };
    t.wait_ready(cx, &id).await?;
    // What it was created with, for kinds whose tags a batched read cannot return.
    let mut base = planned.as_map().cloned().unwrap_or_default();
    if t.tagged() {
        base.insert("tags_all".into(), tags::tags_value(&all));
    }
    read_one(t, cx, &id, &Value::Map(base)).await
}

/// What a create that did not finish left behind, read as state would hold it.
pub async fn recover(
    t: &dyn ResourceType,
    cx: &Ctx,
    address: &ResourceInstanceAddr,
    client_token: &str,
    pending: &Value,
) -> Result<Option<Value>, ProviderError> {
    // An intent written before intents carried their planned object has none: only the tags
    // can find what it made, so kinds found by identity have nothing to go on.
    if pending.is_null() && t.adopt_by_identity() {
        return Ok(None);
    }
    let planned = normalize_planned(t, pending.clone());
    let addr = address.to_string();
    let user = tags::tags_of(planned.get_attr("tags"));
    let all = tags::desired_tags(&cx.stack_id, address, &Tags::new(), &cx.default_tags, &user);
    let Some(id) = find_created(t, cx, &addr, &planned, &all, client_token).await? else {
        return Ok(None);
    };
    tracing::info!(address = %addr, id, "found what an unfinished create made");
    let (_, mut obs) = observe_one(t, cx, &id, &planned).await?;
    // A type whose listing cannot report tags (instance profiles) carries what create gave it.
    if t.tagged() && obs.tags.as_ref().is_none_or(Tags::is_empty) {
        obs.tags = Some(all);
    }
    Ok(Some(merge(cx, &Value::Map(Attrs::new()), obs)))
}

/// What an earlier attempt (this run's, or an interrupted run's) left behind for `addr`.
async fn find_created(
    t: &dyn ResourceType,
    cx: &Ctx,
    addr: &str,
    planned: &Value,
    all: &Tags,
    client_token: &str,
) -> Result<Option<String>, ProviderError> {
    match t.identity() {
        Identity::Tags => {}
        Identity::UniqueKey => {
            let c = Create { planned, tags: all, token: client_token };
            return t.find_existing(cx, c).await;
        }
        Identity::Derived(id) => {
            let Some(id) = id(planned) else {
                return Ok(None);
            };
            return find_by_derived_id(t, cx, planned, id).await;
        }
        Identity::Overwrite => return Ok(None),
    }
    let mut found = t.describe(cx, Query::Address(addr)).await?;
    // The query may match by wildcard (see `ec2_filters`): keep the exact address only, and
    // only this generation's object — an older one at the same address is what a
    // create_before_destroy replacement replaces, not what it may adopt.
    found.retain(|o| {
        o.tags.as_ref().is_none_or(|tags| {
            tags.get(ADDRESS_TAG).is_some_and(|a| a == addr)
                && tags.get(TOKEN_TAG).is_none_or(|t| t == client_token)
        })
    });
    if found.len() > 1 {
        tracing::warn!(address = %addr, count = found.len(), "several objects carry this address; adopting the first");
    }
    found.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(found.into_iter().next().map(|o| o.id))
}

/// Updates one object in place. An ambiguous failure of a call that is not idempotent
/// (attach, associate, create a route) makes it read the object again and go on from what AWS
/// reports, so a retry never repeats a change that already landed.
pub async fn update(
    t: &dyn ResourceType,
    cx: &Ctx,
    prior: &Value,
    planned: &Value,
) -> Result<Value, ProviderError> {
    let mut current = prior.clone();
    let mut attempt = 0u32;
    loop {
        match client::converging(update_once(t, cx, &current, planned)).await {
            Err(e) if e.retryable && attempt < cx.clients.policy.max_retries => {
                tracing::debug!(attempt, error = %e.message, "update failed, maybe after landing; reading again");
                attempt += 1;
                tokio::time::sleep(cx.clients.policy.base_backoff.saturating_mul(attempt)).await;
                let id = id_of(prior)?;
                let (_, obs) = observe_one(t, cx, &id, prior).await?;
                current = merge(cx, prior, obs);
            }
            other => return other,
        }
    }
}

async fn update_once(
    t: &dyn ResourceType,
    cx: &Ctx,
    prior: &Value,
    planned: &Value,
) -> Result<Value, ProviderError> {
    let planned = normalize_planned(t, planned.clone());
    let id = id_of(prior)?;
    let mut base = planned.clone();
    if t.tagged() {
        let current_all = tags::tags_of(prior.get_attr("tags_all"));
        let prior_user = tags::tags_of(prior.get_attr("tags"));
        let user = tags::tags_of(planned.get_attr("tags"));
        let desired =
            tags::updated_tags(&current_all, &cx.stack_id, &cx.default_tags, &prior_user, &user);
        let (set, delete) = tags::tag_diff(&current_all, &desired);
        if !set.is_empty() || !delete.is_empty() {
            t.tag_api().update(cx, &id, &set, &delete).await?;
        }
        // Read back over the tags it now carries: a type whose listing cannot report tags
        // (instance profiles) would otherwise lose them, and the next plan would tag it again
        // (found by adopting: the adopted object's state starts from what AWS reports). What
        // AWS reports, where it does, wins.
        if let Value::Map(m) = &mut base {
            m.insert("tags_all".into(), tags::tags_value(&desired));
        }
    }
    t.update(cx, &id, prior, &planned).await?;
    read_one(t, cx, &id, &base).await
}

pub async fn delete(t: &dyn ResourceType, cx: &Ctx, prior: &Value) -> Result<(), ProviderError> {
    let id = id_of(prior)?;
    t.delete(cx, &id, prior).await
}

/// A delete whose object is already gone succeeded.
pub fn gone_ok(api: &str, r: Result<(), AwsFailure>) -> Result<(), ProviderError> {
    match r {
        Err(f) if f.is_not_found() => Ok(()),
        other => other.map_err(|f| to_provider_error(api, f)),
    }
}

// ---- EC2 helpers shared by every EC2 type ----

/// Filters for a query; `id_filter` is the type's id filter name (`vpc-id`).
pub fn ec2_filters(cx: &Ctx, query: Query<'_>, id_filter: &str) -> Vec<Filter> {
    let tag = |k: &str, v: &str| Filter::builder().name(format!("tag:{k}")).values(v).build();
    match query {
        Query::Stack => vec![tag(STACK_TAG, &cx.stack_id)],
        // EC2 filter values treat `*` and `?` as wildcards, and moto (fnmatch) also `[` `]`, which
        // every indexed address has (`aws_instance.node[0]`). Each such character becomes the
        // single-character wildcard `?`; [`find_created`] keeps exact matches only.
        Query::Address(a) => {
            let pattern: String = a
                .chars()
                .map(|c| if matches!(c, '*' | '?' | '[' | ']' | '\\') { '?' } else { c })
                .collect();
            vec![tag(STACK_TAG, &cx.stack_id), tag(ADDRESS_TAG, &pattern)]
        }
        // A filter rather than the ids parameter: an id that no longer exists is simply not
        // returned instead of failing the whole batch with InvalidXxxID.NotFound.
        Query::Ids(ids) => {
            vec![Filter::builder().name(id_filter).set_values(Some(ids.to_vec())).build()]
        }
    }
}

/// An EC2 object as observed: what `fields` read from it, with the tags EC2 lists beside it.
pub fn ec2_observed<S, B>(
    cx: &Ctx,
    fields: &[Field<S, B>],
    s: &S,
    id: Option<&str>,
    tags: &[Tag],
) -> Option<Observed> {
    declare::observed(cx, fields, s, id, Some(ec2_tags(tags)))
}

/// The ARN of EC2 object `id` of `kind` (`vpc`, `instance`, …) owned by account `owner`, for
/// objects whose shape carries no ARN of its own.
pub fn ec2_arn(cx: &Ctx, owner: Option<&str>, kind: &str, id: Option<&str>) -> Value {
    let (owner, id) = (owner.unwrap_or(""), id.unwrap_or(""));
    Value::string(format!("arn:aws:ec2:{}:{owner}:{kind}/{id}", cx.clients.region))
}

pub fn ec2_tags(tags: &[Tag]) -> Tags {
    tags.iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or("").to_string())))
        .collect()
}

pub fn ec2_tag_spec(rt: aws_sdk_ec2::types::ResourceType, tags: &Tags) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(rt)
        .set_tags(Some(tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()))
        .build()
}
