//! Ordering without help: implicit `depends_on` edges between `kubernetes_manifest` resources.
//!
//! A custom resource depends on the CustomResourceDefinition that defines its kind, and a
//! namespaced object on the Namespace it names, when both are declared in the same module. The
//! edges are added to the configuration's `depends_on` lists right after loading, so the static
//! graph, the instance DAG, state (`dependencies`) and therefore destroy order (dependents
//! first: custom resources before their CRD, namespaced objects before their namespace) all
//! follow from the one mechanism the engine already has.
//!
//! **Invariants:** only literal manifests are read (`manifest = { kind = "…", … }`, strings
//! without interpolation); anything computed gets no implicit edge (the apply then retries
//! discovery and namespaces for a short while instead). An edge is added only towards a
//! resource that exists in the same module, is never a self-edge, and never duplicates an
//! explicit `depends_on`; no diagnostic can come from an added edge.

use std::collections::BTreeMap;

use hcl::edit::expr::{Expression, ObjectKey};

use crate::config::{Config, Expr, Module};

const RTYPE: &str = "kubernetes_manifest";

/// What a literal manifest says statically.
#[derive(Default, Debug)]
struct Literal {
    group: Option<String>,
    kind: Option<String>,
    name: Option<String>,
    namespace: Option<String>,
    /// For a CRD: the group and kind it defines.
    defines: Option<(String, String)>,
}

fn member<'a>(e: &'a Expression, key: &str) -> Option<&'a Expression> {
    let Expression::Object(obj) = e else {
        return None;
    };
    obj.iter().find_map(|(k, v)| {
        let name = match k {
            ObjectKey::Ident(i) => i.as_str(),
            ObjectKey::Expression(e) => e.as_str()?,
        };
        (name == key).then(|| v.expr())
    })
}

fn string_at(e: &Expression, path: &[&str]) -> Option<String> {
    let mut cur = e;
    for p in path {
        cur = member(cur, p)?;
    }
    cur.as_str().map(str::to_string)
}

fn literal(manifest: &Expression) -> Literal {
    let api_version = string_at(manifest, &["apiVersion"]);
    let kind = string_at(manifest, &["kind"]);
    let group = api_version.map(|a| {
        a.rsplit_once('/')
            .map(|(g, _)| g.to_string())
            .unwrap_or_default()
    });
    let defines = if kind.as_deref() == Some("CustomResourceDefinition") {
        string_at(manifest, &["spec", "group"]).zip(string_at(manifest, &["spec", "names", "kind"]))
    } else {
        None
    };
    Literal {
        group,
        kind,
        name: string_at(manifest, &["metadata", "name"]),
        namespace: string_at(manifest, &["metadata", "namespace"]),
        defines,
    }
}

/// Adds the implicit edges to every module of `config`.
pub fn add_implicit_dependencies(config: &mut Config) {
    for module in &mut config.modules {
        add_to_module(module);
    }
}

fn add_to_module(module: &mut Module) {
    let mut literals: BTreeMap<String, Literal> = BTreeMap::new();
    for (local, r) in &module.resources {
        if r.rtype == RTYPE
            && let Some(a) = r.body.attrs.get("manifest")
        {
            literals.insert(local.clone(), literal(&a.expr.expr));
        }
    }
    // (group, kind) → the CRD resource defining it; namespace name → its Namespace resource.
    let mut crds: BTreeMap<(String, String), String> = BTreeMap::new();
    let mut namespaces: BTreeMap<String, String> = BTreeMap::new();
    for (local, l) in &literals {
        if let Some(d) = &l.defines {
            crds.insert(d.clone(), local.clone());
        }
        if l.kind.as_deref() == Some("Namespace")
            && let Some(n) = &l.name
        {
            namespaces.insert(n.clone(), local.clone());
        }
    }
    for (local, l) in &literals {
        let mut targets = Vec::new();
        if let (Some(g), Some(k)) = (&l.group, &l.kind)
            && let Some(crd) = crds.get(&(g.clone(), k.clone()))
        {
            targets.push(crd.clone());
        }
        if l.kind.as_deref() != Some("Namespace")
            && let Some(ns) = l.namespace.as_ref().and_then(|n| namespaces.get(n))
        {
            targets.push(ns.clone());
        }
        let Some(r) = module.resources.get_mut(local) else {
            continue;
        };
        let Some(file) = r.body.attrs.get("manifest").map(|a| a.expr.file) else {
            continue;
        };
        for t in targets {
            if &t == local || r.depends_on.iter().any(|d| expr_text(&d.expr) == t) {
                continue;
            }
            // A plain traversal parses; should it ever not, the edge is skipped, not reported.
            if let Ok(expr) = t.parse::<Expression>() {
                r.depends_on.push(Expr { file, expr });
            }
        }
    }
}

fn expr_text(e: &Expression) -> String {
    e.to_string().trim().to_string()
}
