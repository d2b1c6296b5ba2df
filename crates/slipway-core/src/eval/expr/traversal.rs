//! References and traversals: a name resolved through the [`Resolver`] or a local binding,
//! then attribute, index and splat steps, with unknowns and marks carried through.

use super::*;

impl Evaluator<'_> {
    pub(super) fn eval_traversal(
        &mut self,
        whole: &Expression,
        base: &str,
        ops: &[&TraversalOperator],
    ) -> Result<Value, Diagnostic> {
        let whole_span = self.span(whole);
        let op_spans: Vec<Span> = match whole {
            Expression::Traversal(t) => t.operators.iter().map(|o| self.span(o)).collect(),
            _ => Vec::new(),
        };
        let spanned: Vec<(&TraversalOperator, Span)> = ops
            .iter()
            .enumerate()
            .map(|(i, o)| (*o, op_spans.get(i).cloned().unwrap_or_else(|| whole_span.clone())))
            .collect();
        if let Some(v) = self.lookup_binding(base) {
            return self.apply_ops(v, &spanned);
        }
        if self.closed_scope {
            let names: Vec<&str> = self.bindings.iter().map(|(n, _)| n.as_str()).collect();
            let mut d = self.err(whole, format!("unknown variable `{base}` in template"));
            if let Some(c) = closest(base, names.iter().copied()) {
                d = d.hint(format!("did you mean `{c}`?"));
            } else {
                d = d.hint("a template sees only the variables passed to templatefile()");
            }
            return Err(d);
        }
        let (root, used) = split_reference(base, ops).map_err(|m| self.err(whole, m))?;
        // The key right after the root lets the resolver depend on one instance, not all.
        let next_index = match ops.get(used) {
            Some(TraversalOperator::Index(ix)) => match self.eval(ix) {
                Ok(v) if !v.contains_unknown() => Some(v),
                _ => None,
            },
            Some(TraversalOperator::LegacyIndex(n)) => Some(Value::Number(*n.value() as f64)),
            _ => None,
        };
        let root_span = match (whole.span(), op_spans.get(used.saturating_sub(1))) {
            (Some(w), Some(o)) => Span::new(self.file, w.start..o.range.end),
            _ => self.span(whole),
        };
        if let Some(key) = &next_index
            && let Some(v) = self.resolver.resolve_indexed(&root, key, &root_span)
        {
            // The index right after the root is applied already.
            return self.apply_ops(v?, spanned.get(used + 1..).unwrap_or(&[]));
        }
        let v = self.resolver.resolve(&root, next_index.as_ref(), &root_span)?;
        self.apply_ops(v, spanned.get(used..).unwrap_or(&[]))
    }

    pub(super) fn apply_ops(
        &mut self,
        mut v: Value,
        ops: &[(&TraversalOperator, Span)],
    ) -> Result<Value, Diagnostic> {
        let mut i = 0;
        while i < ops.len() {
            let (op, span) = &ops[i];
            match op {
                TraversalOperator::GetAttr(name) => v = self.get_attr(v, name.as_str(), span)?,
                TraversalOperator::Index(ix) => {
                    let key = self.eval(ix)?;
                    v = self.index(v, key, span)?;
                }
                TraversalOperator::LegacyIndex(n) => {
                    v = self.index(v, Value::Number(*n.value() as f64), span)?
                }
                TraversalOperator::FullSplat(_) | TraversalOperator::AttrSplat(_) => {
                    let full = matches!(op, TraversalOperator::FullSplat(_));
                    // A splat applies the following operators to each element: all of them for
                    // `[*]`, only the attribute accesses for the legacy `.*`.
                    let end = if full {
                        ops.len()
                    } else {
                        ops[i + 1..]
                            .iter()
                            .position(|(o, _)| !matches!(o, TraversalOperator::GetAttr(_)))
                            .map(|p| i + 1 + p)
                            .unwrap_or(ops.len())
                    };
                    let rest = &ops[i + 1..end];
                    let (inner, sens) = v.unmark();
                    let items = match inner {
                        Value::Unknown => return Ok(Value::Unknown.mark_if(sens)),
                        Value::Null => Vec::new(),
                        Value::List(items) => items,
                        other => vec![other],
                    };
                    let mut out = Vec::with_capacity(items.len());
                    for item in items {
                        out.push(self.apply_ops(item, rest)?);
                    }
                    v = Value::List(out).mark_if(sens);
                    i = end;
                    continue;
                }
            }
            i += 1;
        }
        Ok(v)
    }

    pub(super) fn get_attr(&self, v: Value, name: &str, span: &Span) -> Result<Value, Diagnostic> {
        let (inner, sens) = v.unmark();
        match inner {
            Value::Unknown => Ok(Value::Unknown.mark_if(sens)),
            Value::Map(mut map) => match map.remove(name) {
                Some(x) => Ok(x.mark_if(sens)),
                None => {
                    let mut d =
                        Diagnostic::error(format!("no attribute `{name}`")).at(span.clone());
                    if let Some(c) = closest(name, map.keys().map(String::as_str)) {
                        d = d.hint(format!("did you mean `{c}`?"));
                    } else if !map.is_empty() && map.len() <= 12 {
                        d = d.hint(format!(
                            "the object has: {}",
                            map.keys().map(String::as_str).collect::<Vec<_>>().join(", ")
                        ));
                    }
                    Err(d)
                }
            },
            Value::Null => {
                Err(Diagnostic::error(format!("cannot read `{name}` of a null value"))
                    .at(span.clone()))
            }
            Value::List(_) => Err(Diagnostic::error(format!("cannot read `{name}` of a list"))
                .at(span.clone())
                .hint(format!(
                    "pick an element first (`[0].{name}`) or use a splat (`[*].{name}`)"
                ))),
            other => {
                Err(Diagnostic::error(format!("cannot read `{name}` of a {}", other.type_name()))
                    .at(span.clone()))
            }
        }
    }

    pub(super) fn index(&self, v: Value, key: Value, span: &Span) -> Result<Value, Diagnostic> {
        let (inner, sens) = v.unmark();
        let (key, ksens) = key.unmark();
        let sens = sens || ksens;
        if matches!(inner, Value::Unknown) || matches!(key, Value::Unknown) {
            return Ok(Value::Unknown.mark_if(sens));
        }
        match inner {
            Value::List(items) => {
                let Some(n) = to_number(&key) else {
                    return Err(Diagnostic::error(format!(
                        "a list index must be a number, not {}",
                        key.type_name()
                    ))
                    .at(span.clone()));
                };
                if n < 0.0 || n.fract() != 0.0 || n as usize >= items.len() {
                    return Err(Diagnostic::error(format!(
                        "index {} out of range",
                        format_number(n)
                    ))
                    .at(span.clone())
                    .detail(format!(
                        "the list has {} element{}",
                        items.len(),
                        if items.len() == 1 { "" } else { "s" }
                    )));
                }
                Ok(items.into_iter().nth(n as usize).unwrap_or_default().mark_if(sens))
            }
            Value::Map(mut map) => {
                let Some(k) = key.to_template_string() else {
                    return Err(Diagnostic::error(format!(
                        "a map key must be a string, not {}",
                        key.type_name()
                    ))
                    .at(span.clone()));
                };
                match map.remove(&k) {
                    Some(x) => Ok(x.mark_if(sens)),
                    None => {
                        let mut d = Diagnostic::error(format!("no element with key \"{k}\""))
                            .at(span.clone());
                        if let Some(c) = closest(&k, map.keys().map(String::as_str)) {
                            d = d.hint(format!("did you mean \"{c}\"?"));
                        }
                        Err(d)
                    }
                }
            }
            Value::Null => Err(Diagnostic::error("cannot index a null value").at(span.clone())),
            other => {
                Err(Diagnostic::error(format!("cannot index a {}", other.type_name()))
                    .at(span.clone()))
            }
        }
    }
}
