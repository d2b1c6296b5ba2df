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

pub mod health;
pub mod manifest;
pub mod ordering;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams};
use kube::api::{Patch, PatchParams, ValidationDirective};
use serde_json::Value as Json;

use crate::provider::{
    AttributeSchema as A, CreateRequest, Provider, ProviderContext, ProviderError, ProviderSchema,
    ReadRequest, ResourceSchema, Schema, TypeBatch,
};
use crate::value::{Type, Value};

use health::Health;
use manifest::{ObjectRef, Redactor};

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

/// Where the cluster is, as configured.
#[derive(Clone, Debug, Default)]
enum Source {
    /// No provider block: `KUBECONFIG` or `~/.kube/config`, as kubectl does.
    #[default]
    Default,
    Kubeconfig {
        path: String,
        context: Option<String>,
    },
    Attributes {
        host: String,
        cluster_ca_certificate: Option<String>,
        client_certificate: Option<String>,
        client_key: Option<String>,
        token: Option<String>,
        tls_server_name: Option<String>,
    },
    /// The provider block depends on resources this run creates: nothing may be contacted
    /// until apply configures the provider with their values.
    Deferred,
}

/// One kind an apiVersion serves.
#[derive(Clone, Debug)]
struct Served {
    kind: String,
    plural: String,
    namespaced: bool,
}

/// A kind resolved through discovery.
#[derive(Clone)]
struct Kind {
    resource: ApiResource,
    namespaced: bool,
}

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
            .attr(
                "config_context",
                s().describe("the kubeconfig context to use"),
            )
            .attr(
                "host",
                s().describe("the API server URL (instead of a kubeconfig)"),
            )
            .attr(
                "cluster_ca_certificate",
                s().describe("PEM CA bundle of the API server"),
            )
            .attr("client_certificate", s().describe("PEM client certificate"))
            .attr("client_key", s().sensitive().describe("PEM client key"))
            .attr("token", s().sensitive().describe("bearer token"))
            .attr(
                "tls_server_name",
                s().describe("server name to verify instead of the host"),
            )
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
            schema: ProviderSchema {
                provider,
                resources,
                data_sources,
            },
            source: Mutex::new(Source::Default),
            ready_timeout: Mutex::new(READY_TIMEOUT),
            stack_id: Mutex::new(String::new()),
            client: tokio::sync::Mutex::new(None),
            discovery: Mutex::new(HashMap::new()),
            calls: Mutex::new(BTreeMap::new()),
        }
    }

    fn count(&self, op: &str) {
        *lock(&self.calls)
            .entry(format!("kubernetes:{op}"))
            .or_default() += 1;
    }

    fn stack_id(&self) -> String {
        lock(&self.stack_id).clone()
    }

    /// The client, made on first use; the first use waits for the API server to be ready.
    async fn client(&self) -> Result<kube::Client, ProviderError> {
        let mut guard = self.client.lock().await;
        if let Some(c) = &*guard {
            return Ok(c.clone());
        }
        let source = lock(&self.source).clone();
        let config = kube_config(&source).await?;
        let url = config.cluster_url.to_string();
        let client = kube::Client::try_from(config).map_err(|e| {
            ProviderError::fatal(format!("cannot make a Kubernetes client for {url}: {e}"))
        })?;
        self.wait_ready(&client, &url).await?;
        *guard = Some(client.clone());
        Ok(client)
    }

    /// Polls `/readyz` until it answers `ok`, reporting progress every few seconds.
    async fn wait_ready(&self, client: &kube::Client, url: &str) -> Result<(), ProviderError> {
        let start = Instant::now();
        let mut last_report = start;
        loop {
            self.count("Readyz");
            let req = http::Request::get("/readyz")
                .body(Vec::new())
                .map_err(|e| ProviderError::fatal(format!("/readyz request: {e}")))?;
            let why = match client.request_text(req).await {
                Ok(text) if text.trim() == "ok" => return Ok(()),
                Ok(text) => format!("answered {:?}", text.trim()),
                Err(e) if never_answers(&e) => {
                    return Err(ProviderError::fatal(format!(
                        "the Kubernetes API at {url} refuses this client: {}",
                        error_chain(&e)
                    )));
                }
                Err(e) => e.to_string(),
            };
            let timeout = *lock(&self.ready_timeout);
            if start.elapsed() >= timeout {
                return Err(ProviderError::fatal(format!(
                    "the Kubernetes API at {url} is not ready after {}s: {why}",
                    timeout.as_secs()
                )));
            }
            if last_report.elapsed() >= Duration::from_secs(5) {
                eprintln!(
                    "kubernetes: waiting for the API at {url} to be ready ({}s): {why}",
                    start.elapsed().as_secs()
                );
                last_report = Instant::now();
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// What an apiVersion serves (cached for the run; `fresh` skips the cache). `Ok(None)`
    /// when the API server does not serve the apiVersion at all.
    async fn served(
        &self,
        client: &kube::Client,
        api_version: &str,
        fresh: bool,
    ) -> Result<Option<Arc<Vec<Served>>>, ProviderError> {
        if !fresh && let Some(s) = lock(&self.discovery).get(api_version) {
            return Ok(Some(s.clone()));
        }
        self.count("Discovery");
        let answer = if api_version.contains('/') {
            client.list_api_group_resources(api_version).await
        } else {
            client.list_core_api_resources(api_version).await
        };
        let list = match answer {
            Ok(l) => l,
            Err(kube::Error::Api(s)) if s.code == 404 => {
                lock(&self.discovery).remove(api_version);
                return Ok(None);
            }
            Err(e) => return Err(api_error(e, &format!("discovery of {api_version}"), None)),
        };
        let served: Vec<Served> = list
            .resources
            .into_iter()
            // `deployments/scale` and the like are subresources, not kinds.
            .filter(|r| !r.name.contains('/'))
            .map(|r| Served {
                kind: r.kind,
                plural: r.name,
                namespaced: r.namespaced,
            })
            .collect();
        let served = Arc::new(served);
        lock(&self.discovery).insert(api_version.to_string(), served.clone());
        Ok(Some(served))
    }

    /// Resolves a kind; `patience` is how long to look again while it is not served (a CRD
    /// just applied). `Ok(None)`: not served.
    async fn try_resolve(
        &self,
        client: &kube::Client,
        r: &ObjectRef,
        patience: Duration,
    ) -> Result<Result<Kind, String>, ProviderError> {
        let start = Instant::now();
        let mut fresh = false;
        loop {
            let served = self.served(client, &r.api_version, fresh).await?;
            let why = match &served {
                None => format!(
                    "the API server does not serve apiVersion \"{}\"",
                    r.api_version
                ),
                Some(list) => {
                    if let Some(s) = list.iter().find(|s| s.kind == r.kind) {
                        let (group, version) = match r.api_version.rsplit_once('/') {
                            Some((g, v)) => (g, v),
                            None => ("", r.api_version.as_str()),
                        };
                        let gvk = GroupVersionKind::gvk(group, version, &r.kind);
                        return Ok(Ok(Kind {
                            resource: ApiResource::from_gvk_with_plural(&gvk, &s.plural),
                            namespaced: s.namespaced,
                        }));
                    }
                    let mut why = format!(
                        "the API server has no kind \"{}\" in apiVersion \"{}\"",
                        r.kind, r.api_version
                    );
                    if let Some(c) =
                        crate::diag::closest(&r.kind, list.iter().map(|s| s.kind.as_str()))
                    {
                        why.push_str(&format!(" (did you mean \"{c}\"?)"));
                    }
                    why
                }
            };
            if start.elapsed() >= patience {
                return Ok(Err(why));
            }
            fresh = true;
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    async fn resolve(
        &self,
        client: &kube::Client,
        r: &ObjectRef,
        patience: Duration,
    ) -> Result<Kind, ProviderError> {
        self.try_resolve(client, r, patience)
            .await?
            .map_err(ProviderError::fatal)
    }

    /// Points the provider at a cluster (or at none yet): the client and discovery of any
    /// earlier configuration are dropped.
    async fn set_source(&self, source: Source, ctx: &ProviderContext) {
        *lock(&self.source) = source;
        *lock(&self.stack_id) = ctx.stack_id.clone();
        *self.client.lock().await = None;
        lock(&self.discovery).clear();
    }

    /// The body of a server-side apply: the manifest with the stack's labels, in `namespace`.
    fn apply_body(&self, manifest_json: &Json, namespace: Option<&str>) -> Json {
        let mut body = manifest::apply_body(manifest_json, &self.stack_id());
        if let (Some(ns), Some(meta)) = (
            namespace,
            body.get_mut("metadata").and_then(Json::as_object_mut),
        ) {
            meta.insert("namespace".into(), Json::String(ns.to_string()));
        }
        body
    }

    /// What the API server would store, by a server-side dry-run apply: the planned object
    /// with `object` set to the manifest's fields as stored (unknown when the kind or the
    /// namespace does not exist yet — something this apply creates first). `prior` is the
    /// refreshed object of an update, None for a create.
    async fn dry_run(&self, prior: Option<&Value>, planned: Value) -> Result<Value, ProviderError> {
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
        let prior_manifest = prior
            .and_then(|p| p.get_attr("manifest"))
            .map(|m| m.unmark_deep().0.to_json());
        let dry = match self
            .server_side_apply(
                &api,
                &r.name,
                &body,
                &settings,
                true,
                prior_manifest.as_ref(),
            )
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
        Ok(with_object(
            planned,
            manifest::mark_secret(Value::from_json(&stored)),
        ))
    }

    /// One server-side apply (or its dry run) with field validation `Strict`. Conflicts are
    /// forced only on request, or when every conflicting field is one slipway applied before
    /// (`prior`, the refreshed manifest of an update): someone edited it (drift, e.g. `kubectl
    /// edit`), which moved its ownership, and restoring it is the repair the plan showed. A
    /// real apply waits a moment for a namespace applied in the same run to be ready; a dry
    /// run returns that 404 to its caller.
    async fn server_side_apply(
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
    async fn apply(&self, planned: &Value, prior: Option<&Json>) -> Result<Value, ProviderError> {
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
        let uid = live
            .pointer("/metadata/uid")
            .and_then(Json::as_str)
            .map(str::to_string);
        if settings.wait {
            self.wait_healthy(&api, &r, &what, live.clone(), settings.timeout, &redact)
                .await?;
        }
        let stored = manifest::observed_manifest(&live, &json);
        let mut out = planned.peel().as_map().cloned().unwrap_or_default();
        out.insert("id".into(), Value::string(r.id(namespace.as_deref())));
        out.insert("uid".into(), uid.map(Value::string).unwrap_or(Value::Null));
        out.insert("manifest".into(), manifest::mark_secret(manifest_value));
        out.insert(
            "object".into(),
            manifest::mark_secret(Value::from_json(&stored)),
        );
        Ok(Value::Map(out))
    }

    /// Polls the object until its health is Current, Failed, or the timeout passes.
    async fn wait_healthy(
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
            let obj = api
                .get(&r.name)
                .await
                .map_err(|e| api_error(e, what, Some(redact)))?;
            live = serde_json::to_value(&obj)
                .map_err(|e| ProviderError::fatal(format!("{what}: unreadable answer: {e}")))?;
        }
    }

    /// The refreshed form of one object in state, from the live object.
    fn observed(prior: &Value, live: &Json) -> Value {
        let mut out = prior.peel().as_map().cloned().unwrap_or_default();
        let prior_manifest = prior
            .get_attr("manifest")
            .map(|m| m.unmark_deep().0.to_json())
            .unwrap_or(Json::Null);
        let observed = manifest::mark_secret(Value::from_json(&manifest::observed_manifest(
            live,
            &prior_manifest,
        )));
        out.insert("manifest".into(), observed.clone());
        out.insert("object".into(), observed);
        if let Some(uid) = live.pointer("/metadata/uid").and_then(Json::as_str) {
            out.insert("uid".into(), Value::string(uid));
        }
        Value::Map(out)
    }

    /// True when a server-side dry-run apply of the state's manifest gives, on the fields
    /// the manifest sets, exactly the live object: the difference refresh saw is only the API
    /// server's canonical form of slipway's own values. Any error (a conflict: someone else
    /// now owns a field slipway set) counts as drift.
    async fn normalisation_only(
        &self,
        client: &kube::Client,
        kind: &Kind,
        namespace: Option<String>,
        prior: &Value,
        live: &Json,
    ) -> bool {
        let Some(manifest_json) = prior
            .get_attr("manifest")
            .map(|m| manifest::strip_nulls(m.unmark_deep().0.to_json()))
        else {
            return false;
        };
        let Ok(r) = ObjectRef::of(&manifest_json) else {
            return false;
        };
        let Ok(settings) = ResourceSettings::of(prior) else {
            return false;
        };
        let body = self.apply_body(&manifest_json, namespace.as_deref());
        let api = api_for(client, kind, namespace.as_deref());
        let params = PatchParams {
            field_manager: Some(settings.field_manager),
            force: false,
            field_validation: Some(ValidationDirective::Strict),
            dry_run: true,
        };
        self.count("DryRunApply");
        let Ok(dry) = api.patch(&r.name, &params, &Patch::Apply(&body)).await else {
            return false;
        };
        let Ok(dry) = serde_json::to_value(&dry) else {
            return false;
        };
        manifest::observed_manifest(&dry, &manifest_json)
            == manifest::observed_manifest(live, &manifest_json)
    }

    /// Refreshes every object of the batches: one LIST per (kind, namespace) by label.
    async fn read_all(
        &self,
        batches: &[TypeBatch],
    ) -> Result<Vec<Vec<Option<Value>>>, ProviderError> {
        let mut answers: Vec<Vec<Option<Value>>> = batches
            .iter()
            .map(|b| b.requests.iter().map(|r| Some(r.prior.clone())).collect())
            .collect();
        if matches!(*lock(&self.source), Source::Deferred) {
            // No cluster to ask yet: the objects are as state recorded them (session warns).
            return Ok(answers);
        }
        // (apiVersion, kind, namespace) → the requests naming an object of it.
        type Slot = (usize, usize, String);
        let mut groups: BTreeMap<(String, String, Option<String>), Vec<Slot>> = BTreeMap::new();
        let mut refs: Vec<(usize, usize, ObjectRef)> = Vec::new();
        for (bi, b) in batches.iter().enumerate() {
            if b.rtype != MANIFEST {
                continue;
            }
            for (ri, req) in b.requests.iter().enumerate() {
                let m = req
                    .prior
                    .get_attr("manifest")
                    .map(|m| m.unmark_deep().0.to_json())
                    .unwrap_or(Json::Null);
                // An object state cannot name is kept as it is: nothing to look for.
                if let Ok(r) = ObjectRef::of(&m) {
                    refs.push((bi, ri, r));
                }
            }
        }
        if refs.is_empty() {
            return Ok(answers);
        }
        let client = self.client().await?;
        let mut kinds: HashMap<(String, String), Option<Kind>> = HashMap::new();
        for (bi, ri, r) in refs {
            let key = (r.api_version.clone(), r.kind.clone());
            if !kinds.contains_key(&key) {
                // A kind no longer served (its CRD deleted) has no objects.
                let k = self.try_resolve(&client, &r, Duration::ZERO).await?.ok();
                kinds.insert(key.clone(), k);
            }
            match &kinds[&key] {
                None => answers[bi][ri] = None,
                Some(kind) => {
                    let ns = namespace_of(&r, kind);
                    groups
                        .entry((key.0, key.1, ns))
                        .or_default()
                        .push((bi, ri, r.name.clone()));
                }
            }
        }
        let selector = manifest::stack_selector(&self.stack_id());
        let lists = futures_util::future::join_all(groups.iter().map(|((av, k, ns), _)| {
            let kind = kinds[&(av.clone(), k.clone())].clone();
            let client = client.clone();
            let selector = selector.clone();
            async move {
                let Some(kind) = kind else {
                    return Ok(Vec::new());
                };
                self.count("List");
                let api = api_for(&client, &kind, ns.as_deref());
                let what = match ns {
                    Some(ns) => format!("listing {k} in namespace {ns}"),
                    None => format!("listing {k}"),
                };
                let list = api
                    .list(&ListParams::default().labels(&selector))
                    .await
                    .map_err(|e| api_error(e, &what, None))?;
                list.items
                    .into_iter()
                    .map(|o| {
                        serde_json::to_value(&o)
                            .map_err(|e| ProviderError::fatal(format!("{what}: {e}")))
                    })
                    .collect::<Result<Vec<Json>, ProviderError>>()
            }
        }))
        .await;
        // Objects whose projection differs from state: drift, or only the API server's
        // canonical form of what slipway wrote (`cpu: 0.5` stored as `500m`).
        let mut differing = Vec::new();
        for (((av, k, ns), slots), list) in groups.iter().zip(lists) {
            let list = list?;
            let by_name: HashMap<&str, &Json> = list
                .iter()
                .filter_map(|o| Some((o.pointer("/metadata/name")?.as_str()?, o)))
                .collect();
            for (bi, ri, name) in slots {
                let prior = &batches[*bi].requests[*ri].prior;
                answers[*bi][*ri] = by_name.get(name.as_str()).map(|live| {
                    let observed = Self::observed(prior, live);
                    let stored = |v: &Value| {
                        v.get_attr("object")
                            .filter(|o| !o.is_null())
                            .map(|o| o.unmark_deep().0)
                    };
                    if stored(prior).is_some() && stored(prior) == stored(&observed) {
                        // The server holds what it held after slipway's last apply (canonical
                        // forms included): no drift, and no dry run needed to tell.
                        return kept(prior, observed.get_attr("uid"));
                    }
                    if observed.get_attr("manifest").map(|m| m.unmark_deep().0)
                        != prior.get_attr("manifest").map(|m| m.unmark_deep().0)
                    {
                        let kind = kinds[&(av.clone(), k.clone())].clone();
                        differing.push((*bi, *ri, kind, ns.clone(), (*live).clone()));
                    }
                    observed
                });
            }
        }
        let checks = futures_util::future::join_all(differing.into_iter().map(
            |(bi, ri, kind, ns, live)| {
                let client = client.clone();
                let prior = &batches[bi].requests[ri].prior;
                async move {
                    let same = match kind {
                        Some(kind) => {
                            self.normalisation_only(&client, &kind, ns, prior, &live)
                                .await
                        }
                        None => false,
                    };
                    (bi, ri, same)
                }
            },
        ))
        .await;
        for (bi, ri, same) in checks {
            if same {
                // What the server holds is exactly what applying the state's manifest would
                // give: no drift, keep the manifest as slipway wrote it.
                let prior = &batches[bi].requests[ri].prior;
                let uid = answers[bi][ri].as_ref().and_then(|v| v.get_attr("uid"));
                answers[bi][ri] = Some(kept(prior, uid));
            }
        }
        Ok(answers)
    }
}

/// Whether waiting cannot help: the server's certificate does not verify (wrong CA, wrong
/// `tls_server_name`, expired) or the server refuses the credentials. A server still starting
/// refuses connections or answers 5xx, and is waited for; these are not.
fn never_answers(e: &kube::Error) -> bool {
    if let kube::Error::Api(status) = e {
        return matches!(status.code, 401 | 403);
    }
    let chain = format!("{e:?}");
    [
        "InvalidCertificate",
        "NotValidForName",
        "UnknownIssuer",
        "BadSignature",
        "CertExpired",
    ]
    .iter()
    .any(|k| chain.contains(k))
}

/// An error with its causes, for the one-line messages the CLI prints.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
}

/// An object in state, refreshed as unchanged: as recorded, with the live uid.
fn kept(prior: &Value, uid: Option<Value>) -> Value {
    let mut kept = prior.peel().as_map().cloned().unwrap_or_default();
    if let Some(uid) = uid {
        kept.insert("uid".into(), uid);
    }
    Value::Map(kept)
}

/// The namespace an object lives in: its own, `default` for a namespaced kind without one,
/// none for a cluster-scoped kind.
fn namespace_of(r: &ObjectRef, kind: &Kind) -> Option<String> {
    kind.namespaced
        .then(|| r.namespace.clone().unwrap_or_else(|| "default".into()))
}

fn api_for(client: &kube::Client, kind: &Kind, namespace: Option<&str>) -> Api<DynamicObject> {
    match namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &kind.resource),
        None => Api::all_with(client.clone(), &kind.resource),
    }
}

/// A client error as a provider error naming the object; API server messages are redacted.
fn api_error(e: kube::Error, what: &str, redact: Option<&Redactor>) -> ProviderError {
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
fn conflicts_only_on_own_fields(status: &kube::core::Status, prior: &Json) -> bool {
    let Some(details) = &status.details else {
        return false;
    };
    let fields: Vec<&str> = details
        .causes
        .iter()
        .map(|c| c.field.as_str())
        .filter(|f| !f.is_empty())
        .collect();
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
struct ResourceSettings {
    field_manager: String,
    force_conflicts: bool,
    wait: bool,
    timeout: Duration,
}

impl ResourceSettings {
    fn of(v: &Value) -> Result<ResourceSettings, ProviderError> {
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

fn format_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 && s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

fn config_string(config: &Value, key: &str) -> Option<String> {
    config
        .get_attr(key)
        .and_then(|v| v.peel().as_str().map(str::to_string))
        .filter(|s| !s.is_empty())
}

fn source_of(config: &Value) -> Result<Source, ProviderError> {
    if let Some(path) = config_string(config, "config_path") {
        return Ok(Source::Kubeconfig {
            path,
            context: config_string(config, "config_context"),
        });
    }
    if let Some(host) = config_string(config, "host") {
        return Ok(Source::Attributes {
            host,
            cluster_ca_certificate: config_string(config, "cluster_ca_certificate"),
            client_certificate: config_string(config, "client_certificate"),
            client_key: config_string(config, "client_key"),
            token: config_string(config, "token"),
            tls_server_name: config_string(config, "tls_server_name"),
        });
    }
    if config_string(config, "config_context").is_some() {
        return Err(ProviderError::fatal(
            "config_context needs config_path (the kubeconfig holding that context)",
        ));
    }
    Ok(Source::Default)
}

/// A `kube::Config` for a source. Attributes become an in-memory kubeconfig, so that both
/// ways go through the same loader (PEM handling, TLS server name, token).
async fn kube_config(source: &Source) -> Result<kube::Config, ProviderError> {
    use base64::Engine as _;
    use kube::config::{KubeConfigOptions, Kubeconfig};
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
    match source {
        Source::Deferred => Err(ProviderError::fatal(
            "the kubernetes provider's configuration is not known yet (it depends on resources \
             this apply creates)",
        )),
        Source::Default => kube::Config::infer().await.map_err(|e| {
            ProviderError::fatal(format!(
                "no Kubernetes configuration: set config_path or host in the provider \"kubernetes\" block ({e})"
            ))
        }),
        Source::Kubeconfig { path, context } => {
            let kc = Kubeconfig::read_from(path).map_err(|e| {
                ProviderError::fatal(format!("cannot read kubeconfig {path}: {e}"))
            })?;
            let opts = KubeConfigOptions {
                context: context.clone(),
                ..Default::default()
            };
            kube::Config::from_custom_kubeconfig(kc, &opts)
                .await
                .map_err(|e| ProviderError::fatal(format!("kubeconfig {path}: {e}")))
        }
        Source::Attributes {
            host,
            cluster_ca_certificate,
            client_certificate,
            client_key,
            token,
            tls_server_name,
        } => {
            let mut cluster = serde_json::json!({ "server": host });
            if let Some(ca) = cluster_ca_certificate {
                cluster["certificate-authority-data"] = b64(ca).into();
            }
            if let Some(n) = tls_server_name {
                cluster["tls-server-name"] = n.clone().into();
            }
            let mut user = serde_json::json!({});
            if let Some(c) = client_certificate {
                user["client-certificate-data"] = b64(c).into();
            }
            if let Some(k) = client_key {
                user["client-key-data"] = b64(k).into();
            }
            if let Some(t) = token {
                user["token"] = t.clone().into();
            }
            let doc = serde_json::json!({
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "slipway", "cluster": cluster}],
                "users": [{"name": "slipway", "user": user}],
                "contexts": [{"name": "slipway", "context": {"cluster": "slipway", "user": "slipway"}}],
                "current-context": "slipway",
            });
            // The error of a malformed document could quote the key; say only what is wrong.
            let kc: Kubeconfig = serde_json::from_value(doc).map_err(|_| {
                ProviderError::fatal("the provider \"kubernetes\" attributes do not form a valid configuration")
            })?;
            kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
                .await
                .map_err(|e| ProviderError::fatal(format!("provider \"kubernetes\" ({host}): {e}")))
        }
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
        Ok(crate::provider::PlannedObject {
            planned: Value::Map(planned),
            requires_replace,
        })
    }

    async fn read(
        &self,
        rtype: &str,
        requests: &[ReadRequest],
    ) -> Result<Vec<Option<Value>>, ProviderError> {
        let batch = TypeBatch {
            rtype: rtype.to_string(),
            requests: requests.to_vec(),
        };
        Ok(self
            .read_all(std::slice::from_ref(&batch))
            .await?
            .pop()
            .unwrap_or_default())
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
            return Err(ProviderError::fatal(format!(
                "kubernetes has no resource {rtype}"
            )));
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
            return Err(ProviderError::fatal(format!(
                "kubernetes has no resource {rtype}"
            )));
        }
        let prior_manifest = prior
            .get_attr("manifest")
            .map(|m| m.unmark_deep().0.to_json());
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
        let m = prior
            .get_attr("manifest")
            .map(|m| m.unmark_deep().0.to_json())
            .unwrap_or(Json::Null);
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
        let m = pending
            .get_attr("manifest")
            .map(|m| m.unmark_deep().0.to_json())
            .unwrap_or(Json::Null);
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
            return Err(ProviderError::fatal(format!(
                "kubernetes has no data source {rtype}"
            )));
        }
        let content = config
            .get_attr("content")
            .map(|c| c.peel().clone())
            .unwrap_or(Value::Null);
        let Value::String(text) = content else {
            return Err(ProviderError::fatal(
                "content must be a string of YAML documents",
            ));
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
        let sd = planned
            .get_attr("manifest")
            .unwrap()
            .get_attr("stringData")
            .unwrap();
        assert!(sd.is_sensitive());
    }
}
