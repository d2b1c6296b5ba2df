//! Refresh: every object in state found by the stack's label selector, one LIST per (kind,
//! namespace), and projected onto the manifest slipway wrote.
//!
//! **Invariants:** O(kinds) calls, never a GET per object; a difference that is only the API
//! server's canonical form of slipway's own values (checked by a server-side dry run) is no drift.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use kube::api::{ListParams, Patch, PatchParams, ValidationDirective};
use serde_json::Value as Json;

use crate::provider::{ProviderError, TypeBatch};
use crate::value::Value;

use super::apply::{ResourceSettings, api_error};
use super::connection::Source;
use super::discovery::{Kind, api_for, namespace_of};
use super::manifest::{self, ObjectRef};
use super::{KubernetesProvider, MANIFEST, lock};

/// An object in state, refreshed as unchanged: as recorded, with the live uid.
pub(super) fn kept(prior: &Value, uid: Option<Value>) -> Value {
    let mut kept = prior.peel().as_map().cloned().unwrap_or_default();
    if let Some(uid) = uid {
        kept.insert("uid".into(), uid);
    }
    Value::Map(kept)
}

impl KubernetesProvider {
    /// The refreshed form of one object in state, from the live object.
    pub(super) fn observed(prior: &Value, live: &Json) -> Value {
        let mut out = prior.peel().as_map().cloned().unwrap_or_default();
        let prior_manifest =
            prior.get_attr("manifest").map(|m| m.unmark_deep().0.to_json()).unwrap_or(Json::Null);
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
    pub(super) async fn normalisation_only(
        &self,
        client: &kube::Client,
        kind: &Kind,
        namespace: Option<String>,
        prior: &Value,
        live: &Json,
    ) -> bool {
        let Some(manifest_json) =
            prior.get_attr("manifest").map(|m| manifest::strip_nulls(m.unmark_deep().0.to_json()))
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

    /// The live objects of one kind in one namespace (or cluster-wide) that carry the stack's
    /// labels: one LIST.
    async fn list(
        &self,
        client: &kube::Client,
        kind: &Kind,
        k: &str,
        ns: Option<&str>,
        selector: &str,
    ) -> Result<Vec<Json>, ProviderError> {
        self.count("List");
        let api = api_for(client, kind, ns);
        let what = match ns {
            Some(ns) => format!("listing {k} in namespace {ns}"),
            None => format!("listing {k}"),
        };
        let list = api
            .list(&ListParams::default().labels(selector))
            .await
            .map_err(|e| api_error(e, &what, None))?;
        list.items
            .into_iter()
            .map(|o| {
                serde_json::to_value(&o).map_err(|e| ProviderError::fatal(format!("{what}: {e}")))
            })
            .collect()
    }

    /// Of the objects whose projection differs from state (`differing`: batch and request
    /// index, kind, namespace, live object), keeps as recorded those where the difference is
    /// only the API server's canonical form, told by a server-side dry run.
    async fn keep_normalised(
        &self,
        client: &kube::Client,
        batches: &[TypeBatch],
        differing: Vec<Differing>,
        answers: &mut [Vec<Option<Value>>],
    ) {
        let checks = futures_util::future::join_all(differing.into_iter().map(
            |(bi, ri, kind, ns, live)| {
                let client = client.clone();
                let prior = &batches[bi].requests[ri].prior;
                async move {
                    let same = match kind {
                        Some(kind) => {
                            self.normalisation_only(&client, &kind, ns, prior, &live).await
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
    }

    /// Refreshes every object of the batches: one LIST per (kind, namespace) by label.
    pub(super) async fn read_all(
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
        let refs = object_refs(batches);
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
                    groups.entry((key.0, key.1, ns)).or_default().push((bi, ri, r.name.clone()));
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
                self.list(&client, &kind, k, ns.as_deref(), &selector).await
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
                        v.get_attr("object").filter(|o| !o.is_null()).map(|o| o.unmark_deep().0)
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
        self.keep_normalised(&client, batches, differing, &mut answers).await;
        Ok(answers)
    }
}

/// An object whose projection differs from state: (batch, request) index, its kind (None when
/// no longer served), namespace, and the live object.
type Differing = (usize, usize, Option<Kind>, Option<String>, Json);

/// The objects of the batches that state can name, by (batch, request) index: an object state
/// cannot name is kept as it is, there is nothing to look for.
fn object_refs(batches: &[TypeBatch]) -> Vec<(usize, usize, ObjectRef)> {
    let mut refs = Vec::new();
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
            if let Ok(r) = ObjectRef::of(&m) {
                refs.push((bi, ri, r));
            }
        }
    }
    refs
}
