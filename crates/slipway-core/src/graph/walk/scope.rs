//! What an expression's references resolve to while walking: [`Scope`] (a module instance's
//! variables, locals, module calls, resources, `each`/`count`/`path`), and the closed scopes of
//! variable validations and `self` inside provisioner-like blocks.

use super::*;

/// The scope of an expression in a module instance.
pub(super) struct Scope<'w, 'a> {
    pub(super) walk: &'w Walk<'a>,
    pub(super) module: ModuleId,
    pub(super) mi: ModuleInstance,
    pub(super) binding: RepetitionBinding,
    pub(super) deps: RefCell<BTreeSet<Dep>>,
    /// Something this scope evaluated or referred to failed (and was reported).
    pub(super) failed: Cell<bool>,
}

impl Scope<'_, '_> {
    pub(super) fn take(&self, e: Evaluated) -> Value {
        self.deps.borrow_mut().extend(e.deps.iter().cloned());
        if e.failed {
            self.failed.set(true);
        }
        e.value
    }

    /// A reference to nothing. StaticGraph::build has reported it already, so the walk carries
    /// on with an unknown instead of repeating the error.
    pub(super) fn missing(&self) -> Result<Value, Diagnostic> {
        self.failed.set(true);
        Ok(Value::Unknown)
    }

    /// `module.NAME`: the call's instances (per its repetition), each an object of its outputs.
    fn resolve_module(&self, c: &str) -> Result<Value, Diagnostic> {
        let w = self.walk;
        let g = w.input.graph;
        let Some(call_node) = g.node(self.module, NodeKind::Call, c) else {
            return self.missing();
        };
        let call = &w.input.config.modules[self.module].module_calls[c];
        let Some(child) = call.child else {
            return Ok(Value::Unknown);
        };
        self.take(w.get(call_node, &self.mi));
        let bindings =
            w.expansions.borrow().get(&(call_node, self.mi.clone())).cloned().unwrap_or_default();
        let mut objects = Vec::new();
        for b in &bindings {
            let child_mi = self.mi.child(c, b.key());
            let mut outs = BTreeMap::new();
            for name in w.input.config.modules[child].outputs.keys() {
                if let Some(on) = g.node(child, NodeKind::Output, name) {
                    outs.insert(name.clone(), self.take(w.get(on, &child_mi)));
                }
            }
            objects.push((b.key(), Value::Map(outs)));
        }
        Ok(collect_instances(&call.repetition, objects))
    }

    /// `aws_x.y` (or `data.…`): the resource's value. The dependency recorded is the one
    /// instance `next_index` picks when it names one, else the whole resource.
    fn resolve_resource(
        &self,
        mode: ResourceMode,
        rtype: &str,
        name: &str,
        next_index: Option<&Value>,
    ) -> Result<Value, Diagnostic> {
        let w = self.walk;
        let g = w.input.graph;
        let key = match mode {
            ResourceMode::Managed => format!("{rtype}.{name}"),
            ResourceMode::Data => format!("data.{rtype}.{name}"),
        };
        let Some(node) = g.node(self.module, NodeKind::Resource, &key) else {
            return self.missing();
        };
        let e = w.get(node, &self.mi);
        if e.failed {
            self.failed.set(true);
        }
        let addr = ResourceAddr {
            module: self.mi.clone(),
            mode,
            rtype: rtype.to_string(),
            name: name.to_string(),
        };
        let r = &w.input.config.modules[self.module].resources[&key];
        let ikey = match (next_index.map(|v| v.peel()), &r.repetition) {
            (Some(Value::Number(n)), Repetition::Count(_)) if *n >= 0.0 && n.fract() == 0.0 => {
                Some(InstanceKey::Int(*n as u64))
            }
            (Some(Value::String(s)), Repetition::ForEach(_)) => Some(InstanceKey::Str(s.clone())),
            _ => None,
        };
        match ikey {
            Some(k) => {
                self.deps.borrow_mut().insert(Dep::Instance(addr.instance(k)));
            }
            None => {
                self.deps.borrow_mut().insert(Dep::Resource(addr));
            }
        }
        Ok(e.value)
    }
}

impl Resolver for Scope<'_, '_> {
    fn resolve(
        &self,
        root: &RefRoot,
        next_index: Option<&Value>,
        span: &Span,
    ) -> Result<Value, Diagnostic> {
        let w = self.walk;
        let g = w.input.graph;
        match root {
            RefRoot::Var(n) => match g.node(self.module, NodeKind::Var, n) {
                Some(x) => Ok(self.take(w.get(x, &self.mi))),
                None => self.missing(),
            },
            RefRoot::Local(n) => match g.node(self.module, NodeKind::Local, n) {
                Some(x) => Ok(self.take(w.get(x, &self.mi))),
                None => self.missing(),
            },
            RefRoot::Module(c) => self.resolve_module(c),
            RefRoot::Resource { mode, rtype, name } => {
                self.resolve_resource(*mode, rtype, name, next_index)
            }
            RefRoot::CountIndex | RefRoot::EachKey | RefRoot::EachValue if self.binding.unknown => {
                Ok(Value::Unknown)
            }
            RefRoot::CountIndex => {
                self.binding.count_index.map(|i| Value::Number(i as f64)).ok_or_else(|| {
                    Diagnostic::error("`count.index` used where `count` is not set")
                        .at(span.clone())
                })
            }
            RefRoot::EachKey => {
                self.binding.each.as_ref().map(|(k, _)| Value::String(k.clone())).ok_or_else(|| {
                    Diagnostic::error("`each.key` used where `for_each` is not set")
                        .at(span.clone())
                })
            }
            RefRoot::EachValue => {
                self.binding.each.as_ref().map(|(_, v)| v.clone()).ok_or_else(|| {
                    Diagnostic::error("`each.value` used where `for_each` is not set")
                        .at(span.clone())
                })
            }
            RefRoot::Path(what) => {
                let p = match what.as_str() {
                    "module" => w.input.config.modules[self.module].dir.clone(),
                    "root" => w.input.config.root().dir.clone(),
                    _ => std::env::current_dir().unwrap_or_default(),
                };
                Ok(Value::String(p.display().to_string()))
            }
            RefRoot::Slipway(_) => Ok(Value::String(w.input.environment.clone())),
        }
    }

    /// `aws_x.y[key]` copies one instance's value, not the whole resource's (which made a
    /// for_each resource referred to by key from each of its N dependents cost O(N²)).
    fn resolve_indexed(
        &self,
        root: &RefRoot,
        key: &Value,
        _span: &Span,
    ) -> Option<Result<Value, Diagnostic>> {
        let RefRoot::Resource { mode, rtype, name } = root else {
            return self.resolve_named_indexed(root, key);
        };
        // A sensitive key marks the result: leave that to the general path.
        if key.is_sensitive() {
            return None;
        }
        let w = self.walk;
        let rkey = match mode {
            ResourceMode::Managed => format!("{rtype}.{name}"),
            ResourceMode::Data => format!("data.{rtype}.{name}"),
        };
        let node = w.input.graph.node(self.module, NodeKind::Resource, &rkey)?;
        let r = &w.input.config.modules[self.module].resources[&rkey];
        // The same instance key `resolve` derives from the index.
        let ikey = match (key, &r.repetition) {
            (Value::Number(n), Repetition::Count(_)) if *n >= 0.0 && n.fract() == 0.0 => {
                InstanceKey::Int(*n as u64)
            }
            (Value::String(s), Repetition::ForEach(_)) => InstanceKey::Str(s.clone()),
            _ => return None,
        };
        let addr = ResourceAddr {
            module: self.mi.clone(),
            mode: *mode,
            rtype: rtype.clone(),
            name: name.clone(),
        };
        if let Some(current) = w.current {
            // Apply: one instance's current value, without building the resource's.
            let declared =
                w.current_bindings(node, &self.mi, |bs| binding_index(bs, &ikey).is_some())?;
            if !declared {
                return None;
            }
            let iaddr = addr.instance(ikey);
            let value = current.get(&iaddr).cloned().unwrap_or(Value::Unknown);
            self.deps.borrow_mut().insert(Dep::Instance(iaddr));
            return Some(Ok(value));
        }
        if !w.ensure(node, &self.mi) {
            return None;
        }
        let value = {
            let memo = w.memo.borrow();
            let e = memo.get(&(node, self.mi.clone()))?;
            if e.failed {
                return None;
            }
            // What indexing the whole value gives when the element exists; anything else
            // (missing key: an error with hints) goes through `resolve` and the index.
            match (&e.value, &ikey) {
                (Value::List(items), InstanceKey::Int(i)) => items.get(*i as usize)?.clone(),
                (Value::Map(map), InstanceKey::Str(s)) => map.get(s)?.clone(),
                _ => return None,
            }
        };
        self.deps.borrow_mut().insert(Dep::Instance(addr.instance(ikey)));
        Some(Ok(value))
    }

    fn base_dir(&self) -> &Path {
        &self.walk.input.config.modules[self.module].dir
    }

    // Without these, `for k, v in local.a_set` would bind indexes: a set's value alone looks
    // like a list.
    fn shape_of_local(&self, name: &str, depth: usize) -> crate::eval::types::Shape {
        use crate::eval::types::ShapeScope as _;
        super::super::ModuleShapes(&self.walk.input.config.modules[self.module]).local(name, depth)
    }

    fn shape_of_variable(&self, name: &str) -> crate::eval::types::Shape {
        use crate::eval::types::ShapeScope as _;
        super::super::ModuleShapes(&self.walk.input.config.modules[self.module]).variable(name)
    }
}

impl Scope<'_, '_> {
    /// `var.x["k"]` and `local.x["k"]` over a map copy one element, not the whole map: in a
    /// module whose N instances each pick their element of a map input of N entries (subnet by
    /// zone, upstream id by key), copying the map per reference cost O(N²). The value and its
    /// dependencies are exactly those of the general path (the whole variable's dependencies:
    /// a value does not know which of its elements came from where); anything but a plain map
    /// with the key present (marks, lists, missing keys and their hints) takes that path.
    pub(super) fn resolve_named_indexed(
        &self,
        root: &RefRoot,
        key: &Value,
    ) -> Option<Result<Value, Diagnostic>> {
        let w = self.walk;
        let g = w.input.graph;
        let node = match root {
            RefRoot::Var(n) => g.node(self.module, NodeKind::Var, n)?,
            RefRoot::Local(n) => g.node(self.module, NodeKind::Local, n)?,
            _ => return None,
        };
        let Value::String(k) = key else {
            return None;
        };
        if !w.ensure(node, &self.mi) {
            return None;
        }
        let memo = w.memo.borrow();
        let e = memo.get(&(node, self.mi.clone()))?;
        let Value::Map(map) = &e.value else {
            return None;
        };
        let value = map.get(k)?.clone();
        self.deps.borrow_mut().extend(e.deps.iter().cloned());
        if e.failed {
            self.failed.set(true);
        }
        Some(Ok(value))
    }
}

/// A scope with no names: variable defaults and values given from outside are constants.
pub(super) struct ClosedScope {
    pub(super) what: &'static str,
    pub(super) base: PathBuf,
}

impl Resolver for ClosedScope {
    fn resolve(&self, root: &RefRoot, _: Option<&Value>, span: &Span) -> Result<Value, Diagnostic> {
        Err(Diagnostic::error(format!("{} cannot refer to `{root}`", self.what))
            .at(span.clone())
            .hint("use a literal value here; compute derived values in `locals`"))
    }

    fn base_dir(&self) -> &Path {
        &self.base
    }
}

/// A validation condition sees only its own variable.
pub(super) struct SelfScope<'v> {
    pub(super) name: &'v str,
    pub(super) value: &'v Value,
    pub(super) base: PathBuf,
}

impl Resolver for SelfScope<'_> {
    fn resolve(&self, root: &RefRoot, _: Option<&Value>, span: &Span) -> Result<Value, Diagnostic> {
        match root {
            RefRoot::Var(n) if n == self.name => Ok(self.value.clone()),
            other => Err(Diagnostic::error(format!(
                "a validation of var.{} cannot refer to `{other}`",
                self.name
            ))
            .at(span.clone())
            .hint("validation conditions may only use the variable being validated")),
        }
    }

    fn base_dir(&self) -> &Path {
        &self.base
    }
}
