//! Reading and writing attribute values: typed getters over a planned or prior object
//! (`str_attr`, `strs_attr`, …), constructors of attribute values from what the SDK returns
//! (`vstr`, `vset`, …), and the canonical forms `normalize` and the readers share.
//!
//! **Invariant:** a set of strings has one form, sorted and without duplicates ([`vset`]), from
//! configuration and from AWS alike.

use crate::resource::Attrs;
use crate::value::Value;

/// A known, non-empty string attribute.
pub fn str_attr(v: &Value, k: &str) -> Option<String> {
    v.get_attr(k).and_then(|x| x.as_str().map(str::to_string)).filter(|s| !s.is_empty())
}

pub fn bool_attr(v: &Value, k: &str) -> Option<bool> {
    v.get_attr(k).and_then(|x| x.as_bool())
}

pub fn int_attr(v: &Value, k: &str) -> Option<i64> {
    v.get_attr(k).and_then(|x| x.as_f64()).map(|n| n as i64)
}

/// A list of known strings (unknown and null elements skipped).
pub fn strs_attr(v: &Value, k: &str) -> Vec<String> {
    v.get_attr(k)
        .as_ref()
        .and_then(Value::as_list)
        .map(|l| l.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

/// Objects of a list block.
pub fn blocks_attr(v: &Value, k: &str) -> Vec<Value> {
    v.get_attr(k).as_ref().and_then(Value::as_list).map(<[Value]>::to_vec).unwrap_or_default()
}

/// A single nested block, if set.
pub fn block_attr(v: &Value, k: &str) -> Option<Value> {
    v.get_attr(k).filter(|b| b.as_map().is_some())
}

/// Whether the plan changes attribute `k` (unknown counts as a change).
pub fn changed(prior: &Value, planned: &Value, k: &str) -> bool {
    let p = planned.get_attr(k).unwrap_or(Value::Null);
    p.is_unknown() || prior.get_attr(k).unwrap_or(Value::Null) != p
}

/// The planned value of boolean `k` when it differs from the prior one, either side read as
/// `default` when unset (a create's prior is null: AWS's default is what the object has).
pub fn bool_change(prior: &Value, planned: &Value, k: &str, default: bool) -> Option<bool> {
    let new = bool_attr(planned, k).unwrap_or(default);
    (bool_attr(prior, k).unwrap_or(default) != new).then_some(new)
}

/// A known, non-empty string: the form a create request's writer takes a planned value in.
pub fn text(v: &Value) -> Option<String> {
    v.as_str().filter(|s| !s.is_empty()).map(str::to_string)
}

/// A list of known strings, as a writer takes it. Null and an empty list are None: the request
/// leaves the list out (to AWS the same as empty, and some APIs refuse an empty one).
pub fn texts(v: &Value) -> Option<Vec<String>> {
    let l = v.as_list()?.iter().filter_map(|x| x.as_str().map(str::to_string));
    Some(l.collect::<Vec<_>>()).filter(|l| !l.is_empty())
}

/// A known boolean, as a writer takes it.
pub fn flag(v: &Value) -> Option<bool> {
    v.as_bool()
}

/// A known whole number, as a writer takes it (the SDK's integers are i32).
pub fn int(v: &Value) -> Option<i32> {
    v.as_f64().map(|n| n as i32)
}

pub fn vstr(s: Option<&str>) -> Value {
    match s {
        Some(s) if !s.is_empty() => Value::string(s),
        _ => Value::Null,
    }
}

pub fn vnum(n: Option<i64>) -> Value {
    n.map(|n| Value::Number(n as f64)).unwrap_or(Value::Null)
}

pub fn vlist<I: IntoIterator<Item = String>>(items: I) -> Value {
    Value::List(items.into_iter().map(Value::String).collect())
}

/// Sorted, deduplicated string list: the canonical form of a set of strings.
pub fn vset<I: IntoIterator<Item = String>>(items: I) -> Value {
    let mut v: Vec<String> = items.into_iter().collect();
    v.sort();
    v.dedup();
    vlist(v)
}

/// Puts `k` into canonical set form if it is a known list.
pub fn normalize_set(attrs: &mut Attrs, k: &str) {
    if let Some(Value::List(items)) = attrs.get(k)
        && !items.iter().any(Value::contains_unknown)
    {
        let strs: Vec<String> =
            items.iter().filter_map(|x| x.as_str().map(str::to_string)).collect();
        attrs.insert(k.to_string(), vset(strs));
    }
}

/// Fills `k` with `v` when the plan leaves it null.
pub fn default_attr(attrs: &mut Attrs, k: &str, v: Value) {
    if attrs.get(k).is_none_or(Value::is_null) {
        attrs.insert(k.to_string(), v);
    }
}

pub fn attrs(pairs: Vec<(&str, Value)>) -> Attrs {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}
