//! `for` expressions and function calls (the library in [`super::super::functions`]; `try`, `can`
//! and `templatefile` here, since they need lazy evaluation).

use super::*;

impl Evaluator<'_> {
    /// (key, value) pairs to iterate: indexes for lists, keys for maps, and for sets the element
    /// twice (Terraform binds `k` of `for k, v in a_set` to the element: a set has no index).
    pub(super) fn iteration_pairs(
        &self,
        coll: Value,
        e: &Expression,
    ) -> Result<Vec<(Value, Value)>, Diagnostic> {
        let is_set = matches!(
            crate::eval::types::shape_of(e, &ResolverShapes(self.resolver), 0),
            crate::eval::types::Shape::Set(_)
        );
        match coll {
            Value::List(items) if is_set => Ok(items.into_iter().map(|v| (v.clone(), v)).collect()),
            Value::List(items) => Ok(items
                .into_iter()
                .enumerate()
                .map(|(i, v)| (Value::Number(i as f64), v))
                .collect()),
            Value::Map(map) => Ok(map.into_iter().map(|(k, v)| (Value::String(k), v)).collect()),
            Value::Null => Err(self.err(e, "cannot iterate over a null value")),
            other => Err(self
                .err(e, format!("cannot iterate over a {}", other.type_name()))
                .hint("`for` iterates over lists, sets and maps")),
        }
    }

    pub(super) fn eval_for(&mut self, f: &hcl::edit::expr::ForExpr) -> Result<Value, Diagnostic> {
        let coll = self.eval(&f.intro.collection_expr)?;
        let (coll, sens) = coll.unmark();
        if matches!(coll, Value::Unknown) {
            return Ok(Value::Unknown.mark_if(sens));
        }
        let pairs = self.iteration_pairs(coll, &f.intro.collection_expr)?;
        let mark = self.bindings.len();
        let result = self.for_body(f, pairs);
        self.bindings.truncate(mark);
        Ok(result?.mark_if(sens))
    }

    pub(super) fn for_body(
        &mut self,
        f: &hcl::edit::expr::ForExpr,
        pairs: Vec<(Value, Value)>,
    ) -> Result<Value, Diagnostic> {
        let mark = self.bindings.len();
        let mut list = Vec::new();
        let mut map: BTreeMap<String, Value> = BTreeMap::new();
        let mut groups: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for (k, v) in pairs {
            self.bindings.truncate(mark);
            if let Some(kv) = &f.intro.key_var {
                self.bindings.push((kv.as_str().to_string(), k));
            }
            self.bindings.push((f.intro.value_var.as_str().to_string(), v));
            if let Some(cond) = &f.cond {
                let c = self.eval(&cond.expr)?;
                match c.peel() {
                    Value::Bool(true) => {}
                    Value::Bool(false) => continue,
                    Value::Unknown => return Ok(Value::Unknown),
                    other => {
                        return Err(self.err(
                            &cond.expr,
                            format!("a `for` condition must be a bool, not {}", other.type_name()),
                        ));
                    }
                }
            }
            let val = self.eval(&f.value_expr)?;
            match &f.key_expr {
                None => list.push(val),
                Some(ke) => {
                    let key = self.eval(ke)?;
                    if key.is_unknown() {
                        return Ok(Value::Unknown);
                    }
                    let Some(key) = key.to_template_string() else {
                        return Err(self.err(
                            ke,
                            format!("a `for` key must be a string, not {}", key.type_name()),
                        ));
                    };
                    if f.grouping {
                        groups.entry(key).or_default().push(val);
                    } else {
                        match map.entry(key) {
                            std::collections::btree_map::Entry::Occupied(o) => {
                                return Err(self
                                    .err(ke, format!("duplicate key \"{}\" in `for` expression", o.key()))
                                    .hint("add `...` after the value to group values with the same key into lists"));
                            }
                            std::collections::btree_map::Entry::Vacant(v) => {
                                v.insert(val);
                            }
                        }
                    }
                }
            }
        }
        Ok(match &f.key_expr {
            None => Value::List(list),
            Some(_) if f.grouping => {
                Value::Map(groups.into_iter().map(|(k, v)| (k, Value::List(v))).collect())
            }
            Some(_) => Value::Map(map),
        })
    }

    pub(super) fn eval_call(
        &mut self,
        whole: &Expression,
        call: &hcl::edit::expr::FuncCall,
    ) -> Result<Value, Diagnostic> {
        let name = call.name.name.as_str();
        let args: Vec<&Expression> = call.args.iter().collect();
        match name {
            "try" => {
                let mut last = None;
                for a in &args {
                    match self.eval(a) {
                        Ok(v) => return Ok(v),
                        Err(d) => last = Some(d),
                    }
                }
                return Err(match last {
                    Some(d) => Diagnostic::error("no argument of try() could be evaluated")
                        .at(self.span(whole))
                        .detail(format!("the last one failed with: {}", d.summary)),
                    None => self.err(whole, "try() needs at least one argument"),
                });
            }
            "can" => {
                if args.len() != 1 {
                    return Err(self.err(whole, "can() takes exactly one argument"));
                }
                return Ok(match self.eval(args[0]) {
                    Ok(v) if v.is_unknown() => Value::Unknown,
                    Ok(_) => Value::Bool(true),
                    Err(_) => Value::Bool(false),
                });
            }
            "templatefile" => return self.templatefile(whole, &args),
            _ => {}
        }
        if functions::arity(name).is_none() {
            let mut d = self.err(whole, format!("unknown function `{name}`"));
            let mut all: Vec<&str> = functions::function_names().to_vec();
            all.extend(["try", "can", "templatefile"]);
            if let Some(c) = closest(name, all.iter().copied()) {
                d = d.hint(format!("did you mean `{c}`?"));
            }
            return Err(d);
        }
        let mut vals = Vec::with_capacity(args.len());
        for a in &args {
            vals.push(self.eval(a)?);
        }
        // `f(list...)` expands the final argument.
        if call.args.expand_final()
            && let Some(last) = vals.pop()
        {
            let (last, s) = last.unmark();
            match last {
                Value::List(items) => vals.extend(items.into_iter().map(|v| v.mark_if(s))),
                Value::Unknown => return Ok(Value::Unknown.mark_if(s)),
                other => {
                    return Err(self
                        .err(whole, format!("`...` expands a list, not a {}", other.type_name())));
                }
            }
        }
        let ctx = FunctionContext { base_dir: self.resolver.base_dir() };
        functions::call_function(name, vals, &ctx).map_err(|fe| {
            let span = fe
                .arg_index
                .and_then(|i| args.get(i))
                .map(|a| self.span(*a))
                .unwrap_or_else(|| self.span(whole));
            Diagnostic::error(format!("{name}(): {}", fe.message)).at(span)
        })
    }
}
