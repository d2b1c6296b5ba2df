//! The dependency graph, in two layers.
//!
//! 1. [`StaticGraph`]: one node per *declared* object (variable, local, output, module call,
//!    resource) per static module, with an edge for every reference, module boundary and
//!    `depends_on`. Undeclared references and cycles are found here, before anything is
//!    evaluated; a cycle is reported with each step's source location.
//! 2. [`walk::Walk`]: evaluates those nodes in topological order for every module *instance*,
//!    expands `count`/`for_each`, and produces one [`walk::PlannedInstance`] per resource
//!    *instance* with its exact dependencies: the petgraph DAG that plan and apply work on.
//!
//! **Architecture invariant:** the graph does no I/O. What a resource instance's value is comes
//! from an [`walk::InstanceHandler`] (validate fills computed attributes with unknowns; plan asks
//! state and providers), so the same walk serves validate, graph, plan and apply.

pub mod body;
pub mod walk;

use std::collections::HashMap;

use petgraph::graph::{DiGraph, NodeIndex};

use crate::addr::ResourceMode;
use crate::config::{Body, Config, Expr, ModuleId, Repetition};
use crate::diag::{Diagnostic, Diagnostics, Span, closest};
use crate::eval::expr::RefRoot;
use crate::eval::refs::{self, Reference};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NodeKind {
    Var,
    Local,
    Output,
    Call,
    Resource,
}

/// A declared object in a static module.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct StaticNode {
    pub module: ModuleId,
    pub kind: NodeKind,
    /// Variable/local/output/call name, or a resource's `type.name` / `data.type.name`.
    pub name: String,
    pub span: Span,
}

impl StaticNode {
    /// How users write it: `module.etcd.var.size`, `local.x`, `aws_instance.web`.
    pub fn describe(&self, config: &Config) -> String {
        let mut s = String::new();
        for p in &config.modules[self.module].path {
            s.push_str(&format!("module.{p}."));
        }
        match self.kind {
            NodeKind::Var => s.push_str(&format!("var.{}", self.name)),
            NodeKind::Local => s.push_str(&format!("local.{}", self.name)),
            NodeKind::Output => s.push_str(&format!("output.{}", self.name)),
            NodeKind::Call => s.push_str(&format!("module.{}", self.name)),
            NodeKind::Resource => s.push_str(&self.name),
        }
        s
    }
}

/// Declared objects and their references. Edges point from a dependency to its dependent and
/// carry the span of the reference that created them.
pub struct StaticGraph {
    pub graph: DiGraph<StaticNode, Span>,
    pub index: HashMap<(ModuleId, NodeKind, String), NodeIndex>,
}

/// Where an expression is evaluated, which decides what `count`/`each` mean.
#[derive(Clone, Copy, PartialEq)]
enum Repeat {
    None,
    Count,
    ForEach,
}

impl From<&Repetition> for Repeat {
    fn from(r: &Repetition) -> Repeat {
        match r {
            Repetition::Single => Repeat::None,
            Repetition::Count(_) => Repeat::Count,
            Repetition::ForEach(_) => Repeat::ForEach,
        }
    }
}

/// Steps of a dependency cycle named in its diagnostic (and labelled); the rest are counted.
const MAX_CYCLE_STEPS_SHOWN: usize = 20;

impl StaticGraph {
    pub fn node(&self, module: ModuleId, kind: NodeKind, name: &str) -> Option<NodeIndex> {
        self.index.get(&(module, kind, name.to_string())).copied()
    }

    /// Builds the graph; references that name nothing are reported, as are cycles.
    pub fn build(config: &Config, diags: &mut Diagnostics) -> StaticGraph {
        let mut g = StaticGraph { graph: DiGraph::new(), index: HashMap::new() };
        for (mid, m) in config.modules.iter().enumerate() {
            for v in m.variables.values() {
                g.add(mid, NodeKind::Var, &v.name, v.span.clone());
            }
            for l in m.locals.values() {
                g.add(mid, NodeKind::Local, &l.name, l.span.clone());
            }
            for o in m.outputs.values() {
                g.add(mid, NodeKind::Output, &o.name, o.span.clone());
            }
            for c in m.module_calls.values() {
                g.add(mid, NodeKind::Call, &c.name, c.span.clone());
            }
            for (key, r) in &m.resources {
                g.add(mid, NodeKind::Resource, key, r.span.clone());
            }
        }
        for (mid, m) in config.modules.iter().enumerate() {
            for l in m.locals.values() {
                let to = g.index[&(mid, NodeKind::Local, l.name.clone())];
                g.link_expr(config, mid, &l.expr, &[], Repeat::None, to, diags);
            }
            for o in m.outputs.values() {
                let to = g.index[&(mid, NodeKind::Output, o.name.clone())];
                g.link_expr(config, mid, &o.expr, &[], Repeat::None, to, diags);
                for d in &o.depends_on {
                    g.link_expr(config, mid, d, &[], Repeat::None, to, diags);
                }
            }
            for c in m.module_calls.values() {
                let to = g.index[&(mid, NodeKind::Call, c.name.clone())];
                let repeat = Repeat::from(&c.repetition);
                if let Repetition::Count(e) | Repetition::ForEach(e) = &c.repetition {
                    g.link_expr(config, mid, e, &[], Repeat::None, to, diags);
                }
                for d in &c.depends_on {
                    g.link_expr(config, mid, d, &[], Repeat::None, to, diags);
                    g.link_whole_modules(config, mid, d, to);
                }
                let Some(child) = c.child else { continue };
                // Every node of the child needs the call's instances; its variables need the
                // argument expressions, evaluated in the caller.
                let child_nodes: Vec<NodeIndex> =
                    g.graph.node_indices().filter(|&n| g.graph[n].module == child).collect();
                for n in child_nodes {
                    let span = g.graph[n].span.clone();
                    g.graph.update_edge(to, n, span);
                }
                for (name, attr) in &c.args {
                    if let Some(var) = g.node(child, NodeKind::Var, name) {
                        g.link_expr(config, mid, &attr.expr, &[], repeat, var, diags);
                    }
                }
            }
            for (key, r) in &m.resources {
                let to = g.index[&(mid, NodeKind::Resource, key.clone())];
                let repeat = Repeat::from(&r.repetition);
                if let Repetition::Count(e) | Repetition::ForEach(e) = &r.repetition {
                    g.link_expr(config, mid, e, &[], Repeat::None, to, diags);
                }
                g.link_body(config, mid, &r.body, &mut Vec::new(), repeat, to, diags);
                for d in &r.depends_on {
                    g.link_expr(config, mid, d, &[], Repeat::None, to, diags);
                    g.link_whole_modules(config, mid, d, to);
                }
            }
        }
        g.report_cycles(config, diags);
        g
    }

    fn add(&mut self, module: ModuleId, kind: NodeKind, name: &str, span: Span) {
        let ix = self.graph.add_node(StaticNode { module, kind, name: name.to_string(), span });
        self.index.insert((module, kind, name.to_string()), ix);
    }

    #[allow(clippy::too_many_arguments)]
    fn link_body(
        &mut self,
        config: &Config,
        module: ModuleId,
        body: &Body,
        bound: &mut Vec<String>,
        repeat: Repeat,
        to: NodeIndex,
        diags: &mut Diagnostics,
    ) {
        for attr in body.attrs.values() {
            self.link_expr(config, module, &attr.expr, bound, repeat, to, diags);
        }
        for b in &body.blocks {
            if b.kind == "dynamic" {
                // `dynamic "x" { for_each = …, iterator = it, content { … } }`: the iterator name
                // is bound inside `content`.
                if let Some(fe) = b.body.attrs.get("for_each") {
                    self.link_expr(config, module, &fe.expr, bound, repeat, to, diags);
                }
                let iter = b
                    .body
                    .attrs
                    .get("iterator")
                    .and_then(|a| crate::config::traversal_string(&a.expr.expr))
                    .or_else(|| b.labels.first().cloned())
                    .unwrap_or_default();
                bound.push(iter);
                for inner in &b.body.blocks {
                    self.link_body(config, module, &inner.body, bound, repeat, to, diags);
                }
                bound.pop();
            } else {
                self.link_body(config, module, &b.body, bound, repeat, to, diags);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn link_expr(
        &mut self,
        config: &Config,
        module: ModuleId,
        expr: &Expr,
        bound: &[String],
        repeat: Repeat,
        to: NodeIndex,
        diags: &mut Diagnostics,
    ) {
        let mut found = Vec::new();
        let mut bad = Vec::new();
        refs::collect(&expr.expr, expr.file, bound, &mut found, &mut bad);
        for b in bad {
            // The same text as the evaluator's error for this reference, so that the walk's
            // repeat of it is removed by `Diagnostics::dedup` instead of shown twice.
            diags.push(Diagnostic::error(b.message).at(b.span));
        }
        for r in found {
            match self.resolve(config, module, &r, repeat) {
                Ok(targets) => {
                    for t in targets {
                        self.graph.update_edge(t, to, r.span.clone());
                    }
                }
                Err(d) => diags.push(d),
            }
        }
    }

    /// In `depends_on`, `module.x` stands for every resource of `x` and of the modules it calls
    /// (Terraform's meaning), not only for `x`'s outputs: links each of them to `to`.
    fn link_whole_modules(
        &mut self,
        config: &Config,
        module: ModuleId,
        expr: &Expr,
        to: NodeIndex,
    ) {
        let mut found = Vec::new();
        refs::collect(&expr.expr, expr.file, &[], &mut found, &mut Vec::new());
        for r in found {
            let RefRoot::Module(call) = &r.root else {
                continue;
            };
            let Some(child) = config.child(module, call) else {
                continue;
            };
            let subtree = config.subtree(child);
            let resources: Vec<NodeIndex> = self
                .graph
                .node_indices()
                .filter(|&n| {
                    let node = &self.graph[n];
                    node.kind == NodeKind::Resource && subtree.contains(&node.module)
                })
                .collect();
            for n in resources {
                self.graph.update_edge(n, to, r.span.clone());
            }
        }
    }

    /// The nodes a reference depends on, or why it names nothing.
    fn resolve(
        &self,
        config: &Config,
        module: ModuleId,
        r: &Reference,
        repeat: Repeat,
    ) -> Result<Vec<NodeIndex>, Diagnostic> {
        let m = &config.modules[module];
        let undeclared =
            |what: &str, name: &str, candidates: Vec<String>, prefix: &str, hint: String| {
                let mut d =
                    Diagnostic::error(format!("reference to undeclared {what} `{prefix}{name}`"))
                        .at(r.span.clone());
                d = match closest(name, candidates.iter().map(String::as_str)) {
                    Some(c) => d.hint(format!("did you mean `{prefix}{c}`?")),
                    None => d.hint(hint),
                };
                d
            };
        match &r.root {
            RefRoot::Var(n) => self.node(module, NodeKind::Var, n).map(|x| vec![x]).ok_or_else(|| {
                undeclared("input variable", n, m.variables.keys().cloned().collect(), "var.", format!("declare it with `variable \"{n}\" {{}}`"))
            }),
            RefRoot::Local(n) => self.node(module, NodeKind::Local, n).map(|x| vec![x]).ok_or_else(|| {
                undeclared("local value", n, m.locals.keys().cloned().collect(), "local.", format!("define it in a `locals {{ {n} = … }}` block"))
            }),
            RefRoot::Module(c) => {
                let Some(call) = self.node(module, NodeKind::Call, c) else {
                    return Err(undeclared("module", c, m.module_calls.keys().cloned().collect(), "module.", format!("add a `module \"{c}\" {{ source = … }}` block")));
                };
                let mut out = vec![call];
                if let Some(child) = config.child(module, c) {
                    out.extend(self.graph.node_indices().filter(|&n| {
                        let node = &self.graph[n];
                        node.module == child && node.kind == NodeKind::Output
                    }));
                }
                Ok(out)
            }
            RefRoot::Resource { mode, rtype, name } => {
                let key = match mode {
                    ResourceMode::Managed => format!("{rtype}.{name}"),
                    ResourceMode::Data => format!("data.{rtype}.{name}"),
                };
                self.node(module, NodeKind::Resource, &key).map(|x| vec![x]).ok_or_else(|| {
                    let what = if *mode == ResourceMode::Data { "data source" } else { "resource" };
                    undeclared(what, &key, m.resources.keys().cloned().collect(), "", format!("declare it with a `{}` block, or check the spelling of the type", if *mode == ResourceMode::Data { "data" } else { "resource" }))
                })
            }
            RefRoot::CountIndex if repeat != Repeat::Count => Err(Diagnostic::error("`count.index` used where `count` is not set")
                .at(r.span.clone())
                .hint("count.index is only available in a resource or module block that sets `count`")),
            RefRoot::EachKey | RefRoot::EachValue if repeat != Repeat::ForEach => Err(Diagnostic::error(format!("`{}` used where `for_each` is not set", r.root))
                .at(r.span.clone())
                .hint("each.key and each.value are only available in a block that sets `for_each`")),
            RefRoot::CountIndex | RefRoot::EachKey | RefRoot::EachValue | RefRoot::Path(_) | RefRoot::Slipway(_) => Ok(Vec::new()),
        }
    }

    fn report_cycles(&self, config: &Config, diags: &mut Diagnostics) {
        for scc in petgraph::algo::tarjan_scc(&self.graph) {
            let self_loop = scc.len() == 1 && self.graph.find_edge(scc[0], scc[0]).is_some();
            if scc.len() < 2 && !self_loop {
                continue;
            }
            let cycle = self.cycle_path(&scc);
            let names: Vec<String> =
                cycle.iter().map(|&n| self.graph[n].describe(config)).collect();
            // A long cycle is summarized: a 10,000-step summary and 10,000 labels made the
            // terminal rendering take a minute (labels are laid out pairwise).
            let shown = cycle.len().min(MAX_CYCLE_STEPS_SHOWN);
            let mut ring = names[..shown].to_vec();
            if shown < cycle.len() {
                ring.push(format!("… ({} more)", cycle.len() - shown));
            }
            ring.push(names[0].clone());
            let mut d = Diagnostic::error(format!("dependency cycle: {}", ring.join(" → ")))
                .hint("break the cycle: compute one of these values from inputs known up front (a variable, or cidrhost() for addresses), or remove a depends_on");
            // Each step: the reference in node i that points at node i+1.
            for (i, &n) in cycle.iter().enumerate().take(shown) {
                let next = cycle[(i + 1) % cycle.len()];
                if let Some(e) = self.graph.find_edge(next, n) {
                    let span = self.graph[e].clone();
                    if d.span.is_none() {
                        d.span = Some(span.clone());
                    }
                    d = d.label(
                        span,
                        format!("{} refers to {}", names[i], self.graph[next].describe(config)),
                    );
                }
            }
            diags.push(d);
        }
    }

    /// An ordered simple cycle inside a strongly connected component: node i depends on node i+1.
    fn cycle_path(&self, scc: &[NodeIndex]) -> Vec<NodeIndex> {
        let start = scc[0];
        if scc.len() == 1 {
            return vec![start];
        }
        let in_scc = |n: NodeIndex| scc.contains(&n);
        // Depth-first search along "depends on" (incoming edges) until back at the start.
        let mut path = vec![start];
        let mut visited = std::collections::HashSet::new();
        visited.insert(start);
        let mut stack =
            vec![self.graph.neighbors_directed(start, petgraph::Incoming).collect::<Vec<_>>()];
        while let Some(cands) = stack.last_mut() {
            match cands.pop() {
                Some(n) if n == start && path.len() > 1 => return path,
                Some(n) if in_scc(n) && visited.insert(n) => {
                    path.push(n);
                    stack.push(self.graph.neighbors_directed(n, petgraph::Incoming).collect());
                }
                Some(_) => {}
                None => {
                    stack.pop();
                    path.pop();
                }
            }
        }
        scc.to_vec()
    }
}

/// The shapes of a module's locals (from their expressions) and variables (declared types):
/// what tells a set from a list and a map from an object where values alone cannot — for
/// iterating (`for k, v in` a set binds elements) and for reporting types (`console --json`,
/// `output --json`).
pub struct ModuleShapes<'m>(pub &'m crate::config::Module);

impl crate::eval::types::ShapeScope for ModuleShapes<'_> {
    fn local(&self, name: &str, depth: usize) -> crate::eval::types::Shape {
        match self.0.locals.get(name) {
            Some(l) => crate::eval::types::shape_of(&l.expr.expr, self, depth),
            None => crate::eval::types::Shape::Dyn,
        }
    }

    fn variable(&self, name: &str) -> crate::eval::types::Shape {
        match self.0.variables.get(name) {
            Some(v) => crate::eval::types::Shape::from_type(&v.ty),
            None => crate::eval::types::Shape::Dyn,
        }
    }
}
