//! Planning: what must change so that what exists matches the configuration.
//!
//! Terraform's four nouns, named the same way here: the **configuration** (evaluated per
//! instance by the walk), the **prior state** (what state recorded), the **refreshed state**
//! (prior state as the providers read it now: drift shows up as the difference), and the
//! **planned state** (what each instance will look like after apply, unknowns included).
//!
//! **Architecture invariants:**
//! - Planning itself does no I/O: refresh (provider reads, batched one call per resource type)
//!   and data-source reads happen through the provider seam before and during the walk; the
//!   diff is pure.
//! - A plan is bound to the state's lineage and serial; applying it to any other state is
//!   refused (see [`Plan::check_fresh`]).
//! - Sensitive values are carried with their marks; renderers mask them.

pub mod file;
pub mod footprint;
mod moved;
mod planner;
mod refresh;
pub mod render;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use planner::Planner;
pub use refresh::refresh;

use crate::addr::{ResourceInstanceAddr, ResourceMode};
use crate::diag::{Diagnostic, Diagnostics};
use crate::environment::Environment;
use crate::eval::expr::values_equal;
use crate::graph::walk::WalkOutput;
use crate::provider::{ProviderRegistry, provider_name_of};
use crate::state::State;
use crate::value::Value;

/// What happens to one resource instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    NoOp,
    Create,
    Update,
    /// Delete then create (or create then delete with `create_before_destroy`).
    Replace,
    Delete,
    /// A data source read during apply (its configuration was unknown at plan time).
    Read,
}

impl Action {
    /// The symbol Terraform users know.
    pub fn symbol(self) -> &'static str {
        match self {
            Action::NoOp => " ",
            Action::Create => "+",
            Action::Update => "~",
            Action::Replace => "-/+",
            Action::Delete => "-",
            Action::Read => "<=",
        }
    }
}

/// The planned change of one resource instance.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ResourceChange {
    pub addr: ResourceInstanceAddr,
    pub action: Action,
    pub provider: String,
    pub rtype: String,
    /// The refreshed object (None when it does not exist).
    pub before: Option<Value>,
    /// The planned object (None for deletes), unknowns where values come only after apply.
    pub after: Option<Value>,
    /// Attributes whose change forces the replacement.
    pub replace_because: Vec<String>,
    /// Why, when it is not just "the configuration changed".
    pub reason: Option<String>,
    pub create_before_destroy: bool,
    pub prevent_destroy: bool,
    /// Instances this one depends on (from the configuration, or from state for deletes).
    pub depends_on: Vec<ResourceInstanceAddr>,
    /// Present when a `moved` block renamed the instance.
    pub moved_from: Option<ResourceInstanceAddr>,
    /// The evaluated configuration, for apply (None for deletes): see [`ResourceChange::config`].
    pub config: Option<PlannedConfig>,
}

impl ResourceChange {
    /// The evaluated configuration (None for deletes).
    pub fn config(&self) -> Option<Value> {
        self.config.as_ref().map(|c| c.value(self.after.as_ref()))
    }
}

/// An instance's evaluated configuration as a plan keeps it: by its differences from the
/// planned object (`after`). The planned object is mostly the configuration with computed
/// attributes filled in, so keeping both whole held every instance's attributes twice, the
/// largest cost of a plan of many instances (issue #18).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlannedConfig {
    /// The configuration itself, when it or the planned object is not an object.
    Whole(Value),
    /// The planned object's attributes, except these: the configuration's value where it
    /// differs, or None where the configuration has no such attribute. (A slice: a map's
    /// smallest node is a dozen entries, most changes differ in a few.)
    Except(Box<[(String, Option<Value>)]>),
}

impl PlannedConfig {
    /// Records `config` against `after`, the planned object the change will hold.
    pub fn new(config: &Value, after: &Value) -> PlannedConfig {
        let (Value::Map(c), Value::Map(a)) = (config, after) else {
            return PlannedConfig::Whole(config.clone());
        };
        let differs = c
            .iter()
            .filter(|&(k, v)| a.get(k) != Some(v))
            .map(|(k, v)| (k.clone(), Some(v.clone())));
        let absent = a.keys().filter(|k| !c.contains_key(*k)).map(|k| (k.clone(), None));
        PlannedConfig::Except(differs.chain(absent).collect())
    }

    /// The configuration, given the planned object it was recorded against.
    pub fn value(&self, after: Option<&Value>) -> Value {
        match self {
            PlannedConfig::Whole(v) => v.clone(),
            PlannedConfig::Except(except) => {
                let mut map = match after {
                    Some(Value::Map(a)) => a.clone(),
                    _ => BTreeMap::new(),
                };
                for (k, v) in except.iter() {
                    match v {
                        Some(v) => map.insert(k.clone(), v.clone()),
                        None => map.remove(k),
                    };
                }
                Value::Map(map)
            }
        }
    }
}

/// A difference between state and what the provider reads now, made outside slipway.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Drift {
    pub addr: ResourceInstanceAddr,
    pub before: Value,
    /// None: the object is gone.
    pub after: Option<Value>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OutputChange {
    pub name: String,
    pub action: Action,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub sensitive: bool,
}

/// Options of a plan.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct PlanOptions {
    pub refresh: bool,
    pub refresh_only: bool,
    pub destroy: bool,
    /// `-target`: only these instances (and what they depend on).
    pub targets: Vec<ResourceInstanceAddr>,
    /// `-replace`: force replacement of these instances.
    pub replace: Vec<ResourceInstanceAddr>,
}

/// A plan: the changes, the drift, and the state it was made against.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Plan {
    pub lineage: String,
    pub serial: u64,
    pub changes: Vec<ResourceChange>,
    pub drift: Vec<Drift>,
    pub outputs: Vec<OutputChange>,
    /// The state as refreshed (apply persists it before making changes).
    pub refreshed: State,
    pub options: PlanOptions,
    /// What runs now and once applied, as a bill itemises it ([`footprint`]).
    #[serde(default)]
    pub footprint: footprint::Footprint,
}

impl Plan {
    pub fn has_changes(&self) -> bool {
        self.changes.iter().any(|c| c.action != Action::NoOp || c.moved_from.is_some())
            || self.outputs.iter().any(|o| o.action != Action::NoOp)
            || (self.options.refresh_only && !self.drift.is_empty())
    }

    /// Counts of (add, change, destroy) as in Terraform's summary line.
    pub fn counts(&self) -> (usize, usize, usize) {
        let mut c = (0, 0, 0);
        for ch in &self.changes {
            add_counts(&mut c, ch.action);
        }
        c
    }

    /// [`Plan::counts`] per resource type (types without a change left out), by type name.
    pub fn counts_by_type(&self) -> BTreeMap<&str, (usize, usize, usize)> {
        let mut by = BTreeMap::new();
        for ch in &self.changes {
            if matches!(ch.action, Action::NoOp | Action::Read) {
                continue;
            }
            add_counts(by.entry(ch.rtype.as_str()).or_default(), ch.action);
        }
        by
    }

    /// Refuses a plan made against another state than `state`.
    pub fn check_fresh(&self, state: &State) -> Result<(), String> {
        if self.lineage != state.lineage {
            return Err(format!(
                "the plan was made for another state (lineage {} ≠ {})",
                self.lineage, state.lineage
            ));
        }
        if self.serial != state.serial {
            return Err(format!(
                "the state changed since the plan was made (serial {} → {}); make a new plan",
                self.serial, state.serial
            ));
        }
        Ok(())
    }
}

/// Top-level attributes that differ between two objects.
pub fn changed_attributes(before: &Value, after: &Value) -> Vec<String> {
    let empty = BTreeMap::new();
    let b = before.as_map().unwrap_or(&empty);
    let a = after.as_map().unwrap_or(&empty);
    let mut keys: BTreeSet<&String> = b.keys().collect();
    keys.extend(a.keys());
    keys.into_iter()
        .filter(|k| {
            let (x, y) = (b.get(*k).unwrap_or(&Value::Null), a.get(*k).unwrap_or(&Value::Null));
            if y.contains_unknown() {
                // An unknown only counts as a change where a known value stood before.
                return !x.is_null() || !y.is_unknown();
            }
            !values_equal(x, y) || x.is_sensitive() != y.is_sensitive()
        })
        .cloned()
        .collect()
}

/// Adds the dependencies providers know between their planned objects
/// ([`Provider::implicit_dependencies`]) to the changes, unless the reverse is already there.
/// Apply orders by them and state records them, so destroy follows them too.
fn implicit_dependencies_of(
    registry: &ProviderRegistry,
    changes: &BTreeMap<ResourceInstanceAddr, ResourceChange>,
) -> Vec<(ResourceInstanceAddr, ResourceInstanceAddr)> {
    let mut out = Vec::new();
    for name in registry.names() {
        let Some(p) = registry.get(name) else {
            continue;
        };
        let mine: Vec<(&ResourceInstanceAddr, &str, &Value)> = changes
            .values()
            .filter(|c| c.provider == name && c.action != Action::Delete)
            .filter_map(|c| Some((&c.addr, c.rtype.as_str(), c.after.as_ref()?)))
            .collect();
        if mine.is_empty() {
            continue;
        }
        let objects: Vec<(&str, &Value)> = mine.iter().map(|(_, t, v)| (*t, *v)).collect();
        for (i, j) in p.implicit_dependencies(&objects) {
            if let (Some(a), Some(b)) = (mine.get(i), mine.get(j)) {
                out.push((a.0.clone(), b.0.clone()));
            }
        }
    }
    out
}

fn add_implicit_dependencies(
    registry: &ProviderRegistry,
    changes: &mut BTreeMap<ResourceInstanceAddr, ResourceChange>,
) {
    for (dependent, dependency) in implicit_dependencies_of(registry, changes) {
        if changes.get(&dependency).is_some_and(|c| c.depends_on.contains(&dependent)) {
            continue;
        }
        if let Some(c) = changes.get_mut(&dependent)
            && !c.depends_on.contains(&dependency)
        {
            c.depends_on.push(dependency);
        }
    }
}

/// Plans an environment against a refreshed state. Runs the walk on the calling thread (it must
/// not be a tokio worker: data sources are read with `block_on`).
pub fn plan(
    env: &Environment,
    mut refreshed: State,
    drift: Vec<Drift>,
    options: PlanOptions,
    runtime: tokio::runtime::Handle,
) -> (Option<Plan>, Diagnostics) {
    let moves = match moved::apply_moved_blocks(env, &mut refreshed) {
        Ok(m) => m,
        Err(d) => return (None, d),
    };
    let planner = Planner {
        refreshed: &refreshed,
        registry: &env.registry,
        options: &options,
        runtime,
        changes: RefCell::default(),
    };
    let mut diags = Diagnostics::default();
    let mut out = env.walk(&planner);
    diags.extend(std::mem::take(&mut out.diagnostics));
    if diags.has_errors() {
        return (None, diags);
    }
    let mut changes = planner.changes.into_inner();
    // Each planned object is the value the walk kept for references: moved, not copied.
    for (inst, value) in out.instances.values().zip(std::mem::take(&mut out.values)) {
        if let Some(c) = changes.get_mut(&inst.addr) {
            c.after = Some(value);
        }
    }
    // Direct dependencies: a whole resource is recorded once, by its address without a key
    // ("every instance of", those a shrinking count drops included: see `recorded_deps`), not
    // once per instance.
    for (inst, deps) in out.instances.values().zip(out.recorded_deps()) {
        if let Some(c) = changes.get_mut(&inst.addr) {
            c.depends_on = deps;
        }
    }
    add_implicit_dependencies(&env.registry, &mut changes);
    for (to, from) in moves {
        if let Some(c) = changes.get_mut(&to) {
            c.moved_from = Some(from);
        }
    }
    add_deletes(&mut changes, &refreshed, &out, options.destroy);
    check_prevent_destroy(&changes, &mut diags);
    if options.refresh_only {
        changes.clear();
    }
    if !options.targets.is_empty() {
        keep_targets(&mut changes, &options.targets, &out);
    }
    let outputs = output_changes(&refreshed, &out.outputs, options.destroy);
    if diags.has_errors() {
        return (None, diags);
    }
    let mut changes: Vec<ResourceChange> = changes.into_values().collect();
    changes.sort_by(|a, b| a.addr.cmp(&b.addr));
    let footprint = footprint::of(&env.registry, &changes);
    let plan = Plan {
        lineage: refreshed.lineage.clone(),
        serial: refreshed.serial,
        footprint,
        changes,
        drift,
        outputs,
        refreshed,
        options,
    };
    (Some(plan), diags)
}

/// Deletes: whatever state holds that the configuration no longer declares, and with
/// `destroy` every managed object in state (and nothing new is created).
fn add_deletes(
    changes: &mut BTreeMap<ResourceInstanceAddr, ResourceChange>,
    refreshed: &State,
    out: &WalkOutput,
    destroy: bool,
) {
    for (addr, r) in &refreshed.resources {
        if out.instances.contains_key(addr) {
            continue;
        }
        if addr.resource.mode == ResourceMode::Data {
            continue;
        }
        changes.insert(addr.clone(), delete_change(addr, r, "no longer in the configuration"));
    }
    if destroy {
        for (addr, r) in &refreshed.resources {
            if addr.resource.mode == ResourceMode::Managed {
                changes.insert(addr.clone(), delete_change(addr, r, "destroy requested"));
            }
        }
        for inst in out.instances.values() {
            if !refreshed.resources.contains_key(&inst.addr) {
                changes.remove(&inst.addr);
            }
        }
    }
}

/// An error for each change that would destroy an object under `lifecycle.prevent_destroy`
/// (a create-before-destroy replacement keeps one, so it passes).
fn check_prevent_destroy(
    changes: &BTreeMap<ResourceInstanceAddr, ResourceChange>,
    diags: &mut Diagnostics,
) {
    for c in changes.values() {
        if matches!(c.action, Action::Delete | Action::Replace)
            && c.prevent_destroy
            && !c.create_before_destroy
        {
            diags.push(
                Diagnostic::error(format!("{} has lifecycle.prevent_destroy and this plan would destroy it", c.addr))
                    .hint("remove prevent_destroy first if destroying it is intended, or change the plan so it is kept"),
            );
        }
    }
}

fn delete_change(
    addr: &ResourceInstanceAddr,
    r: &crate::state::ResourceState,
    reason: &str,
) -> ResourceChange {
    ResourceChange {
        addr: addr.clone(),
        action: Action::Delete,
        provider: r.provider.clone(),
        rtype: r.rtype.clone(),
        before: Some(r.value()),
        after: None,
        replace_because: Vec::new(),
        reason: Some(reason.to_string()),
        create_before_destroy: r.create_before_destroy,
        prevent_destroy: false,
        depends_on: r.dependencies.clone(),
        moved_from: None,
        config: None,
    }
}

/// `-target`: keeps the targeted instances and everything they depend on.
fn keep_targets(
    changes: &mut BTreeMap<ResourceInstanceAddr, ResourceChange>,
    targets: &[ResourceInstanceAddr],
    out: &WalkOutput,
) {
    let instances = &out.instances;
    let mut keep = BTreeSet::new();
    let mut stack: Vec<ResourceInstanceAddr> = Vec::new();
    for t in targets {
        // A target without a key names every instance of the resource.
        for a in changes.keys().chain(instances.keys()) {
            if a == t || (t.key == crate::addr::InstanceKey::None && a.resource == t.resource) {
                stack.push(a.clone());
            }
        }
    }
    // Whole-resource dependencies are followed once each, not once per dependent.
    let mut followed = BTreeSet::new();
    while let Some(a) = stack.pop() {
        if !keep.insert(a.clone()) {
            continue;
        }
        if let Some(i) = instances.get(&a) {
            for &d in &i.depends_on {
                if followed.insert(d) {
                    stack.extend(out.dep_instances(d).map(|j| instances[j].addr.clone()));
                }
            }
        }
    }
    changes.retain(|a, _| keep.contains(a));
}

fn output_changes(
    state: &State,
    outputs: &BTreeMap<String, (Value, bool)>,
    destroy: bool,
) -> Vec<OutputChange> {
    let mut out = Vec::new();
    for (name, (value, sensitive)) in outputs {
        let before =
            state.outputs.get(name).map(|o| Value::from_json(&o.value).mark_if(o.sensitive));
        let (action, after) = if destroy {
            (if before.is_some() { Action::Delete } else { Action::NoOp }, None)
        } else {
            let action = match &before {
                None => Action::Create,
                Some(b) if values_equal(b, value) && !value.contains_unknown() => Action::NoOp,
                Some(_) => Action::Update,
            };
            (action, Some(value.clone()))
        };
        out.push(OutputChange { name: name.clone(), action, before, after, sensitive: *sensitive });
    }
    for (name, o) in &state.outputs {
        if !outputs.contains_key(name) {
            out.push(OutputChange {
                name: name.clone(),
                action: Action::Delete,
                before: Some(Value::from_json(&o.value).mark_if(o.sensitive)),
                after: None,
                sensitive: o.sensitive,
            });
        }
    }
    out
}

/// The provider name of a resource type (re-exported for renderers).
pub fn provider_of(rtype: &str) -> &str {
    provider_name_of(rtype)
}

/// A replacement counts as one add and one destroy, as in Terraform's summary.
fn add_counts(c: &mut (usize, usize, usize), action: Action) {
    match action {
        Action::Create => c.0 += 1,
        Action::Update => c.1 += 1,
        Action::Replace => {
            c.0 += 1;
            c.2 += 1
        }
        Action::Delete => c.2 += 1,
        Action::NoOp | Action::Read => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(entries: &[(&str, Value)]) -> Value {
        Value::Map(entries.iter().map(|(k, v)| (k.to_string(), v.clone())).collect())
    }

    /// The configuration comes back exactly from the planned object and the differences, and
    /// what they share is not kept twice.
    #[test]
    fn planned_config_is_kept_as_differences_from_the_planned_object() {
        let keepers = map(&[("seed", Value::String("x".into()))]);
        let config = map(&[
            ("byte_length", Value::Number(8.0)),
            ("keepers", keepers.clone()),
            ("hex", Value::Null),
            ("secret", Value::String("s".into()).mark_if(true)),
            ("only_in_config", Value::Bool(true)),
        ]);
        let after = map(&[
            ("byte_length", Value::Number(8.0)),
            ("keepers", keepers),
            ("hex", Value::Unknown),
            ("secret", Value::String("s".into())),
            ("only_planned", Value::Number(1.0)),
        ]);
        let pc = PlannedConfig::new(&config, &after);
        let PlannedConfig::Except(except) = &pc else { panic!("{pc:?}") };
        let mut kept: Vec<&str> = except.iter().map(|(k, _)| k.as_str()).collect();
        kept.sort_unstable();
        assert_eq!(kept, ["hex", "only_in_config", "only_planned", "secret"]);
        assert_eq!(pc.value(Some(&after)), config);
        let not_an_object = Value::String("x".into());
        assert_eq!(PlannedConfig::new(&not_an_object, &after).value(Some(&after)), not_an_object);
        assert_eq!(
            PlannedConfig::new(&config, &Value::Unknown).value(Some(&Value::Unknown)),
            config
        );
    }
}
