//! Structural functions: they move elements without reading them, so they see marks and
//! unknowns themselves and keep each element's marks in place ([`super::Imp::Raw`]).

use super::*;

pub(super) fn f_length(mut args: Vec<Value>) -> R {
    let (v, s) = take(&mut args, 0).unmark();
    let n = match v {
        Value::Unknown => Value::Unknown,
        // Grapheme clusters, as Terraform counts: "cafe\u0301" and "👍🏽" are 4 and 1.
        Value::String(text) => num(grapheme_count(&text)),
        Value::List(items) => num(items.len()),
        Value::Map(map) => num(map.len()),
        Value::Null => return Err(not_null(0)),
        other => return Err(type_err(0, "list, map, or string", &other)),
    };
    Ok(n.mark_if(s))
}

pub(super) fn f_keys(mut args: Vec<Value>) -> R {
    let (v, s) = take(&mut args, 0).unmark();
    match v {
        Value::Unknown => Ok(Value::Unknown.mark_if(s)),
        Value::Map(map) => Ok(str_list(map.into_keys()).mark_if(s)),
        Value::Null => Err(not_null(0)),
        other => Err(type_err(0, "map", &other)),
    }
}

pub(super) fn f_values(mut args: Vec<Value>) -> R {
    let (v, s) = take(&mut args, 0).unmark();
    match v {
        Value::Unknown => Ok(Value::Unknown.mark_if(s)),
        Value::Map(map) => Ok(Value::List(map.into_values().collect()).mark_if(s)),
        Value::Null => Err(not_null(0)),
        other => Err(type_err(0, "map", &other)),
    }
}

/// An unknown among the arguments that select or shape the result makes the result unknown,
/// marked when any of those arguments is secret.
pub(super) fn unknown_among(args: &[Value]) -> Option<Value> {
    args.iter()
        .any(Value::is_unknown)
        .then(|| Value::Unknown.mark_if(args.iter().any(Value::is_sensitive)))
}

pub(super) fn f_lookup(mut args: Vec<Value>) -> R {
    if let Some(u) = unknown_among(args.get(..2).unwrap_or(&[])) {
        return Ok(u);
    }
    let has_default = args.len() > 2;
    let default = take(&mut args, 2);
    let (map, ms) = take(&mut args, 0).unmark();
    let (key, ks) = take(&mut args, 1).unmark();
    // Which element is chosen depends on the key, so a secret key taints the result.
    let sens = ms || ks;
    if key.contains_unknown() || map.is_unknown() {
        return Ok(Value::Unknown.mark_if(sens));
    }
    let cx = Cx { base_dir: Path::new(""), redact: ks };
    let key = want_str(&key, 1, &cx)?;
    match map {
        Value::Map(mut map) => match map.remove(&key) {
            Some(v) => Ok(v.mark_if(sens)),
            None if has_default => Ok(default.mark_if(sens)),
            None => Err(arg_err(1, format!("key {} not found in map", cx.quote(&key)))),
        },
        Value::Null => Err(not_null(0)),
        other => Err(type_err(0, "map", &other)),
    }
}

pub(super) fn f_merge(args: Vec<Value>) -> R {
    let mut out = BTreeMap::new();
    let (mut sens, mut unknown) = (false, false);
    for (i, a) in args.into_iter().enumerate() {
        let (a, s) = a.unmark();
        sens |= s;
        match a {
            Value::Null => {}
            // The keys of an unknown map are unknown, so the merged keys are too.
            Value::Unknown => unknown = true,
            Value::Map(map) => out.extend(map),
            other => return Err(type_err(i, "map or object", &other)),
        }
    }
    let v = if unknown { Value::Unknown } else { Value::Map(out) };
    Ok(v.mark_if(sens))
}

pub(super) fn f_concat(args: Vec<Value>) -> R {
    let mut out = Vec::new();
    let (mut sens, mut unknown) = (false, false);
    for (i, a) in args.into_iter().enumerate() {
        let (a, s) = a.unmark();
        sens |= s;
        match a {
            Value::Unknown => unknown = true,
            Value::List(items) => out.extend(items),
            Value::Null => return Err(not_null(i)),
            other => return Err(type_err(i, "list", &other)),
        }
    }
    let v = if unknown { Value::Unknown } else { Value::List(out) };
    Ok(v.mark_if(sens))
}

/// Returns false when an unknown element is met: our unknowns are untyped, so it may turn out
/// to be a list that needs flattening, and only an unknown result is then correct.
pub(super) fn flatten_into(items: Vec<Value>, out: &mut Vec<Value>, sens: &mut bool) -> bool {
    for item in items {
        let (v, s) = item.unmark();
        match v {
            Value::Unknown => {
                *sens |= s;
                return false;
            }
            Value::List(inner) => {
                // A secret nested list's length shows through the result's length.
                *sens |= s;
                if !flatten_into(inner, out, sens) {
                    return false;
                }
            }
            other => out.push(other.mark_if(s)),
        }
    }
    true
}

pub(super) fn f_flatten(mut args: Vec<Value>) -> R {
    let (v, mut sens) = take(&mut args, 0).unmark();
    match v {
        Value::Unknown => Ok(Value::Unknown.mark_if(sens)),
        Value::List(items) => {
            let mut out = Vec::new();
            let known = flatten_into(items, &mut out, &mut sens);
            let v = if known { Value::List(out) } else { Value::Unknown };
            Ok(v.mark_if(sens))
        }
        Value::Null => Err(not_null(0)),
        other => Err(type_err(0, "list", &other)),
    }
}

/// Unwraps a list argument of a structural function: `Err(Ok(unknown))` short-circuits.
pub(super) fn raw_list(v: Value, i: usize) -> Result<(Vec<Value>, bool), R> {
    let (v, s) = v.unmark();
    match v {
        Value::List(items) => Ok((items, s)),
        Value::Unknown => Err(Ok(Value::Unknown.mark_if(s))),
        Value::Null => Err(Err(not_null(i))),
        other => Err(Err(type_err(i, "list", &other))),
    }
}

macro_rules! list_or_return {
    ($v:expr, $i:expr) => {
        match raw_list($v, $i) {
            Ok(pair) => pair,
            Err(early) => return early,
        }
    };
}

pub(super) fn f_distinct(mut args: Vec<Value>) -> R {
    let (items, s) = list_or_return!(take(&mut args, 0), 0);
    // Equality with an unknown cannot be decided yet.
    if items.iter().any(Value::contains_unknown) {
        return Ok(Value::Unknown.mark_if(s));
    }
    // Sort positions instead of comparing all pairs: 10k elements must stay fast.
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by(|&a, &b| match (items.get(a), items.get(b)) {
        (Some(x), Some(y)) => cmp_values(x, y).then(a.cmp(&b)),
        _ => a.cmp(&b),
    });
    let mut keep = vec![false; items.len()];
    let mut prev: Option<usize> = None;
    for &i in &order {
        let dup = match (prev, items.get(i)) {
            (Some(p), Some(x)) => items.get(p).is_some_and(|y| cmp_values(x, y).is_eq()),
            _ => false,
        };
        if !dup {
            if let Some(k) = keep.get_mut(i) {
                *k = true;
            }
            prev = Some(i);
        }
    }
    let out = items.into_iter().zip(keep).filter_map(|(v, k)| k.then_some(v)).collect();
    Ok(Value::List(out).mark_if(s))
}

pub(super) fn raw_int(v: &Value, i: usize, redact: bool) -> Result<i64, FunctionError> {
    let cx = Cx { base_dir: Path::new(""), redact };
    want_int(v, i, &cx)
}

pub(super) fn f_element(mut args: Vec<Value>) -> R {
    if let Some(u) = unknown_among(&args) {
        return Ok(u);
    }
    let (index, is) = take(&mut args, 1).unmark();
    let (items, ls) = list_or_return!(take(&mut args, 0), 0);
    let sens = ls || is;
    if index.is_unknown() {
        return Ok(Value::Unknown.mark_if(sens));
    }
    let i = raw_int(&index, 1, is)?;
    if items.is_empty() {
        return Err(arg_err(0, "cannot use element() on an empty list"));
    }
    if i < 0 {
        return Err(arg_err(1, "index must not be negative"));
    }
    let at = (i as u64 % items.len() as u64) as usize;
    let v = items.into_iter().nth(at).unwrap_or_default();
    Ok(v.mark_if(sens))
}

pub(super) fn f_slice(mut args: Vec<Value>) -> R {
    if let Some(u) = unknown_among(&args) {
        return Ok(u);
    }
    let (end, es) = take(&mut args, 2).unmark();
    let (start, ss) = take(&mut args, 1).unmark();
    let (items, ls) = list_or_return!(take(&mut args, 0), 0);
    let sens = ls || ss || es;
    if start.is_unknown() || end.is_unknown() {
        return Ok(Value::Unknown.mark_if(sens));
    }
    let start = raw_int(&start, 1, ss)?;
    let end = raw_int(&end, 2, es)?;
    if start < 0 {
        return Err(arg_err(1, "start index must not be negative"));
    }
    if end > items.len() as i64 {
        return Err(arg_err(
            2,
            format!("end index must not exceed the list length {}", items.len()),
        ));
    }
    if start > end {
        return Err(arg_err(1, "start index must not be greater than end index"));
    }
    let out = items.into_iter().skip(start as usize).take((end - start) as usize).collect();
    Ok(Value::List(out).mark_if(sens))
}

pub(super) fn f_zipmap(mut args: Vec<Value>) -> R {
    if let Some(u) = unknown_among(&args) {
        return Ok(u);
    }
    let (values, vs) = list_or_return!(take(&mut args, 1), 1);
    let (keys, ks) = list_or_return!(take(&mut args, 0), 0);
    // A secret key cannot carry its own mark in a map, so the whole map becomes secret.
    let sens = ks || vs || keys.iter().any(Value::contains_sensitive);
    if keys.iter().any(Value::contains_unknown) {
        return Ok(Value::Unknown.mark_if(sens));
    }
    if keys.len() != values.len() {
        return Err(arg_err(
            1,
            format!(
                "number of keys ({}) does not match number of values ({})",
                keys.len(),
                values.len()
            ),
        ));
    }
    let cx = Cx { base_dir: Path::new(""), redact: sens };
    let mut out = BTreeMap::new();
    for (k, v) in keys.iter().zip(values) {
        out.insert(want_str(k, 0, &cx)?, v);
    }
    Ok(Value::Map(out).mark_if(sens))
}

pub(super) fn to_collection(v: Value, set: bool) -> R {
    let (v, s) = v.unmark();
    match v {
        Value::Unknown | Value::Null => Ok(v.mark_if(s)),
        Value::List(items) => {
            if set && items.iter().any(Value::contains_unknown) {
                // Deduplication decides the length, and an unknown might equal anything.
                return Ok(Value::Unknown.mark_if(s));
            }
            let mut items = unify_primitives(items);
            if set {
                make_set(&mut items);
            }
            Ok(Value::List(items).mark_if(s))
        }
        other => Err(type_err(0, "list or set", &other)),
    }
}

pub(super) fn f_toset(mut args: Vec<Value>) -> R {
    to_collection(take(&mut args, 0), true)
}

pub(super) fn f_tolist(mut args: Vec<Value>) -> R {
    to_collection(take(&mut args, 0), false)
}

pub(super) fn f_tomap(mut args: Vec<Value>) -> R {
    let (v, s) = take(&mut args, 0).unmark();
    match v {
        Value::Unknown | Value::Null => Ok(v.mark_if(s)),
        Value::Map(map) => {
            let (keys, vals): (Vec<String>, Vec<Value>) = map.into_iter().unzip();
            let vals = unify_primitives(vals);
            Ok(Value::Map(keys.into_iter().zip(vals).collect()).mark_if(s))
        }
        other => Err(type_err(0, "map or object", &other)),
    }
}

pub(super) fn convert_arg(mut args: Vec<Value>, ty: Type) -> R {
    convert::convert(take(&mut args, 0), &ty).map_err(|e| arg_err(0, e.to_string()))
}

pub(super) fn f_tostring(args: Vec<Value>) -> R {
    convert_arg(args, Type::String)
}

pub(super) fn f_tonumber(args: Vec<Value>) -> R {
    convert_arg(args, Type::Number)
}

pub(super) fn f_tobool(args: Vec<Value>) -> R {
    convert_arg(args, Type::Bool)
}

pub(super) fn f_coalesce(args: Vec<Value>) -> R {
    // Terraform unifies the arguments' types first and converts the result to that type:
    // coalesce(1, "a") is "1", coalesce([1], ["a"]) is ["1"].
    let types: Vec<serde_json::Value> = args
        .iter()
        .filter(|a| !a.peel().is_null())
        .map(|a| crate::eval::types::type_json(a, &crate::eval::types::Shape::Dyn))
        .collect();
    let unified = crate::eval::types::unify_all(&mut types.iter());
    // Skipping a secret (because it was null or empty) reveals that much, so it taints the result.
    let mut sens = false;
    for a in args {
        let (v, s) = a.unmark();
        match v {
            Value::Unknown => return Ok(Value::Unknown.mark_if(sens || s)),
            Value::Null => sens |= s,
            Value::String(ref text) if text.is_empty() => sens |= s,
            other => {
                let Some(t) = &unified else {
                    return Err(err("all arguments must have the same type"));
                };
                let other = crate::eval::types::convert_to_type(other, t);
                return Ok(other.mark_if(sens || s));
            }
        }
    }
    Err(err("no non-null, non-empty-string arguments"))
}

pub(super) fn f_coalescelist(args: Vec<Value>) -> R {
    let mut sens = false;
    for (i, a) in args.into_iter().enumerate() {
        let (v, s) = a.unmark();
        match v {
            Value::Unknown => return Ok(Value::Unknown.mark_if(sens || s)),
            Value::Null => sens |= s,
            Value::List(items) if items.is_empty() => sens |= s,
            Value::List(items) => return Ok(Value::List(items).mark_if(sens || s)),
            other => return Err(type_err(i, "list", &other)),
        }
    }
    Err(err("no non-null, non-empty list arguments"))
}

pub(super) fn f_compact(mut args: Vec<Value>) -> R {
    let (items, mut sens) = list_or_return!(take(&mut args, 0), 0);
    if items.iter().any(Value::is_unknown) {
        return Ok(Value::Unknown.mark_if(sens));
    }
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let empty = match item.peel() {
            Value::Null => true,
            Value::String(s) => s.is_empty(),
            _ => false,
        };
        if empty {
            // Dropping a secret element reveals it was empty.
            sens |= item.is_sensitive();
        } else {
            out.push(item);
        }
    }
    Ok(Value::List(out).mark_if(sens))
}

pub(super) fn f_reverse(mut args: Vec<Value>) -> R {
    let (mut items, s) = list_or_return!(take(&mut args, 0), 0);
    items.reverse();
    Ok(Value::List(items).mark_if(s))
}

pub(super) fn f_one(mut args: Vec<Value>) -> R {
    let (items, s) = list_or_return!(take(&mut args, 0), 0);
    if items.len() > 1 {
        return Err(arg_err(
            0,
            format!("must be a list of no more than one element, got {}", items.len()),
        ));
    }
    Ok(items.into_iter().next().unwrap_or_default().mark_if(s))
}

pub(super) fn f_sensitive(mut args: Vec<Value>) -> R {
    Ok(take(&mut args, 0).mark_sensitive())
}

pub(super) fn f_nonsensitive(mut args: Vec<Value>) -> R {
    // Only the top-level mark goes, as in Terraform: nested secrets stay secret. Like
    // Terraform, a known value that is not sensitive is an error: the call is a mistake.
    let (v, marked) = take(&mut args, 0).unmark();
    if !marked && !v.is_unknown() {
        return Err(arg_err(
            0,
            "the given value is not sensitive, so nonsensitive() is not needed",
        ));
    }
    Ok(v)
}

// ---------------------------------------------------------------------------------------------
// Pure functions: arguments are unmarked and known.
