//! Collection functions that read their elements (pure): membership, ranges, sorting, sets.

use super::*;

pub(super) fn f_contains(args: &[Value], cx: &Cx) -> R {
    let items = want_list(arg(args, 0), 0, cx)?;
    let needle = arg(args, 1);
    Ok(Value::Bool(items.iter().any(|v| cmp_values(v, needle).is_eq())))
}

pub(super) fn f_index(args: &[Value], cx: &Cx) -> R {
    let items = want_list(arg(args, 0), 0, cx)?;
    let needle = arg(args, 1);
    items
        .iter()
        .position(|v| cmp_values(v, needle).is_eq())
        .map(num)
        .ok_or_else(|| arg_err(1, "item not found in list"))
}

pub(super) fn f_range(args: &[Value], cx: &Cx) -> R {
    let nums: Vec<f64> =
        args.iter().enumerate().map(|(i, v)| want_num(v, i, cx)).collect::<Result<_, _>>()?;
    let (start, limit, step) = match nums.as_slice() {
        [limit] => (0.0, *limit, if *limit < 0.0 { -1.0 } else { 1.0 }),
        [start, limit] => (*start, *limit, if start > limit { -1.0 } else { 1.0 }),
        [start, limit, step] => (*start, *limit, *step),
        _ => return Err(err("range() takes 1 to 3 arguments")),
    };
    if !(start.is_finite() && limit.is_finite() && step.is_finite()) {
        return Err(err("range() arguments must be finite numbers"));
    }
    if step == 0.0 {
        return Err(arg_err(2, "step must not be zero"));
    }
    if (start < limit && step < 0.0) || (start > limit && step > 0.0) {
        return Err(arg_err(
            2,
            "step must move from start towards limit (positive when start < limit)",
        ));
    }
    let count = ((limit - start) / step).ceil();
    if !count.is_finite() || count > MAX_ELEMENTS as f64 {
        return Err(err(format!("range() would produce more than {MAX_ELEMENTS} elements")));
    }
    let count = count.max(0.0) as usize;
    Ok(Value::List((0..count).map(|i| Value::Number(start + step * i as f64)).collect()))
}

pub(super) fn f_sort(args: &[Value], cx: &Cx) -> R {
    let items = want_list(arg(args, 0), 0, cx)?;
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        if item.is_null() {
            return Err(arg_err(0, "list elements must not be null"));
        }
        out.push(want_str(item, 0, cx)?);
    }
    out.sort();
    Ok(str_list(out))
}

pub(super) fn bools(args: &[Value], cx: &Cx) -> Result<Vec<bool>, FunctionError> {
    want_list(arg(args, 0), 0, cx)?.iter().map(|v| want_bool(v, 0, cx)).collect()
}

pub(super) fn f_alltrue(args: &[Value], cx: &Cx) -> R {
    Ok(Value::Bool(bools(args, cx)?.into_iter().all(|b| b)))
}

pub(super) fn f_anytrue(args: &[Value], cx: &Cx) -> R {
    Ok(Value::Bool(bools(args, cx)?.into_iter().any(|b| b)))
}

pub(super) fn set_args(args: &[Value], cx: &Cx) -> Result<Vec<Vec<Value>>, FunctionError> {
    args.iter()
        .enumerate()
        .map(|(i, v)| {
            let mut items = unify_primitives(want_list(v, i, cx)?.to_vec());
            make_set(&mut items);
            Ok(items)
        })
        .collect()
}

pub(super) fn in_set(set: &[Value], v: &Value) -> bool {
    set.binary_search_by(|x| cmp_values(x, v)).is_ok()
}

pub(super) fn f_setunion(args: &[Value], cx: &Cx) -> R {
    let mut all: Vec<Value> = set_args(args, cx)?.into_iter().flatten().collect();
    make_set(&mut all);
    Ok(Value::List(all))
}

pub(super) fn f_setintersection(args: &[Value], cx: &Cx) -> R {
    let mut sets = set_args(args, cx)?.into_iter();
    let first = sets.next().unwrap_or_default();
    let rest: Vec<Vec<Value>> = sets.collect();
    Ok(Value::List(first.into_iter().filter(|v| rest.iter().all(|s| in_set(s, v))).collect()))
}

pub(super) fn f_setsubtract(args: &[Value], cx: &Cx) -> R {
    let mut sets = set_args(args, cx)?.into_iter();
    let first = sets.next().unwrap_or_default();
    let minus = sets.next().unwrap_or_default();
    Ok(Value::List(first.into_iter().filter(|v| !in_set(&minus, v)).collect()))
}

pub(super) fn f_chunklist(args: &[Value], cx: &Cx) -> R {
    let items = want_list(arg(args, 0), 0, cx)?;
    let size = want_int(arg(args, 1), 1, cx)?;
    if size < 0 {
        return Err(arg_err(1, "the size argument must be positive"));
    }
    if size == 0 {
        return Ok(Value::List(vec![Value::List(items.to_vec())]));
    }
    Ok(Value::List(
        items
            .chunks(usize::try_from(size).unwrap_or(usize::MAX))
            .map(|c| Value::List(c.to_vec()))
            .collect(),
    ))
}

pub(super) fn f_matchkeys(args: &[Value], cx: &Cx) -> R {
    let values = want_list(arg(args, 0), 0, cx)?;
    let keys = want_list(arg(args, 1), 1, cx)?;
    let search = want_list(arg(args, 2), 2, cx)?;
    if values.len() != keys.len() {
        return Err(err("length of keys and values should be equal"));
    }
    let eq = crate::eval::expr::values_equal;
    Ok(Value::List(
        values
            .iter()
            .zip(keys)
            .filter(|(_, k)| search.iter().any(|s| eq(s, k)))
            .map(|(v, _)| v.clone())
            .collect(),
    ))
}

pub(super) fn f_setproduct(args: &[Value], cx: &Cx) -> R {
    let mut out: Vec<Vec<Value>> = vec![Vec::new()];
    for (i, a) in args.iter().enumerate() {
        let items = want_list(a, i, cx)?;
        if out.len().saturating_mul(items.len()) > MAX_ELEMENTS {
            return Err(err(format!("the product has more than {MAX_ELEMENTS} elements")));
        }
        out = out
            .iter()
            .flat_map(|prefix| {
                items.iter().map(move |v| {
                    let mut p = prefix.clone();
                    p.push(v.clone());
                    p
                })
            })
            .collect();
    }
    Ok(Value::List(out.into_iter().map(Value::List).collect()))
}

pub(super) fn f_transpose(args: &[Value], cx: &Cx) -> R {
    let Value::Map(m) = arg(args, 0) else {
        return Err(arg_err(
            0,
            format!("expected map of lists of strings, got {}", cx.describe(arg(args, 0))),
        ));
    };
    let mut out: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for (k, v) in m {
        for item in want_list(v, 0, cx)? {
            let Value::String(s) = item else {
                return Err(arg_err(0, "expected map of lists of strings"));
            };
            out.entry(s.clone()).or_default().push(Value::String(k.clone()));
        }
    }
    Ok(Value::Map(out.into_iter().map(|(k, v)| (k, Value::List(v))).collect()))
}
