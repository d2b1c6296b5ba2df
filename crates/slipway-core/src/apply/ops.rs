//! The operation DAG: each planned change as one or two operations (a replacement is a delete
//! and a create, ordered by `create_before_destroy`), edges from an operation to those that
//! wait for it, barriers standing for whole resources; and how finishing or failing an
//! operation releases or skips what waits for it.
//!
//! The ordering rules are Terraform's (its docs/destroying.md), with one strengthening: a pure
//! delete is ordered like a `create_before_destroy` one, after the creates and updates of its
//! dependents (they stop referring to it first: a member list rewritten before the member's
//! instance goes, a target deregistered before its instance). As in Terraform, that lateness
//! must propagate to the delete's dependencies: a replacement that such a delete depends on,
//! destroyed first, would have to go both before the delete (dependents go first) and after it
//! (its new object feeds the dependents' updates, which precede the delete).
//! [`order_replacements`] makes exactly the replacements caught so `create_before_destroy`, at
//! plan time. **Invariant:** a plan that went through it builds an acyclic DAG, or the plan
//! failed naming the cycle.

use std::collections::{HashMap, HashSet, VecDeque};

use petgraph::graph::{DiGraph, NodeIndex};

use super::{ApplyReport, OpKind};
use crate::addr::{InstanceKey, ResourceAddr, ResourceInstanceAddr};
use crate::plan::{Action, ResourceChange};
use crate::state::State;

pub(super) struct Op {
    pub(super) change: usize,
    pub(super) kind: OpKind,
    /// For replacements: this delete is of the object being replaced.
    pub(super) replacing: bool,
    /// A barrier, not an operation: it stands for every operation of one resource and is done,
    /// without doing anything, when they are (`change` is meaningless). Dependents of a whole
    /// resource wait for it: n + m edges instead of n·m.
    pub(super) barrier: bool,
}

impl Op {
    pub(super) fn new(change: usize, kind: OpKind) -> Op {
        Op { change, kind, replacing: false, barrier: false }
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

/// The operations of changes by address: a create (or an update, or a data read) and a delete.
type OpsOf<'c> = HashMap<&'c ResourceInstanceAddr, NodeIndex>;

/// Builds the operation DAG. Edges point from an operation to those that must wait for it.
pub(super) fn build_ops(changes: &[ResourceChange], state: &State) -> DiGraph<Op, ()> {
    let mut g: DiGraph<Op, ()> = DiGraph::new();
    let mut edges = EdgeSet::default();
    let (create_of, delete_of) = add_operations(changes, &mut g, &mut edges);
    order_after_dependencies(changes, &create_of, &mut g, &mut edges);
    order_deletes(changes, state, &create_of, &delete_of, &mut g, &mut edges);
    g
}

/// One operation per change (two for a replacement, ordered by `create_before_destroy`).
fn add_operations<'c>(
    changes: &'c [ResourceChange],
    g: &mut DiGraph<Op, ()>,
    edges: &mut EdgeSet,
) -> (OpsOf<'c>, OpsOf<'c>) {
    let mut create_of: OpsOf = HashMap::new();
    let mut delete_of: OpsOf = HashMap::new();
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
                let de = g.add_node(Op { replacing: true, ..Op::new(i, OpKind::Delete) });
                if c.create_before_destroy {
                    edges.add(g, cr, de);
                } else {
                    edges.add(g, de, cr);
                }
                create_of.insert(&c.addr, cr);
                delete_of.insert(&c.addr, de);
            }
        }
    }
    (create_of, delete_of)
}

/// Creates and updates wait for what they depend on to exist.
fn order_after_dependencies(
    changes: &[ResourceChange],
    create_of: &OpsOf,
    g: &mut DiGraph<Op, ()>,
    edges: &mut EdgeSet,
) {
    // A dependency without a key on a resource expanded by count/for_each names every instance
    // of it (the plan records a whole-resource dependency that way): one barrier per resource.
    let mut creates_of_resource: HashMap<&ResourceAddr, Vec<NodeIndex>> = HashMap::new();
    for (addr, &n) in create_of {
        if addr.key != InstanceKey::None {
            creates_of_resource.entry(&addr.resource).or_default().push(n);
        }
    }
    let mut barrier_of: HashMap<&ResourceAddr, NodeIndex> = HashMap::new();
    for c in changes {
        // Creates and updates wait for what they depend on to exist.
        if let Some(&me) = create_of.get(&c.addr) {
            for d in &c.depends_on {
                if let Some(&dep) = create_of.get(d) {
                    edges.add(g, dep, me);
                } else if d.key == InstanceKey::None
                    && let Some(members) = creates_of_resource.get(&d.resource)
                {
                    let b = *barrier_of.entry(&d.resource).or_insert_with(|| {
                        let b =
                            g.add_node(Op { barrier: true, ..Op::new(usize::MAX, OpKind::Create) });
                        for &m in members {
                            edges.add(g, m, b);
                        }
                        b
                    });
                    edges.add(g, b, me);
                }
            }
        }
    }
}

/// Deletes wait for their dependents' deletes, and a pure delete (or a create-before-destroy
/// one) for its dependents' creates and updates too.
fn order_deletes<'a>(
    changes: &'a [ResourceChange],
    state: &'a State,
    create_of: &OpsOf<'a>,
    delete_of: &OpsOf<'a>,
    g: &mut DiGraph<Op, ()>,
    edges: &mut EdgeSet,
) {
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
        g.add_node(Op { barrier: true, ..Op::new(usize::MAX, OpKind::Delete) })
    };
    let mut deletes_barrier: HashMap<&ResourceAddr, NodeIndex> = HashMap::new();
    let mut updates_barrier: HashMap<&ResourceAddr, NodeIndex> = HashMap::new();
    for (x, &x_delete) in delete_of {
        let cbd = changes[g[x_delete].change].create_before_destroy && g[x_delete].replacing;
        let pure_delete = !g[x_delete].replacing;
        for y in dependents.get(x).map(Vec::as_slice).unwrap_or(&[]) {
            if y == x {
                continue;
            }
            if let Some(&y_delete) = delete_of.get(y) {
                edges.add(g, y_delete, x_delete);
            }
            // A dependent that is updated or created may stop referring to X: it must be done
            // before X goes away (not possible for a destroy-before-create replacement, where
            // the dependent waits for X's new object instead).
            if (pure_delete || cbd)
                && let Some(&y_op) = create_of.get(y)
                && !(cbd && g[y_op].change == g[x_delete].change)
            {
                edges.add(g, y_op, x_delete);
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
            let b = barrier(g);
            for y in others() {
                if let Some(&y_delete) = delete_of.get(y) {
                    edges.add(g, y_delete, b);
                }
            }
            b
        });
        edges.add(g, d, x_delete);
        if pure_delete || cbd {
            let u = *updates_barrier.entry(&x.resource).or_insert_with(|| {
                let b = barrier(g);
                for y in others() {
                    if let Some(&y_op) = create_of.get(y) {
                        edges.add(g, y_op, b);
                    }
                }
                b
            });
            edges.add(g, u, x_delete);
        }
    }
}

/// One dependency of each of `node`'s dependents is done; those with none left become ready.
pub(super) fn release_dependents(
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

pub(super) fn skip_dependents(
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
            report.skipped.push((changes[g[n].change].addr.clone(), why.to_string()));
        }
    }
}

/// What [`order_replacements`] says to the plan.
#[derive(Debug, PartialEq)]
pub enum Ordering {
    /// The changes (indexes into the plan's) made `create_before_destroy` so that the DAG has
    /// no cycle; empty when none had to be.
    Ordered(Vec<usize>),
    /// A cycle no replacement's order can break, each step named (the first waits for the
    /// second, and so on, the last for the first).
    Cycle(Vec<String>),
}

/// The reason a replacement made `create_before_destroy` shows in the plan.
pub const FORCED_CBD: &str = "created before the old object is destroyed: removals and updates \
     that depend on it must come first, and some of them need the new object";

/// Makes `create_before_destroy` every destroy-first replacement whose two operations lie on
/// a cycle of the operation DAG, until the DAG has none (Terraform's propagation of
/// `create_before_destroy` to dependencies, limited to the replacements that need it: the
/// others keep destroy-first, which names unique in the cloud require). Each round flips at
/// least one replacement, so it ends; the usual plan, with no cycle, builds the DAG once, and a
/// plan without a destroy-first replacement not at all (there is nothing to flip).
pub fn order_replacements(changes: &mut [ResourceChange], state: &State) -> Ordering {
    let mut forced = Vec::new();
    if !changes.iter().any(|c| c.action == Action::Replace && !c.create_before_destroy) {
        return Ordering::Ordered(forced);
    }
    loop {
        let g = build_ops(changes, state);
        let mut cyclic = false;
        let mut flip = std::collections::BTreeSet::new();
        for scc in petgraph::algo::tarjan_scc(&g) {
            if scc.len() < 2 && !g.contains_edge(scc[0], scc[0]) {
                continue;
            }
            cyclic = true;
            // A destroy-first replacement whose create reaches its delete: the delete → create
            // edge closes a cycle, and turning it around removes that edge.
            let mut kinds: HashMap<usize, (bool, bool)> = HashMap::new();
            for &n in &scc {
                let op = &g[n];
                if op.barrier || changes[op.change].action != Action::Replace {
                    continue;
                }
                let k = kinds.entry(op.change).or_default();
                match op.kind {
                    OpKind::Delete => k.0 = true,
                    _ => k.1 = true,
                }
            }
            flip.extend(
                kinds
                    .into_iter()
                    .filter(|&(i, (d, c))| d && c && !changes[i].create_before_destroy)
                    .map(|(i, _)| i),
            );
        }
        if !cyclic {
            return Ordering::Ordered(forced);
        }
        if flip.is_empty() {
            let cycle = find_cycle(&g, changes).unwrap_or_default();
            return Ordering::Cycle(cycle);
        }
        for i in flip {
            let c = &mut changes[i];
            c.create_before_destroy = true;
            c.reason = Some(match c.reason.take() {
                Some(r) => format!("{r}; {FORCED_CBD}"),
                None => FORCED_CBD.to_string(),
            });
            forced.push(i);
        }
    }
}

/// One cycle of the operation DAG, each step named ("delete X", "create Y", a barrier), or
/// `None` when it has none: a cycle left is a planner bug or changes that cannot be ordered,
/// and naming it tells which.
pub(super) fn find_cycle(g: &DiGraph<Op, ()>, changes: &[ResourceChange]) -> Option<Vec<String>> {
    let scc = petgraph::algo::tarjan_scc(g)
        .into_iter()
        .find(|c| c.len() > 1 || g.contains_edge(c[0], c[0]))?;
    let members: HashSet<NodeIndex> = scc.iter().copied().collect();
    // Walk inside the component from its first node until a node repeats: that tail is a cycle.
    let mut path = vec![scc[0]];
    let mut seen: HashMap<NodeIndex, usize> = HashMap::from([(scc[0], 0)]);
    loop {
        let here = *path.last().expect("the path starts with one node");
        let next = g
            .neighbors_directed(here, petgraph::Outgoing)
            .find(|n| members.contains(n))
            .expect("a node of a strongly connected component has a successor in it");
        if let Some(&at) = seen.get(&next) {
            return Some(path[at..].iter().map(|&n| op_name(g, changes, n)).collect());
        }
        seen.insert(next, path.len());
        path.push(next);
    }
}

fn op_name(g: &DiGraph<Op, ()>, changes: &[ResourceChange], n: NodeIndex) -> String {
    let op = &g[n];
    if op.barrier {
        let what = if op.kind == OpKind::Delete {
            "a resource's dependents"
        } else {
            "every instance of a resource"
        };
        return format!("(waiting for {what})");
    }
    let verb = match op.kind {
        OpKind::Create => "create",
        OpKind::Update => "update",
        OpKind::Delete => "delete",
        OpKind::Read => "read",
    };
    format!("{verb} {}", changes[op.change].addr)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::ResourceState;
    use crate::value::Value;

    fn addr(s: &str) -> ResourceInstanceAddr {
        ResourceInstanceAddr::parse(s).unwrap()
    }

    fn change(a: &str, action: Action, depends_on: &[&str]) -> ResourceChange {
        ResourceChange {
            addr: addr(a),
            action,
            provider: "test".into(),
            rtype: addr(a).resource.rtype.clone(),
            before: None,
            after: None,
            replace_because: Vec::new(),
            reason: None,
            create_before_destroy: false,
            prevent_destroy: false,
            depends_on: depends_on.iter().map(|d| addr(d)).collect(),
            moved_from: None,
            config: None,
        }
    }

    /// State where each (address, dependencies) was applied before.
    fn state(entries: &[(&str, &[&str])]) -> State {
        let mut s = State::new("test-1");
        for (a, deps) in entries {
            let mut r = ResourceState::from_value("test", addr(a).resource.rtype, &Value::Null);
            r.dependencies = deps.iter().map(|d| addr(d)).collect();
            s.resources.insert(addr(a), r);
        }
        s
    }

    /// The operations in an order the DAG allows, each as "verb address" (barriers left out).
    fn order(changes: &[ResourceChange], state: &State) -> Vec<String> {
        let g = build_ops(changes, state);
        let sorted = petgraph::algo::toposort(&g, None).expect("no cycle");
        sorted.into_iter().filter(|&n| !g[n].barrier).map(|n| op_name(&g, changes, n)).collect()
    }

    fn before(order: &[String], a: &str, b: &str) -> bool {
        let at = |s: &str| {
            order.iter().position(|o| o == s).unwrap_or_else(|| panic!("no {s} in {order:?}"))
        };
        at(a) < at(b)
    }

    /// The shape of dev's `control_plane_count` 3 → 1 in its minimal form: `node[1]` leaves the
    /// configuration (a pure delete) and depended on `cert` (its bundle carried it); `cert` is
    /// replaced (its SANs named every node); `list` is updated, depends on every node (it
    /// declared `node[1]`, and stops) and on the new `cert`. Destroy-first, `cert` would have to
    /// go after `node[1]` (dependents first) and before it (its new object feeds `list`,
    /// which precedes `node[1]`'s destruction).
    fn count_shrink() -> (Vec<ResourceChange>, State) {
        let changes = vec![
            change("t.cert", Action::Replace, &[]),
            change("t.list", Action::Update, &["t.cert", "t.node"]),
            change("t.node[0]", Action::NoOp, &["t.cert"]),
            change("t.node[1]", Action::Delete, &["t.cert"]),
        ];
        let state = state(&[
            ("t.cert", &[]),
            ("t.list", &["t.cert", "t.node"]),
            ("t.node[0]", &["t.cert"]),
            ("t.node[1]", &["t.cert"]),
        ]);
        (changes, state)
    }

    #[test]
    fn a_replacement_caught_between_a_removal_and_its_dependents_update_is_created_first() {
        let (mut changes, state) = count_shrink();
        // As it was: the DAG has a cycle, and it is named.
        let g = build_ops(&changes, &state);
        let cycle = find_cycle(&g, &changes).expect("destroy-first cycles");
        for step in ["delete t.cert", "create t.cert", "update t.list", "delete t.node[1]"] {
            assert!(cycle.contains(&step.to_string()), "{step} in {cycle:?}");
        }
        assert_eq!(order_replacements(&mut changes, &state), Ordering::Ordered(vec![0]));
        assert!(changes[0].create_before_destroy);
        assert_eq!(changes[0].reason.as_deref(), Some(FORCED_CBD));
        // Terraform's create-before-destroy order, and the update before the removal.
        let o = order(&changes, &state);
        assert!(before(&o, "create t.cert", "update t.list"), "{o:?}");
        assert!(before(&o, "update t.list", "delete t.node[1]"), "{o:?}");
        assert!(before(&o, "delete t.node[1]", "delete t.cert"), "{o:?}");
        // Ordered once, a plan stays as it is.
        assert_eq!(order_replacements(&mut changes, &state), Ordering::Ordered(vec![]));
    }

    #[test]
    fn create_before_destroy_propagates_to_the_replaced_dependencies_of_what_it_forces() {
        // cert depends on its request, both replaced: cert alone created first would put the
        // request's destroy-first delete after cert's (dependents first) and its create
        // before cert's create: a second cycle, broken by the next round.
        let (mut changes, mut state) = count_shrink();
        changes[0].depends_on = vec![addr("t.req")];
        changes.push(change("t.req", Action::Replace, &[]));
        state.resources.get_mut(&addr("t.cert")).unwrap().dependencies = vec![addr("t.req")];
        state.resources.insert(addr("t.req"), ResourceState::from_value("test", "t", &Value::Null));
        let Ordering::Ordered(mut forced) = order_replacements(&mut changes, &state) else {
            panic!("orderable");
        };
        forced.sort();
        assert_eq!(forced, vec![0, 4]);
        let o = order(&changes, &state);
        assert!(before(&o, "create t.req", "create t.cert"), "{o:?}");
        assert!(before(&o, "update t.list", "delete t.node[1]"), "{o:?}");
        assert!(before(&o, "delete t.cert", "delete t.req"), "{o:?}");
    }

    #[test]
    fn a_replacement_with_no_dependent_update_in_the_way_stays_destroy_first() {
        // Without `list`, nothing needs the new cert before node[1] goes: destroy-first holds
        // (names unique in the cloud need it), node[1] before the old cert.
        let (mut changes, state) = count_shrink();
        changes.remove(1);
        assert_eq!(order_replacements(&mut changes, &state), Ordering::Ordered(vec![]));
        assert!(!changes[0].create_before_destroy);
        let o = order(&changes, &state);
        assert!(before(&o, "delete t.node[1]", "delete t.cert"), "{o:?}");
        assert!(before(&o, "delete t.cert", "create t.cert"), "{o:?}");
    }

    #[test]
    fn a_whole_resource_dependency_orders_the_update_before_every_removed_instance() {
        // `list` depends on `t.node` as a whole (recorded without a key): node[1] and node[2]
        // leave, and both wait for the update, though neither is named.
        let changes = vec![
            change("t.list", Action::Update, &["t.node"]),
            change("t.node[0]", Action::NoOp, &[]),
            change("t.node[1]", Action::Delete, &[]),
            change("t.node[2]", Action::Delete, &[]),
        ];
        let state =
            state(&[("t.list", &[]), ("t.node[0]", &[]), ("t.node[1]", &[]), ("t.node[2]", &[])]);
        let o = order(&changes, &state);
        assert!(before(&o, "update t.list", "delete t.node[1]"), "{o:?}");
        assert!(before(&o, "update t.list", "delete t.node[2]"), "{o:?}");
    }

    #[test]
    fn a_cycle_no_replacement_can_break_is_named() {
        // Two creates that each wait for the other (only a corrupt plan has this): nothing to
        // turn around, so the plan fails with the steps.
        let mut changes = vec![
            change("t.a", Action::Create, &["t.b"]),
            change("t.b", Action::Create, &["t.a"]),
            change("t.c", Action::Replace, &[]),
        ];
        let Ordering::Cycle(steps) = order_replacements(&mut changes, &State::new("test-1")) else {
            panic!("a cycle");
        };
        let mut steps = steps;
        steps.sort();
        assert_eq!(steps, vec!["create t.a", "create t.b"]);
        assert!(!changes[2].create_before_destroy);
    }
}
