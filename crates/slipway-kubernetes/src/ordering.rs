//! Ordering without help: the dependencies between Kubernetes objects that no reference in the
//! configuration states.
//!
//! A custom resource depends on the CustomResourceDefinition that defines its kind, and a
//! namespaced object on the Namespace it names, when both are planned in the same run. The
//! plan adds these edges to its changes' dependencies (`Provider::implicit_dependencies`), so
//! apply orders creates by them, state records them (`dependencies`), and destroy — which
//! follows state — removes custom resources before their CRD and namespaced objects before
//! their namespace.
//!
//! **Invariants:** the edges come from planned values, so literal manifests and computed ones
//! (`for_each` over `kubernetes_yaml_documents`, templates) are treated alike; a manifest still
//! unknown at plan time gets no edge (apply then retries discovery and namespaces for a short
//! while). Never a self-edge; pure: no I/O, no diagnostics.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use crate::value::Value;

/// What ordering needs of one manifest.
#[derive(Default, Debug)]
struct Facts {
    group: String,
    kind: String,
    name: Option<String>,
    namespace: Option<String>,
    /// For a CRD: the group and kind it defines.
    defines: Option<(String, String)>,
}

fn facts(manifest: &Json) -> Option<Facts> {
    let s = |p: &str| manifest.pointer(p).and_then(Json::as_str).map(str::to_string);
    let api_version = s("/apiVersion")?;
    let kind = s("/kind")?;
    let group = api_version.rsplit_once('/').map(|(g, _)| g.to_string()).unwrap_or_default();
    let defines = if kind == "CustomResourceDefinition" {
        s("/spec/group").zip(s("/spec/names/kind"))
    } else {
        None
    };
    Some(Facts {
        group,
        kind,
        name: s("/metadata/name"),
        namespace: s("/metadata/namespace"),
        defines,
    })
}

/// `(dependent, dependency)` index pairs among `objects` (resource type, planned value).
pub fn implicit_dependencies(objects: &[(&str, &Value)]) -> Vec<(usize, usize)> {
    let all: Vec<Option<Facts>> = objects
        .iter()
        .map(|(rtype, v)| {
            if *rtype != super::MANIFEST {
                return None;
            }
            let m = v.get_attr("manifest")?;
            if m.contains_unknown() {
                return None;
            }
            facts(&m.unmark_deep().0.to_json())
        })
        .collect();
    // (group, kind) → the CRD defining it; namespace name → its Namespace.
    let mut crds: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    let mut namespaces: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, f) in all.iter().enumerate() {
        let Some(f) = f else { continue };
        if let Some((g, k)) = &f.defines {
            crds.insert((g, k), i);
        }
        if f.kind == "Namespace"
            && f.group.is_empty()
            && let Some(n) = &f.name
        {
            namespaces.insert(n, i);
        }
    }
    let mut out = Vec::new();
    for (i, f) in all.iter().enumerate() {
        let Some(f) = f else { continue };
        if let Some(&crd) = crds.get(&(f.group.as_str(), f.kind.as_str())) {
            out.push((i, crd));
        }
        if f.kind != "Namespace"
            && let Some(&ns) = f.namespace.as_deref().and_then(|n| namespaces.get(n))
        {
            out.push((i, ns));
        }
    }
    out.retain(|(a, b)| a != b);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(json: &str) -> Value {
        let mut m = std::collections::BTreeMap::new();
        m.insert("manifest".to_string(), Value::from_json(&serde_json::from_str(json).unwrap()));
        Value::Map(m)
    }

    #[test]
    fn custom_resources_follow_their_crd_and_namespaced_objects_their_namespace() {
        let crd = manifest(
            r#"{"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition",
                "metadata":{"name":"widgets.example.com"},
                "spec":{"group":"example.com","names":{"kind":"Widget","plural":"widgets"}}}"#,
        );
        let ns = manifest(r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"demo"}}"#);
        let widget = manifest(
            r#"{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w","namespace":"demo"}}"#,
        );
        let other = manifest(
            r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","namespace":"elsewhere"}}"#,
        );
        let objects = [
            ("kubernetes_manifest", &widget),
            ("kubernetes_manifest", &crd),
            ("kubernetes_manifest", &ns),
            ("kubernetes_manifest", &other),
            ("kubernetes_yaml_documents", &ns),
        ];
        let mut got = implicit_dependencies(&objects);
        got.sort();
        assert_eq!(got, vec![(0, 1), (0, 2)]);
    }

    #[test]
    fn unknown_or_malformed_manifests_get_no_edge() {
        let mut m = std::collections::BTreeMap::new();
        m.insert("manifest".to_string(), Value::Unknown);
        let unknown = Value::Map(m);
        let no_kind = manifest(r#"{"apiVersion":"v1","metadata":{"name":"x"}}"#);
        let ns = manifest(r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"x"}}"#);
        let objects = [
            ("kubernetes_manifest", &unknown),
            ("kubernetes_manifest", &no_kind),
            ("kubernetes_manifest", &ns),
        ];
        assert!(implicit_dependencies(&objects).is_empty());
    }
}
