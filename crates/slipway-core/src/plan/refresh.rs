//! Refresh: the prior state as the providers read it now, and the drift between the two.
//!
//! **Invariants:** each provider is asked once, with every type of its own in state
//! ([`Provider::read_types`]), so types that list the same objects share one call and a
//! refresh costs O(types) calls, not O(objects); data sources and objects whose create has not
//! finished (a pending client token) are not read. An object the provider no longer finds
//! leaves the refreshed state; every difference is reported as a [`Drift`].

use std::collections::BTreeMap;
use std::sync::Arc;

use super::Drift;
use crate::addr::ResourceMode;
use crate::diag::{Diagnostic, Diagnostics};
use crate::eval::expr::values_equal;
use crate::provider::{Provider, ProviderRegistry, ReadRequest, TypeBatch};
use crate::state::State;
use crate::value::Value;

/// Reads every resource instance in state through its provider, one batched call per type.
/// Returns the refreshed state and the drift found.
pub async fn refresh(
    state: &State,
    registry: &ProviderRegistry,
) -> Result<(State, Vec<Drift>), Diagnostics> {
    // One task per provider, which sees all its types at once (they may share reads).
    let mut tasks = Vec::new();
    for (_, (p, batches)) in batches_by_provider(state, registry)? {
        tasks.push(tokio::spawn(async move {
            let results = p.read_types(&batches).await;
            (batches, results)
        }));
    }
    let mut refreshed = state.clone();
    let mut drift = Vec::new();
    let mut diags = Diagnostics::default();
    let mut answers = Vec::new();
    for t in tasks {
        match t.await {
            Ok((batches, results)) if results.len() == batches.len() => {
                answers.extend(batches.into_iter().zip(results))
            }
            Ok((batches, results)) => diags.push(Diagnostic::error(format!(
                "provider answered {} of {} batches in refresh",
                results.len(),
                batches.len()
            ))),
            Err(e) => diags.push(Diagnostic::error(format!("refresh task failed: {e}"))),
        }
    }
    for (TypeBatch { rtype, requests }, result) in answers {
        match result {
            Ok(objects) => {
                record_objects(registry, &rtype, requests, objects, &mut refreshed, &mut drift)
            }
            Err(e) => diags.push(Diagnostic::error(format!("refreshing {rtype}: {}", e.message))),
        }
    }
    if diags.has_errors() { Err(diags) } else { Ok((refreshed, drift)) }
}

/// A refresh's read requests by provider name: the provider and one batch per type of its own.
type ProviderBatches<'r> = BTreeMap<&'r str, (Arc<dyn Provider>, Vec<TypeBatch>)>;

/// The read requests of a refresh, by type and then by the provider that handles the type.
/// A type no provider of this build handles is an error: its objects could not be refreshed.
fn batches_by_provider<'r>(
    state: &State,
    registry: &'r ProviderRegistry,
) -> Result<ProviderBatches<'r>, Diagnostics> {
    let mut by_type: BTreeMap<String, Vec<ReadRequest>> = BTreeMap::new();
    for (addr, r) in &state.resources {
        if addr.resource.mode == ResourceMode::Data || r.pending_client_token().is_some() {
            continue;
        }
        by_type
            .entry(r.rtype.clone())
            .or_default()
            .push(ReadRequest { address: addr.clone(), prior: r.value() });
    }
    let mut by_provider: ProviderBatches = BTreeMap::new();
    for (rtype, requests) in by_type {
        let Some(p) = registry.for_type(&rtype).cloned() else {
            return Err(Diagnostics(vec![Diagnostic::error(format!(
                "state holds {rtype} objects but no provider in this build handles that type"
            ))]));
        };
        by_provider
            .entry(p.name())
            .or_insert_with(|| (p, Vec::new()))
            .1
            .push(TypeBatch { rtype, requests });
    }
    Ok(by_provider)
}

/// Records what a provider read for one type's requests (in the same order): a changed object
/// replaces its prior value, one no longer found leaves the refreshed state, and either is
/// drift.
fn record_objects(
    registry: &ProviderRegistry,
    rtype: &str,
    requests: Vec<ReadRequest>,
    objects: Vec<Option<Value>>,
    refreshed: &mut State,
    drift: &mut Vec<Drift>,
) {
    for (req, now) in requests.into_iter().zip(objects) {
        let now = now.map(|v| registry.mark_sensitive(rtype, v));
        let changed = match &now {
            Some(v) => !values_equal(v, &req.prior),
            None => true,
        };
        if changed {
            match &now {
                Some(v) => {
                    if let Some(r) = refreshed.resources.get_mut(&req.address) {
                        r.set_value(v);
                    }
                }
                None => {
                    refreshed.resources.remove(&req.address);
                }
            }
            drift.push(Drift { addr: req.address, before: req.prior, after: now });
        }
    }
}
