//! Apply: carries out a plan as a parallel walk of an operation DAG.
//!
//! Each change becomes one or two operations (a replacement is a delete and a create, ordered
//! by `create_before_destroy`). Operations run on tokio with at most `parallelism` in flight;
//! a failure stops its dependents and nothing else.
//!
//! **Architecture invariants (crash safety):**
//! - One writer: only the coordinator touches state, through [`JournaledState`]; every change
//!   is durable (journaled and fsynced) before the next operation that depends on it starts.
//! - A create's *intent* (status `creating` with a deterministic client token) is journaled
//!   before the provider is called, so a run killed mid-create leaves a marker that the next
//!   plan turns into "resume create", and the provider adopts the object instead of making a
//!   second one.
//! - Expressions unknown at plan time are evaluated again once their dependencies have been
//!   applied, through the same walk that planned them.

mod ops;
mod prepare;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use petgraph::graph::{DiGraph, NodeIndex};
use tokio::sync::mpsc;

use crate::addr::ResourceInstanceAddr;
use crate::backend::{BackendError, JournaledState};
use crate::diag::Diagnostic;
use crate::environment::Environment;
use crate::graph::walk::live::ConfigEvaluator;
use crate::graph::walk::{InstanceContext, InstanceHandler};
use crate::plan::{Plan, ResourceChange};
use crate::provider::ProviderRegistry;
use crate::state::journal::JournalOp;
use crate::state::{OutputState, State};
use crate::value::Value;
pub use ops::{FORCED_CBD, Ordering, order_replacements};
use ops::{Op, build_ops, find_cycle, release_dependents, skip_dependents};
use prepare::{current_config, finish_op, prepare_op};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpKind {
    Create,
    Update,
    Delete,
    Read,
}

impl OpKind {
    /// What is shown when the operation starts and when it completes.
    pub fn progressive(self) -> (&'static str, &'static str) {
        match self {
            OpKind::Create => ("Creating...", "Creation complete"),
            OpKind::Update => ("Modifying...", "Modifications complete"),
            OpKind::Delete => ("Destroying...", "Destruction complete"),
            OpKind::Read => ("Reading...", "Read complete"),
        }
    }
}

impl OpKind {
    /// The operation while it runs ("Still creating...").
    pub fn ongoing(self) -> &'static str {
        match self {
            OpKind::Create => "creating",
            OpKind::Update => "modifying",
            OpKind::Delete => "destroying",
            OpKind::Read => "reading",
        }
    }
}

/// Receives progress events (the CLI prints them, the agent logs them).
pub trait Progress: Send + Sync {
    fn started(&self, addr: &ResourceInstanceAddr, op: OpKind);
    fn still_running(&self, addr: &ResourceInstanceAddr, op: OpKind, elapsed: Duration);
    fn finished(
        &self,
        addr: &ResourceInstanceAddr,
        op: OpKind,
        elapsed: Duration,
        id: Option<&str>,
    );
    fn failed(&self, addr: &ResourceInstanceAddr, op: OpKind, message: &str);
    fn notice(&self, message: &str);
}

/// Progress as lines of text in Terraform's words, each handed to the sink (`true` for a
/// failure): the command line prints them, the agent logs them, so both say the same thing.
/// Formatting only; where a line goes is the sink's business.
pub struct Lines<S>(pub S);

impl<S: Fn(bool, &str) + Send + Sync> Progress for Lines<S> {
    fn started(&self, addr: &ResourceInstanceAddr, op: OpKind) {
        (self.0)(false, &format!("{addr}: {}", op.progressive().0));
    }
    fn still_running(&self, addr: &ResourceInstanceAddr, op: OpKind, elapsed: Duration) {
        let (verb, secs) = (op.ongoing(), elapsed.as_secs());
        (self.0)(false, &format!("{addr}: Still {verb}... [{secs}s elapsed]"));
    }
    fn finished(
        &self,
        addr: &ResourceInstanceAddr,
        op: OpKind,
        elapsed: Duration,
        id: Option<&str>,
    ) {
        let id = id.map(|i| format!(" [id={i}]")).unwrap_or_default();
        let (done, secs) = (op.progressive().1, elapsed.as_secs());
        (self.0)(false, &format!("{addr}: {done} after {secs}s{id}"));
    }
    fn failed(&self, addr: &ResourceInstanceAddr, _op: OpKind, message: &str) {
        (self.0)(true, &format!("{addr}: failed: {message}"));
    }
    fn notice(&self, message: &str) {
        (self.0)(false, message);
    }
}

#[derive(Debug, Default)]
pub struct ApplyReport {
    pub added: usize,
    pub changed: usize,
    pub destroyed: usize,
    pub failed: Vec<(ResourceInstanceAddr, String)>,
    /// Not attempted because something they depend on failed (or the run was interrupted).
    pub skipped: Vec<(ResourceInstanceAddr, String)>,
    pub interrupted: bool,
    pub outputs: BTreeMap<String, (Value, bool)>,
    /// From the first operation started to the last finished.
    pub wall: Duration,
    /// The lower bound on `wall` for these operations: the longest chain of dependent
    /// operations, each taking as long as it took here. `wall / critical_path` near 1 means
    /// the scheduler added nothing but the engine's own bookkeeping.
    pub critical_path: Duration,
    /// Configurations evaluated again at apply (they held unknowns at plan time), and the
    /// variables, locals, outputs, module calls and resource values evaluated for them: both
    /// grow with the number of such operations, not with their square.
    pub reevaluated: usize,
    pub reevaluation_nodes: usize,
}

impl ApplyReport {
    pub fn ok(&self) -> bool {
        self.failed.is_empty() && self.skipped.is_empty() && !self.interrupted
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("saving state: {0}")]
    State(#[from] BackendError),
    #[error("{0}")]
    Config(String),
}

/// Values references see once everything is applied (the root outputs), or as applied so far
/// (a deferred provider's block, whose references are all applied by then).
struct AppliedValues<'a> {
    values: &'a HashMap<ResourceInstanceAddr, Value>,
}

impl InstanceHandler for AppliedValues<'_> {
    // No configuration is wanted: every instance's value is in `values`.
    fn needs_config(&self, _addr: &ResourceInstanceAddr) -> bool {
        false
    }

    fn instance(&self, ctx: &InstanceContext<'_>) -> Result<Value, Diagnostic> {
        Ok(self.values.get(ctx.addr).cloned().unwrap_or(Value::Unknown))
    }
}

/// Providers configured from values known only after apply (`Session::deferred`). Each is
/// configured just before its first operation, from its `provider` block evaluated against
/// what apply has made so far. Its resources depend on everything that block refers to (the
/// walk adds those dependencies), so by then those values are final.
#[derive(Default)]
pub struct DeferredProviders {
    pending: std::sync::Mutex<BTreeSet<String>>,
}

impl DeferredProviders {
    pub fn new(names: impl IntoIterator<Item = String>) -> DeferredProviders {
        DeferredProviders { pending: std::sync::Mutex::new(names.into_iter().collect()) }
    }

    /// Configures `provider` if it is still waiting for its configuration. Operations are
    /// prepared one at a time, so the first one configures and the others find it done.
    fn configure_if_pending(
        &self,
        rtype: &str,
        ctx: &ApplyContext,
        state: &State,
        values: &HashMap<ResourceInstanceAddr, Value>,
    ) -> Result<(), String> {
        let Some(provider) = ctx.registry.for_type(rtype) else {
            return Ok(());
        };
        let name = provider.name();
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if !pending.contains(name) {
            return Ok(());
        }
        let handler = AppliedValues { values };
        let (configs, diags) = tokio::task::block_in_place(|| ctx.env.provider_configs(&handler));
        if diags.has_errors() {
            let msgs: Vec<String> =
                diags.iter().filter(|d| d.is_error()).map(|d| d.summary.clone()).collect();
            return Err(format!("evaluating the provider \"{name}\" block: {}", msgs.join("; ")));
        }
        let config = configs.get(name).cloned().unwrap_or(Value::Null);
        if config.contains_unknown() {
            return Err(format!(
                "the provider \"{name}\" block still has unknown values after what it refers to was applied"
            ));
        }
        let pctx = crate::provider::ProviderContext {
            stack_id: state.stack_id.clone(),
            environment: ctx.env.name.clone(),
        };
        tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(provider.configure(&pctx, &config))
        })
        .map_err(|e| format!("configuring provider \"{name}\": {}", e.message))?;
        ctx.progress.notice(&format!("provider \"{name}\" configured from values this apply made"));
        pending.remove(name);
        Ok(())
    }
}

/// Everything apply needs besides the plan.
pub struct ApplyContext {
    pub env: Arc<Environment>,
    pub registry: ProviderRegistry,
    pub parallelism: usize,
    pub progress: Arc<dyn Progress>,
    /// How often to report operations still running (every second on a terminal, where the
    /// display shows elapsed times; every 10 s in plain logs).
    pub tick: Duration,
    /// Providers to configure before their first operation.
    pub deferred: Arc<DeferredProviders>,
}

enum Done {
    Ok { node: NodeIndex, value: Option<Value>, elapsed: Duration },
    Err { node: NodeIndex, message: String },
}

/// Persists what refresh found (drift, objects gone) so state matches reality before changes.
pub async fn persist_refresh(
    js: &mut JournaledState,
    refreshed: &State,
) -> Result<(), BackendError> {
    let current = js.state().clone();
    for (addr, r) in &current.resources {
        match refreshed.resources.get(addr) {
            None => js.apply(JournalOp::Delete { addr: addr.clone() }).await?,
            Some(n) if n != r => {
                js.apply(JournalOp::Put { addr: addr.clone(), resource: Box::new(n.clone()) })
                    .await?
            }
            Some(_) => {}
        }
    }
    for (addr, r) in &refreshed.resources {
        if !current.resources.contains_key(addr) {
            js.apply(JournalOp::Put { addr: addr.clone(), resource: Box::new(r.clone()) }).await?;
        }
    }
    Ok(())
}

/// The latest earliest-finish among `node`'s dependencies (zero without any): when `node`
/// could have started.
fn latest_finish_before(
    g: &DiGraph<Op, ()>,
    node: NodeIndex,
    earliest_finish: &HashMap<NodeIndex, Duration>,
) -> Duration {
    g.neighbors_directed(node, petgraph::Incoming)
        .filter_map(|p| earliest_finish.get(&p))
        .max()
        .copied()
        .unwrap_or_default()
}

/// The id a progress line shows for a finished operation: none when the type's schema or the
/// value marks it sensitive.
fn shown_id(ctx: &ApplyContext, c: &ResourceChange, value: Option<&Value>) -> Option<String> {
    let sensitive_id = ctx
        .registry
        .resource_schema(&c.rtype)
        .is_some_and(|s| s.block.attributes.get("id").is_some_and(|a| a.sensitive));
    if sensitive_id {
        return None;
    }
    value
        .and_then(|v| v.get_attr("id"))
        .filter(|v| !v.is_sensitive())
        .and_then(|v| v.as_str().map(str::to_string))
}

/// Carries out `plan`. State must be locked and `js` read after the lock.
// Long because it is the scheduler's one event loop: starting ready operations (intents
// journaled as one batch), journaling finished ones, Ctrl-C and progress ticks all update the
// same run state (ready queue, waiting counts, running set, finish times, report).
pub async fn apply(
    plan: &Plan,
    js: &mut JournaledState,
    ctx: &ApplyContext,
) -> Result<ApplyReport, ApplyError> {
    persist_refresh(js, &plan.refreshed).await?;
    let mut report = ApplyReport::default();
    let changes = &plan.changes;
    let g = build_ops(changes, js.state());
    if let Some(cycle) = find_cycle(&g, changes) {
        return Err(ApplyError::Config(format!(
            "the changes cannot be ordered, each waits for the next: {} → (the first)",
            cycle.join(" → ")
        )));
    }
    let mut values: HashMap<ResourceInstanceAddr, Value> = HashMap::new();
    for c in changes {
        if let Some(v) = c.after.as_ref().or(c.before.as_ref()) {
            values.insert(c.addr.clone(), v.clone());
        }
    }
    let mut waiting: HashMap<NodeIndex, usize> = g
        .node_indices()
        .map(|n| (n, g.neighbors_directed(n, petgraph::Incoming).count()))
        .collect();
    let mut ready: VecDeque<NodeIndex> = g.node_indices().filter(|n| waiting[n] == 0).collect();
    let mut evaluator = ConfigEvaluator::new();
    let (tx, mut rx) = mpsc::unbounded_channel::<Done>();
    let mut running: HashMap<NodeIndex, Instant> = HashMap::new();
    let mut interrupted = false;
    // Registered here, before any operation starts, so that a Ctrl-C from the first one on is
    // handled (`tokio::signal::ctrl_c()` registers only when first polled, after the first
    // operations have started). Without a handler the default action would kill the run
    // with work in flight and unsaved.
    let mut sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).ok();
    let mut ticker = tokio::time::interval(ctx.tick);
    ticker.tick().await;
    let parallelism = ctx.parallelism.max(1);
    let run_started = Instant::now();
    // Per operation: the earliest it could have finished had every operation started the
    // moment its dependencies finished (its duration plus the latest such finish among them).
    let mut earliest_finish: HashMap<NodeIndex, Duration> = HashMap::new();

    loop {
        // Start what may start: intents of the whole batch are made durable with one fsync
        // (group commit) before any provider call is launched.
        let mut batch = Vec::new();
        let mut intents = Vec::new();
        while !interrupted && running.len() + batch.len() < parallelism {
            let Some(node) = ready.pop_front() else { break };
            let op = &g[node];
            if op.barrier {
                // Done as soon as it is ready: everything it stands for is.
                let finish = latest_finish_before(&g, node, &earliest_finish);
                earliest_finish.insert(node, finish);
                release_dependents(&g, node, &mut waiting, &mut ready);
                continue;
            }
            let c = &changes[op.change];
            let config = current_config(op, c, ctx, &values, &mut evaluator);
            let prepared = ctx
                .deferred
                .configure_if_pending(&c.rtype, ctx, js.state(), &values)
                .and_then(|()| prepare_op(node, op, c, js.state(), ctx, config, tx.clone()));
            match prepared {
                Ok((intent, launch)) => {
                    intents.extend(intent);
                    batch.push((node, launch));
                }
                Err(message) => {
                    ctx.progress.failed(&c.addr, op.kind, &message);
                    report.failed.push((c.addr.clone(), message));
                    skip_dependents(
                        &g,
                        node,
                        changes,
                        &mut report,
                        &mut waiting,
                        "a dependency failed",
                    );
                }
            }
        }
        js.apply_batch(intents).await?;
        for (node, launch) in batch {
            let op = &g[node];
            ctx.progress.started(&changes[op.change].addr, op.kind);
            running.insert(node, Instant::now());
            launch();
        }
        if running.is_empty() {
            break;
        }
        tokio::select! {
            done = rx.recv() => {
                let Some(first) = done else { break };
                // Everything that finished meanwhile is journaled together.
                let mut finished = vec![first];
                while let Ok(more) = rx.try_recv() {
                    finished.push(more);
                }
                let mut records = Vec::new();
                let mut completed = Vec::new();
                for done in finished {
                    match done {
                        Done::Ok { node, value, elapsed } => {
                            running.remove(&node);
                            let finish = latest_finish_before(&g, node, &earliest_finish) + elapsed;
                            report.critical_path = report.critical_path.max(finish);
                            earliest_finish.insert(node, finish);
                            let op = &g[node];
                            let c = &changes[op.change];
                            let value = value.map(|v| ctx.registry.mark_sensitive(&c.rtype, v));
                            records.extend(finish_op(op, c, value.clone(), js.state(), &mut values));
                            completed.push((node, value, elapsed));
                        }
                        Done::Err { node, message } => {
                            running.remove(&node);
                            let op = &g[node];
                            let c = &changes[op.change];
                            ctx.progress.failed(&c.addr, op.kind, &message);
                            report.failed.push((c.addr.clone(), message));
                            skip_dependents(&g, node, changes, &mut report, &mut waiting, "a dependency failed");
                        }
                    }
                }
                js.apply_batch(records).await?;
                for (node, value, elapsed) in completed {
                    let op = &g[node];
                    let c = &changes[op.change];
                    let shown_id = shown_id(ctx, c, value.as_ref());
                    ctx.progress.finished(&c.addr, op.kind, elapsed, shown_id.as_deref());
                    match (op.kind, c.action) {
                        (OpKind::Create, _) => report.added += 1,
                        (OpKind::Update, _) => report.changed += 1,
                        (OpKind::Delete, _) => report.destroyed += 1,
                        _ => {}
                    }
                    release_dependents(&g, node, &mut waiting, &mut ready);
                }
            }
            _ = async {
                match sigint.as_mut() {
                    Some(s) => s.recv().await,
                    None => std::future::pending().await,
                }
            }, if !interrupted => {
                interrupted = true;
                ctx.progress.notice("Interrupt received. Waiting for operations in progress to finish; nothing new will start...");
            }
            _ = ticker.tick() => {
                for (node, started) in &running {
                    let op = &g[*node];
                    ctx.progress.still_running(&changes[op.change].addr, op.kind, started.elapsed());
                }
            }
        }
    }
    report.wall = run_started.elapsed();
    report.reevaluated = evaluator.configs;
    report.reevaluation_nodes = evaluator.evaluations;
    if interrupted {
        report.interrupted = true;
        for n in ready.into_iter().filter(|&n| !g[n].barrier) {
            report.skipped.push((changes[g[n].change].addr.clone(), "interrupted".into()));
        }
    }
    // Operations never started because their dependencies were skipped are already listed.
    report.outputs = final_outputs(plan, js, ctx, &values).await?;
    Ok(report)
}

/// Evaluates root outputs with everything applied, and saves them.
async fn final_outputs(
    plan: &Plan,
    js: &mut JournaledState,
    ctx: &ApplyContext,
    values: &HashMap<ResourceInstanceAddr, Value>,
) -> Result<BTreeMap<String, (Value, bool)>, ApplyError> {
    let mut outputs = BTreeMap::new();
    if !plan.options.destroy {
        let handler = AppliedValues { values };
        let out = tokio::task::block_in_place(|| ctx.env.walk(&handler));
        for (name, (v, sensitive)) in out.outputs {
            if !v.contains_unknown() {
                outputs.insert(name, (v, sensitive));
            }
        }
    }
    let existing: Vec<String> = js.state().outputs.keys().cloned().collect();
    for name in existing {
        if !outputs.contains_key(&name) {
            js.apply(JournalOp::DeleteOutput { name }).await?;
        }
    }
    for (name, (v, sensitive)) in &outputs {
        let o = OutputState { value: v.to_json(), sensitive: *sensitive || v.contains_sensitive() };
        if js.state().outputs.get(name) != Some(&o) {
            js.apply(JournalOp::PutOutput { name: name.clone(), output: o }).await?;
        }
    }
    Ok(outputs)
}
