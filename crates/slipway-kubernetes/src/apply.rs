//! Writing objects: server-side apply (and its dry run, for the plan), the wait for health, and
//! the per-resource settings (`field_manager`, `force_conflicts`, `wait`, `timeout`).
//!
//! **Invariants:** every apply has field validation `Strict`; conflicts are forced only on request
//! or when every conflicting field is one slipway applied before; API server messages reach errors
//! only through the object's `Redactor`.

use std::time::{Duration, Instant};

use kube::api::{Api, DynamicObject, Patch, PatchParams, ValidationDirective};
use serde_json::Value as Json;

use crate::provider::ProviderError;
use crate::value::Value;

use super::discovery::{api_for, namespace_of};
use super::health::{self, Health};
use super::manifest::{self, ObjectRef, Redactor};
use super::{DISCOVERY_PATIENCE, FIELD_MANAGER, KubernetesProvider, POLL};

/// A client error as a provider error naming the object; API server messages are redacted.
pub(super) fn api_error(e: kube::Error, what: &str, redact: Option<&Redactor>) -> ProviderError {
    let clean = |s: &str| redact.map(|r| r.clean(s)).unwrap_or_else(|| s.to_string());
    match e {
        kube::Error::Api(s) => {
            let msg = clean(&s.message);
            match s.code {
                409 if s.reason == "Conflict" && msg.contains("conflict") => {
                    ProviderError::fatal(format!(
                        "{what}: field ownership conflict: {msg}; set force_conflicts = true to take these fields over"
                    ))
                }
                400 | 409 | 422 => {
                    ProviderError::fatal(format!("{what} was rejected by the API server: {msg}"))
                }
                // Server-side apply answers 500 for a manifest that does not fit the kind's
                // schema (an unknown field); retrying cannot help.
                500 if msg.contains("failed to create typed patch object") => {
                    ProviderError::fatal(format!("{what} was rejected by the API server: {msg}"))
                }
                401 | 403 => ProviderError::fatal(format!("{what}: not allowed: {msg}")),
                429 | 500..=504 => ProviderError::retryable(format!("{what}: {msg}")),
                code => ProviderError::fatal(format!("{what}: {msg} (HTTP {code})")),
            }
        }
        other => ProviderError::retryable(format!(
            "{what}: cannot reach the Kubernetes API: {}",
            clean(&other.to_string())
        )),
    }
}

/// True when every field a 409 names (`.data.mode`,
/// `.spec.template.spec.containers[name="web"].image`) is a member of `prior`, the manifest
/// slipway applied: the path is followed through objects up to the first list selector.
pub(super) fn conflicts_only_on_own_fields(status: &kube::core::Status, prior: &Json) -> bool {
    let Some(details) = &status.details else {
        return false;
    };
    let fields: Vec<&str> =
        details.causes.iter().map(|c| c.field.as_str()).filter(|f| !f.is_empty()).collect();
    !fields.is_empty()
        && fields.iter().all(|f| {
            let mut cur = prior;
            for seg in f.trim_start_matches('.').split('.') {
                let (name, selector) = match seg.find('[') {
                    Some(i) => (&seg[..i], true),
                    None => (seg, false),
                };
                match cur.get(name) {
                    Some(next) => cur = next,
                    None => return false,
                }
                if selector {
                    return true;
                }
            }
            true
        })
}

/// A resource's own settings.
pub(super) struct ResourceSettings {
    pub(super) field_manager: String,
    pub(super) force_conflicts: bool,
    pub(super) wait: bool,
    pub(super) timeout: Duration,
}

impl ResourceSettings {
    pub(super) fn of(v: &Value) -> Result<ResourceSettings, ProviderError> {
        let field_manager = v
            .get_attr("field_manager")
            .and_then(|f| f.peel().as_str().map(str::to_string))
            .unwrap_or_else(|| FIELD_MANAGER.into());
        let flag = |k: &str, d: bool| v.get_attr(k).and_then(|f| f.peel().as_bool()).unwrap_or(d);
        let timeout = match v.get_attr("timeout").map(|t| t.peel().clone()) {
            Some(Value::String(s)) => parse_duration(&s)?,
            _ => Duration::from_secs(300),
        };
        Ok(ResourceSettings {
            field_manager,
            force_conflicts: flag("force_conflicts", false),
            wait: flag("wait", true),
            timeout,
        })
    }
}

/// `90s`, `5m`, `1h30m`, or a number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, ProviderError> {
    let bad = || {
        ProviderError::fatal(format!(
            "timeout \"{s}\" is not a duration: write e.g. \"90s\", \"5m\" or \"1h30m\""
        ))
    };
    let s = s.trim();
    if let Ok(n) = s.parse::<u64>() {
        return Ok(Duration::from_secs(n));
    }
    let mut total = 0u64;
    let mut num = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: u64 = num.parse().map_err(|_| bad())?;
        num.clear();
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            _ => return Err(bad()),
        };
        total = total.saturating_add(n.saturating_mul(unit));
    }
    if !num.is_empty() || s.is_empty() {
        return Err(bad());
    }
    Ok(Duration::from_secs(total))
}

pub(super) fn format_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 && s.is_multiple_of(60) { format!("{}m", s / 60) } else { format!("{s}s") }
}

impl KubernetesProvider {
    /// The body of a server-side apply: the manifest with the stack's labels, in `namespace`.
    pub(super) fn apply_body(&self, manifest_json: &Json, namespace: Option<&str>) -> Json {
        let mut body = manifest::apply_body(manifest_json, &self.stack_id());
        if let (Some(ns), Some(meta)) =
            (namespace, body.get_mut("metadata").and_then(Json::as_object_mut))
        {
            meta.insert("namespace".into(), Json::String(ns.to_string()));
        }
        body
    }

    /// What the API server would store, by a server-side dry-run apply: the planned object
    /// with `object` set to the manifest's fields as stored (unknown when the kind or the
    /// namespace does not exist yet — something this apply creates first). `prior` is the
    /// refreshed object of an update, None for a create.
    pub(super) async fn dry_run(
        &self,
        prior: Option<&Value>,
        planned: Value,
    ) -> Result<Value, ProviderError> {
        let with_object = |planned: Value, object: Value| {
            let mut m = planned.peel().as_map().cloned().unwrap_or_default();
            m.insert("object".into(), object);
            Value::Map(m)
        };
        let manifest_value = planned.get_attr("manifest").unwrap_or(Value::Null);
        let json =
            manifest::strip_nulls(manifest::to_json(&manifest_value.clone().unmark_deep().0)?);
        let r = ObjectRef::of(&json)?;
        let settings = ResourceSettings::of(&planned)?;
        let redact = Redactor::for_manifest(&json, manifest::is_secret(&manifest_value));
        let client = self.client().await?;
        let Ok(kind) = self.try_resolve(&client, &r, Duration::ZERO).await? else {
            return Ok(with_object(planned, Value::Unknown));
        };
        let namespace = namespace_of(&r, &kind);
        let body = self.apply_body(&json, namespace.as_deref());
        let api = api_for(&client, &kind, namespace.as_deref());
        let prior_manifest =
            prior.and_then(|p| p.get_attr("manifest")).map(|m| m.unmark_deep().0.to_json());
        let dry = match self
            .server_side_apply(&api, &r.name, &body, &settings, true, prior_manifest.as_ref())
            .await
        {
            Ok(obj) => obj,
            // Its namespace is gone (deleted outside slipway, or created by this apply first).
            Err(kube::Error::Api(s)) if s.code == 404 => {
                return Ok(with_object(planned, Value::Unknown));
            }
            Err(e) => {
                let what = format!("{} (server-side dry run)", r.display(namespace.as_deref()));
                return Err(api_error(e, &what, Some(&redact)));
            }
        };
        let dry = serde_json::to_value(&dry)
            .map_err(|e| ProviderError::fatal(format!("dry run of {}: {e}", r.name)))?;
        let stored = manifest::observed_manifest(&dry, &json);
        Ok(with_object(planned, manifest::mark_secret(Value::from_json(&stored))))
    }

    /// One server-side apply (or its dry run) with field validation `Strict`. Conflicts are
    /// forced only on request, or when every conflicting field is one slipway applied before
    /// (`prior`, the refreshed manifest of an update): someone edited it (drift, e.g. `kubectl
    /// edit`), which moved its ownership, and restoring it is the repair the plan showed. A
    /// real apply waits a moment for a namespace applied in the same run to be ready; a dry
    /// run returns that 404 to its caller.
    pub(super) async fn server_side_apply(
        &self,
        api: &Api<DynamicObject>,
        name: &str,
        body: &Json,
        settings: &ResourceSettings,
        dry_run: bool,
        prior: Option<&Json>,
    ) -> Result<DynamicObject, kube::Error> {
        let mut params = PatchParams {
            field_manager: Some(settings.field_manager.clone()),
            force: settings.force_conflicts,
            field_validation: Some(ValidationDirective::Strict),
            dry_run,
        };
        let start = Instant::now();
        loop {
            self.count(if dry_run { "DryRunApply" } else { "Apply" });
            match api.patch(name, &params, &Patch::Apply(body)).await {
                Err(kube::Error::Api(s))
                    if s.code == 409
                        && !params.force
                        && prior.is_some_and(|p| conflicts_only_on_own_fields(&s, p)) =>
                {
                    params.force = true;
                }
                Err(kube::Error::Api(s))
                    if !dry_run
                        && s.code == 404
                        && s.message.contains("namespaces")
                        && start.elapsed() < DISCOVERY_PATIENCE =>
                {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                other => return other,
            }
        }
    }

    /// Server-side applies a planned object and waits for it as configured. `prior` is the
    /// refreshed manifest of an update (None for a create): its members are the fields slipway
    /// applied before, which another manager may since have taken by editing them.
    pub(super) async fn apply(
        &self,
        planned: &Value,
        prior: Option<&Json>,
    ) -> Result<Value, ProviderError> {
        let manifest_value = planned.get_attr("manifest").unwrap_or(Value::Null);
        let secret = manifest::is_secret(&manifest_value);
        let json =
            manifest::strip_nulls(manifest::to_json(&manifest_value.clone().unmark_deep().0)?);
        let r = ObjectRef::of(&json)?;
        let redact = Redactor::for_manifest(&json, secret);
        let settings = ResourceSettings::of(planned)?;
        let client = self.client().await?;
        let kind = self.resolve(&client, &r, DISCOVERY_PATIENCE).await?;
        let namespace = namespace_of(&r, &kind);
        let body = self.apply_body(&json, namespace.as_deref());
        let api = api_for(&client, &kind, namespace.as_deref());
        let what = r.display(namespace.as_deref());
        let live = self
            .server_side_apply(&api, &r.name, &body, &settings, false, prior)
            .await
            .map_err(|e| api_error(e, &what, Some(&redact)))?;
        let live = serde_json::to_value(&live)
            .map_err(|e| ProviderError::fatal(format!("{what}: unreadable answer: {e}")))?;
        let uid = live.pointer("/metadata/uid").and_then(Json::as_str).map(str::to_string);
        if settings.wait {
            self.wait_healthy(&api, &r, &what, live.clone(), settings.timeout, &redact).await?;
        }
        let stored = manifest::observed_manifest(&live, &json);
        let mut out = planned.peel().as_map().cloned().unwrap_or_default();
        out.insert("id".into(), Value::string(r.id(namespace.as_deref())));
        out.insert("uid".into(), uid.map(Value::string).unwrap_or(Value::Null));
        out.insert("manifest".into(), manifest::mark_secret(manifest_value));
        out.insert("object".into(), manifest::mark_secret(Value::from_json(&stored)));
        Ok(Value::Map(out))
    }

    /// Polls the object until its health is Current, Failed, or the timeout passes.
    pub(super) async fn wait_healthy(
        &self,
        api: &Api<DynamicObject>,
        r: &ObjectRef,
        what: &str,
        mut live: Json,
        timeout: Duration,
        redact: &Redactor,
    ) -> Result<(), ProviderError> {
        let start = Instant::now();
        loop {
            match health::health(r.group(), &r.kind, &live) {
                Health::Current => return Ok(()),
                Health::Failed(why) => {
                    return Err(ProviderError::fatal(format!(
                        "{what} failed: {}",
                        redact.clean(&why)
                    )));
                }
                Health::InProgress(why) => {
                    if start.elapsed() >= timeout {
                        return Err(ProviderError::fatal(format!(
                            "{what} did not become ready within {}: still waiting for {}",
                            format_duration(timeout),
                            redact.clean(&why)
                        )));
                    }
                }
            }
            tokio::time::sleep(POLL).await;
            self.count("Get");
            let obj = api.get(&r.name).await.map_err(|e| api_error(e, what, Some(redact)))?;
            live = serde_json::to_value(&obj)
                .map_err(|e| ProviderError::fatal(format!("{what}: unreadable answer: {e}")))?;
        }
    }
}
