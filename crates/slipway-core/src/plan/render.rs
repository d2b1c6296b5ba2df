//! Rendering a plan for people (Terraform's `+ ~ -/+ -` layout) and as JSON.
//!
//! **Invariant:** sensitive values are never rendered: `(sensitive value)` in text, and in JSON
//! the value is replaced by `null` with its path listed under `*_sensitive`. The JSON schema is
//! documented in docs/json-output.md.

use std::collections::BTreeMap;

use super::{Action, OutputChange, Plan, ResourceChange};
use crate::value::{PathStep, Value, render_hcl};

struct Style {
    colour: bool,
}

impl Style {
    fn paint(&self, code: &str, s: &str) -> String {
        if self.colour { format!("\x1b[{code}m{s}\x1b[0m") } else { s.to_string() }
    }
    fn action(&self, a: Action) -> String {
        let code = match a {
            Action::Create => "32",
            Action::Update => "33",
            Action::Replace | Action::Delete => "31",
            Action::Read => "36",
            Action::NoOp => "0",
        };
        self.paint(code, a.symbol())
    }
    fn bold(&self, s: &str) -> String {
        self.paint("1", s)
    }
}

fn verb(c: &ResourceChange) -> String {
    match c.action {
        Action::Create => "will be created".into(),
        Action::Update => "will be updated in-place".into(),
        Action::Replace if c.create_before_destroy => {
            "must be replaced (create before destroy)".into()
        }
        Action::Replace => "must be replaced".into(),
        Action::Delete => "will be destroyed".into(),
        Action::Read => "will be read during apply".into(),
        Action::NoOp => "unchanged".into(),
    }
}

/// A value for display: masked when sensitive, `(known after apply)` when unknown, and without
/// the null attributes of nested objects (noise in a plan).
fn show(v: &Value) -> String {
    let text = render_hcl(&without_nulls(v));
    text.replace('\n', "\n      ")
}

fn without_nulls(v: &Value) -> Value {
    match v {
        Value::Map(m) => Value::Map(
            m.iter()
                .filter(|(_, x)| !x.is_null())
                .map(|(k, x)| (k.clone(), without_nulls(x)))
                .collect(),
        ),
        Value::List(items) => Value::List(items.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

/// Whether a change from `b` to `a` reads better member by member than as two whole values:
/// two objects, or two lists of one length (a Kubernetes manifest, a block). A sensitive value
/// is never opened.
fn nestable(b: &Value, a: &Value) -> bool {
    match (b, a) {
        (Value::Map(_), Value::Map(_)) => true,
        (Value::List(x), Value::List(y)) => x.len() == y.len() && !x.is_empty(),
        _ => false,
    }
}

/// Terraform's nested diff: inside a changed object, the changed members only (`~`, `+`, `-`),
/// each opened again where it nests, and a count of the unchanged ones. `indent` is the column
/// of the members; the opening bracket is written where the caller left off, the closing one
/// without a newline.
fn nested_diff(b: &Value, a: &Value, indent: usize, st: &Style, out: &mut String) {
    let pad = " ".repeat(indent);
    let same =
        |x: &Value, y: &Value| crate::eval::expr::values_equal(x, y) && !y.contains_unknown();
    let member = |out: &mut String, label: &str, x: &Value, y: &Value| {
        if x.is_null() {
            out.push_str(&format!(
                "{pad}{} {label}{}\n",
                st.action(Action::Create),
                show_at(y, indent)
            ));
        } else if y.is_null() {
            out.push_str(&format!(
                "{pad}{} {label}{} -> null\n",
                st.action(Action::Delete),
                show_at(x, indent)
            ));
        } else if nestable(x, y) {
            out.push_str(&format!("{pad}{} {label}", st.action(Action::Update)));
            nested_diff(x, y, indent + 4, st, out);
            out.push('\n');
        } else {
            out.push_str(&format!(
                "{pad}{} {label}{} -> {}\n",
                st.action(Action::Update),
                show_at(x, indent),
                show_at(y, indent).trim_start()
            ));
        }
    };
    let close = " ".repeat(indent - 2);
    match (b, a) {
        (Value::Map(bm), Value::Map(am)) => {
            out.push_str("{\n");
            let mut keys: Vec<&String> = bm.keys().chain(am.keys()).collect();
            keys.sort();
            keys.dedup();
            let width = keys.iter().map(|k| k.len()).max().unwrap_or(0);
            let mut hidden = 0;
            for k in keys {
                let x = bm.get(k).cloned().unwrap_or(Value::Null);
                let y = am.get(k).cloned().unwrap_or(Value::Null);
                if same(&x, &y) {
                    if !x.is_null() {
                        hidden += 1;
                    }
                    continue;
                }
                member(out, &format!("{k:<width$} = "), &x, &y);
            }
            if hidden > 0 {
                let what = if hidden == 1 { "member" } else { "members" };
                out.push_str(&format!("{pad}  # ({hidden} unchanged {what} hidden)\n"));
            }
            out.push_str(&format!("{close}}}"));
        }
        (Value::List(bl), Value::List(al)) => {
            out.push_str("[\n");
            let mut hidden = 0;
            for (x, y) in bl.iter().zip(al) {
                if same(x, y) {
                    hidden += 1;
                    continue;
                }
                member(out, "", x, y);
            }
            if hidden > 0 {
                let what = if hidden == 1 { "element" } else { "elements" };
                out.push_str(&format!("{pad}  # ({hidden} unchanged {what} hidden)\n"));
            }
            out.push_str(&format!("{close}]"));
        }
        _ => out.push_str(&format!("{} -> {}", show(b), show(a))),
    }
}

/// [`show`] for a value written at column `indent`.
fn show_at(v: &Value, indent: usize) -> String {
    render_hcl(&without_nulls(v)).replace('\n', &format!("\n{}", " ".repeat(indent + 2)))
}

fn attr_lines(c: &ResourceChange, st: &Style, out: &mut String) {
    let empty = BTreeMap::new();
    let before = c.before.as_ref().and_then(|v| v.as_map()).unwrap_or(&empty);
    let after = c.after.as_ref().and_then(|v| v.as_map()).unwrap_or(&empty);
    let mut keys: Vec<&String> = before.keys().chain(after.keys()).collect();
    keys.sort();
    keys.dedup();
    let width = keys.iter().map(|k| k.len()).max().unwrap_or(0);
    for k in keys {
        let b = before.get(k);
        let a = after.get(k);
        let forces = if c.replace_because.contains(k) {
            st.paint("31", " # forces replacement")
        } else {
            String::new()
        };
        match (c.action, b, a) {
            (Action::Create | Action::Read, _, Some(a)) if !a.is_null() => {
                out.push_str(&format!(
                    "      {} {k:<width$} = {}\n",
                    st.action(Action::Create),
                    show(a)
                ));
            }
            (Action::Delete, Some(b), _) if !b.is_null() => {
                out.push_str(&format!(
                    "      {} {k:<width$} = {}\n",
                    st.action(Action::Delete),
                    show(b)
                ));
            }
            (Action::Update | Action::Replace, b, a) => {
                let b = b.cloned().unwrap_or(Value::Null);
                let a = a.cloned().unwrap_or(Value::Null);
                if crate::eval::expr::values_equal(&b, &a) && !a.contains_unknown() {
                    continue;
                }
                if b.is_null() && a.is_null() {
                    continue;
                }
                if b.is_null() {
                    out.push_str(&format!(
                        "      {} {k:<width$} = {}{forces}\n",
                        st.action(Action::Create),
                        show(&a)
                    ));
                } else if a.is_null() {
                    out.push_str(&format!(
                        "      {} {k:<width$} = {} -> null{forces}\n",
                        st.action(Action::Delete),
                        show(&b)
                    ));
                } else if nestable(&b, &a) {
                    out.push_str(&format!(
                        "      {} {k:<width$} = {forces}",
                        st.action(Action::Update),
                    ));
                    nested_diff(&b, &a, 10, st, out);
                    out.push('\n');
                } else {
                    out.push_str(&format!(
                        "      {} {k:<width$} = {} -> {}{forces}\n",
                        st.action(Action::Update),
                        show(&b),
                        show(&a)
                    ));
                }
            }
            _ => {}
        }
    }
}

/// The plan as Terraform users read it.
pub fn human(plan: &Plan, colour: bool) -> String {
    let mut text = String::new();
    write_human(plan, colour, &mut |chunk| text.push_str(chunk));
    text
}

/// [`human`], handed to `sink` in pieces as it is rendered: the text of a plan of 100,000
/// instances is about 50 MB, which need never be held whole.
pub fn write_human(plan: &Plan, colour: bool, sink: &mut dyn FnMut(&str)) {
    const CHUNK: usize = 1 << 16;
    let st = Style { colour };
    let mut out = String::new();
    write_drift(plan, &st, &mut out);
    for c in plan.changes.iter().filter(|c| c.action == Action::NoOp) {
        if let Some(from) = &c.moved_from {
            out.push_str(&format!("  # {from} has moved to {}\n", st.bold(&c.addr.to_string())));
        }
    }
    let visible: Vec<&ResourceChange> =
        plan.changes.iter().filter(|c| c.action != Action::NoOp).collect();
    let outputs: Vec<_> = plan.outputs.iter().filter(|o| o.action != Action::NoOp).collect();
    let moved = plan.changes.iter().any(|c| c.moved_from.is_some());
    if visible.is_empty() && outputs.is_empty() {
        if moved {
            out.push_str("\nPlan: 0 to add, 0 to change, 0 to destroy (state entries move).\n");
            sink(&out);
            return;
        }
        if plan.options.refresh_only && !plan.drift.is_empty() {
            out.push_str(
                "Apply this refresh-only plan to update the state to match the objects above.\n",
            );
        } else {
            out.push_str(&st.bold("No changes."));
            out.push_str(" Your infrastructure matches the configuration.\n");
        }
        sink(&out);
        return;
    }
    if !visible.is_empty() {
        out.push_str("slipway will perform the following actions:\n\n");
    }
    for c in &visible {
        write_change(c, &st, &mut out);
        if out.len() >= CHUNK {
            sink(&out);
            out.clear();
        }
    }
    let (add, change, destroy) = plan.counts();
    if !visible.is_empty() {
        out.push_str(
            &st.bold(&format!("Plan: {add} to add, {change} to change, {destroy} to destroy.\n")),
        );
        let by_type = plan.counts_by_type();
        if by_type.len() > 1 {
            let width = by_type.keys().map(|t| t.len()).max().unwrap_or(0);
            out.push_str(&format!("  {:width$}  add  change  destroy\n", "by type:"));
            for (t, (a, c, d)) in by_type {
                out.push_str(&format!("  {t:width$}  {a:>3}  {c:>6}  {d:>7}\n"));
            }
        }
        out.push_str(&super::footprint::render(&plan.footprint));
    }
    write_outputs(&outputs, &st, &mut out);
    sink(&out);
}

/// The drift section: objects changed or deleted outside slipway since the last apply.
fn write_drift(plan: &Plan, st: &Style, out: &mut String) {
    if plan.drift.is_empty() {
        return;
    }
    out.push_str(&st.bold("Objects have changed outside of slipway\n\n"));
    out.push_str(
        "slipway detected the following changes made outside of slipway since the last apply:\n\n",
    );
    for d in &plan.drift {
        match &d.after {
            None => {
                out.push_str(&format!("  # {} has been deleted\n", st.bold(&d.addr.to_string())))
            }
            Some(after) => {
                out.push_str(&format!("  # {} has changed\n", st.bold(&d.addr.to_string())));
                let fake = ResourceChange {
                    addr: d.addr.clone(),
                    action: Action::Update,
                    provider: String::new(),
                    rtype: String::new(),
                    before: Some(d.before.clone()),
                    after: Some(after.clone()),
                    replace_because: Vec::new(),
                    reason: None,
                    create_before_destroy: false,
                    prevent_destroy: false,
                    depends_on: Vec::new(),
                    moved_from: None,
                    config: None,
                };
                attr_lines(&fake, st, out);
            }
        }
    }
    out.push('\n');
}

/// One change: its heading (address, verb, reason, origin) and its attributes.
fn write_change(c: &ResourceChange, st: &Style, out: &mut String) {
    out.push_str(&format!("  # {} {}\n", st.bold(&c.addr.to_string()), verb(c)));
    if let Some(r) = &c.reason {
        out.push_str(&format!("  # ({r})\n"));
    }
    if let Some(from) = &c.moved_from {
        out.push_str(&format!("  # (moved from {from})\n"));
    }
    let name = c.addr.resource.name.clone();
    let kind =
        if c.addr.resource.mode == crate::addr::ResourceMode::Data { "data" } else { "resource" };
    out.push_str(&format!("  {} {kind} \"{}\" \"{name}\" {{\n", st.action(c.action), c.rtype));
    attr_lines(c, st, out);
    out.push_str("    }\n\n");
}

/// The changes to outputs (sensitive values masked).
fn write_outputs(outputs: &[&OutputChange], st: &Style, out: &mut String) {
    if outputs.is_empty() {
        return;
    }
    out.push_str("\nChanges to Outputs:\n");
    for o in outputs.iter().copied() {
        let val = |v: &Option<Value>| {
            v.as_ref()
                .map(|v| if o.sensitive { "(sensitive value)".to_string() } else { show(v) })
                .unwrap_or_default()
        };
        match o.action {
            Action::Create => out.push_str(&format!(
                "  {} {} = {}\n",
                st.action(Action::Create),
                o.name,
                val(&o.after)
            )),
            Action::Delete => out.push_str(&format!(
                "  {} {} = {} -> null\n",
                st.action(Action::Delete),
                o.name,
                val(&o.before)
            )),
            _ => out.push_str(&format!(
                "  {} {} = {} -> {}\n",
                st.action(Action::Update),
                o.name,
                val(&o.before),
                val(&o.after)
            )),
        }
    }
}

/// A value as JSON with sensitive parts replaced by null; returns (value, sensitive paths,
/// unknown paths).
fn masked(v: &Value) -> (serde_json::Value, serde_json::Value, serde_json::Value) {
    let sens = v.sensitive_paths();
    let unknown = v.unknown_paths();
    let mut json = v.to_json();
    for p in &sens {
        blank(&mut json, p);
    }
    let paths = |ps: &[Vec<PathStep>]| {
        serde_json::Value::Array(
            ps.iter().map(|p| serde_json::to_value(p).unwrap_or_default()).collect(),
        )
    };
    (json, paths(&sens), paths(&unknown))
}

fn blank(json: &mut serde_json::Value, path: &[PathStep]) {
    let Some((first, rest)) = path.split_first() else {
        *json = serde_json::Value::Null;
        return;
    };
    let next = match (json, first) {
        (serde_json::Value::Object(m), PathStep::Key(k)) => m.get_mut(k),
        (serde_json::Value::Array(a), PathStep::Index(i)) => a.get_mut(*i),
        _ => None,
    };
    if let Some(n) = next {
        blank(n, rest);
    }
}

/// The plan as JSON (schema: docs/json-output.md).
pub fn json(plan: &Plan) -> serde_json::Value {
    let changes: Vec<_> = plan
        .changes
        .iter()
        .map(|c| {
            let (before, before_sensitive, _) = c.before.as_ref().map(masked).unwrap_or_default();
            let (after, after_sensitive, after_unknown) =
                c.after.as_ref().map(masked).unwrap_or_default();
            serde_json::json!({
                "address": c.addr.to_string(),
                "module_address": c.addr.resource.module.to_string(),
                "mode": c.addr.resource.mode,
                "type": c.rtype,
                "name": c.addr.resource.name,
                "provider": c.provider,
                "action": c.action,
                "reason": c.reason,
                "moved_from": c.moved_from.as_ref().map(|m| m.to_string()),
                "replace_paths": c.replace_because,
                "depends_on": c.depends_on.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
                "before": before,
                "after": after,
                "before_sensitive": before_sensitive,
                "after_sensitive": after_sensitive,
                "after_unknown": after_unknown,
            })
        })
        .collect();
    let drift: Vec<_> = plan
        .drift
        .iter()
        .map(|d| {
            let (before, _, _) = masked(&d.before);
            let (after, _, _) = d.after.as_ref().map(masked).unwrap_or_default();
            serde_json::json!({ "address": d.addr.to_string(), "deleted": d.after.is_none(), "before": before, "after": after })
        })
        .collect();
    let outputs: Vec<_> = plan
        .outputs
        .iter()
        .map(|o| {
            let show = |v: &Option<Value>| if o.sensitive { serde_json::Value::Null } else { v.as_ref().map(|v| masked(v).0).unwrap_or_default() };
            serde_json::json!({ "name": o.name, "action": o.action, "sensitive": o.sensitive, "before": show(&o.before), "after": show(&o.after) })
        })
        .collect();
    let (add, change, destroy) = plan.counts();
    serde_json::json!({
        "format_version": "1.0",
        "lineage": plan.lineage,
        "serial": plan.serial,
        "refresh_only": plan.options.refresh_only,
        "destroy": plan.options.destroy,
        "resource_changes": changes,
        "resource_drift": drift,
        "output_changes": outputs,
        "summary": { "add": add, "change": change, "destroy": destroy, "has_changes": plan.has_changes() },
        "footprint": plan.footprint.lines,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(json: &str) -> Value {
        Value::from_json(&serde_json::from_str(json).unwrap())
    }

    #[test]
    fn a_nested_change_shows_the_changed_members_only() {
        let b = obj(r#"{"meta":{"name":"a","labels":{"x":"1","y":"2"}},"list":[{"n":1},{"n":2}]}"#);
        let a = obj(r#"{"meta":{"name":"a","labels":{"x":"1","y":"3"}},"list":[{"n":1},{"n":5}]}"#);
        let mut out = String::new();
        nested_diff(&b, &a, 10, &Style { colour: false }, &mut out);
        assert!(out.contains(r#"~ y = "2" -> "3""#), "{out}");
        assert!(out.contains("~ n = 2 -> 5"), "{out}");
        assert!(out.contains("# (1 unchanged element hidden)"), "{out}");
        assert!(out.contains("# (1 unchanged member hidden)"), "{out}");
        assert!(!out.contains(r#""1""#), "an unchanged value was shown:\n{out}");
    }

    #[test]
    fn a_sensitive_object_is_never_opened() {
        let secret = Value::Sensitive(Box::new(obj(r#"{"password":"hunter2"}"#)));
        let other = Value::Sensitive(Box::new(obj(r#"{"password":"hunter3"}"#)));
        assert!(!nestable(&secret, &other));
        let b = obj(r#"{"data":{"k":"v"}}"#);
        let mut a = b.clone();
        if let Value::Map(m) = &mut a {
            m.insert("data".into(), secret);
        }
        let mut out = String::new();
        nested_diff(&b, &a, 10, &Style { colour: false }, &mut out);
        assert!(!out.contains("hunter2"), "{out}");
    }
}
