//! What a walk produced ([`WalkOutput`]) and the instance DAG built from it: direct
//! dependencies with whole-resource barriers, and node addresses.

use super::*;

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
                        self.resources[r as usize].iter().map(|&i| DepTarget::Instance(i as usize)),
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
        DirectDeps { per_instance, barriers }
    }

    /// Each instance's direct dependencies as a plan and state record them: an instance named
    /// by key as itself, a whole resource always by its address without a key (never
    /// expanded, as [`WalkOutput::direct_deps`] may do for the DAG). The difference matters
    /// for what leaves the configuration: a dependent of the whole resource refers to every
    /// instance, those a count or for_each just dropped included, and apply orders its update
    /// before their destruction (it stops referring to them); expanded, the record would name
    /// only the instances that stay. Sorted, without duplicates, never the instance itself nor
    /// its own resource (that only arises on a reported cycle).
    pub fn recorded_deps(&self) -> Vec<Vec<ResourceInstanceAddr>> {
        self.instances
            .values()
            .map(|inst| {
                let mut out: Vec<ResourceInstanceAddr> = inst
                    .depends_on
                    .iter()
                    .map(|d| match *d {
                        DepRef::Instance(i) => self.target_addr(DepTarget::Instance(i as usize)),
                        DepRef::Resource(r) => self.target_addr(DepTarget::Barrier(r as usize)),
                    })
                    .filter(|a| {
                        *a != inst.addr
                            && !(a.key == InstanceKey::None && a.resource == inst.addr.resource)
                    })
                    .collect();
                out.sort();
                out.dedup();
                out
            })
            .collect()
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
            DepTarget::Barrier(r) => {
                self.resources.get_index(r).expect("resource index").0.instance(InstanceKey::None)
            }
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
