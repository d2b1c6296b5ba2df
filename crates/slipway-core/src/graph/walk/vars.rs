//! The walk's values of variables (root inputs: type conversion, defaults, validation, the
//! origin of each value; module inputs: the calling block's argument), locals and outputs.

use super::*;

impl<'a> Walk<'a> {
    pub(super) fn eval_var(&self, module: ModuleId, name: &str, mi: &ModuleInstance) -> Evaluated {
        let var = &self.input.config.modules[module].variables[name];
        // Every error path below (a bad -var or var-file value, a missing required value, a
        // failed type conversion) reports once and yields unknown; without marking the result
        // failed, a `count = var.x` then also reported "known only after apply" (a cascade).
        let errors_before = self.diags.borrow().error_count();
        let (raw, scope, span) = if module == 0 {
            let scope = self.scope(0, mi, RepetitionBinding::default());
            match self.input.root_vars.get(name) {
                Some(input) => {
                    (self.root_input_value(var, input, &scope), scope, input.span.clone())
                }
                None => match &var.default {
                    Some(d) => (self.default_value(d), scope, d.span().unwrap_or(var.span.clone())),
                    None => {
                        self.error(
                            Diagnostic::error(format!("no value for required variable \"{name}\""))
                                .at(var.span.clone())
                                .hint(format!(
                                    "set it with `-var {name}=…`, `SLIPWAY_VAR_{name}`, a `*.vars.hcl` file, or give it a default"
                                )),
                        );
                        (Value::Unknown, scope, var.span.clone())
                    }
                },
            }
        } else {
            let (parent, call_name) = self.parents[&module].clone();
            let call = &self.input.config.modules[parent].module_calls[&call_name];
            let binding = self.binding_of_call(parent, &call_name, mi);
            let scope = self.scope(parent, &mi.parent(), binding);
            match call.args.get(name) {
                Some(attr) => (
                    self.eval_in(&scope, &attr.expr),
                    scope,
                    attr.expr.span().unwrap_or(call.span.clone()),
                ),
                None => match &var.default {
                    Some(d) => (self.default_value(d), scope, d.span().unwrap_or(var.span.clone())),
                    None => (Value::Unknown, scope, call.span.clone()),
                },
            }
        };
        let mut value = match convert(raw, &var.ty) {
            Ok(v) => v,
            Err(e) => {
                let path: String = e.path.iter().map(|p| p.to_string()).collect();
                self.error(
                    Diagnostic::error(format!(
                        "invalid value for variable \"{name}\"{}: {}",
                        if path.is_empty() { String::new() } else { format!(" at {path}") },
                        e.message
                    ))
                    .at(span.clone())
                    .hint(format!("the variable's type is {}", var.ty)),
                );
                Value::Unknown
            }
        };
        if value.is_null() && !var.nullable {
            self.error(
                Diagnostic::error(format!("variable \"{name}\" must not be null"))
                    .at(span.clone())
                    .hint("the variable is declared with `nullable = false`"),
            );
            value = Value::Unknown;
        }
        let value = value.mark_if(var.sensitive);
        self.validate_var(var, &value, &span);
        if self.diags.borrow().error_count() > errors_before {
            scope.failed.set(true);
        }
        self.finish(value, scope)
    }

    pub(super) fn binding_of_call(
        &self,
        parent: ModuleId,
        call: &str,
        mi: &ModuleInstance,
    ) -> RepetitionBinding {
        let Some(node) = self.input.graph.node(parent, NodeKind::Call, call) else {
            return RepetitionBinding::default();
        };
        let key = mi.0.last().map(|(_, k)| k.clone()).unwrap_or_default();
        self.expansions
            .borrow()
            .get(&(node, mi.parent()))
            .and_then(|bs| bs.iter().find(|b| b.key() == key).cloned())
            .unwrap_or_default()
    }

    pub(super) fn default_value(&self, d: &Expr) -> Value {
        let scope =
            ClosedScope { what: "a variable default", base: self.input.config.root().dir.clone() };
        match Evaluator::new(&scope, d.file).eval(&d.expr) {
            Ok(v) => v,
            Err(e) => {
                self.error(e);
                Value::Unknown
            }
        }
    }

    pub(super) fn root_input_value(
        &self,
        var: &crate::config::Variable,
        input: &VarInput,
        scope: &Scope<'_, 'a>,
    ) -> Value {
        match &input.value {
            RawValue::Expr(e) => {
                let closed = ClosedScope {
                    what: "a variables file",
                    base: self.input.config.root().dir.clone(),
                };
                match Evaluator::new(&closed, e.file).eval(&e.expr) {
                    Ok(v) => v,
                    Err(d) => {
                        self.error(d);
                        Value::Unknown
                    }
                }
            }
            RawValue::Text { text, span } => {
                if matches!(var.ty, crate::value::Type::String) {
                    return Value::String(text.clone());
                }
                match hcl::edit::parser::parse_expr(text) {
                    Ok(expr) => {
                        let closed = ClosedScope {
                            what: "a -var value",
                            base: self.input.config.root().dir.clone(),
                        };
                        let _ = scope;
                        match Evaluator::new(&closed, span.file).eval(&expr) {
                            Ok(v) => v,
                            // Offsets inside the pseudo-file are relative to the value's text.
                            Err(mut d) => {
                                d.span = Some(span.clone());
                                self.error(d);
                                Value::Unknown
                            }
                        }
                    }
                    // Not an expression: let the type conversion explain what is wrong.
                    Err(_) => Value::String(text.clone()),
                }
            }
        }
    }

    pub(super) fn validate_var(&self, var: &crate::config::Variable, value: &Value, span: &Span) {
        if value.contains_unknown() {
            return;
        }
        for v in &var.validations {
            let scope =
                SelfScope { name: &var.name, value, base: self.input.config.root().dir.clone() };
            let cond = Evaluator::new(&scope, v.condition.file).eval(&v.condition.expr);
            match cond.as_ref().map(|c| c.peel()) {
                Ok(Value::Bool(true)) | Ok(Value::Unknown) => {}
                Ok(Value::Bool(false)) => {
                    let msg = Evaluator::new(&scope, v.error_message.file)
                        .eval(&v.error_message.expr)
                        .ok()
                        .and_then(|m| {
                            if m.is_sensitive() { None } else { m.as_str().map(str::to_string) }
                        })
                        .unwrap_or_else(|| "the value is not valid".to_string());
                    self.error(
                        Diagnostic::error(format!(
                            "invalid value for variable \"{}\": {msg}",
                            var.name
                        ))
                        .at(span.clone())
                        .label(
                            v.condition.span().unwrap_or(var.span.clone()),
                            "this validation failed",
                        ),
                    );
                }
                Ok(other) => self.error(
                    Diagnostic::error(format!(
                        "a validation condition must be a bool, not {}",
                        other.type_name()
                    ))
                    .at_opt(v.condition.span()),
                ),
                Err(d) => self.error(d.clone()),
            }
        }
    }

    pub(super) fn eval_local(
        &self,
        module: ModuleId,
        name: &str,
        mi: &ModuleInstance,
    ) -> Evaluated {
        let local = &self.input.config.modules[module].locals[name];
        let scope = self.scope(module, mi, RepetitionBinding::default());
        let v = self.eval_in(&scope, &local.expr);
        self.finish(v, scope)
    }

    pub(super) fn eval_output(
        &self,
        module: ModuleId,
        name: &str,
        mi: &ModuleInstance,
    ) -> Evaluated {
        let out = &self.input.config.modules[module].outputs[name];
        let scope = self.scope(module, mi, RepetitionBinding::default());
        let v = self.eval_in(&scope, &out.expr);
        for d in &out.depends_on {
            self.eval_in(&scope, d);
        }
        if v.contains_sensitive() && !out.sensitive {
            self.error(
                Diagnostic::error(format!("output \"{name}\" refers to sensitive values"))
                    .at_opt(out.expr.span())
                    .hint("add `sensitive = true` to the output block to confirm that it may hold a secret"),
            );
        }
        self.finish(v.mark_if(out.sensitive), scope)
    }
}
