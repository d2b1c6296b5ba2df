//! `moved { from, to }` blocks: state entries renamed before planning, so that a rename is a
//! move, not a destroy and a create. `from`/`to` are a resource (every instance), an instance, or
//! a module instance (everything under it: `module.network` → `module.cluster.module.network`).
//!
//! **Invariants:** a block whose `to` already holds an entry does nothing (it did its work on an
//! earlier run); the dependencies every state entry records are renamed with the moves, since a
//! destroy without the configuration orders by them.

use std::collections::BTreeMap;

use crate::addr::{ResourceInstanceAddr, ResourceMode};
use crate::diag::{Diagnostic, Diagnostics};
use crate::environment::Environment;
use crate::state::State;

/// Follows `moved { from, to }` blocks of the root module: state entries at `from` are renamed
/// to `to` before planning, so a rename is a move, not a destroy and a create. A `from` without
/// an instance key moves every instance of the resource. `from` and `to` may also both be module
/// instances (`module.network` → `module.cluster.module.network`): everything state holds under
/// the first moves under the second, as in Terraform. Returns (to, from) pairs.
pub(super) fn apply_moved_blocks(
    env: &Environment,
    state: &mut State,
) -> Result<Vec<(ResourceInstanceAddr, ResourceInstanceAddr)>, Diagnostics> {
    let mut moves = Vec::new();
    let mut diags = Diagnostics::default();
    for m in &env.config.root().moved {
        if let (Some(from), Some(to)) = (module_instance(&m.from), module_instance(&m.to)) {
            move_module(state, &from, &to, &mut moves);
            continue;
        }
        let (from, to) =
            match (ResourceInstanceAddr::parse(&m.from), ResourceInstanceAddr::parse(&m.to)) {
                (Ok(f), Ok(t)) => (f, t),
                (Err(e), _) | (_, Err(e)) => {
                    diags.push(
                        Diagnostic::error(format!("invalid moved block: {e}")).at(m.span.clone()),
                    );
                    continue;
                }
            };
        if from.resource.rtype != to.resource.rtype {
            diags.push(
                Diagnostic::error(format!("cannot move {from} to {to}: the resource types differ"))
                    .at(m.span.clone())
                    .hint("a moved block renames; changing the type needs a new resource"),
            );
            continue;
        }
        let whole =
            from.key == crate::addr::InstanceKey::None && to.key == crate::addr::InstanceKey::None;
        let sources: Vec<ResourceInstanceAddr> = state
            .resources
            .keys()
            .filter(|a| if whole { a.resource == from.resource } else { **a == from })
            .cloned()
            .collect();
        for src in sources {
            let dst = if whole { to.resource.instance(src.key.clone()) } else { to.clone() };
            if state.resources.contains_key(&dst) {
                // Already moved (or both exist): the block has done its work.
                continue;
            }
            if let Some(r) = state.resources.remove(&src) {
                state.resources.insert(dst.clone(), r);
                moves.push((dst, src));
            }
        }
    }
    if diags.has_errors() {
        return Err(diags);
    }
    rename_dependencies(state, &moves);
    Ok(moves)
}

/// The dependencies state records name the old addresses; a destroy orders by them (dependents
/// first), so they follow the moves: a role is not deleted before the policy attached to it.
fn rename_dependencies(state: &mut State, moves: &[(ResourceInstanceAddr, ResourceInstanceAddr)]) {
    use crate::addr::{InstanceKey, ResourceAddr};
    let instances: BTreeMap<&ResourceInstanceAddr, &ResourceInstanceAddr> =
        moves.iter().map(|(to, from)| (from, to)).collect();
    // A dependency without a key means every instance of the resource.
    let resources: BTreeMap<&ResourceAddr, &ResourceAddr> =
        moves.iter().map(|(to, from)| (&from.resource, &to.resource)).collect();
    for r in state.resources.values_mut() {
        for d in &mut r.dependencies {
            if let Some(to) = instances.get(&*d) {
                *d = (*to).clone();
            } else if d.key == InstanceKey::None
                && let Some(to) = resources.get(&d.resource)
            {
                *d = to.instance(InstanceKey::None);
            }
        }
    }
}

/// `module.a["k"].module.b` as a module instance; None for anything else (a resource address).
fn module_instance(text: &str) -> Option<crate::addr::ModuleInstance> {
    if !text.starts_with("module.") {
        return None;
    }
    // A module path is a resource address without its resource: parse it with a placeholder.
    let addr = ResourceInstanceAddr::parse(&format!("{text}.m.m")).ok()?;
    (addr.resource.rtype == "m" && addr.resource.mode == ResourceMode::Managed)
        .then_some(addr.resource.module)
}

/// Renames every state entry under module instance `from` to the same place under `to`. An
/// entry whose new address is taken stays (the block already did its work).
fn move_module(
    state: &mut State,
    from: &crate::addr::ModuleInstance,
    to: &crate::addr::ModuleInstance,
    moves: &mut Vec<(ResourceInstanceAddr, ResourceInstanceAddr)>,
) {
    let sources: Vec<ResourceInstanceAddr> = state
        .resources
        .keys()
        .filter(|a| a.resource.module.0.starts_with(&from.0))
        .cloned()
        .collect();
    for src in sources {
        let mut dst = src.clone();
        let mut path = to.0.clone();
        path.extend(src.resource.module.0[from.0.len()..].iter().cloned());
        dst.resource.module = crate::addr::ModuleInstance(path);
        if state.resources.contains_key(&dst) {
            continue;
        }
        if let Some(r) = state.resources.remove(&src) {
            state.resources.insert(dst.clone(), r);
            moves.push((dst, src));
        }
    }
}
