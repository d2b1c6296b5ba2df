//! Apply's re-evaluation of one instance's configuration, once what it depends on is applied.
//!
//! A configuration that held unknowns at plan time is evaluated again when its operation is
//! ready. Walking the whole configuration for that made apply quadratic wherever instances
//! become ready a few at a time (each instance reading its own `random_id.a[each.key].hex`):
//! every operation paid for every module instance's variables, locals and expansions.
//! [`ConfigEvaluator`] evaluates only what the instance's own expressions reach, on demand,
//! and keeps what it evaluated for the next operation, so an apply evaluates each variable,
//! local, output and expansion about once, plus one body per operation.
//!
//! **Why kept values stay right:** a node is evaluated here only because a ready operation
//! needs it, and that operation's dependencies include the node's (the walk collects them
//! through every variable, local and output), so what the node read was final. What cannot
//! be known to be final is not kept: resource values (read from apply's current values each
//! time), anything still unknown (read through a reference the plan could not see, such as
//! one behind a condition unknown at plan time), failures (each operation reports its own
//! error), and expansions whose `each.value` holds unknowns. See [`Walk::memoizable`].

use std::cell::{Cell, RefCell};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use petgraph::graph::NodeIndex;

use super::{
    Dep, Evaluated, RepetitionBinding, UnknownComputed, Walk, WalkInput, binding_index,
    bindings_known, collect_instances, eval_schemaless,
};
use crate::addr::{ModuleInstance, ResourceAddr, ResourceInstanceAddr, ResourceMode};
use crate::config::ModuleId;
use crate::diag::Diagnostics;
use crate::eval::expr::Evaluator;
use crate::graph::NodeKind;
use crate::graph::body::eval_body;
use crate::value::Value;

/// What one re-evaluation keeps for the next (see the module documentation).
struct Kept {
    memo: HashMap<(NodeIndex, ModuleInstance), Evaluated>,
    expansions: HashMap<(NodeIndex, ModuleInstance), Vec<RepetitionBinding>>,
    inherited: HashMap<ModuleInstance, Arc<BTreeSet<Dep>>>,
    parents: HashMap<ModuleId, (ModuleId, String)>,
    in_cycle: std::collections::HashSet<NodeIndex>,
}

/// Evaluates single instances' configurations during one apply (see the module
/// documentation). One per apply: what it keeps is valid only while values only become final.
#[derive(Default)]
pub struct ConfigEvaluator {
    kept: Option<Kept>,
    /// Configurations evaluated.
    pub configs: usize,
    /// Variables, locals, outputs, module calls and resource values evaluated for them (not
    /// counting those found already evaluated): the work besides the bodies themselves.
    pub evaluations: usize,
}

impl ConfigEvaluator {
    pub fn new() -> ConfigEvaluator {
        ConfigEvaluator::default()
    }

    /// The configuration of `addr` with resource instances valued as in `current` (applied
    /// objects, planned ones for the rest). Refused when the configuration no longer declares
    /// the instance, when evaluating it fails, or when it still holds unknowns.
    pub fn config(
        &mut self,
        input: WalkInput<'_>,
        addr: &ResourceInstanceAddr,
        current: &HashMap<ResourceInstanceAddr, Value>,
    ) -> Result<Value, String> {
        let walk = match self.kept.take() {
            Some(k) => Walk::resume(input, k, current),
            None => {
                let mut w = Walk::new(input, &UnknownComputed);
                w.current = Some(current);
                w
            }
        };
        let config = walk.instance_config(addr);
        self.configs += 1;
        self.evaluations += walk.evaluations.get();
        let errors: Vec<String> = walk
            .diags
            .borrow()
            .iter()
            .filter(|d| d.is_error())
            .map(|d| d.summary.clone())
            .collect();
        self.kept = Some(walk.keep());
        if !errors.is_empty() {
            return Err(format!("evaluating its configuration: {}", errors.join("; ")));
        }
        let config = config.ok_or("its configuration no longer declares it")?;
        if config.contains_unknown() {
            return Err(
                "its configuration still has unknown values after its dependencies were applied"
                    .into(),
            );
        }
        Ok(config)
    }
}

impl<'a> Walk<'a> {
    /// A walk that goes on from what an earlier one kept, reading resources from `current`.
    fn resume(
        input: WalkInput<'a>,
        k: Kept,
        current: &'a HashMap<ResourceInstanceAddr, Value>,
    ) -> Walk<'a> {
        Walk {
            input,
            handler: &UnknownComputed,
            memo: RefCell::new(k.memo),
            in_progress: RefCell::default(),
            module_instances: RefCell::default(),
            expansions: RefCell::new(k.expansions),
            inherited: RefCell::new(k.inherited),
            instances: RefCell::default(),
            resources: RefCell::default(),
            diags: RefCell::default(),
            parents: k.parents,
            unknown_types_reported: RefCell::default(),
            in_cycle: k.in_cycle,
            depth: Cell::new(0),
            provider_deps: RefCell::default(),
            current: Some(current),
            evaluations: Cell::new(0),
        }
    }

    fn keep(self) -> Kept {
        Kept {
            memo: self.memo.into_inner(),
            expansions: self.expansions.into_inner(),
            inherited: self.inherited.into_inner(),
            parents: self.parents,
            in_cycle: self.in_cycle,
        }
    }

    /// Evaluates the body of one instance; None when the configuration does not declare it.
    /// Errors go to the walk's diagnostics.
    fn instance_config(&self, addr: &ResourceInstanceAddr) -> Option<Value> {
        let config = self.input.config;
        let graph = self.input.graph;
        // Down the module path: each call's expansion says whether the instance still exists,
        // and gives its module instance's variables their binding.
        let (mut module, mut mi) = (0, ModuleInstance::root());
        for (call_name, key) in &addr.resource.module.0 {
            let call = config.modules[module].module_calls.get(call_name)?;
            let node = graph.node(module, NodeKind::Call, call_name)?;
            self.get(node, &mi);
            let declared = self
                .expansions
                .borrow()
                .get(&(node, mi.clone()))
                .is_some_and(|bs| binding_index(bs, key).is_some());
            if !declared {
                return None;
            }
            mi = mi.child(call_name, key.clone());
            module = call.child?;
        }
        let rkey = match addr.resource.mode {
            ResourceMode::Managed => format!("{}.{}", addr.resource.rtype, addr.resource.name),
            ResourceMode::Data => format!("data.{}.{}", addr.resource.rtype, addr.resource.name),
        };
        let r = config.modules[module].resources.get(&rkey)?;
        let node = graph.node(module, NodeKind::Resource, &rkey)?;
        let binding = self.current_bindings(node, &mi, |bs| {
            binding_index(bs, &addr.key).map(|i| bs[i].clone())
        })??;
        let schema = match r.mode {
            ResourceMode::Managed => self.input.registry.resource_schema(&r.rtype),
            ResourceMode::Data => self.input.registry.data_schema(&r.rtype),
        };
        let scope = self.scope(module, &mi, binding);
        let mut ev = Evaluator::new(&scope, r.span.file);
        let mut diags = Diagnostics::default();
        let value = match schema {
            Some(s) => eval_body(&mut ev, &r.body, &s.block, &r.span, &mut diags),
            None => eval_schemaless(&mut ev, &r.body, &mut diags),
        };
        for d in diags.0 {
            self.error(d);
        }
        Some(value)
    }

    /// Calls `f` with the bindings of a resource's instances in module instance `mi`, expanding
    /// its `count`/`for_each` the first time (kept when final: see [`bindings_known`]). None
    /// when the expansion fails (reported).
    pub(super) fn current_bindings<R>(
        &self,
        node: NodeIndex,
        mi: &ModuleInstance,
        f: impl FnOnce(&[RepetitionBinding]) -> R,
    ) -> Option<R> {
        let key = (node, mi.clone());
        if let Some(bs) = self.expansions.borrow().get(&key) {
            return Some(f(bs));
        }
        let sn = &self.input.graph.graph[node];
        let r = &self.input.config.modules[sn.module].resources[&sn.name];
        let addr = resource_addr(mi, r);
        let scope = self.scope(sn.module, mi, RepetitionBinding::default());
        let bindings = self.expand(&r.repetition, &scope, &format!("{addr}"))?;
        if !bindings_known(&bindings) {
            return Some(f(&bindings));
        }
        let out = f(&bindings);
        self.expansions.borrow_mut().insert(key, bindings);
        Some(out)
    }

    /// A resource's value from apply's current values (see [`Walk::current`]).
    pub(super) fn current_resource(
        &self,
        node: NodeIndex,
        module: ModuleId,
        key: &str,
        mi: &ModuleInstance,
    ) -> Evaluated {
        let r = &self.input.config.modules[module].resources[key];
        let addr = resource_addr(mi, r);
        let current = self.current.expect("only called with current values");
        let value = self.current_bindings(node, mi, |bs| {
            let values = bs
                .iter()
                .map(|b| {
                    let v = current.get(&addr.instance(b.key())).cloned();
                    (b.key(), v.unwrap_or(Value::Unknown))
                })
                .collect();
            collect_instances(&r.repetition, values)
        });
        Evaluated {
            failed: value.is_none(),
            value: value.unwrap_or(Value::Unknown),
            deps: Arc::new(BTreeSet::from([Dep::Resource(addr)])),
        }
    }
}

fn resource_addr(mi: &ModuleInstance, r: &crate::config::Resource) -> ResourceAddr {
    ResourceAddr { module: mi.clone(), mode: r.mode, rtype: r.rtype.clone(), name: r.name.clone() }
}
