//! Expansion: `count`/`for_each` turned into instance keys and bindings, module calls into module
//! instances, and each resource instance's configuration evaluated and handed to the
//! [`InstanceHandler`] with its exact dependencies.

use super::*;

impl<'a> Walk<'a> {
    /// Expands `count`/`for_each` into bindings, reporting why it cannot when it cannot.
    pub(super) fn expand(
        &self,
        rep: &Repetition,
        scope: &Scope<'_, 'a>,
        what: &str,
    ) -> Option<Vec<RepetitionBinding>> {
        match rep {
            Repetition::Single => Some(vec![RepetitionBinding::default()]),
            Repetition::Count(e) => self.expand_count(e, scope, what),
            Repetition::ForEach(e) => self.expand_for_each(e, scope, what),
        }
    }

    /// `count = N`: one binding per index, N a whole number from 0 to `MAX_EXPANSION`, known
    /// and not sensitive.
    fn expand_count(
        &self,
        e: &Expr,
        scope: &Scope<'_, 'a>,
        what: &str,
    ) -> Option<Vec<RepetitionBinding>> {
        let v = self.eval_in(scope, e);
        let span = e.span();
        if v.contains_unknown() {
            if !scope.failed.get() {
                self.unknown_expansion("count", what, span);
            }
            return None;
        }
        if v.is_sensitive() {
            self.error(
                Diagnostic::error("`count` cannot be sensitive")
                    .at_opt(span)
                    .hint("use nonsensitive() if the number itself is not secret"),
            );
            return None;
        }
        let n = match crate::eval::expr::to_number(&v) {
            Some(n) if n >= 0.0 && n.fract() == 0.0 && n <= MAX_EXPANSION => n as u64,
            Some(n) => {
                self.error(
                    Diagnostic::error(format!("invalid count {}", format_number(n)))
                        .at_opt(span)
                        .hint(format!(
                            "count must be a whole number from 0 to {}",
                            MAX_EXPANSION as u64
                        )),
                );
                return None;
            }
            None => {
                self.error(
                    Diagnostic::error(format!("count must be a number, not {}", v.type_name()))
                        .at_opt(span),
                );
                return None;
            }
        };
        Some(
            (0..n)
                .map(|i| RepetitionBinding { count_index: Some(i), ..Default::default() })
                .collect(),
        )
    }

    /// `for_each` over a map, or a set (list) of strings: one binding per key, in key order,
    /// keys neither unknown nor sensitive (they appear in plans and state).
    fn expand_for_each(
        &self,
        e: &Expr,
        scope: &Scope<'_, 'a>,
        what: &str,
    ) -> Option<Vec<RepetitionBinding>> {
        let v = self.eval_in(scope, e);
        let span = e.span();
        if v.is_sensitive() {
            self.error(
                Diagnostic::error(
                    "`for_each` cannot be sensitive: instance keys appear in plans and state",
                )
                .at_opt(span)
                .hint(
                    "iterate over non-secret keys and look the secret values up inside the block",
                ),
            );
            return None;
        }
        let pairs: Vec<(String, Value)> = match v {
            Value::Unknown => {
                if !scope.failed.get() {
                    self.unknown_expansion("for_each", what, span);
                }
                return None;
            }
            Value::Map(map) => map.into_iter().collect(),
            Value::List(items) => {
                let mut out = Vec::new();
                for item in items {
                    match item.peel() {
                        Value::String(s) => out.push((s.clone(), item.clone())),
                        Value::Unknown => {
                            if !scope.failed.get() {
                                self.unknown_expansion("for_each", what, span);
                            }
                            return None;
                        }
                        other => {
                            self.error(
                                Diagnostic::error(format!("for_each over a list of {}s", other.type_name()))
                                    .at_opt(span)
                                    .hint("for_each takes a map, or a set of strings: convert with toset() or build a map with a `for` expression"),
                            );
                            return None;
                        }
                    }
                }
                out.sort_by(|a, b| a.0.cmp(&b.0));
                out.dedup_by(|a, b| a.0 == b.0);
                out
            }
            other => {
                self.error(
                    Diagnostic::error(format!("for_each must be a map or a set of strings, not {}", other.type_name()))
                        .at_opt(span)
                        .hint("for example: `for_each = toset([\"a\", \"b\"])` or `for_each = var.nodes` (a map)"),
                );
                return None;
            }
        };
        if pairs.len() as f64 > MAX_EXPANSION {
            self.error(
                Diagnostic::error(format!(
                    "for_each has {} elements, more than {}",
                    pairs.len(),
                    MAX_EXPANSION as u64
                ))
                .at_opt(span),
            );
            return None;
        }
        Some(
            pairs
                .into_iter()
                .map(|(k, v)| RepetitionBinding { each: Some((k, v)), ..Default::default() })
                .collect(),
        )
    }

    pub(super) fn unknown_expansion(&self, meta: &str, what: &str, span: Option<Span>) {
        self.error(
            Diagnostic::error(format!("the `{meta}` of {what} depends on values known only after apply"))
                .at_opt(span)
                .detail("slipway must know how many instances to create before it can plan them")
                .hint(format!(
                    "base `{meta}` on variables or locals known at plan time (e.g. for_each over a map with static keys), or apply the resources it depends on first with `-target`"
                )),
        );
    }

    pub(super) fn eval_call(
        &self,
        node: NodeIndex,
        module: ModuleId,
        name: &str,
        mi: &ModuleInstance,
    ) -> Evaluated {
        let call = &self.input.config.modules[module].module_calls[name];
        let scope = self.scope(module, mi, RepetitionBinding::default());
        let what = format!("module \"{name}\"");
        let bindings = self.expand(&call.repetition, &scope, &what).unwrap_or_default();
        for d in &call.depends_on {
            self.eval_in(&scope, d);
            self.depend_on_whole_modules(&scope, d);
        }
        let evaluated = self.finish(Value::Null, scope);
        if let Some(child) = call.child {
            let mut inherited: BTreeSet<Dep> =
                self.inherited.borrow().get(mi).map(|s| (**s).clone()).unwrap_or_default();
            if !call.depends_on.is_empty() {
                inherited.extend(evaluated.deps.iter().cloned());
            }
            let inherited = Arc::new(inherited);
            let mut mis = self.module_instances.borrow_mut();
            let list = mis.entry(child).or_default();
            for b in &bindings {
                let child_mi = mi.child(name, b.key());
                self.inherited.borrow_mut().insert(child_mi.clone(), inherited.clone());
                list.push(child_mi);
            }
        }
        self.expansions.borrow_mut().insert((node, mi.clone()), bindings);
        evaluated
    }

    pub(super) fn eval_resource(
        &self,
        module: ModuleId,
        key: &str,
        mi: &ModuleInstance,
    ) -> Evaluated {
        let r = &self.input.config.modules[module].resources[key];
        let addr = ResourceAddr {
            module: mi.clone(),
            mode: r.mode,
            rtype: r.rtype.clone(),
            name: r.name.clone(),
        };
        let schema = match r.mode {
            ResourceMode::Managed => self.input.registry.resource_schema(&r.rtype),
            ResourceMode::Data => self.input.registry.data_schema(&r.rtype),
        };
        if schema.is_none()
            && self.unknown_types_reported.borrow_mut().insert((module, key.to_string()))
        {
            self.report_unknown_type(r);
        }
        let scope = self.scope(module, mi, RepetitionBinding::default());
        let bindings = self.expand(&r.repetition, &scope, &format!("{addr}"));
        for d in &r.depends_on {
            self.eval_in(&scope, d);
            self.depend_on_whole_modules(&scope, d);
        }
        let shared = self.finish(Value::Null, scope).deps;
        let via_provider = self.provider_block_deps(crate::provider::provider_name_of(&r.rtype));
        let Some(bindings) = bindings else {
            // Still check the body once, so its own mistakes are reported in the same run.
            self.check_unexpanded_body(module, mi, r, schema);
            return Evaluated {
                value: Value::Unknown,
                deps: Arc::new(BTreeSet::from([Dep::Resource(addr)])),
                failed: true,
            };
        };
        let mut instance_values = Vec::with_capacity(bindings.len());
        let mut members = Vec::with_capacity(bindings.len());
        for b in &bindings {
            let iaddr = addr.instance(b.key());
            let scope = self.scope(module, mi, b.clone());
            let mut ev = Evaluator::new(&scope, r.span.file);
            let mut diags = Diagnostics::default();
            let config = if !self.handler.needs_config(&iaddr) {
                Value::Null
            } else {
                eval_resource_body(&mut ev, r, schema, &mut diags)
            };
            let has_errors = diags.has_errors();
            for d in diags.0 {
                self.error(d);
            }
            let deps = self.instance_deps(scope.deps.into_inner(), &shared, &via_provider, mi);
            let ctx = InstanceContext { addr: &iaddr, resource: r, schema, config: &config };
            let value = if has_errors {
                Value::Unknown
            } else {
                match self.handler.instance(&ctx) {
                    Ok(v) => v,
                    Err(d) => {
                        self.error(d);
                        Value::Unknown
                    }
                }
            };
            instance_values.push((b.key(), value));
            members.push(self.register_instance(iaddr, module, key, &deps));
        }
        // Registered after its instances, so that an instance's own resource is never among its
        // whole-resource dependencies (only a reported cycle could ask for it).
        self.resources.borrow_mut().insert(addr.clone(), members);
        let value = collect_instances(&r.repetition, instance_values);
        Evaluated { value, deps: Arc::new(BTreeSet::from([Dep::Resource(addr)])), failed: false }
    }

    /// Records an evaluated instance with its dependencies; returns its index among the
    /// walk's instances.
    fn register_instance(
        &self,
        iaddr: ResourceInstanceAddr,
        module: ModuleId,
        key: &str,
        deps: &BTreeSet<Dep>,
    ) -> u32 {
        // Edges are only wanted with the configuration (plan, graph); resolving them for
        // every instance of a walk per apply operation made apply quadratic.
        let depends_on = if self.handler.needs_config(&iaddr) {
            self.resolve_deps(deps)
        } else {
            Default::default()
        };
        let (index, _) = self.instances.borrow_mut().insert_full(
            iaddr.clone(),
            PlannedInstance { addr: iaddr, module, resource_key: key.to_string(), depends_on },
        );
        index as u32
    }

    /// The body of a resource whose instances are not known yet, evaluated once with unknown
    /// `count.index`/`each`, only to report its own mistakes.
    fn check_unexpanded_body(
        &self,
        module: ModuleId,
        mi: &ModuleInstance,
        r: &Resource,
        schema: Option<&ResourceSchema>,
    ) {
        let binding = RepetitionBinding { unknown: true, ..Default::default() };
        let scope = self.scope(module, mi, binding);
        let mut ev = Evaluator::new(&scope, r.span.file);
        let mut diags = Diagnostics::default();
        eval_resource_body(&mut ev, r, schema, &mut diags);
        for d in diags.0 {
            self.error(d);
        }
    }

    /// An instance's dependencies: what its own configuration refers to, what the resource's
    /// `count`/`for_each`/`depends_on` (`shared`) and its provider block refer to, and what its
    /// module instance inherits from the module call.
    fn instance_deps(
        &self,
        mut deps: BTreeSet<Dep>,
        shared: &BTreeSet<Dep>,
        via_provider: &Option<Arc<BTreeSet<Dep>>>,
        mi: &ModuleInstance,
    ) -> BTreeSet<Dep> {
        deps.extend(shared.iter().cloned());
        if let Some(p) = via_provider {
            deps.extend(p.iter().cloned());
        }
        if let Some(inh) = self.inherited.borrow().get(mi) {
            deps.extend(inh.iter().cloned());
        }
        deps
    }

    /// Turns resource-level and instance-level dependencies into indexes. A reference by a key
    /// that names no instance stands for the whole resource, as it always has. A resource not
    /// expanded (yet: only on a reported cycle) contributes nothing.
    pub(super) fn resolve_deps(&self, deps: &BTreeSet<Dep>) -> Vec<DepRef> {
        let instances = self.instances.borrow();
        let resources = self.resources.borrow();
        let mut out = Vec::with_capacity(deps.len());
        for d in deps {
            let whole = match d {
                Dep::Instance(a) => match instances.get_index_of(a) {
                    Some(i) => {
                        out.push(DepRef::Instance(i as u32));
                        continue;
                    }
                    None => &a.resource,
                },
                Dep::Resource(r) => r,
            };
            if let Some(r) = resources.get_index_of(whole) {
                out.push(DepRef::Resource(r as u32));
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    pub(super) fn report_unknown_type(&self, r: &Resource) {
        let (what, names): (&str, Vec<String>) = match r.mode {
            ResourceMode::Managed => (
                "resource type",
                self.input
                    .registry
                    .names()
                    .filter_map(|p| self.input.registry.get(p))
                    .flat_map(|p| p.schema().resources.keys().cloned().collect::<Vec<_>>())
                    .collect(),
            ),
            ResourceMode::Data => (
                "data source",
                self.input
                    .registry
                    .names()
                    .filter_map(|p| self.input.registry.get(p))
                    .flat_map(|p| p.schema().data_sources.keys().cloned().collect::<Vec<_>>())
                    .collect(),
            ),
        };
        let mut d = Diagnostic::error(format!("unknown {what} `{}`", r.rtype)).at(r.span.clone());
        d = match closest(&r.rtype, names.iter().map(String::as_str)) {
            Some(c) => d.hint(format!("did you mean `{c}`?")),
            None => d.hint(format!(
                "providers in this build: {}",
                self.input.registry.names().collect::<Vec<_>>().join(", ")
            )),
        };
        self.error(d);
    }
}

/// The value references see for something expanded by `count`/`for_each`: the single
/// instance's value, a list by index, or a map by key.
pub(super) fn collect_instances(rep: &Repetition, instances: Vec<(InstanceKey, Value)>) -> Value {
    match rep {
        Repetition::Single => {
            instances.into_iter().next().map(|(_, v)| v).unwrap_or(Value::Unknown)
        }
        Repetition::Count(_) => Value::List(instances.into_iter().map(|(_, v)| v).collect()),
        Repetition::ForEach(_) => Value::Map(
            instances
                .into_iter()
                .map(|(k, v)| (if let InstanceKey::Str(s) = k { s } else { String::new() }, v))
                .collect(),
        ),
    }
}

/// Whether no `each.value` of these bindings holds an unknown (so they are final in apply).
pub(super) fn bindings_known(bindings: &[RepetitionBinding]) -> bool {
    bindings.iter().all(|b| b.each.as_ref().is_none_or(|(_, v)| !v.contains_unknown()))
}

/// The position of the binding with instance key `key`: `count` bindings are in index order
/// and `for_each` ones sorted by key (see [`Walk::expand`]), so this is a lookup, not a scan.
pub(super) fn binding_index(bindings: &[RepetitionBinding], key: &InstanceKey) -> Option<usize> {
    let found = match key {
        InstanceKey::Int(i) => usize::try_from(*i)
            .ok()
            .filter(|&i| bindings.get(i).is_some_and(|b| b.count_index == Some(i as u64))),
        InstanceKey::Str(s) => bindings
            .binary_search_by(|b| b.each.as_ref().map(|(k, _)| k.as_str()).cmp(&Some(s.as_str())))
            .ok(),
        InstanceKey::None => None,
    };
    // Order is an optimisation only: a key is never missed because of it.
    found.or_else(|| bindings.iter().position(|b| b.key() == *key))
}

/// Evaluates a body without a schema (unknown resource type), to still report expression errors.
pub(super) fn eval_schemaless(
    ev: &mut Evaluator<'_>,
    body: &crate::config::Body,
    diags: &mut Diagnostics,
) -> Value {
    let mut out = BTreeMap::new();
    for (name, attr) in &body.attrs {
        ev.file = attr.expr.file;
        match ev.eval(&attr.expr.expr) {
            Ok(v) => {
                out.insert(name.clone(), v);
            }
            Err(d) => diags.push(d),
        }
    }
    Value::Map(out)
}

/// A resource's body against its schema; without one (a type no provider has, already
/// reported), as a schemaless object.
fn eval_resource_body(
    ev: &mut Evaluator<'_>,
    r: &Resource,
    schema: Option<&ResourceSchema>,
    diags: &mut Diagnostics,
) -> Value {
    match schema {
        Some(s) => eval_body(ev, &r.body, &s.block, &r.span, diags),
        None => eval_schemaless(ev, &r.body, diags),
    }
}
