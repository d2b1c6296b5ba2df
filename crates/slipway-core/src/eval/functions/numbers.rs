//! Number functions (pure). Results are exact where Terraform's are (integers), f64 otherwise.

use super::*;

pub(super) fn num_fn(args: &[Value], cx: &Cx, f: impl Fn(f64) -> f64) -> R {
    Ok(Value::Number(f(want_num(arg(args, 0), 0, cx)?)))
}

pub(super) fn f_abs(args: &[Value], cx: &Cx) -> R {
    num_fn(args, cx, f64::abs)
}

pub(super) fn f_ceil(args: &[Value], cx: &Cx) -> R {
    num_fn(args, cx, f64::ceil)
}

pub(super) fn f_floor(args: &[Value], cx: &Cx) -> R {
    num_fn(args, cx, f64::floor)
}

pub(super) fn f_signum(args: &[Value], cx: &Cx) -> R {
    // Terraform 1.0.3 takes whole numbers only (signum(2.5) is an error there).
    want_int(arg(args, 0), 0, cx)?;
    // f64::signum(0.0) is 1; Terraform's signum(0) is 0.
    num_fn(args, cx, |n| {
        if n > 0.0 {
            1.0
        } else if n < 0.0 {
            -1.0
        } else {
            n
        }
    })
}

pub(super) fn f_pow(args: &[Value], cx: &Cx) -> R {
    let a = want_num(arg(args, 0), 0, cx)?;
    let b = want_num(arg(args, 1), 1, cx)?;
    Ok(Value::Number(a.powf(b)))
}

/// The extreme of the arguments by exact numeric order (`better` says which side wins).
pub(super) fn extreme(args: &[Value], cx: &Cx, better: std::cmp::Ordering) -> R {
    let mut best: Option<Value> = None;
    for (i, v) in args.iter().enumerate() {
        want_num(v, i, cx)?;
        let v = match v {
            Value::String(s) => {
                crate::eval::number::parse(s).ok_or_else(|| arg_err(i, "expected number"))?
            }
            other => other.clone(),
        };
        best = match best {
            Some(b) if crate::eval::number::compare(&v, &b) != Some(better) => Some(b),
            _ => Some(v),
        };
    }
    best.ok_or_else(|| err("at least one argument is required"))
}

pub(super) fn f_min(args: &[Value], cx: &Cx) -> R {
    extreme(args, cx, std::cmp::Ordering::Less)
}

pub(super) fn f_max(args: &[Value], cx: &Cx) -> R {
    extreme(args, cx, std::cmp::Ordering::Greater)
}

pub(super) fn f_sum(args: &[Value], cx: &Cx) -> R {
    let items = want_list(arg(args, 0), 0, cx)?;
    if items.is_empty() {
        return Err(arg_err(0, "cannot sum an empty list"));
    }
    // Exact, as Terraform's: sum([0.1, 0.2]) is 0.3.
    let mut total = Value::Number(0.0);
    for item in items {
        want_num(item, 0, cx)?;
        total = crate::eval::number::arith(crate::eval::number::Op::Add, &total, item)
            .map_err(|_| arg_err(0, "the sum is out of range"))?;
    }
    Ok(total)
}

pub(super) fn f_parseint(args: &[Value], cx: &Cx) -> R {
    let s = want_str(arg(args, 0), 0, cx)?;
    let base = want_int(arg(args, 1), 1, cx)?;
    if !(2..=62).contains(&base) {
        return Err(arg_err(1, "base must be a whole number between 2 and 62"));
    }
    let (neg, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s.strip_prefix('+').unwrap_or(&s)),
    };
    if digits.is_empty() {
        return Err(arg_err(0, format!("cannot parse {} as a base {base} integer", cx.quote(&s))));
    }
    let mut n: f64 = 0.0;
    for c in digits.chars() {
        let d = match c {
            '0'..='9' => c as i64 - '0' as i64,
            'a'..='z' => c as i64 - 'a' as i64 + 10,
            'A'..='Z' if base <= 36 => c as i64 - 'A' as i64 + 10,
            'A'..='Z' => c as i64 - 'A' as i64 + 36,
            _ => 99,
        };
        if d >= base {
            return Err(arg_err(
                0,
                format!("cannot parse {} as a base {base} integer", cx.quote(&s)),
            ));
        }
        n = n * base as f64 + d as f64;
    }
    Ok(Value::Number(if neg { -n } else { n }))
}

pub(super) fn f_log(args: &[Value], cx: &Cx) -> R {
    let x = want_num(arg(args, 0), 0, cx)?;
    let b = want_num(arg(args, 1), 1, cx)?;
    let r = x.ln() / b.ln();
    if !r.is_finite() {
        return Err(err("log() has no finite result for these arguments"));
    }
    Ok(Value::Number(r))
}
