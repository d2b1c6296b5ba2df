//! The walk: evaluates every declared object for every module instance, in dependency order,
//! and expands resources into instances.
//!
//! Nodes are visited in topological order of the [`StaticGraph`], so when a node is evaluated
//! everything it refers to already has a value; a memo keyed by (node, module instance) holds
//! them. Each memo entry also carries the set of resources (or single instances, when the
//! reference names a key) its value was computed from, which is how a resource instance learns
//! its exact dependencies even through locals, variables and module outputs.
//!
//! Errors in one node are reported and that node's value becomes unknown, so one mistake does not
//! hide the others and does not cascade into follow-on errors.
//!
//! **Invariant (linear edges):** an instance's dependencies are stored as indexes
//! ([`DepRef`]): one per instance named by key, and one per *whole resource* it refers to
//! (through a splat, a `for` over the resource, a module output, `depends_on`). A whole-resource
//! dependency is never expanded into one entry per instance here; [`WalkOutput::direct_deps`]
//! decides, per resource, whether the instance DAG links dependents to each instance (few
//! pairs) or to one *barrier* node that completes when every instance of the resource is done
//! (see ARCHITECTURE.md). Either way an instance waits for exactly the instances it waited for
//! before, so apply's parallelism is unchanged, and the number of edges is linear in the
//! configuration instead of (dependents × instances).

mod expand;
pub mod live;
mod output;
mod scope;
mod vars;

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use indexmap::IndexMap;
use petgraph::graph::{DiGraph, NodeIndex};

use super::body::eval_body;
use super::{NodeKind, StaticGraph};
use crate::addr::{InstanceKey, ModuleInstance, ResourceAddr, ResourceInstanceAddr, ResourceMode};
use crate::config::vars::{RawValue, VarInput, VarOrigin};
use crate::config::{Config, Expr, ModuleId, Repetition, Resource};
use crate::diag::{Diagnostic, Diagnostics, Span, closest};
use crate::eval::convert::convert;
use crate::eval::expr::{Evaluator, RefRoot, Resolver};
use crate::provider::{ProviderRegistry, ResourceSchema};
use crate::value::{Value, format_number};
use expand::{binding_index, bindings_known, collect_instances, eval_schemaless};
pub use output::WalkOutput;
use scope::*;

/// What a value was computed from.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dep {
    /// Every instance of a resource.
    Resource(ResourceAddr),
    /// One instance (the reference named its key).
    Instance(ResourceInstanceAddr),
}

#[derive(Clone, Debug)]
struct Evaluated {
    value: Value,
    deps: Arc<BTreeSet<Dep>>,
    /// Evaluation failed (and was reported): dependents stay quiet about the resulting unknown.
    failed: bool,
}

/// `count.index` or `each.key`/`each.value` of one instance.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RepetitionBinding {
    pub count_index: Option<u64>,
    pub each: Option<(String, Value)>,
    /// `count.index` and `each.*` are unknown: used to check a body whose expansion failed.
    pub unknown: bool,
}

impl RepetitionBinding {
    fn key(&self) -> InstanceKey {
        match (&self.count_index, &self.each) {
            (Some(i), _) => InstanceKey::Int(*i),
            (_, Some((k, _))) => InstanceKey::Str(k.clone()),
            _ => InstanceKey::None,
        }
    }
}

/// A dependency of one instance, as an index into [`WalkOutput`]'s tables: 8 bytes instead of a
/// full address per dependency.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DepRef {
    /// One instance (the reference named its key): an index into [`WalkOutput::instances`].
    Instance(u32),
    /// Every instance of a resource: an index into [`WalkOutput::resources`].
    Resource(u32),
}

/// A dependency as the instance DAG and the plan see it, after [`WalkOutput::direct_deps`]
/// chose between pairs and barriers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DepTarget {
    /// An instance: an index into [`WalkOutput::instances`].
    Instance(usize),
    /// The barrier of a resource (done when all its instances are): an index into
    /// [`WalkOutput::resources`].
    Barrier(usize),
}

/// A node of the instance DAG ([`WalkOutput::dag`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DagNode {
    Instance(usize),
    Barrier(usize),
}

/// Every instance's direct dependencies, and which resources got a barrier.
pub struct DirectDeps {
    /// Per instance (same order as [`WalkOutput::instances`]), sorted and without duplicates.
    pub per_instance: Vec<Vec<DepTarget>>,
    /// Resources (indexes into [`WalkOutput::resources`]) that have a barrier, ascending.
    pub barriers: Vec<usize>,
}

/// One resource instance, as the walk found it: its identity and dependencies.
///
/// Its evaluated configuration and its value are not kept here: the configuration goes to the
/// [`InstanceHandler`] (which keeps what it needs: the plan keeps it in its change) and the
/// value into the resource's memoized value, which is what references read. Keeping them here
/// too held every instance's object three times (see BENCHMARKS.md, memory notes).
#[derive(Clone, Debug)]
pub struct PlannedInstance {
    pub addr: ResourceInstanceAddr,
    pub module: ModuleId,
    /// Key of the resource in [`crate::config::Module::resources`].
    pub resource_key: String,
    /// What this instance depends on: instances by key and whole resources, as indexes
    /// (sorted, no duplicates). [`WalkOutput::direct_deps`] turns them into the DAG's edges.
    pub depends_on: Vec<DepRef>,
}

/// What one resource instance is handed to the handler with.
pub struct InstanceContext<'a> {
    pub addr: &'a ResourceInstanceAddr,
    pub resource: &'a Resource,
    pub schema: Option<&'a ResourceSchema>,
    pub config: &'a Value,
}

/// Decides what a resource instance's value is, once its configuration is evaluated.
pub trait InstanceHandler {
    fn instance(&self, ctx: &InstanceContext<'_>) -> Result<Value, Diagnostic>;

    /// Whether `instance` needs this instance's evaluated configuration. A handler that does
    /// not (apply's walk for the root outputs, which has every instance's value already) says
    /// no, and the walk hands it `null` instead of evaluating the body.
    fn needs_config(&self, _addr: &ResourceInstanceAddr) -> bool {
        true
    }
}

/// Every node, each after the nodes it depends on except where a cycle makes that impossible:
/// depth-first post-order along "depends on" edges, started from each node in declaration order.
fn dependencies_first<N, E>(graph: &DiGraph<N, E>) -> Vec<NodeIndex> {
    let reversed = petgraph::visit::Reversed(graph);
    let mut dfs = petgraph::visit::DfsPostOrder::empty(reversed);
    let mut order = Vec::with_capacity(graph.node_count());
    for start in graph.node_indices() {
        if dfs.discovered.contains(start.index()) {
            continue;
        }
        dfs.move_to(start);
        while let Some(n) = dfs.next(reversed) {
            order.push(n);
        }
    }
    order
}

/// Nodes in a strongly connected component of more than one node, or with an edge to themselves.
fn nodes_on_cycles<N, E>(graph: &DiGraph<N, E>) -> std::collections::HashSet<NodeIndex> {
    petgraph::algo::kosaraju_scc(graph)
        .into_iter()
        .filter(|scc| scc.len() > 1 || graph.contains_edge(scc[0], scc[0]))
        .flatten()
        .collect()
}

/// For validate and graph: the configuration, with every computed attribute left unset
/// becoming "known after apply".
pub struct UnknownComputed;

impl InstanceHandler for UnknownComputed {
    fn instance(&self, ctx: &InstanceContext<'_>) -> Result<Value, Diagnostic> {
        Ok(fill_computed_unknown(ctx.config, ctx.schema))
    }
}

/// Sets computed attributes that the configuration leaves null to unknown.
pub fn fill_computed_unknown(config: &Value, schema: Option<&ResourceSchema>) -> Value {
    let Some(schema) = schema else {
        return config.clone();
    };
    let mut map = config.as_map().cloned().unwrap_or_default();
    for (name, a) in &schema.block.attributes {
        if a.computed && map.get(name).is_none_or(|v| v.is_null()) {
            map.insert(name.clone(), Value::Unknown.mark_if(a.sensitive));
        }
    }
    Value::Map(map)
}

/// Inputs of a walk.
pub struct WalkInput<'a> {
    pub config: &'a Config,
    pub graph: &'a StaticGraph,
    pub registry: &'a ProviderRegistry,
    pub root_vars: &'a IndexMap<String, VarInput>,
    /// The environment's name (`slipway.environment`).
    pub environment: String,
}

pub struct Walk<'a> {
    input: WalkInput<'a>,
    handler: &'a dyn InstanceHandler,
    memo: RefCell<HashMap<(NodeIndex, ModuleInstance), Evaluated>>,
    in_progress: RefCell<BTreeSet<(NodeIndex, ModuleInstance)>>,
    module_instances: RefCell<HashMap<ModuleId, Vec<ModuleInstance>>>,
    /// Expansion of module calls: (node, module instance) → keys with bindings.
    expansions: RefCell<HashMap<(NodeIndex, ModuleInstance), Vec<RepetitionBinding>>>,
    /// Dependencies every node of a module instance inherits from `depends_on` on its call.
    inherited: RefCell<HashMap<ModuleInstance, Arc<BTreeSet<Dep>>>>,
    instances: RefCell<IndexMap<ResourceInstanceAddr, PlannedInstance>>,
    /// Expanded resources → their instances' indexes (see [`WalkOutput::resources`]).
    resources: RefCell<IndexMap<ResourceAddr, Vec<u32>>>,
    diags: RefCell<Diagnostics>,
    /// (static module, call name) of each non-root module.
    parents: HashMap<ModuleId, (ModuleId, String)>,
    /// Declarations already reported as having an unknown type (once each, not per instance).
    unknown_types_reported: RefCell<std::collections::HashSet<(ModuleId, String)>>,
    /// Nodes on a dependency cycle (already reported by StaticGraph::build).
    in_cycle: std::collections::HashSet<NodeIndex>,
    /// How many `get` calls are under way: above 0, a `get` is on-demand evaluation of a
    /// dependency rather than the walk's own visit.
    depth: Cell<usize>,
    /// What each root `provider` block refers to (see [`Walk::provider_block_deps`]); `None`
    /// while that block is being evaluated, so a block reaching its own provider's resources
    /// is reported instead of recursing.
    provider_deps: RefCell<HashMap<String, Option<Arc<BTreeSet<Dep>>>>>,
    /// Apply's values of resource instances (applied, or planned until they are), when this
    /// walk re-evaluates single instances ([`live::ConfigEvaluator`]): resources are read from
    /// here, never memoized, and nodes are evaluated on demand only.
    current: Option<&'a HashMap<ResourceInstanceAddr, Value>>,
    /// Nodes evaluated (memo misses), for apply's `--stats` and its regression test.
    evaluations: Cell<usize>,
}

/// The most instances one resource or module call may expand to: beyond it, a typo in `count`
/// would exhaust memory instead of failing.
const MAX_EXPANSION: f64 = 100_000.0;

impl<'a> Walk<'a> {
    pub fn new(input: WalkInput<'a>, handler: &'a dyn InstanceHandler) -> Walk<'a> {
        let mut parents = HashMap::new();
        for (mid, m) in input.config.modules.iter().enumerate() {
            for c in m.module_calls.values() {
                if let Some(child) = c.child {
                    parents.insert(child, (mid, c.name.clone()));
                }
            }
        }
        let mut module_instances = HashMap::new();
        module_instances.insert(0, vec![ModuleInstance::root()]);
        let in_cycle = nodes_on_cycles(&input.graph.graph);
        Walk {
            input,
            handler,
            memo: RefCell::default(),
            in_progress: RefCell::default(),
            module_instances: RefCell::new(module_instances),
            expansions: RefCell::default(),
            inherited: RefCell::default(),
            instances: RefCell::default(),
            resources: RefCell::default(),
            diags: RefCell::default(),
            parents,
            unknown_types_reported: RefCell::default(),
            in_cycle,
            depth: Cell::new(0),
            provider_deps: RefCell::default(),
            current: None,
            evaluations: Cell::new(0),
        }
    }

    /// The resources a provider's root `provider` block refers to. Every resource of that
    /// provider depends on them, as in Terraform (where resources depend on their provider and
    /// the provider on what its block refers to): a `kubernetes` block configured from the
    /// certificates and address of a cluster created in the same apply orders every Kubernetes
    /// object after them, so apply can configure the provider just before its first object
    /// (see `apply::DeferredProviders`), and destroy removes the objects before the cluster.
    fn provider_block_deps(&self, provider: &str) -> Option<Arc<BTreeSet<Dep>>> {
        if let Some(known) = self.provider_deps.borrow().get(provider) {
            return known.clone();
        }
        let block = self
            .input
            .config
            .root()
            .providers
            .iter()
            .find(|p| p.name == provider && p.alias.is_none())?;
        self.provider_deps.borrow_mut().insert(provider.to_string(), None);
        let scope = self.scope(0, &ModuleInstance::root(), RepetitionBinding::default());
        let exprs = block
            .body
            .attrs
            .values()
            .chain(block.body.blocks.iter().flat_map(|b| b.body.attrs.values()));
        for attr in exprs {
            self.eval_in(&scope, &attr.expr);
        }
        let deps = self.finish(Value::Null, scope).deps;
        let own = deps.iter().find(|d| {
            let rtype = match d {
                Dep::Resource(r) => &r.rtype,
                Dep::Instance(i) => &i.resource.rtype,
            };
            crate::provider::provider_name_of(rtype) == provider
        });
        if let Some(d) = own {
            let what = match d {
                Dep::Resource(r) => r.to_string(),
                Dep::Instance(i) => i.to_string(),
            };
            self.error(
                Diagnostic::error(format!(
                    "provider \"{provider}\" is configured from {what}, one of its own resources"
                ))
                .at(block.span.clone())
                .hint("configure a provider from values that exist before its resources: other providers' resources, variables or data"),
            );
        }
        self.provider_deps.borrow_mut().insert(provider.to_string(), Some(deps.clone()));
        Some(deps)
    }

    fn error(&self, d: Diagnostic) {
        self.diags.borrow_mut().push(d);
    }

    /// Evaluates the root module's `provider` blocks, pulling in only the variables and locals
    /// they refer to. Providers must be configured before anything is refreshed or planned, so
    /// this runs before [`Walk::run`].
    pub fn provider_configs(&self) -> (BTreeMap<String, Value>, Diagnostics) {
        let mut out = BTreeMap::new();
        for p in &self.input.config.root().providers {
            if p.alias.is_some() {
                self.error(
                    Diagnostic::warning(format!(
                        "provider aliases are not supported yet; `{}` alias ignored",
                        p.name
                    ))
                    .at(p.span.clone()),
                );
                continue;
            }
            let scope = self.scope(0, &ModuleInstance::root(), RepetitionBinding::default());
            let mut map = BTreeMap::new();
            for (name, attr) in &p.body.attrs {
                map.insert(name.clone(), self.eval_in(&scope, &attr.expr));
            }
            for b in &p.body.blocks {
                let mut inner = BTreeMap::new();
                for (name, attr) in &b.body.attrs {
                    inner.insert(name.clone(), self.eval_in(&scope, &attr.expr));
                }
                map.insert(b.kind.clone(), Value::Map(inner));
            }
            out.insert(p.name.clone(), Value::Map(map));
        }
        (out, self.diags.borrow_mut().0.drain(..).collect::<Vec<_>>().into())
    }

    /// Evaluates everything in dependency order.
    pub fn run(self) -> WalkOutput {
        let graph = &self.input.graph.graph;
        // With a cycle (already reported by StaticGraph::build) there is no topological order.
        // `get` evaluates dependencies on demand and cuts cycles, so any order finds the
        // remaining errors, but the order should still put dependencies first wherever it can,
        // or a long chain hanging off a cycle is evaluated on demand, one stack frame per link.
        // A depth-first post-order along "depends on" edges (iterative) does that.
        let order =
            petgraph::algo::toposort(graph, None).unwrap_or_else(|_| dependencies_first(graph));
        for node in order {
            let module = graph[node].module;
            let instances =
                self.module_instances.borrow().get(&module).cloned().unwrap_or_default();
            for mi in instances {
                self.ensure(node, &mi);
            }
        }
        self.check_unused_root_vars();
        self.check_provider_blocks();
        let mut outputs = BTreeMap::new();
        for (name, o) in &self.input.config.root().outputs {
            if let Some(n) = self.input.graph.node(0, NodeKind::Output, name) {
                outputs.insert(
                    name.clone(),
                    (self.get(n, &ModuleInstance::root()).value, o.sensitive),
                );
            }
        }
        let values = self.take_instance_values();
        WalkOutput {
            instances: self.instances.into_inner(),
            resources: self.resources.into_inner(),
            outputs,
            values,
            diagnostics: self.diags.into_inner(),
        }
    }

    /// Moves every instance's value out of its resource's memoized value (a list by index, a
    /// map by key, or the value itself), in the order of [`WalkOutput::instances`].
    fn take_instance_values(&self) -> Vec<Value> {
        let instances = self.instances.borrow();
        let mut memo = self.memo.borrow_mut();
        let mut values = vec![Value::Unknown; instances.len()];
        for (addr, members) in self.resources.borrow().iter() {
            let Some(first) = members.first().map(|&i| &instances[i as usize]) else {
                continue;
            };
            let Some(node) =
                self.input.graph.node(first.module, NodeKind::Resource, &first.resource_key)
            else {
                continue;
            };
            let Some(e) = memo.remove(&(node, addr.module.clone())) else {
                continue;
            };
            let r = &self.input.config.modules[first.module].resources[&first.resource_key];
            match (&r.repetition, e.value) {
                (Repetition::Count(_), Value::List(items)) => {
                    for (&i, v) in members.iter().zip(items) {
                        values[i as usize] = v;
                    }
                }
                (Repetition::ForEach(_), Value::Map(mut map)) => {
                    for &i in members {
                        if let InstanceKey::Str(k) = &instances[i as usize].addr.key
                            && let Some(v) = map.remove(k)
                        {
                            values[i as usize] = v;
                        }
                    }
                }
                (Repetition::Single, v) => values[members[0] as usize] = v,
                _ => {}
            }
        }
        values
    }

    /// `provider "name" { … }` blocks: the provider must be in this build and every argument in
    /// its configuration schema (otherwise a typo in a provider block would pass silently).
    fn check_provider_blocks(&self) {
        let registry = self.input.registry;
        for module in &self.input.config.modules {
            for block in &module.providers {
                let Some(provider) = registry.get(&block.name) else {
                    let mut d = Diagnostic::error(format!("unknown provider `{}`", block.name))
                        .at(block.span.clone());
                    // Short names are all close to each other (`aws` is two edits from `tls`).
                    let near = closest(&block.name, registry.names()).filter(|c| {
                        strsim::damerau_levenshtein(c, &block.name) * 2 < block.name.len()
                    });
                    d = match near {
                        Some(c) => d.hint(format!("did you mean `{c}`?")),
                        None => d.hint(format!(
                            "providers in this build: {}",
                            registry.names().collect::<Vec<_>>().join(", ")
                        )),
                    };
                    self.error(d);
                    continue;
                };
                let schema = provider.schema();
                let allowed = &schema.provider.attributes;
                for attr in block.body.attrs.values() {
                    if allowed.contains_key(&attr.name) {
                        continue;
                    }
                    let mut d = Diagnostic::error(format!(
                        "unsupported argument `{}` in provider \"{}\"",
                        attr.name, block.name
                    ))
                    .at(attr.name_span.clone());
                    if let Some(c) = closest(&attr.name, allowed.keys().map(String::as_str)) {
                        d = d.hint(format!("did you mean `{c}`?"));
                    } else {
                        d = d.hint(format!("provider \"{}\" takes no such argument", block.name));
                    }
                    self.error(d);
                }
                for nb in &block.body.blocks {
                    if !schema.provider.blocks.contains_key(&nb.kind) {
                        self.error(
                            Diagnostic::error(format!(
                                "unsupported block type `{}` in provider \"{}\"",
                                nb.kind, block.name
                            ))
                            .at(nb.span.clone()),
                        );
                    }
                }
            }
        }
    }

    fn check_unused_root_vars(&self) {
        let root = self.input.config.root();
        for (name, input) in self.input.root_vars {
            if root.variables.contains_key(name) || input.origin == VarOrigin::Environment {
                continue;
            }
            let mut d =
                Diagnostic::error(format!("value given for undeclared variable \"{name}\""))
                    .at(input.span.clone());
            if let Some(c) = closest(name, root.variables.keys().map(String::as_str)) {
                d = d.hint(format!("did you mean `{c}`?"));
            } else {
                d = d.hint(
                    "declare it with a `variable` block in the environment, or remove the value",
                );
            }
            if matches!(input.origin, VarOrigin::File(_)) {
                d.severity = crate::diag::Severity::Warning;
            }
            self.error(d);
        }
    }

    /// The memoized value of a node in a module instance, evaluating it on first use.
    fn get(&self, node: NodeIndex, mi: &ModuleInstance) -> Evaluated {
        let key = (node, mi.clone());
        if let Some(e) = self.memo.borrow().get(&key) {
            return e.clone();
        }
        let Some(e) = self.evaluate(&key) else {
            // Only reachable through a cycle, which the static graph already reported.
            return Evaluated { value: Value::Unknown, deps: Arc::default(), failed: true };
        };
        if self.memoizable(&key, &e) {
            self.memo.borrow_mut().insert(key, e.clone());
        }
        e
    }

    /// Evaluates a node in a module instance into the memo, unless it is there already; false
    /// when it is being evaluated (a cycle) or its value is not memoized (see
    /// [`Walk::memoizable`]). Unlike [`Walk::get`], never copies the value.
    fn ensure(&self, node: NodeIndex, mi: &ModuleInstance) -> bool {
        let key = (node, mi.clone());
        if self.memo.borrow().contains_key(&key) {
            return true;
        }
        match self.evaluate(&key) {
            Some(e) if self.memoizable(&key, &e) => {
                self.memo.borrow_mut().insert(key, e);
                true
            }
            _ => false,
        }
    }

    /// Whether a node's value holds for the rest of the walk. Always, in one walk. When apply
    /// re-evaluates instances ([`Walk::current`]), a node is evaluated because an operation
    /// whose dependencies (which include the node's) are all applied needs it, so a value
    /// without unknowns is final; a resource's value is not memoized (its instances are applied
    /// one by one), nor is anything still unknown (a value read through a reference the plan
    /// could not see, e.g. behind a condition unknown at plan time), nor a failure, so each
    /// operation that reads it reports its own error.
    fn memoizable(&self, key: &(NodeIndex, ModuleInstance), e: &Evaluated) -> bool {
        if self.current.is_none() {
            return true;
        }
        match self.input.graph.graph[key.0].kind {
            NodeKind::Resource => false,
            NodeKind::Call => {
                !e.failed && self.expansions.borrow().get(key).is_some_and(|bs| bindings_known(bs))
            }
            _ => !e.failed && !e.value.contains_unknown(),
        }
    }

    /// Evaluates a node; None when it is being evaluated already (a cycle).
    fn evaluate(&self, key: &(NodeIndex, ModuleInstance)) -> Option<Evaluated> {
        let (node, mi) = (key.0, &key.1);
        // A node on a cycle is evaluated at its own turn in `run`, never on demand: on demand,
        // evaluating one node of a 10,000-node cycle recursed through all of them and
        // overflowed the stack. Its dependents see an unknown, as they would through the cycle.
        let on_demand_into_cycle = self.depth.get() > 0 && self.in_cycle.contains(&node);
        if on_demand_into_cycle || !self.in_progress.borrow_mut().insert(key.clone()) {
            return None;
        }
        self.depth.set(self.depth.get() + 1);
        self.evaluations.set(self.evaluations.get() + 1);
        let sn = &self.input.graph.graph[node];
        let result = match sn.kind {
            NodeKind::Var => self.eval_var(sn.module, &sn.name, mi),
            NodeKind::Local => self.eval_local(sn.module, &sn.name, mi),
            NodeKind::Output => self.eval_output(sn.module, &sn.name, mi),
            NodeKind::Call => self.eval_call(node, sn.module, &sn.name, mi),
            NodeKind::Resource if self.current.is_some() => {
                self.current_resource(node, sn.module, &sn.name, mi)
            }
            NodeKind::Resource => self.eval_resource(sn.module, &sn.name, mi),
        };
        self.depth.set(self.depth.get() - 1);
        self.in_progress.borrow_mut().remove(key);
        Some(result)
    }

    fn scope(
        &self,
        module: ModuleId,
        mi: &ModuleInstance,
        binding: RepetitionBinding,
    ) -> Scope<'_, 'a> {
        Scope {
            walk: self,
            module,
            mi: mi.clone(),
            binding,
            deps: RefCell::default(),
            failed: Cell::new(false),
        }
    }

    /// Evaluates an expression in a scope; an error is reported and yields unknown.
    fn eval_in(&self, scope: &Scope<'_, 'a>, e: &Expr) -> Value {
        let mut ev = Evaluator::new(scope, e.file);
        match ev.eval(&e.expr) {
            Ok(v) => v,
            Err(d) => {
                self.error(d);
                scope.failed.set(true);
                Value::Unknown
            }
        }
    }

    /// `depends_on = [module.x]` means every resource of `x` and of the modules it calls, as in
    /// Terraform — not only what `x`'s outputs refer to (what evaluating `module.x` gives): a
    /// load balancer's target attachments, say, that no output names. The static graph orders
    /// the same way ([`crate::graph::StaticGraph`] links those resources to the dependent).
    fn depend_on_whole_modules(&self, scope: &Scope<'_, 'a>, e: &Expr) {
        let mut found = Vec::new();
        crate::eval::refs::collect(&e.expr, e.file, &[], &mut found, &mut Vec::new());
        let config = &self.input.config;
        for r in found {
            let RefRoot::Module(call) = &r.root else {
                continue;
            };
            let Some(child) = config.child(scope.module, call) else {
                continue;
            };
            let instances = self.module_instances.borrow();
            let mut deps = scope.deps.borrow_mut();
            for id in config.subtree(child) {
                for inst in instances.get(&id).into_iter().flatten() {
                    // Instances of `call` called from this module instance, and their descendants.
                    let under = inst.0.len() > scope.mi.0.len()
                        && inst.0[..scope.mi.0.len()] == scope.mi.0[..]
                        && inst.0[scope.mi.0.len()].0 == *call;
                    if !under {
                        continue;
                    }
                    for res in config.modules[id].resources.values() {
                        deps.insert(Dep::Resource(ResourceAddr {
                            module: inst.clone(),
                            mode: res.mode,
                            rtype: res.rtype.clone(),
                            name: res.name.clone(),
                        }));
                    }
                }
            }
        }
    }

    fn finish(&self, value: Value, scope: Scope<'_, 'a>) -> Evaluated {
        let failed = scope.failed.get();
        let mut deps = scope.deps.into_inner();
        if let Some(inh) = self.inherited.borrow().get(&scope.mi) {
            deps.extend(inh.iter().cloned());
        }
        Evaluated { value, deps: Arc::new(deps), failed }
    }
}
