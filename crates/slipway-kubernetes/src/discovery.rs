//! Kinds through discovery: what an apiVersion serves, cached per apiVersion for the run, and
//! the `Api` of one kind in one namespace.
//!
//! **Invariants:** one discovery call per apiVersion per run unless a kind is looked for again
//! (a CRD applied just before, which discovery can lag by a moment); subresources are never kinds.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};

use crate::provider::ProviderError;

use super::apply::api_error;
use super::manifest::ObjectRef;
use super::{KubernetesProvider, lock};

/// One kind an apiVersion serves.
#[derive(Clone, Debug)]
pub(super) struct Served {
    kind: String,
    plural: String,
    namespaced: bool,
}

/// A kind resolved through discovery.
#[derive(Clone)]
pub(super) struct Kind {
    resource: ApiResource,
    namespaced: bool,
}

/// The namespace an object lives in: its own, `default` for a namespaced kind without one,
/// none for a cluster-scoped kind.
pub(super) fn namespace_of(r: &ObjectRef, kind: &Kind) -> Option<String> {
    kind.namespaced.then(|| r.namespace.clone().unwrap_or_else(|| "default".into()))
}

pub(super) fn api_for(
    client: &kube::Client,
    kind: &Kind,
    namespace: Option<&str>,
) -> Api<DynamicObject> {
    match namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &kind.resource),
        None => Api::all_with(client.clone(), &kind.resource),
    }
}

impl KubernetesProvider {
    /// What an apiVersion serves (cached for the run; `fresh` skips the cache). `Ok(None)`
    /// when the API server does not serve the apiVersion at all.
    pub(super) async fn served(
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
            .map(|r| Served { kind: r.kind, plural: r.name, namespaced: r.namespaced })
            .collect();
        let served = Arc::new(served);
        lock(&self.discovery).insert(api_version.to_string(), served.clone());
        Ok(Some(served))
    }

    /// Resolves a kind; `patience` is how long to look again while it is not served (a CRD
    /// just applied). `Ok(None)`: not served.
    pub(super) async fn try_resolve(
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
                None => format!("the API server does not serve apiVersion \"{}\"", r.api_version),
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

    pub(super) async fn resolve(
        &self,
        client: &kube::Client,
        r: &ObjectRef,
        patience: Duration,
    ) -> Result<Kind, ProviderError> {
        self.try_resolve(client, r, patience).await?.map_err(ProviderError::fatal)
    }
}
