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

pub mod live;

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

/// Everything the walk produced.
pub struct WalkOutput {
    pub instances: IndexMap<ResourceInstanceAddr, PlannedInstance>,
    /// Every expanded resource with the indexes (into `instances`) of its instances, in
    /// expansion order: what a whole-resource dependency ([`DepRef::Resource`]) stands for.
    pub resources: IndexMap<ResourceAddr, Vec<u32>>,
    /// Root module outputs: value (with marks) and whether declared sensitive.
    pub outputs: BTreeMap<String, (Value, bool)>,
    /// Each instance's value as the handler decided it (same order as `instances`), moved out
    /// of the walk's memo when it ends: the plan's planned objects, without a copy.
    pub values: Vec<Value>,
    pub diagnostics: Diagnostics,
}

impl WalkOutput {
    /// Each instance's direct dependencies, with whole-resource dependencies either expanded
    /// into one dependency per instance or kept as one barrier.
    ///
    /// A resource of `n` instances that `m` instances depend on as a whole costs `n·m` edges
    /// as pairs and `n + m` through a barrier; the barrier is used when it is strictly
    /// cheaper, so small graphs read as before (instance to instance) and a dense
    /// configuration stays linear. Both forms order apply identically: a dependent waits for
    /// exactly the same instances.
    pub fn direct_deps(&self) -> DirectDeps {
        let mut users = vec![0usize; self.resources.len()];
        for inst in self.instances.values() {
            for d in &inst.depends_on {
                if let DepRef::Resource(r) = d {
                    users[*r as usize] += 1;
                }
            }
        }
        let barrier: Vec<bool> = users
            .iter()
            .zip(self.resources.values())
            .map(|(&m, members)| {
                let n = members.len();
                n * m > n + m
            })
            .collect();
        let mut per_instance = Vec::with_capacity(self.instances.len());
        for (me, inst) in self.instances.values().enumerate() {
            let mut out = Vec::with_capacity(inst.depends_on.len());
            for d in &inst.depends_on {
                match *d {
                    DepRef::Instance(i) => out.push(DepTarget::Instance(i as usize)),
                    DepRef::Resource(r) if barrier[r as usize] => {
                        out.push(DepTarget::Barrier(r as usize))
                    }
                    DepRef::Resource(r) => out.extend(
                        self.resources[r as usize]
                            .iter()
                            .map(|&i| DepTarget::Instance(i as usize)),
                    ),
                }
            }
            // An instance never waits for itself (a whole-resource dependency on its own
            // resource only arises on a reported cycle).
            out.retain(|t| *t != DepTarget::Instance(me));
            out.sort_unstable();
            out.dedup();
            per_instance.push(out);
        }
        let barriers = (0..barrier.len()).filter(|&r| barrier[r]).collect();
        DirectDeps {
            per_instance,
            barriers,
        }
    }

    /// The instance DAG: an edge from each dependency to its dependent. Node `i` is instance
    /// `i`; barrier nodes follow, each with an edge from every instance of its resource.
    pub fn dag(&self) -> DiGraph<DagNode, ()> {
        self.dag_of(&self.direct_deps())
    }

    /// [`WalkOutput::dag`] for direct dependencies already computed.
    pub fn dag_of(&self, deps: &DirectDeps) -> DiGraph<DagNode, ()> {
        let mut g = DiGraph::with_capacity(
            self.instances.len() + deps.barriers.len(),
            self.instances.len(),
        );
        for i in 0..self.instances.len() {
            g.add_node(DagNode::Instance(i));
        }
        let mut barrier_node = HashMap::with_capacity(deps.barriers.len());
        for &r in &deps.barriers {
            let b = g.add_node(DagNode::Barrier(r));
            barrier_node.insert(r, b);
            for &i in &self.resources[r] {
                g.add_edge(NodeIndex::new(i as usize), b, ());
            }
        }
        for (to, targets) in deps.per_instance.iter().enumerate() {
            for t in targets {
                let from = match *t {
                    DepTarget::Instance(i) => NodeIndex::new(i),
                    DepTarget::Barrier(r) => barrier_node[&r],
                };
                g.add_edge(from, NodeIndex::new(to), ());
            }
        }
        g
    }

    /// The address a DAG node is shown (and recorded in plans and state) as: an instance's
    /// own address, or for a barrier its resource's address without a key ("every instance
    /// of"), the form `-target` already reads that way.
    pub fn target_addr(&self, t: DepTarget) -> ResourceInstanceAddr {
        match t {
            DepTarget::Instance(i) => self.instances[i].addr.clone(),
            DepTarget::Barrier(r) => self
                .resources
                .get_index(r)
                .expect("resource index")
                .0
                .instance(InstanceKey::None),
        }
    }

    /// [`WalkOutput::target_addr`] for a DAG node.
    pub fn node_addr(&self, n: DagNode) -> ResourceInstanceAddr {
        match n {
            DagNode::Instance(i) => self.target_addr(DepTarget::Instance(i)),
            DagNode::Barrier(r) => self.target_addr(DepTarget::Barrier(r)),
        }
    }

    /// Every instance a dependency stands for.
    pub fn dep_instances(&self, d: DepRef) -> impl Iterator<Item = usize> + '_ {
        let (one, many): (Option<usize>, &[u32]) = match d {
            DepRef::Instance(i) => (Some(i as usize), &[]),
            DepRef::Resource(r) => (None, &self.resources[r as usize]),
        };
        one.into_iter().chain(many.iter().map(|&i| i as usize))
    }
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
        self.provider_deps
            .borrow_mut()
            .insert(provider.to_string(), None);
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
        self.provider_deps
            .borrow_mut()
            .insert(provider.to_string(), Some(deps.clone()));
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
        (
            out,
            self.diags
                .borrow_mut()
                .0
                .drain(..)
                .collect::<Vec<_>>()
                .into(),
        )
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
            let instances = self
                .module_instances
                .borrow()
                .get(&module)
                .cloned()
                .unwrap_or_default();
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
                self.input
                    .graph
                    .node(first.module, NodeKind::Resource, &first.resource_key)
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
                        d = d.hint(format!(
                            "provider \"{}\" takes no such argument",
                            block.name
                        ));
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
            return Evaluated {
                value: Value::Unknown,
                deps: Arc::default(),
                failed: true,
            };
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
                !e.failed
                    && self
                        .expansions
                        .borrow()
                        .get(key)
                        .is_some_and(|bs| bindings_known(bs))
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
        Evaluated {
            value,
            deps: Arc::new(deps),
            failed,
        }
    }

    fn eval_var(&self, module: ModuleId, name: &str, mi: &ModuleInstance) -> Evaluated {
        let var = &self.input.config.modules[module].variables[name];
        // Every error path below (a bad -var or var-file value, a missing required value, a
        // failed type conversion) reports once and yields unknown; without marking the result
        // failed, a `count = var.x` then also reported "known only after apply" (a cascade).
        let errors_before = self.diags.borrow().error_count();
        let (raw, scope, span) = if module == 0 {
            let scope = self.scope(0, mi, RepetitionBinding::default());
            match self.input.root_vars.get(name) {
                Some(input) => (
                    self.root_input_value(var, input, &scope),
                    scope,
                    input.span.clone(),
                ),
                None => match &var.default {
                    Some(d) => (
                        self.default_value(d),
                        scope,
                        d.span().unwrap_or(var.span.clone()),
                    ),
                    None => {
                        self.error(
                            Diagnostic::error(format!("no value for required variable \"{name}\""))
                                .at(var.span.clone())
                                .hint(format!(
                                    "set it with `-var {name}=…`, `SLIPWAY_VAR_{name}`, a `*.vars.hcl` file, or give it a default"
                                )),
                        );
                        (Value::Unknown, scope, var.span.clone())
                    }
                },
            }
        } else {
            let (parent, call_name) = self.parents[&module].clone();
            let call = &self.input.config.modules[parent].module_calls[&call_name];
            let binding = self.binding_of_call(parent, &call_name, mi);
            let scope = self.scope(parent, &mi.parent(), binding);
            match call.args.get(name) {
                Some(attr) => (
                    self.eval_in(&scope, &attr.expr),
                    scope,
                    attr.expr.span().unwrap_or(call.span.clone()),
                ),
                None => match &var.default {
                    Some(d) => (
                        self.default_value(d),
                        scope,
                        d.span().unwrap_or(var.span.clone()),
                    ),
                    None => (Value::Unknown, scope, call.span.clone()),
                },
            }
        };
        let mut value = match convert(raw, &var.ty) {
            Ok(v) => v,
            Err(e) => {
                let path: String = e.path.iter().map(|p| p.to_string()).collect();
                self.error(
                    Diagnostic::error(format!(
                        "invalid value for variable \"{name}\"{}: {}",
                        if path.is_empty() {
                            String::new()
                        } else {
                            format!(" at {path}")
                        },
                        e.message
                    ))
                    .at(span.clone())
                    .hint(format!("the variable's type is {}", var.ty)),
                );
                Value::Unknown
            }
        };
        if value.is_null() && !var.nullable {
            self.error(
                Diagnostic::error(format!("variable \"{name}\" must not be null"))
                    .at(span.clone())
                    .hint("the variable is declared with `nullable = false`"),
            );
            value = Value::Unknown;
        }
        let value = value.mark_if(var.sensitive);
        self.validate_var(var, &value, &span);
        if self.diags.borrow().error_count() > errors_before {
            scope.failed.set(true);
        }
        self.finish(value, scope)
    }

    fn binding_of_call(
        &self,
        parent: ModuleId,
        call: &str,
        mi: &ModuleInstance,
    ) -> RepetitionBinding {
        let Some(node) = self.input.graph.node(parent, NodeKind::Call, call) else {
            return RepetitionBinding::default();
        };
        let key = mi.0.last().map(|(_, k)| k.clone()).unwrap_or_default();
        self.expansions
            .borrow()
            .get(&(node, mi.parent()))
            .and_then(|bs| bs.iter().find(|b| b.key() == key).cloned())
            .unwrap_or_default()
    }

    fn default_value(&self, d: &Expr) -> Value {
        let scope = ClosedScope {
            what: "a variable default",
            base: self.input.config.root().dir.clone(),
        };
        match Evaluator::new(&scope, d.file).eval(&d.expr) {
            Ok(v) => v,
            Err(e) => {
                self.error(e);
                Value::Unknown
            }
        }
    }

    fn root_input_value(
        &self,
        var: &crate::config::Variable,
        input: &VarInput,
        scope: &Scope<'_, 'a>,
    ) -> Value {
        match &input.value {
            RawValue::Expr(e) => {
                let closed = ClosedScope {
                    what: "a variables file",
                    base: self.input.config.root().dir.clone(),
                };
                match Evaluator::new(&closed, e.file).eval(&e.expr) {
                    Ok(v) => v,
                    Err(d) => {
                        self.error(d);
                        Value::Unknown
                    }
                }
            }
            RawValue::Text { text, span } => {
                if matches!(var.ty, crate::value::Type::String) {
                    return Value::String(text.clone());
                }
                match hcl::edit::parser::parse_expr(text) {
                    Ok(expr) => {
                        let closed = ClosedScope {
                            what: "a -var value",
                            base: self.input.config.root().dir.clone(),
                        };
                        let _ = scope;
                        match Evaluator::new(&closed, span.file).eval(&expr) {
                            Ok(v) => v,
                            // Offsets inside the pseudo-file are relative to the value's text.
                            Err(mut d) => {
                                d.span = Some(span.clone());
                                self.error(d);
                                Value::Unknown
                            }
                        }
                    }
                    // Not an expression: let the type conversion explain what is wrong.
                    Err(_) => Value::String(text.clone()),
                }
            }
        }
    }

    fn validate_var(&self, var: &crate::config::Variable, value: &Value, span: &Span) {
        if value.contains_unknown() {
            return;
        }
        for v in &var.validations {
            let scope = SelfScope {
                name: &var.name,
                value,
                base: self.input.config.root().dir.clone(),
            };
            let cond = Evaluator::new(&scope, v.condition.file).eval(&v.condition.expr);
            match cond.as_ref().map(|c| c.peel()) {
                Ok(Value::Bool(true)) | Ok(Value::Unknown) => {}
                Ok(Value::Bool(false)) => {
                    let msg = Evaluator::new(&scope, v.error_message.file)
                        .eval(&v.error_message.expr)
                        .ok()
                        .and_then(|m| {
                            if m.is_sensitive() {
                                None
                            } else {
                                m.as_str().map(str::to_string)
                            }
                        })
                        .unwrap_or_else(|| "the value is not valid".to_string());
                    self.error(
                        Diagnostic::error(format!(
                            "invalid value for variable \"{}\": {msg}",
                            var.name
                        ))
                        .at(span.clone())
                        .label(
                            v.condition.span().unwrap_or(var.span.clone()),
                            "this validation failed",
                        ),
                    );
                }
                Ok(other) => self.error(
                    Diagnostic::error(format!(
                        "a validation condition must be a bool, not {}",
                        other.type_name()
                    ))
                    .at_opt(v.condition.span()),
                ),
                Err(d) => self.error(d.clone()),
            }
        }
    }

    fn eval_local(&self, module: ModuleId, name: &str, mi: &ModuleInstance) -> Evaluated {
        let local = &self.input.config.modules[module].locals[name];
        let scope = self.scope(module, mi, RepetitionBinding::default());
        let v = self.eval_in(&scope, &local.expr);
        self.finish(v, scope)
    }

    fn eval_output(&self, module: ModuleId, name: &str, mi: &ModuleInstance) -> Evaluated {
        let out = &self.input.config.modules[module].outputs[name];
        let scope = self.scope(module, mi, RepetitionBinding::default());
        let v = self.eval_in(&scope, &out.expr);
        for d in &out.depends_on {
            self.eval_in(&scope, d);
        }
        if v.contains_sensitive() && !out.sensitive {
            self.error(
                Diagnostic::error(format!("output \"{name}\" refers to sensitive values"))
                    .at_opt(out.expr.span())
                    .hint("add `sensitive = true` to the output block to confirm that it may hold a secret"),
            );
        }
        self.finish(v.mark_if(out.sensitive), scope)
    }

    /// Expands `count`/`for_each` into bindings, reporting why it cannot when it cannot.
    fn expand(
        &self,
        rep: &Repetition,
        scope: &Scope<'_, 'a>,
        what: &str,
    ) -> Option<Vec<RepetitionBinding>> {
        match rep {
            Repetition::Single => Some(vec![RepetitionBinding::default()]),
            Repetition::Count(e) => {
                let v = self.eval_in(scope, e);
                let span = e.span();
                if v.contains_unknown() {
                    if !scope.failed.get() {
                        self.unknown_expansion("count", what, span);
                    }
                    return None;
                }
                if v.is_sensitive() {
                    self.error(
                        Diagnostic::error("`count` cannot be sensitive")
                            .at_opt(span)
                            .hint("use nonsensitive() if the number itself is not secret"),
                    );
                    return None;
                }
                let n = match crate::eval::expr::to_number(&v) {
                    Some(n) if n >= 0.0 && n.fract() == 0.0 && n <= MAX_EXPANSION => n as u64,
                    Some(n) => {
                        self.error(
                            Diagnostic::error(format!("invalid count {}", format_number(n)))
                                .at_opt(span)
                                .hint(format!(
                                    "count must be a whole number from 0 to {}",
                                    MAX_EXPANSION as u64
                                )),
                        );
                        return None;
                    }
                    None => {
                        self.error(
                            Diagnostic::error(format!(
                                "count must be a number, not {}",
                                v.type_name()
                            ))
                            .at_opt(span),
                        );
                        return None;
                    }
                };
                Some(
                    (0..n)
                        .map(|i| RepetitionBinding {
                            count_index: Some(i),
                            ..Default::default()
                        })
                        .collect(),
                )
            }
            Repetition::ForEach(e) => {
                let v = self.eval_in(scope, e);
                let span = e.span();
                if v.is_sensitive() {
                    self.error(
                        Diagnostic::error("`for_each` cannot be sensitive: instance keys appear in plans and state")
                            .at_opt(span)
                            .hint("iterate over non-secret keys and look the secret values up inside the block"),
                    );
                    return None;
                }
                let pairs: Vec<(String, Value)> = match v {
                    Value::Unknown => {
                        if !scope.failed.get() {
                            self.unknown_expansion("for_each", what, span);
                        }
                        return None;
                    }
                    Value::Map(map) => map.into_iter().collect(),
                    Value::List(items) => {
                        let mut out = Vec::new();
                        for item in items {
                            match item.peel() {
                                Value::String(s) => out.push((s.clone(), item.clone())),
                                Value::Unknown => {
                                    if !scope.failed.get() {
                                        self.unknown_expansion("for_each", what, span);
                                    }
                                    return None;
                                }
                                other => {
                                    self.error(
                                        Diagnostic::error(format!("for_each over a list of {}s", other.type_name()))
                                            .at_opt(span)
                                            .hint("for_each takes a map, or a set of strings: convert with toset() or build a map with a `for` expression"),
                                    );
                                    return None;
                                }
                            }
                        }
                        out.sort_by(|a, b| a.0.cmp(&b.0));
                        out.dedup_by(|a, b| a.0 == b.0);
                        out
                    }
                    other => {
                        self.error(
                            Diagnostic::error(format!("for_each must be a map or a set of strings, not {}", other.type_name()))
                                .at_opt(span)
                                .hint("for example: `for_each = toset([\"a\", \"b\"])` or `for_each = var.nodes` (a map)"),
                        );
                        return None;
                    }
                };
                if pairs.len() as f64 > MAX_EXPANSION {
                    self.error(
                        Diagnostic::error(format!(
                            "for_each has {} elements, more than {}",
                            pairs.len(),
                            MAX_EXPANSION as u64
                        ))
                        .at_opt(span),
                    );
                    return None;
                }
                Some(
                    pairs
                        .into_iter()
                        .map(|(k, v)| RepetitionBinding {
                            each: Some((k, v)),
                            ..Default::default()
                        })
                        .collect(),
                )
            }
        }
    }

    fn unknown_expansion(&self, meta: &str, what: &str, span: Option<Span>) {
        self.error(
            Diagnostic::error(format!("the `{meta}` of {what} depends on values known only after apply"))
                .at_opt(span)
                .detail("slipway must know how many instances to create before it can plan them")
                .hint(format!(
                    "base `{meta}` on variables or locals known at plan time (e.g. for_each over a map with static keys), or apply the resources it depends on first with `-target`"
                )),
        );
    }

    fn eval_call(
        &self,
        node: NodeIndex,
        module: ModuleId,
        name: &str,
        mi: &ModuleInstance,
    ) -> Evaluated {
        let call = &self.input.config.modules[module].module_calls[name];
        let scope = self.scope(module, mi, RepetitionBinding::default());
        let what = format!("module \"{name}\"");
        let bindings = self
            .expand(&call.repetition, &scope, &what)
            .unwrap_or_default();
        for d in &call.depends_on {
            self.eval_in(&scope, d);
            self.depend_on_whole_modules(&scope, d);
        }
        let evaluated = self.finish(Value::Null, scope);
        if let Some(child) = call.child {
            let mut inherited: BTreeSet<Dep> = self
                .inherited
                .borrow()
                .get(mi)
                .map(|s| (**s).clone())
                .unwrap_or_default();
            if !call.depends_on.is_empty() {
                inherited.extend(evaluated.deps.iter().cloned());
            }
            let inherited = Arc::new(inherited);
            let mut mis = self.module_instances.borrow_mut();
            let list = mis.entry(child).or_default();
            for b in &bindings {
                let child_mi = mi.child(name, b.key());
                self.inherited
                    .borrow_mut()
                    .insert(child_mi.clone(), inherited.clone());
                list.push(child_mi);
            }
        }
        self.expansions
            .borrow_mut()
            .insert((node, mi.clone()), bindings);
        evaluated
    }

    fn eval_resource(&self, module: ModuleId, key: &str, mi: &ModuleInstance) -> Evaluated {
        let r = &self.input.config.modules[module].resources[key];
        let addr = ResourceAddr {
            module: mi.clone(),
            mode: r.mode,
            rtype: r.rtype.clone(),
            name: r.name.clone(),
        };
        let schema = match r.mode {
            ResourceMode::Managed => self.input.registry.resource_schema(&r.rtype),
            ResourceMode::Data => self.input.registry.data_schema(&r.rtype),
        };
        if schema.is_none()
            && self
                .unknown_types_reported
                .borrow_mut()
                .insert((module, key.to_string()))
        {
            self.report_unknown_type(r);
        }
        let scope = self.scope(module, mi, RepetitionBinding::default());
        let bindings = self.expand(&r.repetition, &scope, &format!("{addr}"));
        for d in &r.depends_on {
            self.eval_in(&scope, d);
            self.depend_on_whole_modules(&scope, d);
        }
        let shared = self.finish(Value::Null, scope).deps;
        let via_provider = self.provider_block_deps(crate::provider::provider_name_of(&r.rtype));
        let Some(bindings) = bindings else {
            // Still check the body once, so its own mistakes are reported in the same run.
            let scope = self.scope(
                module,
                mi,
                RepetitionBinding {
                    unknown: true,
                    ..Default::default()
                },
            );
            let mut ev = Evaluator::new(&scope, r.span.file);
            let mut diags = Diagnostics::default();
            match schema {
                Some(s) => eval_body(&mut ev, &r.body, &s.block, &r.span, &mut diags),
                None => eval_schemaless(&mut ev, &r.body, &mut diags),
            };
            for d in diags.0 {
                self.error(d);
            }
            return Evaluated {
                value: Value::Unknown,
                deps: Arc::new(BTreeSet::from([Dep::Resource(addr)])),
                failed: true,
            };
        };
        let mut instance_values = Vec::with_capacity(bindings.len());
        let mut members = Vec::with_capacity(bindings.len());
        for b in &bindings {
            let iaddr = addr.instance(b.key());
            let scope = self.scope(module, mi, b.clone());
            let mut ev = Evaluator::new(&scope, r.span.file);
            let mut diags = Diagnostics::default();
            let config = if !self.handler.needs_config(&iaddr) {
                Value::Null
            } else {
                match schema {
                    Some(s) => eval_body(&mut ev, &r.body, &s.block, &r.span, &mut diags),
                    None => eval_schemaless(&mut ev, &r.body, &mut diags),
                }
            };
            let has_errors = diags.has_errors();
            for d in diags.0 {
                self.error(d);
            }
            let mut deps: BTreeSet<Dep> = scope.deps.into_inner();
            deps.extend(shared.iter().cloned());
            if let Some(p) = &via_provider {
                deps.extend(p.iter().cloned());
            }
            if let Some(inh) = self.inherited.borrow().get(mi) {
                deps.extend(inh.iter().cloned());
            }
            let ctx = InstanceContext {
                addr: &iaddr,
                resource: r,
                schema,
                config: &config,
            };
            let value = if has_errors {
                Value::Unknown
            } else {
                match self.handler.instance(&ctx) {
                    Ok(v) => v,
                    Err(d) => {
                        self.error(d);
                        Value::Unknown
                    }
                }
            };
            instance_values.push((b.key(), value));
            // Edges are only wanted with the configuration (plan, graph); resolving them for
            // every instance of a walk per apply operation made apply quadratic.
            let depends_on = if self.handler.needs_config(&iaddr) {
                self.resolve_deps(&deps)
            } else {
                Default::default()
            };
            let (index, _) = self.instances.borrow_mut().insert_full(
                iaddr.clone(),
                PlannedInstance {
                    addr: iaddr,
                    module,
                    resource_key: key.to_string(),
                    depends_on,
                },
            );
            members.push(index as u32);
        }
        // Registered after its instances, so that an instance's own resource is never among its
        // whole-resource dependencies (only a reported cycle could ask for it).
        self.resources.borrow_mut().insert(addr.clone(), members);
        let value = collect_instances(&r.repetition, instance_values);
        Evaluated {
            value,
            deps: Arc::new(BTreeSet::from([Dep::Resource(addr)])),
            failed: false,
        }
    }

    /// Turns resource-level and instance-level dependencies into indexes. A reference by a key
    /// that names no instance stands for the whole resource, as it always has. A resource not
    /// expanded (yet: only on a reported cycle) contributes nothing.
    fn resolve_deps(&self, deps: &BTreeSet<Dep>) -> Vec<DepRef> {
        let instances = self.instances.borrow();
        let resources = self.resources.borrow();
        let mut out = Vec::with_capacity(deps.len());
        for d in deps {
            let whole = match d {
                Dep::Instance(a) => match instances.get_index_of(a) {
                    Some(i) => {
                        out.push(DepRef::Instance(i as u32));
                        continue;
                    }
                    None => &a.resource,
                },
                Dep::Resource(r) => r,
            };
            if let Some(r) = resources.get_index_of(whole) {
                out.push(DepRef::Resource(r as u32));
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    fn report_unknown_type(&self, r: &Resource) {
        let (what, names): (&str, Vec<String>) = match r.mode {
            ResourceMode::Managed => (
                "resource type",
                self.input
                    .registry
                    .names()
                    .filter_map(|p| self.input.registry.get(p))
                    .flat_map(|p| p.schema().resources.keys().cloned().collect::<Vec<_>>())
                    .collect(),
            ),
            ResourceMode::Data => (
                "data source",
                self.input
                    .registry
                    .names()
                    .filter_map(|p| self.input.registry.get(p))
                    .flat_map(|p| p.schema().data_sources.keys().cloned().collect::<Vec<_>>())
                    .collect(),
            ),
        };
        let mut d = Diagnostic::error(format!("unknown {what} `{}`", r.rtype)).at(r.span.clone());
        d = match closest(&r.rtype, names.iter().map(String::as_str)) {
            Some(c) => d.hint(format!("did you mean `{c}`?")),
            None => d.hint(format!(
                "providers in this build: {}",
                self.input.registry.names().collect::<Vec<_>>().join(", ")
            )),
        };
        self.error(d);
    }
}

/// The value references see for something expanded by `count`/`for_each`: the single
/// instance's value, a list by index, or a map by key.
fn collect_instances(rep: &Repetition, instances: Vec<(InstanceKey, Value)>) -> Value {
    match rep {
        Repetition::Single => instances
            .into_iter()
            .next()
            .map(|(_, v)| v)
            .unwrap_or(Value::Unknown),
        Repetition::Count(_) => Value::List(instances.into_iter().map(|(_, v)| v).collect()),
        Repetition::ForEach(_) => Value::Map(
            instances
                .into_iter()
                .map(|(k, v)| {
                    (
                        if let InstanceKey::Str(s) = k {
                            s
                        } else {
                            String::new()
                        },
                        v,
                    )
                })
                .collect(),
        ),
    }
}

/// Whether no `each.value` of these bindings holds an unknown (so they are final in apply).
fn bindings_known(bindings: &[RepetitionBinding]) -> bool {
    bindings
        .iter()
        .all(|b| b.each.as_ref().is_none_or(|(_, v)| !v.contains_unknown()))
}

/// The position of the binding with instance key `key`: `count` bindings are in index order
/// and `for_each` ones sorted by key (see [`Walk::expand`]), so this is a lookup, not a scan.
fn binding_index(bindings: &[RepetitionBinding], key: &InstanceKey) -> Option<usize> {
    let found = match key {
        InstanceKey::Int(i) => usize::try_from(*i).ok().filter(|&i| {
            bindings
                .get(i)
                .is_some_and(|b| b.count_index == Some(i as u64))
        }),
        InstanceKey::Str(s) => bindings
            .binary_search_by(|b| {
                b.each
                    .as_ref()
                    .map(|(k, _)| k.as_str())
                    .cmp(&Some(s.as_str()))
            })
            .ok(),
        InstanceKey::None => None,
    };
    // Order is an optimisation only: a key is never missed because of it.
    found.or_else(|| bindings.iter().position(|b| b.key() == *key))
}

/// Evaluates a body without a schema (unknown resource type), to still report expression errors.
fn eval_schemaless(
    ev: &mut Evaluator<'_>,
    body: &crate::config::Body,
    diags: &mut Diagnostics,
) -> Value {
    let mut out = BTreeMap::new();
    for (name, attr) in &body.attrs {
        ev.file = attr.expr.file;
        match ev.eval(&attr.expr.expr) {
            Ok(v) => {
                out.insert(name.clone(), v);
            }
            Err(d) => diags.push(d),
        }
    }
    Value::Map(out)
}

/// The scope of an expression in a module instance.
struct Scope<'w, 'a> {
    walk: &'w Walk<'a>,
    module: ModuleId,
    mi: ModuleInstance,
    binding: RepetitionBinding,
    deps: RefCell<BTreeSet<Dep>>,
    /// Something this scope evaluated or referred to failed (and was reported).
    failed: Cell<bool>,
}

impl Scope<'_, '_> {
    fn take(&self, e: Evaluated) -> Value {
        self.deps.borrow_mut().extend(e.deps.iter().cloned());
        if e.failed {
            self.failed.set(true);
        }
        e.value
    }

    /// A reference to nothing. StaticGraph::build has reported it already, so the walk carries
    /// on with an unknown instead of repeating the error.
    fn missing(&self) -> Result<Value, Diagnostic> {
        self.failed.set(true);
        Ok(Value::Unknown)
    }
}

impl Resolver for Scope<'_, '_> {
    fn resolve(
        &self,
        root: &RefRoot,
        next_index: Option<&Value>,
        span: &Span,
    ) -> Result<Value, Diagnostic> {
        let w = self.walk;
        let g = w.input.graph;
        match root {
            RefRoot::Var(n) => match g.node(self.module, NodeKind::Var, n) {
                Some(x) => Ok(self.take(w.get(x, &self.mi))),
                None => self.missing(),
            },
            RefRoot::Local(n) => match g.node(self.module, NodeKind::Local, n) {
                Some(x) => Ok(self.take(w.get(x, &self.mi))),
                None => self.missing(),
            },
            RefRoot::Module(c) => {
                let Some(call_node) = g.node(self.module, NodeKind::Call, c) else {
                    return self.missing();
                };
                let call = &w.input.config.modules[self.module].module_calls[c];
                let Some(child) = call.child else {
                    return Ok(Value::Unknown);
                };
                self.take(w.get(call_node, &self.mi));
                let bindings = w
                    .expansions
                    .borrow()
                    .get(&(call_node, self.mi.clone()))
                    .cloned()
                    .unwrap_or_default();
                let mut objects = Vec::new();
                for b in &bindings {
                    let child_mi = self.mi.child(c, b.key());
                    let mut outs = BTreeMap::new();
                    for name in w.input.config.modules[child].outputs.keys() {
                        if let Some(on) = g.node(child, NodeKind::Output, name) {
                            outs.insert(name.clone(), self.take(w.get(on, &child_mi)));
                        }
                    }
                    objects.push((b.key(), Value::Map(outs)));
                }
                Ok(collect_instances(&call.repetition, objects))
            }
            RefRoot::Resource { mode, rtype, name } => {
                let key = match mode {
                    ResourceMode::Managed => format!("{rtype}.{name}"),
                    ResourceMode::Data => format!("data.{rtype}.{name}"),
                };
                let Some(node) = g.node(self.module, NodeKind::Resource, &key) else {
                    return self.missing();
                };
                let e = w.get(node, &self.mi);
                if e.failed {
                    self.failed.set(true);
                }
                let addr = ResourceAddr {
                    module: self.mi.clone(),
                    mode: *mode,
                    rtype: rtype.clone(),
                    name: name.clone(),
                };
                let r = &w.input.config.modules[self.module].resources[&key];
                let ikey = match (next_index.map(|v| v.peel()), &r.repetition) {
                    (Some(Value::Number(n)), Repetition::Count(_))
                        if *n >= 0.0 && n.fract() == 0.0 =>
                    {
                        Some(InstanceKey::Int(*n as u64))
                    }
                    (Some(Value::String(s)), Repetition::ForEach(_)) => {
                        Some(InstanceKey::Str(s.clone()))
                    }
                    _ => None,
                };
                match ikey {
                    Some(k) => {
                        self.deps
                            .borrow_mut()
                            .insert(Dep::Instance(addr.instance(k)));
                    }
                    None => {
                        self.deps.borrow_mut().insert(Dep::Resource(addr));
                    }
                }
                Ok(e.value)
            }
            RefRoot::CountIndex | RefRoot::EachKey | RefRoot::EachValue if self.binding.unknown => {
                Ok(Value::Unknown)
            }
            RefRoot::CountIndex => self
                .binding
                .count_index
                .map(|i| Value::Number(i as f64))
                .ok_or_else(|| {
                    Diagnostic::error("`count.index` used where `count` is not set")
                        .at(span.clone())
                }),
            RefRoot::EachKey => self
                .binding
                .each
                .as_ref()
                .map(|(k, _)| Value::String(k.clone()))
                .ok_or_else(|| {
                    Diagnostic::error("`each.key` used where `for_each` is not set")
                        .at(span.clone())
                }),
            RefRoot::EachValue => self
                .binding
                .each
                .as_ref()
                .map(|(_, v)| v.clone())
                .ok_or_else(|| {
                    Diagnostic::error("`each.value` used where `for_each` is not set")
                        .at(span.clone())
                }),
            RefRoot::Path(what) => {
                let p = match what.as_str() {
                    "module" => w.input.config.modules[self.module].dir.clone(),
                    "root" => w.input.config.root().dir.clone(),
                    _ => std::env::current_dir().unwrap_or_default(),
                };
                Ok(Value::String(p.display().to_string()))
            }
            RefRoot::Slipway(_) => Ok(Value::String(w.input.environment.clone())),
        }
    }

    /// `aws_x.y[key]` copies one instance's value, not the whole resource's (which made a
    /// for_each resource referred to by key from each of its N dependents cost O(N²)).
    fn resolve_indexed(
        &self,
        root: &RefRoot,
        key: &Value,
        _span: &Span,
    ) -> Option<Result<Value, Diagnostic>> {
        let RefRoot::Resource { mode, rtype, name } = root else {
            return self.resolve_named_indexed(root, key);
        };
        // A sensitive key marks the result: leave that to the general path.
        if key.is_sensitive() {
            return None;
        }
        let w = self.walk;
        let rkey = match mode {
            ResourceMode::Managed => format!("{rtype}.{name}"),
            ResourceMode::Data => format!("data.{rtype}.{name}"),
        };
        let node = w.input.graph.node(self.module, NodeKind::Resource, &rkey)?;
        let r = &w.input.config.modules[self.module].resources[&rkey];
        // The same instance key `resolve` derives from the index.
        let ikey = match (key, &r.repetition) {
            (Value::Number(n), Repetition::Count(_)) if *n >= 0.0 && n.fract() == 0.0 => {
                InstanceKey::Int(*n as u64)
            }
            (Value::String(s), Repetition::ForEach(_)) => InstanceKey::Str(s.clone()),
            _ => return None,
        };
        let addr = ResourceAddr {
            module: self.mi.clone(),
            mode: *mode,
            rtype: rtype.clone(),
            name: name.clone(),
        };
        if let Some(current) = w.current {
            // Apply: one instance's current value, without building the resource's.
            let declared =
                w.current_bindings(node, &self.mi, |bs| binding_index(bs, &ikey).is_some())?;
            if !declared {
                return None;
            }
            let iaddr = addr.instance(ikey);
            let value = current.get(&iaddr).cloned().unwrap_or(Value::Unknown);
            self.deps.borrow_mut().insert(Dep::Instance(iaddr));
            return Some(Ok(value));
        }
        if !w.ensure(node, &self.mi) {
            return None;
        }
        let value = {
            let memo = w.memo.borrow();
            let e = memo.get(&(node, self.mi.clone()))?;
            if e.failed {
                return None;
            }
            // What indexing the whole value gives when the element exists; anything else
            // (missing key: an error with hints) goes through `resolve` and the index.
            match (&e.value, &ikey) {
                (Value::List(items), InstanceKey::Int(i)) => items.get(*i as usize)?.clone(),
                (Value::Map(map), InstanceKey::Str(s)) => map.get(s)?.clone(),
                _ => return None,
            }
        };
        self.deps
            .borrow_mut()
            .insert(Dep::Instance(addr.instance(ikey)));
        Some(Ok(value))
    }

    fn base_dir(&self) -> &Path {
        &self.walk.input.config.modules[self.module].dir
    }

    // Without these, `for k, v in local.a_set` would bind indexes: a set's value alone looks
    // like a list.
    fn shape_of_local(&self, name: &str, depth: usize) -> crate::eval::types::Shape {
        use crate::eval::types::ShapeScope as _;
        super::ModuleShapes(&self.walk.input.config.modules[self.module]).local(name, depth)
    }

    fn shape_of_variable(&self, name: &str) -> crate::eval::types::Shape {
        use crate::eval::types::ShapeScope as _;
        super::ModuleShapes(&self.walk.input.config.modules[self.module]).variable(name)
    }
}

impl Scope<'_, '_> {
    /// `var.x["k"]` and `local.x["k"]` over a map copy one element, not the whole map: in a
    /// module whose N instances each pick their element of a map input of N entries (subnet by
    /// zone, upstream id by key), copying the map per reference cost O(N²). The value and its
    /// dependencies are exactly those of the general path (the whole variable's dependencies:
    /// a value does not know which of its elements came from where); anything but a plain map
    /// with the key present (marks, lists, missing keys and their hints) takes that path.
    fn resolve_named_indexed(
        &self,
        root: &RefRoot,
        key: &Value,
    ) -> Option<Result<Value, Diagnostic>> {
        let w = self.walk;
        let g = w.input.graph;
        let node = match root {
            RefRoot::Var(n) => g.node(self.module, NodeKind::Var, n)?,
            RefRoot::Local(n) => g.node(self.module, NodeKind::Local, n)?,
            _ => return None,
        };
        let Value::String(k) = key else {
            return None;
        };
        if !w.ensure(node, &self.mi) {
            return None;
        }
        let memo = w.memo.borrow();
        let e = memo.get(&(node, self.mi.clone()))?;
        let Value::Map(map) = &e.value else {
            return None;
        };
        let value = map.get(k)?.clone();
        self.deps.borrow_mut().extend(e.deps.iter().cloned());
        if e.failed {
            self.failed.set(true);
        }
        Some(Ok(value))
    }
}

/// A scope with no names: variable defaults and values given from outside are constants.
struct ClosedScope {
    what: &'static str,
    base: PathBuf,
}

impl Resolver for ClosedScope {
    fn resolve(&self, root: &RefRoot, _: Option<&Value>, span: &Span) -> Result<Value, Diagnostic> {
        Err(
            Diagnostic::error(format!("{} cannot refer to `{root}`", self.what))
                .at(span.clone())
                .hint("use a literal value here; compute derived values in `locals`"),
        )
    }

    fn base_dir(&self) -> &Path {
        &self.base
    }
}

/// A validation condition sees only its own variable.
struct SelfScope<'v> {
    name: &'v str,
    value: &'v Value,
    base: PathBuf,
}

impl Resolver for SelfScope<'_> {
    fn resolve(&self, root: &RefRoot, _: Option<&Value>, span: &Span) -> Result<Value, Diagnostic> {
        match root {
            RefRoot::Var(n) if n == self.name => Ok(self.value.clone()),
            other => Err(Diagnostic::error(format!(
                "a validation of var.{} cannot refer to `{other}`",
                self.name
            ))
            .at(span.clone())
            .hint("validation conditions may only use the variable being validated")),
        }
    }

    fn base_dir(&self) -> &Path {
        &self.base
    }
}
