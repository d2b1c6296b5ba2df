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

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use petgraph::graph::{DiGraph, NodeIndex};
use tokio::sync::mpsc;

use crate::addr::{InstanceKey, ResourceAddr, ResourceInstanceAddr};
use crate::backend::{BackendError, JournaledState};
use crate::diag::Diagnostic;
use crate::environment::Environment;
use crate::graph::walk::live::ConfigEvaluator;
use crate::graph::walk::{InstanceContext, InstanceHandler, fill_computed_unknown};
use crate::plan::{Action, Plan, ResourceChange};
use crate::provider::{CreateRequest, ProviderRegistry};
use crate::state::journal::JournalOp;
use crate::state::{
    DeposedObject, OutputState, ResourceState, ResourceStatus, State, client_token,
};
use crate::value::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpKind {
    Create,
    Update,
    Delete,
    Read,
}

impl OpKind {
    fn progressive(self) -> (&'static str, &'static str) {
        match self {
            OpKind::Create => ("Creating...", "Creation complete"),
            OpKind::Update => ("Modifying...", "Modifications complete"),
            OpKind::Delete => ("Destroying...", "Destruction complete"),
            OpKind::Read => ("Reading...", "Read complete"),
        }
    }
}

/// Receives progress events (the CLI prints them).
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

/// Plain lines, as Terraform prints them.
pub struct LinePrinter;

impl Progress for LinePrinter {
    fn started(&self, addr: &ResourceInstanceAddr, op: OpKind) {
        crate::cli::println_out(&format!("{addr}: {}", op.progressive().0));
    }
    fn still_running(&self, addr: &ResourceInstanceAddr, op: OpKind, elapsed: Duration) {
        let verb = match op {
            OpKind::Create => "creating",
            OpKind::Update => "modifying",
            OpKind::Delete => "destroying",
            OpKind::Read => "reading",
        };
        crate::cli::println_out(&format!(
            "{addr}: Still {verb}... [{}s elapsed]",
            elapsed.as_secs()
        ));
    }
    fn finished(
        &self,
        addr: &ResourceInstanceAddr,
        op: OpKind,
        elapsed: Duration,
        id: Option<&str>,
    ) {
        let id = id.map(|i| format!(" [id={i}]")).unwrap_or_default();
        crate::cli::println_out(&format!(
            "{addr}: {} after {}s{id}",
            op.progressive().1,
            elapsed.as_secs()
        ));
    }
    fn failed(&self, addr: &ResourceInstanceAddr, op: OpKind, message: &str) {
        let _ = op;
        eprintln!("{addr}: failed: {message}");
    }
    fn notice(&self, message: &str) {
        crate::cli::println_out(message);
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

struct Op {
    change: usize,
    kind: OpKind,
    /// For replacements: this delete is of the object being replaced.
    replacing: bool,
    /// A barrier, not an operation: it stands for every operation of one resource and is done,
    /// without doing anything, when they are (`change` is meaningless). Dependents of a whole
    /// resource wait for it: n + m edges instead of n·m.
    barrier: bool,
}

impl Op {
    fn new(change: usize, kind: OpKind) -> Op {
        Op {
            change,
            kind,
            replacing: false,
            barrier: false,
        }
    }
}

/// Adds each edge of the operation DAG once. petgraph's `update_edge` finds an existing edge
/// by scanning the source's outgoing edges, which is quadratic for a node many operations wait
/// for (a barrier, or an instance every other one reads): it was 30 % of the CPU time of a
/// sparse apply of 100,000 instances.
#[derive(Default)]
struct EdgeSet(HashSet<(NodeIndex, NodeIndex)>);

impl EdgeSet {
    fn add(&mut self, g: &mut DiGraph<Op, ()>, from: NodeIndex, to: NodeIndex) {
        if self.0.insert((from, to)) {
            g.add_edge(from, to, ());
        }
    }
}

/// Builds the operation DAG. Edges point from an operation to those that must wait for it.
fn build_ops(changes: &[ResourceChange], state: &State) -> DiGraph<Op, ()> {
    let mut g: DiGraph<Op, ()> = DiGraph::new();
    let mut edges = EdgeSet::default();
    let mut create_of: HashMap<&ResourceInstanceAddr, NodeIndex> = HashMap::new();
    let mut delete_of: HashMap<&ResourceInstanceAddr, NodeIndex> = HashMap::new();
    for (i, c) in changes.iter().enumerate() {
        match c.action {
            Action::NoOp => {}
            Action::Create => {
                create_of.insert(&c.addr, g.add_node(Op::new(i, OpKind::Create)));
            }
            Action::Update => {
                create_of.insert(&c.addr, g.add_node(Op::new(i, OpKind::Update)));
            }
            Action::Read => {
                create_of.insert(&c.addr, g.add_node(Op::new(i, OpKind::Read)));
            }
            Action::Delete => {
                delete_of.insert(&c.addr, g.add_node(Op::new(i, OpKind::Delete)));
            }
            Action::Replace => {
                let cr = g.add_node(Op::new(i, OpKind::Create));
                let de = g.add_node(Op {
                    replacing: true,
                    ..Op::new(i, OpKind::Delete)
                });
                if c.create_before_destroy {
                    edges.add(&mut g, cr, de);
                } else {
                    edges.add(&mut g, de, cr);
                }
                create_of.insert(&c.addr, cr);
                delete_of.insert(&c.addr, de);
            }
        }
    }
    // A dependency without a key on a resource expanded by count/for_each names every instance
    // of it (the plan records a whole-resource dependency that way): one barrier per resource.
    let mut creates_of_resource: HashMap<&ResourceAddr, Vec<NodeIndex>> = HashMap::new();
    for (addr, &n) in &create_of {
        if addr.key != InstanceKey::None {
            creates_of_resource
                .entry(&addr.resource)
                .or_default()
                .push(n);
        }
    }
    let mut barrier_of: HashMap<&ResourceAddr, NodeIndex> = HashMap::new();
    for c in changes {
        // Creates and updates wait for what they depend on to exist.
        if let Some(&me) = create_of.get(&c.addr) {
            for d in &c.depends_on {
                if let Some(&dep) = create_of.get(d) {
                    edges.add(&mut g, dep, me);
                } else if d.key == InstanceKey::None
                    && let Some(members) = creates_of_resource.get(&d.resource)
                {
                    let b = *barrier_of.entry(&d.resource).or_insert_with(|| {
                        let b = g.add_node(Op {
                            barrier: true,
                            ..Op::new(usize::MAX, OpKind::Create)
                        });
                        for &m in members {
                            edges.add(&mut g, m, b);
                        }
                        b
                    });
                    edges.add(&mut g, b, me);
                }
            }
        }
    }
    // Deletes: dependents go first. Who depends on X: the configuration's edges, and for objects
    // leaving the configuration, the dependencies recorded in state.
    let mut dependents: HashMap<&ResourceInstanceAddr, Vec<&ResourceInstanceAddr>> = HashMap::new();
    for c in changes {
        for d in &c.depends_on {
            dependents.entry(d).or_default().push(&c.addr);
        }
    }
    for (addr, r) in &state.resources {
        for d in &r.dependencies {
            dependents.entry(d).or_default().push(addr);
        }
    }
    // Dependents of a whole resource (a dependency without a key) go through barriers too, one
    // per resource for "their deletes" and one for "their creates and updates": pairs would be
    // every dependent × every instance deleted.
    let barrier = |g: &mut DiGraph<Op, ()>| {
        g.add_node(Op {
            barrier: true,
            ..Op::new(usize::MAX, OpKind::Delete)
        })
    };
    let mut deletes_barrier: HashMap<&ResourceAddr, NodeIndex> = HashMap::new();
    let mut updates_barrier: HashMap<&ResourceAddr, NodeIndex> = HashMap::new();
    for (x, &x_delete) in &delete_of {
        let cbd = changes[g[x_delete].change].create_before_destroy && g[x_delete].replacing;
        let pure_delete = !g[x_delete].replacing;
        for y in dependents.get(x).map(Vec::as_slice).unwrap_or(&[]) {
            if y == x {
                continue;
            }
            if let Some(&y_delete) = delete_of.get(y) {
                edges.add(&mut g, y_delete, x_delete);
            }
            // A dependent that is updated or created may stop referring to X: it must be done
            // before X goes away (not possible for a destroy-before-create replacement, where
            // the dependent waits for X's new object instead).
            if (pure_delete || cbd)
                && let Some(&y_op) = create_of.get(y)
                && !(cbd && g[y_op].change == g[x_delete].change)
            {
                edges.add(&mut g, y_op, x_delete);
            }
        }
        if x.key == InstanceKey::None {
            continue; // a single instance: its address is its resource's, handled above
        }
        let whole = x.resource.instance(InstanceKey::None);
        let Some(ys) = dependents.get(&whole) else {
            continue;
        };
        // The same rules as above; a dependent of its own resource exists only on a cycle,
        // which is excluded here as `y == x` is above.
        let others = || ys.iter().filter(|y| y.resource != x.resource);
        let d = *deletes_barrier.entry(&x.resource).or_insert_with(|| {
            let b = barrier(&mut g);
            for y in others() {
                if let Some(&y_delete) = delete_of.get(y) {
                    edges.add(&mut g, y_delete, b);
                }
            }
            b
        });
        edges.add(&mut g, d, x_delete);
        if pure_delete || cbd {
            let u = *updates_barrier.entry(&x.resource).or_insert_with(|| {
                let b = barrier(&mut g);
                for y in others() {
                    if let Some(&y_op) = create_of.get(y) {
                        edges.add(&mut g, y_op, b);
                    }
                }
                b
            });
            edges.add(&mut g, u, x_delete);
        }
    }
    g
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
        DeferredProviders {
            pending: std::sync::Mutex::new(names.into_iter().collect()),
        }
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
            let msgs: Vec<String> = diags
                .iter()
                .filter(|d| d.is_error())
                .map(|d| d.summary.clone())
                .collect();
            return Err(format!(
                "evaluating the provider \"{name}\" block: {}",
                msgs.join("; ")
            ));
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
        ctx.progress.notice(&format!(
            "provider \"{name}\" configured from values this apply made"
        ));
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
    Ok {
        node: NodeIndex,
        value: Option<Value>,
        elapsed: Duration,
    },
    Err {
        node: NodeIndex,
        message: String,
    },
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
                js.apply(JournalOp::Put {
                    addr: addr.clone(),
                    resource: Box::new(n.clone()),
                })
                .await?
            }
            Some(_) => {}
        }
    }
    for (addr, r) in &refreshed.resources {
        if !current.resources.contains_key(addr) {
            js.apply(JournalOp::Put {
                addr: addr.clone(),
                resource: Box::new(r.clone()),
            })
            .await?;
        }
    }
    Ok(())
}

/// Carries out `plan`. State must be locked and `js` read after the lock.
pub async fn apply(
    plan: &Plan,
    js: &mut JournaledState,
    ctx: &ApplyContext,
) -> Result<ApplyReport, ApplyError> {
    persist_refresh(js, &plan.refreshed).await?;
    let mut report = ApplyReport::default();
    let changes = &plan.changes;
    let g = build_ops(changes, js.state());
    if petgraph::algo::toposort(&g, None).is_err() {
        return Err(ApplyError::Config(
            "the changes form a dependency cycle (create_before_destroy mixed with dependents?)"
                .into(),
        ));
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
    let mut ctrl_c = Box::pin(tokio::signal::ctrl_c());
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
                let finish = g
                    .neighbors_directed(node, petgraph::Incoming)
                    .filter_map(|p| earliest_finish.get(&p))
                    .max()
                    .copied()
                    .unwrap_or_default();
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
                            let after = g
                                .neighbors_directed(node, petgraph::Incoming)
                                .filter_map(|p| earliest_finish.get(&p))
                                .max()
                                .copied()
                                .unwrap_or_default();
                            let finish = after + elapsed;
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
                    let shown_id = if ctx.registry.resource_schema(&c.rtype).is_some_and(|s| s.block.attributes.get("id").is_some_and(|a| a.sensitive)) {
                        None
                    } else {
                        value.as_ref().and_then(|v| v.get_attr("id")).filter(|v| !v.is_sensitive()).and_then(|v| v.as_str().map(str::to_string))
                    };
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
            _ = &mut ctrl_c, if !interrupted => {
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
            report
                .skipped
                .push((changes[g[n].change].addr.clone(), "interrupted".into()));
        }
    }
    // Operations never started because their dependencies were skipped are already listed.
    report.outputs = final_outputs(plan, js, ctx, &values).await?;
    Ok(report)
}

/// One dependency of each of `node`'s dependents is done; those with none left become ready.
fn release_dependents(
    g: &DiGraph<Op, ()>,
    node: NodeIndex,
    waiting: &mut HashMap<NodeIndex, usize>,
    ready: &mut VecDeque<NodeIndex>,
) {
    for next in g.neighbors_directed(node, petgraph::Outgoing) {
        if let Some(w) = waiting.get_mut(&next) {
            *w = w.saturating_sub(1);
            if *w == 0 {
                ready.push_back(next);
            }
        }
    }
}

fn skip_dependents(
    g: &DiGraph<Op, ()>,
    node: NodeIndex,
    changes: &[ResourceChange],
    report: &mut ApplyReport,
    waiting: &mut HashMap<NodeIndex, usize>,
    why: &str,
) {
    let mut dfs = petgraph::visit::Dfs::new(g, node);
    dfs.next(g);
    while let Some(n) = dfs.next(g) {
        // A barrier is no operation: only the operations behind it are reported.
        if waiting.remove(&n).is_some() && !g[n].barrier {
            report
                .skipped
                .push((changes[g[n].change].addr.clone(), why.to_string()));
        }
    }
}

/// The configuration of an operation's instance now, for creates, updates and reads (None for
/// deletes): as planned, or evaluated again when it held unknowns at plan time. Its
/// dependencies are applied (it is ready), so their values are final; only its own expressions,
/// and what they reach that was not evaluated yet in this apply, are evaluated
/// ([`ConfigEvaluator`]). A walk of the whole configuration per operation made apply quadratic
/// where instances become ready a few at a time.
fn current_config(
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
type Launch = Box<dyn FnOnce() + Send>;

/// Works out an operation: its intent record (for creates) and the provider call to launch.
/// `config` is the instance's configuration now (see [`current_config`]).
fn prepare_op(
    node: NodeIndex,
    op: &Op,
    c: &ResourceChange,
    state: &State,
    ctx: &ApplyContext,
    config: Option<Result<Value, String>>,
    tx: mpsc::UnboundedSender<Done>,
) -> Result<(Option<JournalOp>, Launch), String> {
    let provider = ctx
        .registry
        .for_type(&c.rtype)
        .cloned()
        .ok_or_else(|| format!("no provider for {}", c.rtype))?;
    let rtype = c.rtype.clone();
    let addr = c.addr.clone();
    let send = move |r: Result<Option<Value>, String>, started: Instant| {
        let _ = tx.send(match r {
            Ok(value) => Done::Ok {
                node,
                value,
                elapsed: started.elapsed(),
            },
            Err(message) => Done::Err { node, message },
        });
    };
    match op.kind {
        OpKind::Create => {
            let config = config.expect("a config for creates, updates and reads")?;
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
            let resuming = prior
                .as_ref()
                .is_some_and(|p| p.pending_client_token().is_some());
            // The intent keeps the planned object: if the create lands and the run dies, the
            // next refresh finds the object with it (`Provider::recover`), even when it is
            // identified by its configuration rather than by tags.
            let mut intent = ResourceState::from_value(provider.name(), rtype.clone(), &planned);
            intent.status = ResourceStatus::Creating {
                client_token: token.clone(),
            };
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
            let record = JournalOp::Put {
                addr: addr.clone(),
                resource: Box::new(intent),
            };
            let mut tags = BTreeMap::new();
            tags.insert("slipway:stack".to_string(), stack);
            tags.insert("slipway:address".to_string(), addr.to_string());
            // The token names this generation: adoption by tags must never take the object a
            // create_before_destroy replacement is replacing (same address, older token).
            tags.insert("slipway:token".to_string(), token.clone());
            let launch: Launch = Box::new(move || {
                tokio::spawn(async move {
                    let started = Instant::now();
                    let req = CreateRequest {
                        address: &addr,
                        client_token: &token,
                        ownership_tags: &tags,
                        planned: &planned,
                        resuming,
                    };
                    let r = provider
                        .create(&rtype, req)
                        .await
                        .map(Some)
                        .map_err(|e| e.message);
                    send(r, started);
                });
            });
            Ok((Some(record), launch))
        }
        OpKind::Update => {
            let config = config.expect("a config for creates, updates and reads")?;
            let prior = state
                .resources
                .get(&addr)
                .map(|r| r.value())
                .ok_or("not in state any more")?;
            let schema = ctx.registry.resource_schema(&rtype);
            let mut proposed = config.as_map().cloned().unwrap_or_default();
            if let Some(s) = schema {
                for (name, a) in &s.block.attributes {
                    if a.computed && proposed.get(name).is_none_or(Value::is_null) {
                        proposed.insert(name.clone(), prior.get_attr(name).unwrap_or(Value::Null));
                    }
                }
            }
            let planned = provider
                .plan(&rtype, Some(&prior), Value::Map(proposed))
                .map_err(|e| e.message)?
                .planned;
            Ok((
                None,
                Box::new(move || {
                    tokio::spawn(async move {
                        let started = Instant::now();
                        let r = provider
                            .update(&rtype, &prior, &planned)
                            .await
                            .map(Some)
                            .map_err(|e| e.message);
                        send(r, started);
                    });
                }),
            ))
        }
        OpKind::Delete => {
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
                Box::new(move || {
                    tokio::spawn(async move {
                        let started = Instant::now();
                        let victim = match (pending, victim) {
                            (Some(token), Some(planned)) => {
                                match provider.recover(&rtype, &addr, &token, &planned).await {
                                    Ok(found) => Ok(found),
                                    Err(e) => Err(e.message),
                                }
                            }
                            (_, victim) => Ok(victim),
                        };
                        // None: already gone from state, or a pending create that made nothing.
                        let r = match victim {
                            Ok(Some(v)) => provider
                                .delete(&rtype, &v)
                                .await
                                .map(|_| None)
                                .map_err(|e| e.message),
                            Ok(None) => Ok(None),
                            Err(e) => Err(e),
                        };
                        send(r, started);
                    });
                }),
            ))
        }
        OpKind::Read => {
            let config = config.expect("a config for creates, updates and reads")?;
            Ok((
                None,
                Box::new(move || {
                    tokio::spawn(async move {
                        let started = Instant::now();
                        let r = provider
                            .read_data(&rtype, &config)
                            .await
                            .map(Some)
                            .map_err(|e| e.message);
                        send(r, started);
                    });
                }),
            ))
        }
    }
}

/// The state records of a finished operation.
fn finish_op(
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
            vec![JournalOp::Put {
                addr: c.addr.clone(),
                resource: Box::new(r),
            }]
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
                        vec![JournalOp::Put {
                            addr: c.addr.clone(),
                            resource: Box::new(r),
                        }]
                    }
                    None => Vec::new(),
                }
            } else if state.resources.contains_key(&c.addr) {
                vec![JournalOp::Delete {
                    addr: c.addr.clone(),
                }]
            } else {
                Vec::new()
            }
        }
    }
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
        let o = OutputState {
            value: v.to_json(),
            sensitive: *sensitive || v.contains_sensitive(),
        };
        if js.state().outputs.get(name) != Some(&o) {
            js.apply(JournalOp::PutOutput {
                name: name.clone(),
                output: o,
            })
            .await?;
        }
    }
    Ok(outputs)
}

/// A live display for terminals: finished events scroll above a block that shows every
/// operation in flight with its elapsed time, redrawn each second.
pub struct TtyProgress {
    inner: std::sync::Mutex<TtyState>,
}

struct TtyState {
    running: BTreeMap<String, (OpKind, Instant)>,
    /// Lines of the status block currently on screen.
    drawn: usize,
}

impl Default for TtyProgress {
    fn default() -> Self {
        Self::new()
    }
}

impl TtyProgress {
    pub fn new() -> TtyProgress {
        TtyProgress {
            inner: std::sync::Mutex::new(TtyState {
                running: BTreeMap::new(),
                drawn: 0,
            }),
        }
    }

    fn with(&self, f: impl FnOnce(&mut TtyState, &mut String)) {
        let Ok(mut st) = self.inner.lock() else {
            return;
        };
        let mut out = String::new();
        // Erase the status block, let `f` print scrolling lines, then draw the block again.
        for _ in 0..st.drawn {
            out.push_str("\x1b[1A\x1b[2K");
        }
        f(&mut st, &mut out);
        let now = Instant::now();
        for (addr, (op, started)) in &st.running {
            out.push_str(&format!(
                "  \x1b[2m…\x1b[0m {addr}: {} [{}s]\n",
                op.progressive().0,
                now.duration_since(*started).as_secs()
            ));
        }
        st.drawn = st.running.len();
        crate::cli::print_out(&out);
    }
}

impl Progress for TtyProgress {
    fn started(&self, addr: &ResourceInstanceAddr, op: OpKind) {
        self.with(|st, _| {
            st.running.insert(addr.to_string(), (op, Instant::now()));
        });
    }
    fn still_running(&self, _addr: &ResourceInstanceAddr, _op: OpKind, _elapsed: Duration) {
        // The block is redrawn with fresh times.
        self.with(|_, _| {});
    }
    fn finished(
        &self,
        addr: &ResourceInstanceAddr,
        op: OpKind,
        elapsed: Duration,
        id: Option<&str>,
    ) {
        self.with(|st, out| {
            st.running.remove(&addr.to_string());
            let id = id.map(|i| format!(" [id={i}]")).unwrap_or_default();
            out.push_str(&format!(
                "\x1b[32m✓\x1b[0m {addr}: {} after {}s{id}\n",
                op.progressive().1,
                elapsed.as_secs()
            ));
        });
    }
    fn failed(&self, addr: &ResourceInstanceAddr, _op: OpKind, message: &str) {
        self.with(|st, out| {
            st.running.remove(&addr.to_string());
            out.push_str(&format!("\x1b[31m✗\x1b[0m {addr}: {message}\n"));
        });
    }
    fn notice(&self, message: &str) {
        self.with(|_, out| {
            out.push_str(message);
            out.push('\n');
        });
    }
}
