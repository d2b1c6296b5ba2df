//! The `kubernetes` provider: any object, built-in or custom, applied by server-side apply.
//!
//! `kubernetes_manifest` holds one object (`manifest = { apiVersion, kind, metadata, … }`);
//! `data.kubernetes_yaml_documents` splits a multi-document YAML text into a map keyed
//! `kind/namespace/name` for `for_each`. The cluster is reached through `kube` (configured from
//! a kubeconfig or from Terraform's attribute names), kinds through discovery, cached per
//! apiVersion for the run.
//!
//! **Invariants:**
//! - Every apply is a server-side apply with field manager `slipway` (or `field_manager`),
//!   strict field validation, and conflicts forced only when `force_conflicts` is set.
//! - Every object carries `app.kubernetes.io/managed-by=slipway` and `slipway.dev/stack=<stack>`;
//!   refresh finds objects by that selector with one LIST per (kind, namespace), never a GET
//!   per object, so it costs O(kinds) calls (counted in [`Provider::call_stats`]).
//! - State keeps the manifest as written; refresh reports the live object projected onto it
//!   (`manifest::observed_manifest`), so only fields slipway sets can differ: defaulted fields
//!   and other controllers' fields never make a diff, while a field someone changed does.
//! - No cluster is contacted before the first object operation (configure only records the
//!   settings); the first contact waits for `/readyz`, bounded, with progress on stderr.
//! - A `Secret`'s `data` and `stringData` are marked sensitive in every value returned, and
//!   removed from every error message (`manifest::Redactor`).

mod apply;
mod connection;
mod discovery;
pub mod health;
pub mod manifest;
pub mod ordering;
mod refresh;

// The engine's modules under the paths this code was written against (`crate::provider`, …).
pub(crate) use slipway_core::{addr, diag, provider, value};

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kube::api::DeleteParams;
use serde_json::Value as Json;

use crate::provider::{
    AttributeSchema as A, CreateRequest, Provider, ProviderContext, ProviderError, ProviderSchema,
    ReadRequest, ResourceSchema, Schema, TypeBatch,
};
use crate::value::{Type, Value};

pub use apply::parse_duration;
use apply::{ResourceSettings, api_error, format_duration};
use connection::{Source, config_string, source_of};
use discovery::{Served, api_for, namespace_of};
use manifest::ObjectRef;

pub const MANIFEST: &str = "kubernetes_manifest";
pub const YAML_DOCUMENTS: &str = "kubernetes_yaml_documents";
/// The field manager of every apply unless a resource names another.
pub const FIELD_MANAGER: &str = "slipway";

/// How long an apply looks again for a kind the API server does not serve yet: a CRD applied
/// just before is Established, but discovery can lag it by a moment.
const DISCOVERY_PATIENCE: Duration = Duration::from_secs(10);
/// How long the first contact waits for `/readyz`, unless the provider block says
/// `ready_timeout`.
const READY_TIMEOUT: Duration = Duration::from_secs(120);
const POLL: Duration = Duration::from_millis(500);

pub struct KubernetesProvider {
    schema: ProviderSchema,
    source: Mutex<Source>,
    /// `ready_timeout` of the provider block (READY_TIMEOUT when unset).
    ready_timeout: Mutex<Duration>,
    stack_id: Mutex<String>,
    client: tokio::sync::Mutex<Option<kube::Client>>,
    /// apiVersion → what it serves; for one run (one provider instance per process).
    discovery: Mutex<HashMap<String, Arc<Vec<Served>>>>,
    calls: Mutex<BTreeMap<String, u64>>,
}

impl Default for KubernetesProvider {
    fn default() -> Self {
        Self::new()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A poisoned lock only means another thread panicked mid-update of a cache or a counter;
    // the data is still usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl KubernetesProvider {
    pub fn new() -> KubernetesProvider {
        let s = || A::optional(Type::String);
        let provider = Schema::new()
            .attr("config_path", s().describe("a kubeconfig file"))
            .attr("config_context", s().describe("the kubeconfig context to use"))
            .attr("host", s().describe("the API server URL (instead of a kubeconfig)"))
            .attr("cluster_ca_certificate", s().describe("PEM CA bundle of the API server"))
            .attr("client_certificate", s().describe("PEM client certificate"))
            .attr("client_key", s().sensitive().describe("PEM client key"))
            .attr("token", s().sensitive().describe("bearer token"))
            .attr("tls_server_name", s().describe("server name to verify instead of the host"))
            .attr(
                "ready_timeout",
                s().describe(
                    "how long the first operation waits for /readyz (default 2m; an environment \
                     that builds its cluster in the same apply waits for nodes to boot)",
                ),
            );
        let mut resources = BTreeMap::new();
        resources.insert(
            MANIFEST.to_string(),
            ResourceSchema::new(
                "Any Kubernetes object, applied by server-side apply.",
                Schema::new()
                    .attr("manifest", A::required(Type::Any).describe("the object"))
                    .attr(
                        "field_manager",
                        A::optional(Type::String).default(Value::string(FIELD_MANAGER)),
                    )
                    .attr(
                        "force_conflicts",
                        A::optional(Type::Bool).default(Value::Bool(false)),
                    )
                    .attr("wait", A::optional(Type::Bool).default(Value::Bool(true)))
                    .attr(
                        "timeout",
                        A::optional(Type::String).default(Value::string("5m")),
                    )
                    .attr("id", A::computed(Type::String))
                    .attr("uid", A::computed(Type::String))
                    .attr(
                        "object",
                        A::computed(Type::Any).describe(
                            "the fields the manifest sets, as the API server stores them \
                             (canonical forms, defaults and mutating webhooks included): from \
                             the apply, refresh, and a server-side dry run when an update is planned",
                        ),
                    ),
            ),
        );
        let mut data_sources = BTreeMap::new();
        data_sources.insert(
            YAML_DOCUMENTS.to_string(),
            ResourceSchema::new(
                "Splits multi-document YAML into objects keyed kind/namespace/name.",
                Schema::new()
                    .attr("content", A::required(Type::String))
                    .attr("documents", A::computed(Type::Map(Box::new(Type::Any)))),
            ),
        );
        KubernetesProvider {
            schema: ProviderSchema { provider, resources, data_sources },
            source: Mutex::new(Source::Default),
            ready_timeout: Mutex::new(READY_TIMEOUT),
            stack_id: Mutex::new(String::new()),
            client: tokio::sync::Mutex::new(None),
            discovery: Mutex::new(HashMap::new()),
            calls: Mutex::new(BTreeMap::new()),
        }
    }

    fn count(&self, op: &str) {
        *lock(&self.calls).entry(format!("kubernetes:{op}")).or_default() += 1;
    }

    fn stack_id(&self) -> String {
        lock(&self.stack_id).clone()
    }
}

/// Splits YAML documents into objects keyed `kind/namespace/name` (`kind/name` without a
/// namespace). Empty documents are skipped; duplicates and nameless objects are errors.
pub fn split_documents(content: &str) -> Result<BTreeMap<String, Value>, ProviderError> {
    let docs: Vec<Json> = serde_saphyr::from_multiple(content)
        .map_err(|e| ProviderError::fatal(format!("invalid YAML: {e}")))?;
    let mut out = BTreeMap::new();
    for (i, doc) in docs.into_iter().enumerate() {
        if doc.is_null() {
            continue;
        }
        let r = ObjectRef::of(&doc)
            .map_err(|e| ProviderError::fatal(format!("YAML document {}: {}", i + 1, e.message)))?;
        let key = match &r.namespace {
            Some(ns) => format!("{}/{ns}/{}", r.kind, r.name),
            None => format!("{}/{}", r.kind, r.name),
        };
        let value = manifest::mark_secret(Value::from_json(&doc));
        if out.insert(key.clone(), value).is_some() {
            return Err(ProviderError::fatal(format!(
                "YAML document {}: {key} appears twice",
                i + 1
            )));
        }
    }
    Ok(out)
}

#[async_trait::async_trait]
impl Provider for KubernetesProvider {
    fn name(&self) -> &'static str {
        "kubernetes"
    }

    fn schema(&self) -> &ProviderSchema {
        &self.schema
    }

    async fn configure(&self, ctx: &ProviderContext, config: &Value) -> Result<(), ProviderError> {
        // Only records the settings: no cluster is contacted until an object needs it.
        let timeout = match config_string(config, "ready_timeout") {
            Some(t) => parse_duration(&t)?,
            None => READY_TIMEOUT,
        };
        *lock(&self.ready_timeout) = timeout;
        self.set_source(source_of(config)?, ctx).await;
        Ok(())
    }

    async fn configure_deferred(&self, ctx: &ProviderContext) -> Result<(), ProviderError> {
        self.set_source(Source::Deferred, ctx).await;
        Ok(())
    }

    fn plan(
        &self,
        rtype: &str,
        prior: Option<&Value>,
        proposed: Value,
    ) -> Result<crate::provider::PlannedObject, ProviderError> {
        if rtype != MANIFEST {
            return Ok(crate::provider::PlannedObject::as_proposed(proposed));
        }
        let manifest_value = proposed.get_attr("manifest").unwrap_or(Value::Null);
        let mut requires_replace = Vec::new();
        // A manifest still holding unknowns is checked at apply, once it is whole.
        if !manifest_value.contains_unknown() {
            let json = manifest::strip_nulls(manifest_value.clone().unmark_deep().0.to_json());
            let r = ObjectRef::of(&json)?;
            ResourceSettings::of(&proposed)?;
            // Another name, kind or namespace is another object: replace, never rename.
            if let Some(p) = prior
                && let Some(pm) = p.get_attr("manifest")
                && let Ok(pr) = ObjectRef::of(&pm.unmark_deep().0.to_json())
                && (pr.kind != r.kind
                    || pr.group() != r.group()
                    || pr.name != r.name
                    || pr.namespace != r.namespace)
            {
                requires_replace.push("manifest".to_string());
            }
        }
        let mut planned = proposed.peel().as_map().cloned().unwrap_or_default();
        planned.insert("manifest".into(), manifest::mark_secret(manifest_value));
        Ok(crate::provider::PlannedObject { planned: Value::Map(planned), requires_replace })
    }

    async fn read(
        &self,
        rtype: &str,
        requests: &[ReadRequest],
    ) -> Result<Vec<Option<Value>>, ProviderError> {
        let batch = TypeBatch { rtype: rtype.to_string(), requests: requests.to_vec() };
        Ok(self.read_all(std::slice::from_ref(&batch)).await?.pop().unwrap_or_default())
    }

    async fn read_types(
        &self,
        batches: &[TypeBatch],
    ) -> Vec<Result<Vec<Option<Value>>, ProviderError>> {
        match self.read_all(batches).await {
            Ok(all) => all.into_iter().map(Ok).collect(),
            Err(e) => batches.iter().map(|_| Err(e.clone())).collect(),
        }
    }

    async fn create(
        &self,
        rtype: &str,
        request: CreateRequest<'_>,
    ) -> Result<Value, ProviderError> {
        if rtype != MANIFEST {
            return Err(ProviderError::fatal(format!("kubernetes has no resource {rtype}")));
        }
        // Server-side apply is idempotent: a resumed create applies again and so adopts
        // whatever an interrupted run left, without duplicates.
        self.apply(request.planned, None).await
    }

    async fn update(
        &self,
        rtype: &str,
        prior: &Value,
        planned: &Value,
    ) -> Result<Value, ProviderError> {
        if rtype != MANIFEST {
            return Err(ProviderError::fatal(format!("kubernetes has no resource {rtype}")));
        }
        let prior_manifest = prior.get_attr("manifest").map(|m| m.unmark_deep().0.to_json());
        self.apply(planned, prior_manifest.as_ref()).await
    }

    fn implicit_dependencies(&self, objects: &[(&str, &Value)]) -> Vec<(usize, usize)> {
        ordering::implicit_dependencies(objects)
    }

    async fn plan_remotely(
        &self,
        rtype: &str,
        prior: Option<&Value>,
        planned: Value,
    ) -> Result<Value, ProviderError> {
        if rtype != MANIFEST || matches!(*lock(&self.source), Source::Deferred) {
            return Ok(planned);
        }
        self.dry_run(prior, planned).await
    }

    async fn delete(&self, rtype: &str, prior: &Value) -> Result<(), ProviderError> {
        if rtype != MANIFEST {
            return Ok(());
        }
        let m =
            prior.get_attr("manifest").map(|m| m.unmark_deep().0.to_json()).unwrap_or(Json::Null);
        let Ok(r) = ObjectRef::of(&m) else {
            return Ok(());
        };
        let settings = ResourceSettings::of(prior)?;
        let client = self.client().await?;
        // A kind no longer served (its CRD is gone) has no objects left to delete.
        let Ok(kind) = self.try_resolve(&client, &r, Duration::ZERO).await? else {
            return Ok(());
        };
        let namespace = namespace_of(&r, &kind);
        let what = r.display(namespace.as_deref());
        let api = api_for(&client, &kind, namespace.as_deref());
        self.count("Delete");
        match api.delete(&r.name, &DeleteParams::background()).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => return Ok(()),
            Err(e) => return Err(api_error(e, &what, None)),
        }
        // Wait until it is gone, so that what depends on it (its namespace, its CRD) is
        // deleted only after it.
        let start = Instant::now();
        loop {
            self.count("Get");
            match api.get_opt(&r.name).await {
                Ok(None) => return Ok(()),
                Ok(Some(_)) if start.elapsed() >= settings.timeout => {
                    return Err(ProviderError::fatal(format!(
                        "{what} is still there {} after its deletion (a finalizer?)",
                        format_duration(settings.timeout)
                    )));
                }
                Ok(Some(_)) => tokio::time::sleep(POLL).await,
                Err(e) => return Err(api_error(e, &what, None)),
            }
        }
    }

    async fn recover(
        &self,
        rtype: &str,
        _address: &crate::addr::ResourceInstanceAddr,
        _client_token: &str,
        pending: &Value,
    ) -> Result<Option<Value>, ProviderError> {
        if rtype != MANIFEST {
            return Ok(None);
        }
        let m =
            pending.get_attr("manifest").map(|m| m.unmark_deep().0.to_json()).unwrap_or(Json::Null);
        let Ok(r) = ObjectRef::of(&m) else {
            return Ok(None);
        };
        let client = self.client().await?;
        let Ok(kind) = self.try_resolve(&client, &r, Duration::ZERO).await? else {
            return Ok(None);
        };
        let namespace = namespace_of(&r, &kind);
        let api = api_for(&client, &kind, namespace.as_deref());
        self.count("Get");
        let live = api
            .get_opt(&r.name)
            .await
            .map_err(|e| api_error(e, &r.display(namespace.as_deref()), None))?;
        let Some(live) = live else {
            return Ok(None);
        };
        let live = serde_json::to_value(&live).unwrap_or(Json::Null);
        // Only an object of this stack is ours to adopt.
        let labels = manifest::labels(&live);
        if labels.get(manifest::STACK_LABEL).map(String::as_str)
            != Some(manifest::stack_label_value(&self.stack_id()).as_str())
        {
            return Ok(None);
        }
        let mut v = Self::observed(pending, &live);
        if let Value::Map(map) = &mut v {
            map.insert("id".into(), Value::string(r.id(namespace.as_deref())));
        }
        Ok(Some(v))
    }

    fn call_stats(&self) -> BTreeMap<String, u64> {
        lock(&self.calls).clone()
    }

    async fn read_data(&self, rtype: &str, config: &Value) -> Result<Value, ProviderError> {
        if rtype != YAML_DOCUMENTS {
            return Err(ProviderError::fatal(format!("kubernetes has no data source {rtype}")));
        }
        let content = config.get_attr("content").map(|c| c.peel().clone()).unwrap_or(Value::Null);
        let Value::String(text) = content else {
            return Err(ProviderError::fatal("content must be a string of YAML documents"));
        };
        let docs = split_documents(&text)?;
        let mut out = config.peel().as_map().cloned().unwrap_or_default();
        out.insert("documents".into(), Value::Map(docs));
        Ok(Value::Map(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("20").unwrap(), Duration::from_secs(20));
        assert!(parse_duration("5 minutes").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn yaml_documents_are_keyed_kind_namespace_name() {
        let docs = split_documents(
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: demo}\n---\n\
             apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: demo}\ndata: {k: v}\n---\n",
        )
        .unwrap();
        let keys: Vec<&str> = docs.keys().map(String::as_str).collect();
        assert_eq!(keys, ["ConfigMap/demo/a", "Namespace/demo"]);
        assert!(split_documents("kind: ConfigMap\nmetadata: {name: a}\n").is_err());
    }

    #[test]
    fn secrets_are_marked_sensitive_in_the_plan() {
        let p = KubernetesProvider::new();
        let manifest = Value::from_json(&serde_json::json!({
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
            "stringData": {"password": "hunter22"}}));
        let mut m = BTreeMap::new();
        m.insert("manifest".to_string(), manifest);
        let planned = p.plan(MANIFEST, None, Value::Map(m)).unwrap().planned;
        let sd = planned.get_attr("manifest").unwrap().get_attr("stringData").unwrap();
        assert!(sd.is_sensitive());
    }
}
