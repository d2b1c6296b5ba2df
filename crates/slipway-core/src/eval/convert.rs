//! Conversion of values to `variable { type = … }` constraints, following Terraform's rules.
//!
//! Promises: [`convert`] never panics; null and unknown convert to every type unchanged; sensitive
//! marks survive (the inner value is converted and marked again, at every depth); an error names
//! the path to the offending element and never quotes the content of a sensitive value.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;

use crate::value::{PathStep, Type, Value};

/// Why a value does not fit a type, and where inside the value.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvertError {
    pub path: Vec<PathStep>,
    pub message: String,
}

impl fmt::Display for ConvertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            for step in &self.path {
                write!(f, "{step}")?;
            }
            write!(f, ": {}", self.message)
        }
    }
}

impl std::error::Error for ConvertError {}

/// Converts `value` to `ty`, or says why it cannot be.
pub fn convert(value: Value, ty: &Type) -> Result<Value, ConvertError> {
    let mut path = Vec::new();
    conv(value, ty, &mut path, false)
}

/// Parses a number the way the language does for string→number conversion: decimal notation
/// only, so "inf", "NaN" and hex (which Rust's parser or others would accept) are rejected.
pub fn parse_number(s: &str) -> Option<f64> {
    let ok = !s.is_empty()
        && s.chars().all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | '.' | 'e' | 'E'))
        && s.chars().any(|c| c.is_ascii_digit());
    if !ok {
        return None;
    }
    s.parse::<f64>().ok().filter(|n| n.is_finite())
}

/// A total order over values (marks ignored), used to sort and deduplicate sets.
/// Kinds order as bool < number < string < list < map < unknown < null.
pub fn cmp_values(a: &Value, b: &Value) -> Ordering {
    fn rank(v: &Value) -> u8 {
        match v {
            // Last, as in Terraform's sets (toset([null, "a"]) is ["a", null]).
            Value::Null => 8,
            Value::Bool(_) => 1,
            Value::Number(_) | Value::BigNumber(_) => 2,
            Value::String(_) => 3,
            Value::List(_) => 4,
            Value::Map(_) => 5,
            Value::Unknown => 6,
            Value::Sensitive(_) => 7,
        }
    }
    let (a, b) = (a.peel(), b.peel());
    match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Number(x), Value::Number(y)) => x.total_cmp(y),
        (
            x @ (Value::Number(_) | Value::BigNumber(_)),
            y @ (Value::Number(_) | Value::BigNumber(_)),
        ) => super::number::compare(x, y).unwrap_or(Ordering::Equal),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::List(x), Value::List(y)) => {
            for (p, q) in x.iter().zip(y) {
                let c = cmp_values(p, q);
                if c != Ordering::Equal {
                    return c;
                }
            }
            x.len().cmp(&y.len())
        }
        (Value::Map(x), Value::Map(y)) => {
            for ((kp, p), (kq, q)) in x.iter().zip(y) {
                let c = kp.cmp(kq).then_with(|| cmp_values(p, q));
                if c != Ordering::Equal {
                    return c;
                }
            }
            x.len().cmp(&y.len())
        }
        _ => rank(a).cmp(&rank(b)),
    }
}

/// Sorts and deduplicates in place, keeping the first of equal elements (with its marks).
pub fn make_set(items: &mut Vec<Value>) {
    items.sort_by(cmp_values);
    items.dedup_by(|a, b| cmp_values(a, b) == Ordering::Equal);
}

/// Describes a value for an error message without revealing sensitive content.
pub fn describe(value: &Value, sensitive: bool) -> String {
    if sensitive || value.is_sensitive() {
        return "sensitive value".to_string();
    }
    match value {
        Value::String(s) => {
            let shown: String = s.chars().take(60).collect();
            let more = if shown.len() < s.len() { "…" } else { "" };
            format!("string {}{more}", serde_json::to_string(&shown).unwrap_or_default())
        }
        Value::Number(n) => format!("number {}", crate::value::format_number(*n)),
        Value::BigNumber(b) => format!("number {b}"),
        Value::Bool(b) => format!("bool {b}"),
        other => other.type_name().to_string(),
    }
}

fn fail(path: &[PathStep], message: String) -> Result<Value, ConvertError> {
    Err(ConvertError { path: path.to_vec(), message })
}

fn mismatch(path: &[PathStep], ty: &Type, value: &Value, sensitive: bool) -> ConvertError {
    ConvertError {
        path: path.to_vec(),
        message: format!("expected {}, got {}", kind(ty), describe(value, sensitive)),
    }
}

/// The short kind name of a type for "expected X" (the full type would drown the message).
fn kind(ty: &Type) -> &'static str {
    match ty {
        Type::Any => "any value",
        Type::String => "string",
        Type::Number => "number",
        Type::Bool => "bool",
        Type::List(_) => "list",
        Type::Set(_) => "set",
        Type::Map(_) => "map",
        Type::Tuple(_) => "tuple",
        Type::Object(_) => "object",
    }
}

fn conv(
    value: Value,
    ty: &Type,
    path: &mut Vec<PathStep>,
    sensitive: bool,
) -> Result<Value, ConvertError> {
    let (value, marked) = value.unmark();
    if marked {
        return conv(value, ty, path, true).map(Value::mark_sensitive);
    }
    match (value, ty) {
        (v @ (Value::Null | Value::Unknown), _) => Ok(v),
        (v, Type::Any) => Ok(v),
        (v @ Value::String(_), Type::String) => Ok(v),
        (Value::Number(n), Type::String) => Ok(Value::String(crate::value::format_number(n))),
        (Value::Bool(b), Type::String) => Ok(Value::String(b.to_string())),
        (Value::BigNumber(b), Type::String) => Ok(Value::String(b.to_string())),
        (v @ (Value::Number(_) | Value::BigNumber(_)), Type::Number) => Ok(v),
        // Decimal text to a number with Terraform's precision ("0.1" is the 512-bit 0.1).
        (Value::String(s), Type::Number) => {
            match parse_number(&s).and_then(|_| super::number::parse(&s)) {
                Some(n) => Ok(n),
                None => Err(mismatch(path, ty, &Value::String(s), sensitive)),
            }
        }
        (v @ Value::Bool(_), Type::Bool) => Ok(v),
        (Value::String(s), Type::Bool) if s == "true" || s == "false" => {
            Ok(Value::Bool(s == "true"))
        }
        (Value::List(items), Type::List(elem) | Type::Set(elem)) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                path.push(PathStep::Index(i));
                let r = conv(item, elem, path, sensitive);
                path.pop();
                out.push(r?);
            }
            if matches!(ty, Type::Set(_)) && !out.iter().any(Value::contains_unknown) {
                make_set(&mut out);
            }
            Ok(Value::List(out))
        }
        (Value::List(items), Type::Tuple(types)) => {
            if items.len() != types.len() {
                return fail(
                    path,
                    format!(
                        "expected tuple of {} elements, got {} elements",
                        types.len(),
                        items.len()
                    ),
                );
            }
            let mut out = Vec::with_capacity(items.len());
            for (i, (item, t)) in items.into_iter().zip(types).enumerate() {
                path.push(PathStep::Index(i));
                let r = conv(item, t, path, sensitive);
                path.pop();
                out.push(r?);
            }
            Ok(Value::List(out))
        }
        (Value::Map(map), Type::Map(elem)) => {
            let mut out = BTreeMap::new();
            for (k, v) in map {
                path.push(PathStep::Key(k.clone()));
                let r = conv(v, elem, path, sensitive);
                path.pop();
                out.insert(k, r?);
            }
            Ok(Value::Map(out))
        }
        (Value::Map(mut map), Type::Object(attrs)) => {
            let mut out = BTreeMap::new();
            for (name, (t, optional)) in attrs {
                match map.remove(name) {
                    Some(v) => {
                        path.push(PathStep::Key(name.clone()));
                        let r = conv(v, t, path, sensitive);
                        path.pop();
                        out.insert(name.clone(), r?);
                    }
                    None if *optional => {
                        out.insert(name.clone(), Value::Null);
                    }
                    None => {
                        return fail(path, format!("attribute \"{name}\" is required"));
                    }
                }
            }
            // Attributes the type does not declare are dropped, as Terraform does.
            Ok(Value::Map(out))
        }
        (v, ty) => Err(mismatch(path, ty, &v, sensitive)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Value {
        Value::string(x)
    }
    fn n(x: f64) -> Value {
        Value::Number(x)
    }
    fn list(items: Vec<Value>) -> Value {
        Value::List(items)
    }
    fn map(pairs: Vec<(&str, Value)>) -> Value {
        Value::Map(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }
    fn obj(attrs: Vec<(&str, Type, bool)>) -> Type {
        Type::Object(attrs.into_iter().map(|(k, t, o)| (k.to_string(), (t, o))).collect())
    }

    #[test]
    fn primitives_convert_both_ways() {
        assert_eq!(convert(s("42"), &Type::Number), Ok(n(42.0)));
        assert_eq!(convert(s("-1.5e2"), &Type::Number), Ok(n(-150.0)));
        assert_eq!(convert(n(42.0), &Type::String), Ok(s("42")));
        assert_eq!(convert(n(0.5), &Type::String), Ok(s("0.5")));
        assert_eq!(convert(Value::Bool(true), &Type::String), Ok(s("true")));
        assert_eq!(convert(s("false"), &Type::Bool), Ok(Value::Bool(false)));
        assert!(convert(s("yes"), &Type::Bool).is_err());
        assert!(convert(n(1.0), &Type::Bool).is_err());
        assert!(convert(Value::Bool(true), &Type::Number).is_err());
    }

    #[test]
    fn numbers_reject_non_decimal_spellings() {
        for bad in ["inf", "NaN", "infinity", "0x10", "", " 1", "1e999", "-", "e"] {
            assert!(convert(s(bad), &Type::Number).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn error_names_expected_and_actual() {
        let e = convert(s("big"), &Type::Number).unwrap_err();
        assert_eq!(e.message, "expected number, got string \"big\"");
        assert!(e.path.is_empty());
        let e = convert(list(vec![]), &Type::String).unwrap_err();
        assert_eq!(e.message, "expected string, got list");
    }

    #[test]
    fn error_path_points_inside_nested_values() {
        let ty = obj(vec![(
            "nodes",
            Type::List(Box::new(obj(vec![("size", Type::Number, false)]))),
            false,
        )]);
        let value = map(vec![(
            "nodes",
            list(vec![
                map(vec![("size", n(1.0))]),
                map(vec![("size", s("2"))]),
                map(vec![("size", s("big"))]),
            ]),
        )]);
        let e = convert(value, &ty).unwrap_err();
        assert_eq!(
            e.path,
            vec![PathStep::Key("nodes".into()), PathStep::Index(2), PathStep::Key("size".into())]
        );
        assert_eq!(e.message, "expected number, got string \"big\"");
        assert_eq!(e.to_string(), ".nodes[2].size: expected number, got string \"big\"");
    }

    #[test]
    fn sensitive_content_never_appears_in_errors() {
        let e = convert(s("hunter2").mark_sensitive(), &Type::Number).unwrap_err();
        assert!(!e.message.contains("hunter2"));
        assert!(e.message.contains("sensitive value"));
        // Inside a sensitive structure, nested values are just as secret.
        let v = map(vec![("pw", s("hunter2"))]).mark_sensitive();
        let ty = Type::Map(Box::new(Type::Bool));
        let e = convert(v, &ty).unwrap_err();
        assert!(!e.message.contains("hunter2"));
        assert_eq!(e.path, vec![PathStep::Key("pw".into())]);
    }

    #[test]
    fn marks_are_preserved() {
        assert_eq!(convert(s("5").mark_sensitive(), &Type::Number), Ok(n(5.0).mark_sensitive()));
        let v = list(vec![n(1.0), s("2").mark_sensitive()]);
        assert_eq!(
            convert(v, &Type::List(Box::new(Type::String))),
            Ok(list(vec![s("1"), s("2").mark_sensitive()]))
        );
    }

    #[test]
    fn null_and_unknown_fit_every_type() {
        for ty in [
            Type::String,
            Type::Number,
            Type::List(Box::new(Type::Any)),
            obj(vec![("a", Type::String, false)]),
        ] {
            assert_eq!(convert(Value::Null, &ty), Ok(Value::Null));
            assert_eq!(convert(Value::Unknown, &ty), Ok(Value::Unknown));
        }
        assert_eq!(
            convert(Value::Unknown.mark_sensitive(), &Type::String),
            Ok(Value::Unknown.mark_sensitive())
        );
    }

    #[test]
    fn any_accepts_anything() {
        let v = map(vec![("a", list(vec![n(1.0), s("x")]))]);
        assert_eq!(convert(v.clone(), &Type::Any), Ok(v));
    }

    #[test]
    fn collections_convert_between_list_set_and_tuple() {
        let v = list(vec![s("b"), s("a"), s("b")]);
        assert_eq!(
            convert(v.clone(), &Type::Set(Box::new(Type::String))),
            Ok(list(vec![s("a"), s("b")]))
        );
        assert_eq!(convert(v.clone(), &Type::List(Box::new(Type::String))), Ok(v.clone()));
        let tuple = Type::Tuple(vec![Type::String, Type::Number, Type::Bool]);
        assert_eq!(
            convert(list(vec![n(1.0), s("2"), s("true")]), &tuple),
            Ok(list(vec![s("1"), n(2.0), Value::Bool(true)]))
        );
        let e = convert(list(vec![n(1.0)]), &tuple).unwrap_err();
        assert!(e.message.contains("3 elements"));
        assert!(convert(map(vec![]), &Type::List(Box::new(Type::Any))).is_err());
        // A set with unknown elements cannot be deduplicated yet; it stays as given.
        let v = list(vec![Value::Unknown, s("a")]);
        assert_eq!(convert(v.clone(), &Type::Set(Box::new(Type::String))), Ok(v));
    }

    #[test]
    fn objects_handle_missing_optional_and_extra_attributes() {
        let ty = obj(vec![("name", Type::String, false), ("size", Type::Number, true)]);
        let v = map(vec![("name", s("a")), ("extra", Value::Bool(true))]);
        assert_eq!(convert(v, &ty), Ok(map(vec![("name", s("a")), ("size", Value::Null)])));
        let e = convert(map(vec![("size", n(1.0))]), &ty).unwrap_err();
        assert!(e.message.contains("\"name\""), "{}", e.message);
        assert!(e.message.contains("required"));
    }

    #[test]
    fn maps_convert_their_values() {
        let v = map(vec![("a", n(1.0)), ("b", Value::Bool(false))]);
        assert_eq!(
            convert(v, &Type::Map(Box::new(Type::String))),
            Ok(map(vec![("a", s("1")), ("b", s("false"))]))
        );
        let e = convert(map(vec![("a", list(vec![]))]), &Type::Map(Box::new(Type::String)))
            .unwrap_err();
        assert_eq!(e.path, vec![PathStep::Key("a".into())]);
    }

    #[test]
    fn set_order_is_total_even_with_nan() {
        let mut items = vec![n(f64::NAN), n(1.0), n(f64::NAN), s("a"), Value::Null];
        make_set(&mut items);
        assert_eq!(items.len(), 4);
        // Null sorts last, as in Terraform's sets.
        assert_eq!(items[3], Value::Null);
    }
}
