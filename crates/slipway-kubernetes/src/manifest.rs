//! Manifests as slipway holds them: identity, the labels slipway adds, the projection of a live
//! object onto the fields a manifest sets, and the sensitive parts of a `Secret`.
//!
//! **Invariants:** nothing here does I/O. The projection only ever keeps fields the manifest
//! itself sets, so fields the API server defaults and fields other controllers own never show
//! up as a difference. A `Secret`'s `data` and `stringData` leave this module marked sensitive,
//! and [`Redactor`] removes their values from any text shown to a user.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{Map, Value as Json};

use crate::provider::ProviderError;
use crate::value::Value;

/// Label every object slipway applies carries.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
pub const MANAGED_BY_VALUE: &str = "slipway";
/// Label naming the stack (the provider context's stack id) that owns an object.
pub const STACK_LABEL: &str = "slipway.dev/stack";

/// Which object a manifest names.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ObjectRef {
    pub api_version: String,
    pub kind: String,
    /// As written in the manifest; a namespaced kind without one goes to `default`.
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectRef {
    /// Reads apiVersion, kind, metadata.name and metadata.namespace; the error says which is
    /// missing or not a string.
    pub fn of(manifest: &Json) -> Result<ObjectRef, ProviderError> {
        let Some(obj) = manifest.as_object() else {
            return Err(ProviderError::fatal(
                "manifest must be an object with apiVersion, kind and metadata",
            ));
        };
        let text = |v: Option<&Json>, what: &str| -> Result<String, ProviderError> {
            match v {
                Some(Json::String(s)) if !s.is_empty() => Ok(s.clone()),
                Some(Json::String(_)) | None | Some(Json::Null) => {
                    Err(ProviderError::fatal(format!("manifest has no {what}")))
                }
                Some(_) => Err(ProviderError::fatal(format!("manifest {what} must be a string"))),
            }
        };
        let api_version = text(obj.get("apiVersion"), "apiVersion")?;
        let kind = text(obj.get("kind"), "kind")?;
        let meta = obj.get("metadata");
        if !matches!(meta, Some(Json::Object(_))) {
            return Err(ProviderError::fatal(
                "manifest has no metadata (an object with at least a name)",
            ));
        }
        let name = text(meta.and_then(|m| m.get("name")), "metadata.name")?;
        let namespace = match meta.and_then(|m| m.get("namespace")) {
            None | Some(Json::Null) => None,
            v => Some(text(v, "metadata.namespace")?),
        };
        Ok(ObjectRef { api_version, kind, namespace, name })
    }

    /// The group of the apiVersion (empty for the core group).
    pub fn group(&self) -> &str {
        self.api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("")
    }

    /// `Deployment default/web`, `Namespace demo`: how messages name the object.
    pub fn display(&self, namespace: Option<&str>) -> String {
        match namespace.or(self.namespace.as_deref()) {
            Some(ns) => format!("{} {ns}/{}", self.kind, self.name),
            None => format!("{} {}", self.kind, self.name),
        }
    }

    /// The id kept in state, in the format Terraform's kubernetes_manifest imports.
    pub fn id(&self, namespace: Option<&str>) -> String {
        match namespace {
            Some(ns) => format!(
                "apiVersion={},kind={},namespace={ns},name={}",
                self.api_version, self.kind, self.name
            ),
            None => {
                format!("apiVersion={},kind={},name={}", self.api_version, self.kind, self.name)
            }
        }
    }
}

/// A label value for a stack id: label values are at most 63 characters of `[A-Za-z0-9._-]`,
/// beginning and ending alphanumeric.
pub fn stack_label_value(stack_id: &str) -> String {
    let mut v: String = stack_id
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '-' })
        .take(63)
        .collect();
    while v.ends_with(|c: char| !c.is_ascii_alphanumeric()) {
        v.pop();
    }
    while v.starts_with(|c: char| !c.is_ascii_alphanumeric()) {
        v.remove(0);
    }
    if v.is_empty() { "none".into() } else { v }
}

/// The label selector of one stack's objects.
pub fn stack_selector(stack_id: &str) -> String {
    format!("{MANAGED_BY_LABEL}={MANAGED_BY_VALUE},{STACK_LABEL}={}", stack_label_value(stack_id))
}

/// Drops `null` members of objects, recursively: in HCL an absent optional is `null`, while
/// in an apply configuration `null` would mean "remove this field".
pub fn strip_nulls(v: Json) -> Json {
    match v {
        Json::Object(m) => Json::Object(
            m.into_iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k, strip_nulls(v))).collect(),
        ),
        Json::Array(items) => Json::Array(items.into_iter().map(strip_nulls).collect()),
        other => other,
    }
}

/// The manifest as sent to the API server: nulls dropped, slipway's labels added.
pub fn apply_body(manifest: &Json, stack_id: &str) -> Json {
    let mut body = strip_nulls(manifest.clone());
    if let Some(meta) = body.get_mut("metadata").and_then(Json::as_object_mut) {
        let labels = meta.entry("labels").or_insert_with(|| Json::Object(Map::new()));
        if !labels.is_object() {
            *labels = Json::Object(Map::new());
        }
        if let Some(l) = labels.as_object_mut() {
            l.insert(MANAGED_BY_LABEL.into(), MANAGED_BY_VALUE.into());
            l.insert(STACK_LABEL.into(), stack_label_value(stack_id).into());
        }
    }
    body
}

/// The live object restricted to the shape of `shape` (the manifest slipway applied): only the
/// members `shape` sets, lists element by element up to `shape`'s length. A member the live
/// object lacks is left out, so a field removed by someone shows as a difference.
pub fn project(live: &Json, shape: &Json) -> Json {
    match (live, shape) {
        (Json::Object(l), Json::Object(s)) => Json::Object(
            s.iter()
                .filter_map(|(k, sv)| l.get(k).map(|lv| (k.clone(), project(lv, sv))))
                .collect(),
        ),
        (Json::Array(l), Json::Array(s)) => {
            Json::Array(l.iter().zip(s.iter()).map(|(lv, sv)| project(lv, sv)).collect())
        }
        _ => live.clone(),
    }
}

/// What refresh reports as the manifest of a live object: its projection onto the prior
/// manifest. A `Secret`'s `stringData` is write-only (the API server folds it into `data`), so
/// each key of it is compared through `data` instead: kept when equal, otherwise replaced by
/// what `data` holds, which shows the drift.
pub fn observed_manifest(live: &Json, prior_manifest: &Json) -> Json {
    let mut shape = prior_manifest.clone();
    let string_data = shape.as_object_mut().and_then(|m| m.remove("stringData"));
    // The items of a LIST carry no apiVersion and kind of their own: the list names them.
    let mut live = live.clone();
    if let (Some(l), Some(p)) = (live.as_object_mut(), prior_manifest.as_object()) {
        for key in ["apiVersion", "kind"] {
            if !l.contains_key(key)
                && let Some(v) = p.get(key)
            {
                l.insert(key.into(), v.clone());
            }
        }
    }
    let mut out = project(&live, &strip_nulls(shape));
    if let Some(Json::Object(sd)) = string_data {
        let data = live.get("data").and_then(Json::as_object);
        let mut observed = Map::new();
        for (k, v) in sd {
            let now = data
                .and_then(|d| d.get(&k))
                .and_then(Json::as_str)
                .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                .map(|b| String::from_utf8_lossy(&b).into_owned());
            match now {
                Some(n) if Some(n.as_str()) == v.as_str() => {
                    observed.insert(k, v);
                }
                Some(n) => {
                    observed.insert(k, Json::String(n));
                }
                None => {}
            }
        }
        if let Some(m) = out.as_object_mut() {
            m.insert("stringData".into(), Json::Object(observed));
        }
    }
    out
}

/// True for a manifest of kind `Secret` in the core group.
pub fn is_secret(manifest: &Value) -> bool {
    let m = manifest.peel();
    m.get_attr("kind").and_then(|k| k.peel().as_str().map(|s| s == "Secret")) == Some(true)
        && m.get_attr("apiVersion").and_then(|k| k.peel().as_str().map(|s| s == "v1")) == Some(true)
}

/// Marks a `Secret` manifest's `data` and `stringData` sensitive (other manifests unchanged).
pub fn mark_secret(manifest: Value) -> Value {
    if !is_secret(&manifest) {
        return manifest;
    }
    let (inner, outer) = manifest.unmark();
    let out = match inner {
        Value::Map(mut m) => {
            for key in ["data", "stringData"] {
                if let Some(v) = m.remove(key) {
                    m.insert(key.to_string(), v.mark_sensitive());
                }
            }
            Value::Map(m)
        }
        other => other,
    };
    out.mark_if(outer)
}

/// Removes a manifest's sensitive strings (a `Secret`'s values, raw and base64-decoded) from
/// text that will be shown: API server messages can quote what they refused.
#[derive(Clone, Debug, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    pub fn for_manifest(manifest: &Json, secret: bool) -> Redactor {
        let mut secrets = Vec::new();
        if secret {
            for key in ["data", "stringData"] {
                if let Some(Json::Object(m)) = manifest.get(key) {
                    for v in m.values().filter_map(Json::as_str) {
                        secrets.push(v.to_string());
                        if let Ok(b) = base64::engine::general_purpose::STANDARD.decode(v) {
                            secrets.push(String::from_utf8_lossy(&b).into_owned());
                        }
                    }
                }
            }
        }
        // Longest first, so a value containing another is removed whole. Very short values
        // would blank out ordinary words; they are also too short to be worth protecting.
        secrets.retain(|s| s.len() >= 4);
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Redactor { secrets }
    }

    pub fn clean(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.secrets {
            out = out.replace(s.as_str(), "(sensitive value)");
        }
        out
    }
}

/// Converts a slipway value to JSON for the API server. Unknowns cannot be sent.
pub fn to_json(v: &Value) -> Result<Json, ProviderError> {
    if v.contains_unknown() {
        return Err(ProviderError::fatal("manifest still holds values known only after apply"));
    }
    Ok(v.to_json())
}

/// Attribute map of one object: the string form of each label etc. for quick lookups.
pub fn labels(obj: &Json) -> BTreeMap<String, String> {
    obj.pointer("/metadata/labels")
        .and_then(Json::as_object)
        .map(|m| {
            m.iter().filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string()))).collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn projection_keeps_only_fields_the_manifest_sets() {
        let live = json!({"metadata": {"name": "a", "uid": "u", "labels": {"x": "1", "y": "2"}},
                          "spec": {"replicas": 3, "revisionHistoryLimit": 10,
                                   "ports": [{"port": 80, "protocol": "TCP"}]}});
        let shape = json!({"metadata": {"name": "a", "labels": {"x": "0"}},
                           "spec": {"replicas": 2, "ports": [{"port": 80}]}});
        assert_eq!(
            project(&live, &shape),
            json!({"metadata": {"name": "a", "labels": {"x": "1"}},
                   "spec": {"replicas": 3, "ports": [{"port": 80}]}})
        );
    }

    #[test]
    fn list_items_without_type_fields_match_their_manifest() {
        let live = json!({"metadata": {"name": "a"}, "data": {"k": "v"}});
        let prior = json!({"apiVersion": "v1", "kind": "ConfigMap",
                           "metadata": {"name": "a"}, "data": {"k": "v"}});
        assert_eq!(observed_manifest(&live, &prior), prior);
    }

    #[test]
    fn a_removed_field_is_missing_from_the_projection() {
        let live = json!({"data": {"a": "1"}});
        let shape = json!({"data": {"a": "1", "b": "2"}});
        assert_eq!(project(&live, &shape), json!({"data": {"a": "1"}}));
    }

    #[test]
    fn secret_string_data_is_compared_through_data() {
        let live = json!({"data": {"k": "dmFsdWU=", "j": "b3RoZXI="}});
        let prior = json!({"stringData": {"k": "value", "j": "old"}});
        assert_eq!(
            observed_manifest(&live, &prior),
            json!({"stringData": {"k": "value", "j": "other"}})
        );
    }

    #[test]
    fn identity_errors_name_the_missing_field() {
        let e =
            ObjectRef::of(&json!({"kind": "ConfigMap", "metadata": {"name": "a"}})).unwrap_err();
        assert!(e.message.contains("apiVersion"), "{}", e.message);
        let e = ObjectRef::of(&json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}))
            .unwrap_err();
        assert!(e.message.contains("metadata.name"), "{}", e.message);
    }

    #[test]
    fn stack_label_values_are_valid_label_values() {
        assert_eq!(stack_label_value("dev-1a2b3c4d"), "dev-1a2b3c4d");
        assert_eq!(stack_label_value("-my env!"), "my-env");
        assert_eq!(stack_label_value(&"x".repeat(80)).len(), 63);
    }

    #[test]
    fn redactor_removes_secret_values_raw_and_decoded() {
        let m = json!({"data": {"k": "c2VjcmV0LXZhbHVl"}, "stringData": {"p": "hunter22"}});
        let r = Redactor::for_manifest(&m, true);
        let t = r.clean("bad c2VjcmV0LXZhbHVl or secret-value or hunter22");
        assert!(!t.contains("hunter22") && !t.contains("secret-value"), "{t}");
    }
}
