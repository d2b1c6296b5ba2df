//! Health of a live object, kstatus-style: one rule per kind family, computed from `status`
//! alone (no extra reads).
//!
//! **Invariants:** pure (no I/O); every "not yet" names the condition or field it waits on, so
//! a timeout can say what an object is stuck on; a status written for an older generation is
//! never taken as current.

use serde_json::Value as Json;

/// What the status of an object says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Health {
    /// Reconciled and healthy: nothing to wait for.
    Current,
    /// Not yet: the text names what is awaited (`condition Available`, `readyReplicas 1/3`).
    InProgress(String),
    /// Will not get there without a change (a Job failed, a rollout exceeded its deadline).
    Failed(String),
}

fn condition<'a>(obj: &'a Json, ty: &str) -> Option<&'a Json> {
    obj.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Json::as_str) == Some(ty))
}

fn condition_true(obj: &Json, ty: &str) -> bool {
    condition(obj, ty).and_then(|c| c.get("status")?.as_str()) == Some("True")
}

/// `condition Available (False: MinimumReplicasUnavailable: Deployment does not have …)`.
fn waiting_for(obj: &Json, ty: &str) -> String {
    match condition(obj, ty) {
        None => format!("condition {ty} (not reported yet)"),
        Some(c) => {
            let field = |k: &str| c.get(k).and_then(Json::as_str).unwrap_or("");
            let mut s = format!("condition {ty} ({}", field("status"));
            for k in ["reason", "message"] {
                if !field(k).is_empty() {
                    s.push_str(": ");
                    s.push_str(field(k));
                }
            }
            s.push(')');
            s
        }
    }
}

fn int(obj: &Json, pointer: &str) -> Option<i64> {
    obj.pointer(pointer).and_then(Json::as_i64)
}

/// Compares `status.<field>` with the desired count.
fn count_reached(obj: &Json, field: &str, want: i64) -> Result<(), String> {
    let have = int(obj, &format!("/status/{field}")).unwrap_or(0);
    if have >= want { Ok(()) } else { Err(format!("status.{field} {have}/{want}")) }
}

/// The health of `obj`, of kind `kind` in group `group`.
pub fn health(group: &str, kind: &str, obj: &Json) -> Health {
    // A status older than the spec says nothing about the spec.
    if let (Some(generation), Some(observed)) =
        (int(obj, "/metadata/generation"), int(obj, "/status/observedGeneration"))
        && observed < generation
    {
        return Health::InProgress(format!(
            "status.observedGeneration {observed} to reach metadata.generation {generation}"
        ));
    }
    let in_progress = |r: Result<(), String>| r.err().map(Health::InProgress);
    match (group, kind) {
        ("apps", "Deployment") => {
            if let Some(c) = condition(obj, "Progressing")
                && c.get("reason").and_then(Json::as_str) == Some("ProgressDeadlineExceeded")
            {
                return Health::Failed(waiting_for(obj, "Progressing"));
            }
            let want = int(obj, "/spec/replicas").unwrap_or(1);
            for field in ["updatedReplicas", "availableReplicas"] {
                if let Some(h) = in_progress(count_reached(obj, field, want)) {
                    if field == "availableReplicas" {
                        return Health::InProgress(format!(
                            "{} and {}",
                            waiting_for(obj, "Available"),
                            match h {
                                Health::InProgress(s) => s,
                                _ => String::new(),
                            }
                        ));
                    }
                    return h;
                }
            }
            if condition_true(obj, "Available") {
                Health::Current
            } else {
                Health::InProgress(waiting_for(obj, "Available"))
            }
        }
        ("apps", "StatefulSet") => {
            let want = int(obj, "/spec/replicas").unwrap_or(1);
            for field in ["readyReplicas", "updatedReplicas", "availableReplicas"] {
                if let Some(h) = in_progress(count_reached(obj, field, want)) {
                    return h;
                }
            }
            Health::Current
        }
        ("apps", "DaemonSet") => {
            let want = int(obj, "/status/desiredNumberScheduled").unwrap_or(0);
            for field in ["updatedNumberScheduled", "numberAvailable"] {
                if let Some(h) = in_progress(count_reached(obj, field, want)) {
                    return h;
                }
            }
            Health::Current
        }
        ("batch", "Job") => {
            if condition_true(obj, "Failed") {
                Health::Failed(waiting_for(obj, "Failed"))
            } else if condition_true(obj, "Complete") {
                Health::Current
            } else {
                Health::InProgress(waiting_for(obj, "Complete"))
            }
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            if let Some(c) = condition(obj, "NamesAccepted")
                && c.get("status").and_then(Json::as_str) == Some("False")
            {
                return Health::Failed(waiting_for(obj, "NamesAccepted"));
            }
            if condition_true(obj, "Established") {
                Health::Current
            } else {
                Health::InProgress(waiting_for(obj, "Established"))
            }
        }
        ("apiregistration.k8s.io", "APIService") => {
            if condition_true(obj, "Available") {
                Health::Current
            } else {
                Health::InProgress(waiting_for(obj, "Available"))
            }
        }
        _ => {
            if condition(obj, "Ready").is_none() || condition_true(obj, "Ready") {
                Health::Current
            } else {
                Health::InProgress(waiting_for(obj, "Ready"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn deployment_is_current_only_when_available_with_all_replicas() {
        let mut d = json!({"metadata": {"generation": 2}, "spec": {"replicas": 2},
            "status": {"observedGeneration": 2, "updatedReplicas": 2, "availableReplicas": 1,
                "conditions": [{"type": "Available", "status": "False",
                                "reason": "MinimumReplicasUnavailable"}]}});
        match health("apps", "Deployment", &d) {
            Health::InProgress(s) => {
                assert!(s.contains("Available") && s.contains("MinimumReplicasUnavailable"), "{s}")
            }
            h => panic!("{h:?}"),
        }
        d["status"]["availableReplicas"] = json!(2);
        d["status"]["conditions"][0]["status"] = json!("True");
        assert_eq!(health("apps", "Deployment", &d), Health::Current);
        d["metadata"]["generation"] = json!(3);
        assert!(matches!(health("apps", "Deployment", &d), Health::InProgress(_)));
    }

    #[test]
    fn job_failure_and_crd_establishment() {
        let j = json!({"status": {"conditions": [{"type": "Failed", "status": "True"}]}});
        assert!(matches!(health("batch", "Job", &j), Health::Failed(_)));
        let c = json!({"status": {"conditions": [{"type": "Established", "status": "True"}]}});
        assert_eq!(health("apiextensions.k8s.io", "CustomResourceDefinition", &c), Health::Current);
        let c = json!({"status": {}});
        assert!(matches!(
            health("apiextensions.k8s.io", "CustomResourceDefinition", &c),
            Health::InProgress(s) if s.contains("Established")
        ));
    }

    #[test]
    fn other_kinds_wait_for_ready_only_when_they_report_it() {
        assert_eq!(health("", "ConfigMap", &json!({"data": {}})), Health::Current);
        let w = json!({"status": {"conditions": [{"type": "Ready", "status": "False"}]}});
        assert!(matches!(health("x.io", "Widget", &w), Health::InProgress(_)));
    }
}
