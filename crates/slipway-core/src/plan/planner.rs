//! The `Planner`: the walk's handler that decides each instance's planned object and change.
//!
//! **Invariants:** planning does no I/O of its own except through the provider seam (a data
//! source's read, and `Provider::plan_remotely` for a create or update whose configuration is
//! known), run on the tokio runtime handle it was given: the walk runs on a thread that is not a
//! tokio worker. A managed instance with no prior object is a create; one whose create did not
//! finish is a create again (it adopts what exists); otherwise the proposed new state
//! (configuration plus prior computed values) is planned by its provider, and a tainted object,
//! `-replace`, or a changed force-new attribute makes it a replacement.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::Arc;

use super::{Action, PlanOptions, PlannedConfig, ResourceChange, changed_attributes};
use crate::addr::{ResourceInstanceAddr, ResourceMode};
use crate::config::Lifecycle;
use crate::diag::Diagnostic;
use crate::graph::walk::{InstanceContext, InstanceHandler, fill_computed_unknown};
use crate::provider::{Provider, ProviderRegistry, ResourceSchema};
use crate::state::{ResourceState, ResourceStatus, State};
use crate::value::Value;

/// Decides each instance's planned value during the walk.
pub(super) struct Planner<'a> {
    pub(super) refreshed: &'a State,
    pub(super) registry: &'a ProviderRegistry,
    pub(super) options: &'a PlanOptions,
    pub(super) runtime: tokio::runtime::Handle,
    pub(super) changes: RefCell<BTreeMap<ResourceInstanceAddr, ResourceChange>>,
}

/// Terraform's "proposed new state": configuration, with computed attributes the configuration
/// leaves unset taking their prior values.
fn proposed_new(config: &Value, prior: &Value, schema: Option<&ResourceSchema>) -> Value {
    let Some(schema) = schema else {
        return config.clone();
    };
    let mut map = config.as_map().cloned().unwrap_or_default();
    for (name, a) in &schema.block.attributes {
        if a.computed && map.get(name).is_none_or(Value::is_null) {
            map.insert(name.clone(), prior.get_attr(name).unwrap_or(Value::Unknown));
        }
    }
    Value::Map(map)
}

/// The configuration with the attributes `lifecycle.ignore_changes` names (or all of them)
/// taking their prior values, so that a change made outside to them plans as no change.
fn ignoring_changes(config: &Value, prior: &Value, lc: &Lifecycle) -> Value {
    if (lc.ignore_all || !lc.ignore_changes.is_empty())
        && let (Some(mut cm), Some(pm)) = (config.as_map().cloned(), prior.as_map())
    {
        for (k, v) in pm {
            if lc.ignore_all || lc.ignore_changes.contains(k) {
                cm.insert(k.clone(), v.clone());
            }
        }
        return Value::Map(cm);
    }
    config.clone()
}

/// The changed attributes and blocks whose change forces a replacement (schema `force_new`;
/// a computed-only attribute never does).
fn force_new_among(changed: &[String], schema: Option<&ResourceSchema>) -> Vec<String> {
    changed
        .iter()
        .filter(|k| {
            schema.is_some_and(|s| {
                s.block
                    .attributes
                    .get(*k)
                    .is_some_and(|a| a.force_new && !(a.computed && !a.optional && !a.required))
                    || s.block.blocks.get(*k).is_some_and(|b| b.force_new)
            })
        })
        .cloned()
        .collect()
}

impl Planner<'_> {
    fn provider(&self, rtype: &str) -> Option<&Arc<dyn Provider>> {
        self.registry.for_type(rtype)
    }

    /// [`Provider::plan_remotely`] for a create or an update whose configuration is known.
    fn plan_remotely(
        &self,
        ctx: &InstanceContext<'_>,
        prior: Option<&Value>,
        planned: Value,
    ) -> Result<Value, Diagnostic> {
        if ctx.config.contains_unknown() {
            return Ok(planned);
        }
        let rtype = &ctx.resource.rtype;
        let Some(provider) = self.provider(rtype) else {
            return Ok(planned);
        };
        self.runtime.block_on(provider.plan_remotely(rtype, prior, planned)).map_err(|e| {
            Diagnostic::error(format!("{}: {}", ctx.addr, e.message)).at(ctx.resource.span.clone())
        })
    }

    fn plan_managed(&self, ctx: &InstanceContext<'_>) -> Result<Value, Diagnostic> {
        let addr = ctx.addr;
        let rtype = &ctx.resource.rtype;
        let provider = self
            .provider(rtype)
            .ok_or_else(|| Diagnostic::error(format!("no provider for {rtype}")))?;
        let prior = self.refreshed.resources.get(addr);
        let lc = &ctx.resource.lifecycle;
        let mut change = ResourceChange {
            addr: addr.clone(),
            action: Action::NoOp,
            provider: provider.name().to_string(),
            rtype: rtype.clone(),
            before: prior.map(|p| p.value()),
            after: None,
            replace_because: Vec::new(),
            reason: None,
            create_before_destroy: lc.create_before_destroy,
            prevent_destroy: lc.prevent_destroy,
            depends_on: Vec::new(),
            moved_from: None,
            config: None,
        };
        let planned = match prior {
            None => {
                change.action = Action::Create;
                self.plan_create(ctx, provider, None)?
            }
            Some(p) if p.pending_client_token().is_some() => {
                change.action = Action::Create;
                change.reason = Some("an earlier run did not finish creating it (interrupted, or the create failed); the create resumes and adopts whatever exists".into());
                change.before = None;
                self.plan_create(ctx, provider, None)?
            }
            Some(p) => self.plan_existing(ctx, provider, p, &mut change)?,
        };
        // `after` is the value returned, moved from the walk when it ends (see `plan`).
        change.config = Some(PlannedConfig::new(ctx.config, &planned));
        self.changes.borrow_mut().insert(addr.clone(), change);
        Ok(planned)
    }

    /// The planned object of a new object (a create, or the create half of a replacement).
    fn plan_create(
        &self,
        ctx: &InstanceContext<'_>,
        provider: &Arc<dyn Provider>,
        reason: Option<String>,
    ) -> Result<Value, Diagnostic> {
        let proposed = fill_computed_unknown(ctx.config, ctx.schema);
        let planned =
            provider.plan(&ctx.resource.rtype, None, proposed).map(|p| p.planned).map_err(|e| {
                Diagnostic::error(format!("{}: {}", ctx.addr, e.message))
                    .at(ctx.resource.span.clone())
                    .detail(reason.unwrap_or_default())
            })?;
        self.plan_remotely(ctx, None, planned)
    }

    /// An object that exists: no-op, update in place, or replace (tainted, `-replace`, or a
    /// force-new attribute changed), recorded in `change`; returns the planned object.
    fn plan_existing(
        &self,
        ctx: &InstanceContext<'_>,
        provider: &Arc<dyn Provider>,
        p: &ResourceState,
        change: &mut ResourceChange,
    ) -> Result<Value, Diagnostic> {
        let addr = ctx.addr;
        let prior_value = p.value();
        let config = ignoring_changes(ctx.config, &prior_value, &ctx.resource.lifecycle);
        let proposed = proposed_new(&config, &prior_value, ctx.schema);
        let po = provider.plan(&ctx.resource.rtype, Some(&prior_value), proposed).map_err(|e| {
            Diagnostic::error(format!("{addr}: {}", e.message)).at(ctx.resource.span.clone())
        })?;
        let changed = changed_attributes(&prior_value, &po.planned);
        let mut forcing = force_new_among(&changed, ctx.schema);
        forcing.extend(po.requires_replace.iter().cloned());
        forcing.sort();
        forcing.dedup();
        let tainted = p.status == ResourceStatus::Tainted;
        let forced = self.options.replace.contains(addr);
        Ok(if tainted || forced || !forcing.is_empty() {
            change.action = Action::Replace;
            change.replace_because = forcing;
            if tainted {
                change.reason = Some(
                    "tainted: a previous create failed after the object came into being".into(),
                );
            } else if forced {
                change.reason = Some("replacement requested with -replace".into());
            }
            self.plan_create(ctx, provider, None)?
        } else if changed.is_empty() {
            po.planned
        } else {
            change.action = Action::Update;
            self.plan_remotely(ctx, Some(&prior_value), po.planned)?
        })
    }

    fn plan_data(&self, ctx: &InstanceContext<'_>) -> Result<Value, Diagnostic> {
        let rtype = &ctx.resource.rtype;
        let provider = self
            .provider(rtype)
            .ok_or_else(|| Diagnostic::error(format!("no provider for {rtype}")))?;
        if ctx.config.contains_unknown() {
            let after = fill_computed_unknown(ctx.config, ctx.schema);
            self.changes.borrow_mut().insert(
                ctx.addr.clone(),
                ResourceChange {
                    addr: ctx.addr.clone(),
                    action: Action::Read,
                    provider: provider.name().to_string(),
                    rtype: rtype.clone(),
                    before: None,
                    after: None,
                    replace_because: Vec::new(),
                    reason: Some(
                        "its configuration depends on values known only after apply".into(),
                    ),
                    create_before_destroy: false,
                    prevent_destroy: false,
                    depends_on: Vec::new(),
                    moved_from: None,
                    config: Some(PlannedConfig::new(ctx.config, &after)),
                },
            );
            return Ok(after);
        }
        let provider_name = provider.name().to_string();
        let provider = provider.clone();
        let (rtype2, config) = (rtype.clone(), ctx.config.clone());
        let value = self
            .runtime
            .block_on(async move { provider.read_data(&rtype2, &config).await })
            .map(|v| self.registry.mark_sensitive(rtype, v))
            .map_err(|e| {
                Diagnostic::error(format!("reading {}: {}", ctx.addr, e.message))
                    .at(ctx.resource.span.clone())
            })?;
        // Recorded as a no-op so that apply, when it evaluates expressions again, sees the value
        // read now (data sources are not kept in state).
        self.changes.borrow_mut().insert(
            ctx.addr.clone(),
            ResourceChange {
                addr: ctx.addr.clone(),
                action: Action::NoOp,
                provider: provider_name,
                rtype: rtype.clone(),
                before: None,
                after: None,
                replace_because: Vec::new(),
                reason: None,
                create_before_destroy: false,
                prevent_destroy: false,
                depends_on: Vec::new(),
                moved_from: None,
                config: Some(PlannedConfig::new(ctx.config, &value)),
            },
        );
        Ok(value)
    }
}

impl InstanceHandler for Planner<'_> {
    fn instance(&self, ctx: &InstanceContext<'_>) -> Result<Value, Diagnostic> {
        match ctx.addr.resource.mode {
            ResourceMode::Managed => self.plan_managed(ctx),
            ResourceMode::Data => self.plan_data(ctx),
        }
    }
}
