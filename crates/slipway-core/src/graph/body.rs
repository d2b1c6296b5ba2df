//! Evaluation of a resource body against the schema its provider publishes.
//!
//! The result is the instance's *configuration value*: a map with every schema attribute (unset
//! ones null, or their schema default), nested blocks as objects or lists of objects, values
//! converted to the schema's types, and sensitive attributes marked. Every problem (unknown
//! attribute, wrong type, a value outside the attribute's `one_of`, missing required attribute,
//! computed attribute set by the user) is a diagnostic; evaluation goes on to find the rest.

use std::collections::BTreeMap;

use crate::config::{Body, NestedBlock};
use crate::diag::{Diagnostic, Diagnostics, Span, closest};
use crate::eval::convert::convert;
use crate::eval::expr::Evaluator;
use crate::provider::{BlockNesting, Schema};
use crate::value::Value;

/// Evaluates `body` against `schema`. `block_span` is where to point for missing attributes.
pub fn eval_body(
    ev: &mut Evaluator<'_>,
    body: &Body,
    schema: &Schema,
    block_span: &Span,
    diags: &mut Diagnostics,
) -> Value {
    let mut out = BTreeMap::new();
    eval_attributes(ev, body, schema, block_span, diags, &mut out);
    eval_blocks(ev, body, schema, diags, &mut out);
    Value::Map(out)
}

/// The body's attributes into `out`, converted to their schema types (sensitive where the
/// schema says), and every attribute the body leaves unset at its default (or null).
fn eval_attributes(
    ev: &mut Evaluator<'_>,
    body: &Body,
    schema: &Schema,
    block_span: &Span,
    diags: &mut Diagnostics,
    out: &mut BTreeMap<String, Value>,
) {
    for (name, attr) in &body.attrs {
        let Some(a) = schema.attributes.get(name) else {
            let mut d = Diagnostic::error(format!("unsupported argument `{name}`"))
                .at(attr.name_span.clone());
            d = match closest(name, schema.names()) {
                Some(c) => d.hint(format!("did you mean `{c}`?")),
                None => d.hint("check the resource type's documentation for its arguments"),
            };
            if schema.blocks.contains_key(name) {
                d = Diagnostic::error(format!("`{name}` is a block, not an argument"))
                    .at(attr.name_span.clone())
                    .hint(format!("write `{name} {{ … }}` without `=`"));
            }
            diags.push(d);
            continue;
        };
        if a.computed && !a.optional && !a.required {
            diags.push(
                Diagnostic::error(format!(
                    "`{name}` is computed by the provider and cannot be set"
                ))
                .at(attr.name_span.clone())
                .hint("remove it; read it from the resource after apply instead"),
            );
            continue;
        }
        ev.file = attr.expr.file;
        let v = match ev.eval(&attr.expr.expr) {
            Ok(v) => v,
            Err(d) => {
                diags.push(d);
                continue;
            }
        };
        let v = match convert(v, &a.ty) {
            Ok(v) => v,
            Err(e) => {
                let path: String = e.path.iter().map(|p| p.to_string()).collect();
                diags.push(
                    Diagnostic::error(format!("wrong type for `{name}{path}`: {}", e.message))
                        .at_opt(attr.expr.span())
                        .hint(format!("`{name}` takes a value of type {}", a.ty)),
                );
                continue;
            }
        };
        if let Some(s) = v.as_str()
            && !a.one_of.is_empty()
            && !a.one_of.contains(&s)
        {
            let allowed = a.one_of.iter().map(|v| format!("{v:?}")).collect::<Vec<_>>();
            // A sensitive value is not echoed.
            let got = if a.sensitive { "this value".to_string() } else { format!("{s:?}") };
            let hint = match closest(s, a.one_of.iter().copied()) {
                Some(c) => {
                    format!("did you mean {c:?}? `{name}` takes one of {}", allowed.join(", "))
                }
                None => format!("`{name}` takes one of {}", allowed.join(", ")),
            };
            diags.push(
                Diagnostic::error(format!("`{name}` does not accept {got}"))
                    .at_opt(attr.expr.span())
                    .hint(hint),
            );
            continue;
        }
        out.insert(name.clone(), v.mark_if(a.sensitive));
    }
    for (name, a) in &schema.attributes {
        if out.contains_key(name) || body.attrs.contains_key(name) {
            continue;
        }
        if a.required {
            diags.push(
                Diagnostic::error(format!("missing required argument `{name}`"))
                    .at(block_span.clone())
                    .hint(format!("add `{name} = …` ({})", a.ty)),
            );
        }
        out.insert(name.clone(), a.default.clone().unwrap_or(Value::Null));
    }
}

/// The body's nested blocks (`dynamic` ones expanded) into `out`, one entry per block type of
/// the schema: a single block's object (or null), or the list of them.
fn eval_blocks(
    ev: &mut Evaluator<'_>,
    body: &Body,
    schema: &Schema,
    diags: &mut Diagnostics,
    out: &mut BTreeMap<String, Value>,
) {
    let mut by_type: BTreeMap<String, Vec<(Value, Span)>> = BTreeMap::new();
    for b in &body.blocks {
        if b.kind == "dynamic" {
            expand_dynamic(ev, b, schema, &mut by_type, diags);
            continue;
        }
        let Some(bs) = schema.blocks.get(&b.kind) else {
            unknown_block(b, schema, diags);
            continue;
        };
        if !b.labels.is_empty() {
            diags.push(
                Diagnostic::error(format!("block `{}` takes no labels", b.kind)).at(b.span.clone()),
            );
        }
        let v = eval_body(ev, &b.body, &bs.block, &b.span, diags);
        by_type.entry(b.kind.clone()).or_default().push((v, b.span.clone()));
    }
    for (name, bs) in &schema.blocks {
        let blocks = by_type.remove(name).unwrap_or_default();
        let v = match bs.nesting {
            BlockNesting::Single => {
                if blocks.len() > 1 {
                    diags.push(
                        Diagnostic::error(format!("only one `{name}` block is allowed"))
                            .at(blocks[1].1.clone())
                            .hint("merge the blocks into one"),
                    );
                }
                blocks.into_iter().next().map(|b| b.0).unwrap_or(Value::Null)
            }
            // A dynamic block over an unknown collection makes the whole list unknown.
            BlockNesting::List if blocks.iter().any(|b| matches!(b.0, Value::Unknown)) => {
                Value::Unknown
            }
            BlockNesting::List => Value::List(blocks.into_iter().map(|b| b.0).collect()),
        };
        out.insert(name.clone(), v);
    }
}

fn unknown_block(b: &NestedBlock, schema: &Schema, diags: &mut Diagnostics) {
    let mut d =
        Diagnostic::error(format!("unsupported block type `{}`", b.kind)).at(b.span.clone());
    if schema.attributes.contains_key(&b.kind) {
        d = Diagnostic::error(format!("`{}` is an argument, not a block", b.kind))
            .at(b.span.clone())
            .hint(format!("write `{} = {{ … }}`", b.kind));
    } else if let Some(c) = closest(&b.kind, schema.names()) {
        d = d.hint(format!("did you mean `{c}`?"));
    }
    diags.push(d);
}

/// `dynamic "ingress" { for_each = …, iterator = rule, content { … } }`.
fn expand_dynamic(
    ev: &mut Evaluator<'_>,
    b: &NestedBlock,
    schema: &Schema,
    by_type: &mut BTreeMap<String, Vec<(Value, Span)>>,
    diags: &mut Diagnostics,
) {
    let Some(kind) = b.labels.first() else {
        diags.push(
            Diagnostic::error("a dynamic block needs the block type as its label")
                .at(b.span.clone()),
        );
        return;
    };
    let Some(bs) = schema.blocks.get(kind) else {
        unknown_block(&NestedBlock { kind: kind.clone(), ..b.clone() }, schema, diags);
        return;
    };
    let Some(fe) = b.body.attrs.get("for_each") else {
        diags.push(Diagnostic::error("a dynamic block needs `for_each`").at(b.span.clone()));
        return;
    };
    let Some(content) = b.body.blocks.iter().find(|c| c.kind == "content") else {
        diags.push(
            Diagnostic::error("a dynamic block needs a `content { … }` block").at(b.span.clone()),
        );
        return;
    };
    let iterator = b
        .body
        .attrs
        .get("iterator")
        .and_then(|a| crate::config::traversal_string(&a.expr.expr))
        .unwrap_or_else(|| kind.clone());
    ev.file = fe.expr.file;
    let coll = match ev.eval(&fe.expr.expr) {
        Ok(v) => v,
        Err(d) => {
            diags.push(d);
            return;
        }
    };
    let (coll, sens) = coll.unmark();
    let pairs: Vec<(Value, Value)> = match coll {
        Value::List(items) => {
            items.into_iter().enumerate().map(|(i, v)| (Value::Number(i as f64), v)).collect()
        }
        Value::Map(map) => map.into_iter().map(|(k, v)| (Value::String(k), v)).collect(),
        Value::Null => Vec::new(),
        Value::Unknown => {
            // The number of blocks is known only after apply: the whole block list is unknown.
            by_type.entry(kind.clone()).or_default().push((Value::Unknown, b.span.clone()));
            return;
        }
        other => {
            diags.push(
                Diagnostic::error(format!(
                    "dynamic for_each needs a list, set or map, not {}",
                    other.type_name()
                ))
                .at_opt(fe.expr.span()),
            );
            return;
        }
    };
    let mark = ev.binding_mark();
    for (k, v) in pairs {
        let mut it = BTreeMap::new();
        it.insert("key".to_string(), k);
        it.insert("value".to_string(), v);
        ev.unbind_to(mark);
        ev.bind(&iterator, Value::Map(it).mark_if(sens));
        let val = eval_body(ev, &content.body, &bs.block, &content.span, diags);
        by_type.entry(kind.clone()).or_default().push((val, content.span.clone()));
    }
    ev.unbind_to(mark);
}
