//! Values of the configuration language, with the two marks that flow through every operation.
//!
//! A [`Value`] is JSON-like (null, bool, number, string, list, map) plus two marks:
//! - [`Value::Unknown`]: "known after apply". Any operation over an unknown yields an unknown,
//!   except where the answer does not depend on it (a conditional whose condition is known, the
//!   length of a list whose elements are unknown).
//! - [`Value::Sensitive`]: wraps a value that must never be shown. Operations unwrap their operands
//!   and wrap the result again, so the mark survives arithmetic, templates and functions.
//!
//! **Invariant:** a `Sensitive` never directly wraps another `Sensitive` (see [`Value::mark_sensitive`]).
//! Maps are `BTreeMap`s, so iteration is in lexical key order, as HCL users expect from objects.

use std::collections::BTreeMap;
use std::fmt;

pub mod bignum;

/// A value of the configuration language. (The serde form is used only inside saved plan
/// files, which must keep unknowns and marks; state and JSON output use [`Value::to_json`].)
#[derive(Clone, Debug, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub enum Value {
    #[default]
    Null,
    Bool(bool),
    Number(f64),
    /// A number that is not exactly an `f64` — more than 53 significant bits, or a decimal
    /// fraction such as 0.1 — held as Terraform holds every number: a 512-bit binary float.
    /// Canonical (see [`Value::from_bignum`]): it never holds a value an `f64` holds exactly, so
    /// equal numbers are equal values.
    BigNumber(Box<bignum::BigNum>),
    String(String),
    /// Lists, tuples and sets (a set is a list kept sorted and deduplicated by `toset`).
    List(Vec<Value>),
    /// Maps and objects.
    Map(BTreeMap<String, Value>),
    /// Known after apply.
    Unknown,
    /// A value that must be masked wherever it is shown.
    Sensitive(Box<Value>),
}

/// The type of a value, as named in error messages and `variable { type = … }` constraints.
#[derive(Clone, Debug, PartialEq)]
pub enum Type {
    Any,
    String,
    Number,
    Bool,
    List(Box<Type>),
    Set(Box<Type>),
    Map(Box<Type>),
    Tuple(Vec<Type>),
    /// Object attributes; the flag says whether the attribute is `optional(...)`.
    Object(BTreeMap<String, (Type, bool)>),
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Any => f.write_str("any"),
            Type::String => f.write_str("string"),
            Type::Number => f.write_str("number"),
            Type::Bool => f.write_str("bool"),
            Type::List(t) => write!(f, "list({t})"),
            Type::Set(t) => write!(f, "set({t})"),
            Type::Map(t) => write!(f, "map({t})"),
            Type::Tuple(ts) => {
                f.write_str("tuple([")?;
                for (i, t) in ts.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{t}")?;
                }
                f.write_str("])")
            }
            Type::Object(attrs) => {
                f.write_str("object({")?;
                for (i, (k, (t, opt))) in attrs.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    if *opt {
                        write!(f, "{k} = optional({t})")?;
                    } else {
                        write!(f, "{k} = {t}")?;
                    }
                }
                f.write_str("})")
            }
        }
    }
}

impl Value {
    pub fn string(s: impl Into<String>) -> Value {
        Value::String(s.into())
    }

    /// The canonical value of a 512-bit number: [`Value::Number`] when an `f64` holds it
    /// exactly, [`Value::BigNumber`] otherwise.
    pub fn from_bignum(b: bignum::BigNum) -> Value {
        if let Some(i) = b.to_i128().filter(|i| (*i as f64).abs() < 9_007_199_254_740_992.0) {
            return Value::Number(i as f64);
        }
        let f = b.to_f64();
        if f.is_finite() && bignum::BigNum::from_f64(f).as_ref() == Some(&b) {
            return Value::Number(f);
        }
        Value::BigNumber(Box::new(b))
    }

    /// Wraps in the sensitive mark, never twice.
    pub fn mark_sensitive(self) -> Value {
        match self {
            Value::Sensitive(_) => self,
            other => Value::Sensitive(Box::new(other)),
        }
    }

    /// Wraps in the sensitive mark when `yes`.
    pub fn mark_if(self, yes: bool) -> Value {
        if yes { self.mark_sensitive() } else { self }
    }

    /// The value without its top-level mark, and whether it had one.
    pub fn unmark(self) -> (Value, bool) {
        match self {
            Value::Sensitive(inner) => (*inner, true),
            other => (other, false),
        }
    }

    /// A view of the value without its top-level mark.
    pub fn peel(&self) -> &Value {
        match self {
            Value::Sensitive(inner) => inner,
            other => other,
        }
    }

    /// Removes every mark at every depth; says whether there was any.
    pub fn unmark_deep(self) -> (Value, bool) {
        match self {
            Value::Sensitive(inner) => (inner.unmark_deep().0, true),
            Value::List(items) => {
                let mut any = false;
                let items = items
                    .into_iter()
                    .map(|v| {
                        let (v, s) = v.unmark_deep();
                        any |= s;
                        v
                    })
                    .collect();
                (Value::List(items), any)
            }
            Value::Map(map) => {
                let mut any = false;
                let map = map
                    .into_iter()
                    .map(|(k, v)| {
                        let (v, s) = v.unmark_deep();
                        any |= s;
                        (k, v)
                    })
                    .collect();
                (Value::Map(map), any)
            }
            other => (other, false),
        }
    }

    pub fn is_sensitive(&self) -> bool {
        matches!(self, Value::Sensitive(_))
    }

    /// True when a sensitive mark appears anywhere inside.
    pub fn contains_sensitive(&self) -> bool {
        match self {
            Value::Sensitive(_) => true,
            Value::List(items) => items.iter().any(Value::contains_sensitive),
            Value::Map(map) => map.values().any(Value::contains_sensitive),
            _ => false,
        }
    }

    /// True when the value itself (ignoring marks) is unknown.
    pub fn is_unknown(&self) -> bool {
        matches!(self.peel(), Value::Unknown)
    }

    /// True when an unknown appears anywhere inside.
    pub fn contains_unknown(&self) -> bool {
        match self {
            Value::Unknown => true,
            Value::Sensitive(v) => v.contains_unknown(),
            Value::List(items) => items.iter().any(Value::contains_unknown),
            Value::Map(map) => map.values().any(Value::contains_unknown),
            _ => false,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.peel(), Value::Null)
    }

    /// The name of this value's type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Number(_) | Value::BigNumber(_) => "number",
            Value::String(_) => "string",
            Value::List(_) => "list",
            Value::Map(_) => "map",
            Value::Unknown => "unknown",
            Value::Sensitive(v) => v.type_name(),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self.peel() {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self.peel() {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self.peel() {
            Value::Number(n) => Some(*n),
            Value::BigNumber(b) => Some(b.to_f64()),
            _ => None,
        }
    }

    pub fn as_list(&self) -> Option<&[Value]> {
        match self.peel() {
            Value::List(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&BTreeMap<String, Value>> {
        match self.peel() {
            Value::Map(map) => Some(map),
            _ => None,
        }
    }

    /// Looks up an attribute of a map value (marks on the map carry over to the result).
    pub fn get_attr(&self, name: &str) -> Option<Value> {
        match self {
            Value::Sensitive(inner) => inner.get_attr(name).map(Value::mark_sensitive),
            Value::Map(map) => map.get(name).cloned(),
            _ => None,
        }
    }

    /// The string form used by templates and `tostring`: strings as-is, numbers without a
    /// trailing `.0`, bools as `true`/`false`. `None` for values with no string form.
    pub fn to_template_string(&self) -> Option<String> {
        match self.peel() {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(format_number(*n)),
            Value::BigNumber(b) => Some(b.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    /// Converts from JSON (used by state, jsondecode and variable files).
    pub fn from_json(json: &serde_json::Value) -> Value {
        match json {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            // serde_json keeps a number's text (`arbitrary_precision`), so a number is read
            // back exactly as it was written: integers beyond 2^53 keep every digit and a
            // fraction such as 0.1 is the 512-bit decimal again, never a nearby double.
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) if i.unsigned_abs() < (1 << 53) => Value::Number(i as f64),
                _ => bignum::BigNum::parse(&n.to_string())
                    .map(Value::from_bignum)
                    .unwrap_or_else(|| Value::Number(n.as_f64().unwrap_or(f64::NAN))),
            },
            serde_json::Value::String(s) => Value::String(s.clone()),
            serde_json::Value::Array(items) => {
                Value::List(items.iter().map(Value::from_json).collect())
            }
            serde_json::Value::Object(map) => {
                Value::Map(map.iter().map(|(k, v)| (k.clone(), Value::from_json(v))).collect())
            }
        }
    }

    /// Converts to JSON. Marks are dropped (the caller records sensitive paths separately, see
    /// [`Value::sensitive_paths`]); unknowns become `null`.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null | Value::Unknown => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Number(n) => number_to_json(*n),
            // Every digit (serde_json's `arbitrary_precision` keeps the text), as Terraform
            // writes numbers in state and `output -json`.
            Value::BigNumber(b) => exact_number_json(&b.to_string()),
            Value::String(s) => serde_json::Value::String(s.clone()),
            Value::List(items) => {
                serde_json::Value::Array(items.iter().map(Value::to_json).collect())
            }
            Value::Map(map) => serde_json::Value::Object(
                map.iter().map(|(k, v)| (k.clone(), v.to_json())).collect(),
            ),
            Value::Sensitive(v) => v.to_json(),
        }
    }

    /// Paths (attribute names and list indexes) of every sensitive mark inside, outermost first.
    pub fn sensitive_paths(&self) -> Vec<Vec<PathStep>> {
        let mut out = Vec::new();
        collect_paths(self, &mut Vec::new(), &mut out, &|v| v.is_sensitive());
        out
    }

    /// Paths of every unknown inside.
    pub fn unknown_paths(&self) -> Vec<Vec<PathStep>> {
        let mut out = Vec::new();
        collect_paths(self, &mut Vec::new(), &mut out, &|v| matches!(v, Value::Unknown));
        out
    }

    /// Re-applies sensitive marks at the given paths (the inverse of [`Value::sensitive_paths`]).
    pub fn with_sensitive_paths(mut self, paths: &[Vec<PathStep>]) -> Value {
        for path in paths {
            self = mark_at(self, path);
        }
        self
    }
}

fn collect_paths(
    value: &Value,
    path: &mut Vec<PathStep>,
    out: &mut Vec<Vec<PathStep>>,
    pred: &dyn Fn(&Value) -> bool,
) {
    if pred(value) {
        out.push(path.clone());
        if !value.is_sensitive() {
            return;
        }
    }
    match value.peel() {
        Value::List(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(PathStep::Index(i));
                collect_paths(item, path, out, pred);
                path.pop();
            }
        }
        Value::Map(map) => {
            for (k, v) in map {
                path.push(PathStep::Key(k.clone()));
                collect_paths(v, path, out, pred);
                path.pop();
            }
        }
        _ => {}
    }
}

fn mark_at(value: Value, path: &[PathStep]) -> Value {
    let Some((first, rest)) = path.split_first() else {
        return value.mark_sensitive();
    };
    let (inner, marked) = value.unmark();
    let inner = match (inner, first) {
        (Value::List(mut items), PathStep::Index(i)) if *i < items.len() => {
            let item = std::mem::take(&mut items[*i]);
            items[*i] = mark_at(item, rest);
            Value::List(items)
        }
        (Value::Map(mut map), PathStep::Key(k)) if map.contains_key(k) => {
            let item = map.remove(k).unwrap_or_default();
            map.insert(k.clone(), mark_at(item, rest));
            Value::Map(map)
        }
        (other, _) => other,
    };
    inner.mark_if(marked)
}

/// One step of a path into a value.
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(untagged)]
pub enum PathStep {
    Index(usize),
    Key(String),
}

impl fmt::Display for PathStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathStep::Index(i) => write!(f, "[{i}]"),
            PathStep::Key(k) => write!(f, ".{k}"),
        }
    }
}

/// Formats a number as Terraform does (Go's `Text('f', -1)`): integers in full without a
/// fraction, never an exponent, the shortest digits that read back to the same number.
/// (Rust's `Display` for `f64` is exactly that for an `f64`.)
pub fn format_number(n: f64) -> String {
    if n == 0.0 {
        "0".to_string()
    } else if n.is_finite() && n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else if n.is_finite() && n.fract() == 0.0 {
        // An integer's every digit (2^64 is 18446744073709551616, where the shortest form
        // that reads back as the same f64 would end in zeros).
        bignum::BigNum::from_f64(n).map_or_else(|| format!("{n}"), |b| b.to_string())
    } else {
        format!("{n}")
    }
}

fn number_to_json(n: f64) -> serde_json::Value {
    if n.is_finite() && n.fract() == 0.0 && n.abs() < 9.0e15 {
        serde_json::Value::Number((n as i64).into())
    } else if n.is_finite() {
        // Terraform's rendering (`1e16` in full, never an exponent), kept as text.
        exact_number_json(&format_number(n))
    } else {
        // JSON has no infinities (Terraform refuses to write them too).
        serde_json::Value::Null
    }
}

/// A JSON number with exactly this decimal text (valid by construction: `format_number` or
/// `BigNum`'s rendering).
fn exact_number_json(text: &str) -> serde_json::Value {
    text.parse::<serde_json::Number>()
        .map(serde_json::Value::Number)
        .unwrap_or(serde_json::Value::Null)
}

/// Renders a value in HCL syntax, masking sensitive parts and showing unknowns the way a plan does.
pub fn render_hcl(value: &Value) -> String {
    let mut out = String::new();
    render_into(value, 0, &mut out);
    out
}

fn render_into(value: &Value, indent: usize, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&format_number(*n)),
        Value::BigNumber(b) => out.push_str(&b.to_string()),
        // Multi-line text reads best as a heredoc, as Terraform shows it.
        Value::String(s) if s.contains('\n') && !s.contains("\nEOT") => {
            out.push_str("<<-EOT\n");
            for line in s.strip_suffix('\n').unwrap_or(s).split('\n') {
                if !line.is_empty() {
                    out.push_str(&" ".repeat(indent + 4));
                    out.push_str(line);
                }
                out.push('\n');
            }
            out.push_str(&" ".repeat(indent + 2));
            out.push_str("EOT");
        }
        Value::String(s) => {
            out.push_str(&serde_json::to_string(s).unwrap_or_default());
        }
        Value::Unknown => out.push_str("(known after apply)"),
        Value::Sensitive(_) => out.push_str("(sensitive value)"),
        Value::List(items) if items.is_empty() => out.push_str("[]"),
        Value::List(items) => {
            out.push_str("[\n");
            for item in items {
                out.push_str(&" ".repeat(indent + 2));
                render_into(item, indent + 2, out);
                out.push_str(",\n");
            }
            out.push_str(&" ".repeat(indent));
            out.push(']');
        }
        Value::Map(map) if map.is_empty() => out.push_str("{}"),
        Value::Map(map) => {
            out.push_str("{\n");
            let width = map.keys().map(|k| render_key(k).len()).max().unwrap_or(0);
            for (k, v) in map {
                out.push_str(&" ".repeat(indent + 2));
                let key = render_key(k);
                out.push_str(&format!("{key:<width$} = "));
                render_into(v, indent + 2, out);
                out.push('\n');
            }
            out.push_str(&" ".repeat(indent));
            out.push('}');
        }
    }
}

fn render_key(k: &str) -> String {
    let ident = !k.is_empty()
        && k.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && k.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '-');
    if ident { k.to_string() } else { serde_json::to_string(k).unwrap_or_default() }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&render_hcl(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitive_paths_round_trip_through_json() {
        let mut map = BTreeMap::new();
        map.insert("user".to_string(), Value::string("admin"));
        map.insert("password".to_string(), Value::string("hunter2").mark_sensitive());
        let value = Value::Map(map);
        let paths = value.sensitive_paths();
        assert_eq!(paths, vec![vec![PathStep::Key("password".into())]]);
        let restored = Value::from_json(&value.to_json()).with_sensitive_paths(&paths);
        assert_eq!(restored, value);
    }

    #[test]
    fn rendering_masks_sensitive_and_shows_unknown() {
        let mut map = BTreeMap::new();
        map.insert("id".to_string(), Value::Unknown);
        map.insert("secret".to_string(), Value::string("x").mark_sensitive());
        let text = render_hcl(&Value::Map(map));
        assert!(text.contains("(known after apply)"));
        assert!(text.contains("(sensitive value)"));
        assert!(!text.contains("\"x\""));
    }

    #[test]
    fn multi_line_strings_render_as_heredocs() {
        let text = render_hcl(&Value::string("a\n  b\n"));
        assert_eq!(text, "<<-EOT\n    a\n      b\n  EOT");
    }

    #[test]
    fn integers_print_without_fraction() {
        assert_eq!(format_number(6443.0), "6443");
        assert_eq!(format_number(0.5), "0.5");
        assert_eq!(format_number(18446744073709551616.0), "18446744073709551616");
        assert_eq!(format_number(1e-7), "0.0000001");
    }
}
