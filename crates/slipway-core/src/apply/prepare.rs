//! Preparing and finishing one operation: the instance's configuration now, the intent record a
//! create journals before its provider call, the call itself (launched only once the intent is
//! durable), and the state records of the result.
//!
//! **Invariant:** a create's intent (status `creating`, client token of its generation, the
//! planned object) is returned with its launch and written before the launch runs, so a run
//! killed in between leaves a marker the next run resumes from; a delete of an interrupted
//! create first recovers what that create made, so nothing is orphaned.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use petgraph::graph::NodeIndex;
use tokio::sync::mpsc;

use super::ops::Op;
use super::{ApplyContext, Done, OpKind};
use crate::addr::ResourceInstanceAddr;
use crate::graph::walk::fill_computed_unknown;
use crate::graph::walk::live::ConfigEvaluator;
use crate::plan::{Action, ResourceChange};
use crate::provider::{ADDRESS_TAG, CreateRequest, Provider, STACK_TAG, TOKEN_TAG};
use crate::state::journal::JournalOp;
use crate::state::{DeposedObject, ResourceState, ResourceStatus, State, client_token};
use crate::value::Value;

/// The configuration of an operation's instance now, for creates, updates and reads (None for
/// deletes): as planned, or evaluated again when it held unknowns at plan time. Its
/// dependencies are applied (it is ready), so their values are final; only its own expressions,
/// and what they reach that was not evaluated yet in this apply, are evaluated
/// ([`ConfigEvaluator`]). A walk of the whole configuration per operation made apply quadratic
/// where instances become ready a few at a time.
pub(super) fn current_config(
    op: &Op,
    c: &ResourceChange,
    ctx: &ApplyContext,
    values: &HashMap<ResourceInstanceAddr, Value>,
    evaluator: &mut ConfigEvaluator,
) -> Option<Result<Value, String>> {
    if !matches!(op.kind, OpKind::Create | OpKind::Update | OpKind::Read) {
        return None;
    }
    match c.config() {
        Some(config) if config.contains_unknown() => {
            Some(evaluator.config(ctx.env.walk_input(), &c.addr, values))
        }
        config => Some(Ok(config.unwrap_or(Value::Null))),
    }
}

/// A provider call ready to go, launched once its intent is durable.
pub(super) type Launch = Box<dyn FnOnce() + Send>;

/// What preparing an operation gives: the intent to journal first (creates only) and the call.
type Prepared = Result<(Option<JournalOp>, Launch), String>;

/// Where a launched call reports its result.
struct Reply {
    node: NodeIndex,
    tx: mpsc::UnboundedSender<Done>,
}

impl Reply {
    /// The launch of `call`: spawned on the runtime when launched (not before: the intent is
    /// written first), timed, and reported here. `call` is lazy until then.
    fn launch<F>(self, call: F) -> Launch
    where
        F: Future<Output = Result<Option<Value>, String>> + Send + 'static,
    {
        Box::new(move || {
            tokio::spawn(async move {
                let started = Instant::now();
                let r = call.await;
                self.send(r, started);
            });
        })
    }

    fn send(self, r: Result<Option<Value>, String>, started: Instant) {
        let _ = self.tx.send(match r {
            Ok(value) => Done::Ok { node: self.node, value, elapsed: started.elapsed() },
            Err(message) => Done::Err { node: self.node, message },
        });
    }
}

/// The provider, type and address one operation calls with, and where it reports.
struct Call {
    provider: Arc<dyn Provider>,
    rtype: String,
    addr: ResourceInstanceAddr,
    reply: Reply,
}

/// Works out an operation: its intent record (for creates) and the provider call to launch.
/// `config` is the instance's configuration now (see [`current_config`]); `Some` for creates,
/// updates and reads.
pub(super) fn prepare_op(
    node: NodeIndex,
    op: &Op,
    c: &ResourceChange,
    state: &State,
    ctx: &ApplyContext,
    config: Option<Result<Value, String>>,
    tx: mpsc::UnboundedSender<Done>,
) -> Prepared {
    let provider = ctx
        .registry
        .for_type(&c.rtype)
        .cloned()
        .ok_or_else(|| format!("no provider for {}", c.rtype))?;
    let call =
        Call { provider, rtype: c.rtype.clone(), addr: c.addr.clone(), reply: Reply { node, tx } };
    let config = || config.unwrap_or_else(|| Err("no configuration for this operation".into()));
    match op.kind {
        OpKind::Create => prepare_create(call, c, state, ctx, config()?),
        OpKind::Update => prepare_update(call, state, ctx, config()?),
        OpKind::Delete => prepare_delete(call, op, c, state),
        OpKind::Read => prepare_read(call, config()?),
    }
}

/// A create: the planned object, its generation and client token, the intent record (with the
/// object a `create_before_destroy` replacement deposes), and the ownership tags.
fn prepare_create(
    call: Call,
    c: &ResourceChange,
    state: &State,
    ctx: &ApplyContext,
    config: Value,
) -> Prepared {
    let Call { provider, rtype, addr, reply } = call;
    let schema = ctx.registry.resource_schema(&rtype);
    let planned = provider
        .plan(&rtype, None, fill_computed_unknown(&config, schema))
        .map_err(|e| e.message)?
        .planned;
    let prior = state.resources.get(&addr).cloned();
    let stack = state.stack_id.clone();
    // Resuming an interrupted create keeps its generation (and so its token); anything
    // else is a new object, with a new generation.
    let generation = match &prior {
        Some(p) if p.pending_client_token().is_some() => p.generation,
        Some(p) => p.generation + 1,
        None => 1,
    };
    let token = client_token(&stack, &addr, generation);
    let resuming = prior.as_ref().is_some_and(|p| p.pending_client_token().is_some());
    // The intent keeps the planned object: if the create lands and the run dies, the
    // next refresh finds the object with it (`Provider::recover`), even when it is
    // identified by its configuration rather than by tags.
    let mut intent = ResourceState::from_value(provider.name(), rtype.clone(), &planned);
    intent.status = ResourceStatus::Creating { client_token: token.clone() };
    intent.generation = generation;
    intent.dependencies = c.depends_on.clone();
    intent.create_before_destroy = c.create_before_destroy;
    if let Some(p) = &prior {
        intent.deposed = p.deposed.clone();
        if c.action == Action::Replace
            && c.create_before_destroy
            && p.pending_client_token().is_none()
        {
            intent.deposed.push(DeposedObject {
                key: format!("{:08x}", rand::random::<u32>()),
                id: p.id.clone(),
                attributes: p.attributes.clone(),
                sensitive_paths: p.sensitive_paths.clone(),
                generation: p.generation,
            });
        }
    }
    let record = JournalOp::Put { addr: addr.clone(), resource: Box::new(intent) };
    let mut tags = BTreeMap::new();
    tags.insert(STACK_TAG.to_string(), stack);
    tags.insert(ADDRESS_TAG.to_string(), addr.to_string());
    // The token names this generation: adoption by tags must never take the object a
    // create_before_destroy replacement is replacing (same address, older token).
    tags.insert(TOKEN_TAG.to_string(), token.clone());
    let launch = reply.launch(async move {
        let req = CreateRequest {
            address: &addr,
            client_token: &token,
            ownership_tags: &tags,
            planned: &planned,
            resuming,
        };
        provider.create(&rtype, req).await.map(Some).map_err(|e| e.message)
    });
    Ok((Some(record), launch))
}

/// An update in place: the configuration, with computed attributes it leaves unset taken from
/// state, planned by the provider.
fn prepare_update(call: Call, state: &State, ctx: &ApplyContext, config: Value) -> Prepared {
    let Call { provider, rtype, addr, reply } = call;
    let prior = state.resources.get(&addr).map(|r| r.value()).ok_or("not in state any more")?;
    let schema = ctx.registry.resource_schema(&rtype);
    let mut proposed = config.as_map().cloned().unwrap_or_default();
    if let Some(s) = schema {
        for (name, a) in &s.block.attributes {
            if a.computed && proposed.get(name).is_none_or(Value::is_null) {
                proposed.insert(name.clone(), prior.get_attr(name).unwrap_or(Value::Null));
            }
        }
    }
    let planned =
        provider.plan(&rtype, Some(&prior), Value::Map(proposed)).map_err(|e| e.message)?.planned;
    Ok((
        None,
        reply.launch(async move {
            provider.update(&rtype, &prior, &planned).await.map(Some).map_err(|e| e.message)
        }),
    ))
}

/// A delete: of the deposed object for a `create_before_destroy` replacement, else of the
/// object in state; an interrupted create is recovered first.
fn prepare_delete(call: Call, op: &Op, c: &ResourceChange, state: &State) -> Prepared {
    let Call { provider, rtype, addr, reply } = call;
    let state_entry = state.resources.get(&addr).cloned();
    // With create_before_destroy the object to delete is the deposed one.
    let victim = match (&state_entry, op.replacing && c.create_before_destroy) {
        (Some(r), true) => r.deposed.last().map(|d| d.value()),
        (Some(r), false) => Some(r.value()),
        (None, _) => None,
    };
    // A create that never finished: whatever it made is found first (adopt, then
    // delete), so destroying an interrupted apply leaves no orphan.
    let pending = state_entry
        .as_ref()
        .filter(|_| !(op.replacing && c.create_before_destroy))
        .and_then(|r| r.pending_client_token().map(str::to_string));
    Ok((
        None,
        reply.launch(async move {
            let victim = match (pending, victim) {
                (Some(token), Some(planned)) => provider
                    .recover(&rtype, &addr, &token, &planned)
                    .await
                    .map_err(|e| e.message)?,
                (_, victim) => victim,
            };
            // None: already gone from state, or a pending create that made nothing.
            match victim {
                Some(v) => provider.delete(&rtype, &v).await.map(|_| None).map_err(|e| e.message),
                None => Ok(None),
            }
        }),
    ))
}

/// A data source read.
fn prepare_read(call: Call, config: Value) -> Prepared {
    let Call { provider, rtype, addr: _, reply } = call;
    Ok((
        None,
        reply.launch(async move {
            provider.read_data(&rtype, &config).await.map(Some).map_err(|e| e.message)
        }),
    ))
}

/// The state records of a finished operation.
pub(super) fn finish_op(
    op: &Op,
    c: &ResourceChange,
    value: Option<Value>,
    state: &State,
    values: &mut HashMap<ResourceInstanceAddr, Value>,
) -> Vec<JournalOp> {
    match op.kind {
        OpKind::Create | OpKind::Update => {
            let Some(v) = value else { return Vec::new() };
            let mut r = state.resources.get(&c.addr).cloned().unwrap_or_else(|| {
                ResourceState::from_value(c.provider.clone(), c.rtype.clone(), &Value::Null)
            });
            r.set_value(&v);
            r.status = ResourceStatus::Ready;
            r.dependencies = c.depends_on.clone();
            r.create_before_destroy = c.create_before_destroy;
            if r.generation == 0 {
                r.generation = 1;
            }
            values.insert(c.addr.clone(), v);
            vec![JournalOp::Put { addr: c.addr.clone(), resource: Box::new(r) }]
        }
        OpKind::Read => {
            if let Some(v) = value {
                values.insert(c.addr.clone(), v);
            }
            Vec::new()
        }
        OpKind::Delete => {
            if c.action == Action::Delete {
                values.remove(&c.addr);
            }
            if op.replacing && c.create_before_destroy {
                match state.resources.get(&c.addr).cloned() {
                    Some(mut r) => {
                        r.deposed.pop();
                        vec![JournalOp::Put { addr: c.addr.clone(), resource: Box::new(r) }]
                    }
                    None => Vec::new(),
                }
            } else if state.resources.contains_key(&c.addr) {
                vec![JournalOp::Delete { addr: c.addr.clone() }]
            } else {
                Vec::new()
            }
        }
    }
}
