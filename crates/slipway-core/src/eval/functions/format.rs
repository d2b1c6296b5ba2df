//! `format` and `formatlist`: Go's fmt verbs as Terraform documents them (`%d %f %e %g %s %q
//! %v %t %x %X %o %b %%`, flags, width and precision), sizes capped by [`super::MAX_WIDTH`].

use super::*;

pub(super) fn f_format(args: &[Value], cx: &Cx) -> R {
    let spec = want_str(arg(args, 0), 0, cx)?;
    format_with(&spec, args.get(1..).unwrap_or(&[]), 1, cx).map(Value::String)
}

pub(super) fn f_formatlist(args: &[Value], cx: &Cx) -> R {
    let spec = want_str(arg(args, 0), 0, cx)?;
    let rest = args.get(1..).unwrap_or(&[]);
    let mut len: Option<usize> = None;
    for (i, a) in rest.iter().enumerate() {
        if let Value::List(items) = a {
            match len {
                Some(n) if n != items.len() => {
                    return Err(arg_err(
                        i + 1,
                        format!(
                            "all list arguments must have the same length: expected {n}, got {}",
                            items.len()
                        ),
                    ));
                }
                _ => len = Some(items.len()),
            }
        }
    }
    // Without any list argument, Terraform formats once.
    let len = len.unwrap_or(1);
    let mut out = Vec::with_capacity(len);
    let mut total = 0usize;
    for row in 0..len {
        let row_args: Vec<Value> = rest
            .iter()
            .map(|a| match a {
                Value::List(items) => items.get(row).cloned().unwrap_or_default(),
                other => other.clone(),
            })
            .collect();
        let s = format_with(&spec, &row_args, 1, cx)?;
        total = total.saturating_add(s.len());
        check_string_size(total)?;
        out.push(s);
    }
    Ok(str_list(out))
}

#[derive(Default)]
pub(super) struct Spec {
    minus: bool,
    plus: bool,
    space: bool,
    zero: bool,
    sharp: bool,
    width: usize,
    precision: Option<usize>,
}

/// Reads a decimal count from the format string, refusing absurd widths.
pub(super) fn read_count(
    chars: &mut std::iter::Peekable<std::str::Chars>,
) -> Result<Option<usize>, FunctionError> {
    let mut n: Option<i64> = None;
    while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
        chars.next();
        let v = n.unwrap_or(0).saturating_mul(10).saturating_add(i64::from(d));
        if v > MAX_WIDTH {
            return Err(arg_err(0, format!("format width or precision larger than {MAX_WIDTH}")));
        }
        n = Some(v);
    }
    Ok(n.map(|v| v as usize))
}

/// Terraform's `format` verbs (from Go's fmt): %v %#v %s %q %t %d %f %e %E %g %G %x %X %o %b
/// %%, with flags `-+ 0#`, width, precision and `%[n]` argument indexes. `first_arg` is the
/// position of `args[0]` in the call, for error reporting.
pub(super) fn format_with(
    spec: &str,
    args: &[Value],
    first_arg: usize,
    cx: &Cx,
) -> Result<String, FunctionError> {
    let mut out = String::new();
    let mut chars = spec.chars().peekable();
    let mut next = 0usize;
    let mut used = 0usize;
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut sp = Spec::default();
        while let Some(&f) = chars.peek() {
            match f {
                '-' => sp.minus = true,
                '+' => sp.plus = true,
                ' ' => sp.space = true,
                '0' => sp.zero = true,
                '#' => sp.sharp = true,
                _ => break,
            }
            chars.next();
        }
        if chars.peek() == Some(&'[') {
            chars.next();
            let n = read_count(&mut chars)?;
            if chars.next() != Some(']') || n.is_none_or(|n| n == 0) {
                return Err(arg_err(0, "invalid argument index in format string"));
            }
            next = n.unwrap_or(1) - 1;
        }
        sp.width = read_count(&mut chars)?.unwrap_or(0);
        if chars.peek() == Some(&'.') {
            chars.next();
            sp.precision = Some(read_count(&mut chars)?.unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            return Err(arg_err(0, "format string ends with an incomplete verb"));
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(value) = args.get(next) else {
            return Err(arg_err(
                0,
                format!("not enough arguments for %{verb} (argument {} is missing)", next + 1),
            ));
        };
        let ai = first_arg + next;
        next += 1;
        used = used.max(next);
        let (body, numeric) = format_one(verb, &sp, value, ai, cx)?;
        pad(&mut out, body, &sp, numeric);
        check_string_size(out.len())?;
    }
    if used < args.len() {
        return Err(err(format!("too many arguments; only {used} used by format string")));
    }
    Ok(out)
}

pub(super) fn pad(out: &mut String, body: String, sp: &Spec, numeric: bool) {
    let len = body.chars().count();
    if len >= sp.width {
        out.push_str(&body);
        return;
    }
    let fill = sp.width - len;
    if sp.minus {
        out.push_str(&body);
        out.extend(std::iter::repeat_n(' ', fill));
    } else if sp.zero && numeric {
        // Zeros go after the sign: %05d of -3 is -0003.
        let (sign, digits) = match body.chars().next() {
            Some(c @ ('-' | '+' | ' ')) => (Some(c), body.get(1..).unwrap_or("")),
            _ => (None, body.as_str()),
        };
        out.extend(sign);
        out.extend(std::iter::repeat_n('0', fill));
        out.push_str(digits);
    } else {
        out.extend(std::iter::repeat_n(' ', fill));
        out.push_str(&body);
    }
}

pub(super) fn sign_prefix(sp: &Spec, negative: bool) -> &'static str {
    if negative {
        "-"
    } else if sp.plus {
        "+"
    } else if sp.space {
        " "
    } else {
        ""
    }
}

/// Go prints exponents with a sign and at least two digits (1e+06); Rust prints 1e6.
pub(super) fn go_exponent(s: String, upper: bool) -> String {
    let Some((mant, exp)) = s.split_once(['e', 'E']) else {
        return s;
    };
    let (sign, digits) = match exp.strip_prefix('-') {
        Some(d) => ('-', d),
        None => ('+', exp),
    };
    let e = if upper { 'E' } else { 'e' };
    format!("{mant}{e}{sign}{digits:0>2}")
}

/// Go's %g: exponent form for very large or small magnitudes, plain decimals otherwise, with
/// trailing zeros removed (kept under `#`). Without a precision, the shortest exact digits.
pub(super) fn format_g(a: f64, precision: Option<usize>, sharp: bool, upper: bool) -> String {
    let (sci, limit) = match precision {
        Some(p) => (format!("{a:.*e}", p.max(1) - 1), p.max(1) as i64),
        None => (format!("{a:e}"), 21),
    };
    let exp: i64 = sci.split_once('e').and_then(|(_, e)| e.parse().ok()).unwrap_or(0);
    let strip = |s: String| -> String {
        if sharp || !s.contains('.') {
            return s;
        }
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    };
    if exp < -4 || exp >= limit {
        let (mant, e) = sci.split_once('e').unwrap_or((&sci, "0"));
        go_exponent(format!("{}e{e}", strip(mant.to_string())), upper)
    } else if precision.is_some() {
        strip(format!("{a:.*}", (limit - 1 - exp).max(0) as usize))
    } else {
        format!("{a}")
    }
}

pub(super) fn format_one(
    verb: char,
    sp: &Spec,
    value: &Value,
    ai: usize,
    cx: &Cx,
) -> Result<(String, bool), FunctionError> {
    let text = |v: &Value| -> Result<String, FunctionError> {
        if v.is_null() {
            return Err(arg_err(ai, format!("null value cannot be formatted with %{verb}")));
        }
        want_str(v, ai, cx)
    };
    Ok(match verb {
        'v' => {
            let s = match value {
                _ if sp.sharp => serde_json::to_string(&value.to_json()).unwrap_or_default(),
                Value::Null => "null".to_string(),
                Value::List(_) | Value::Map(_) => {
                    serde_json::to_string(&value.to_json()).unwrap_or_default()
                }
                other => want_str(other, ai, cx)?,
            };
            (s, matches!(value, Value::Number(_) | Value::BigNumber(_)))
        }
        's' => {
            let s = text(value)?;
            match sp.precision {
                Some(p) => (s.chars().take(p).collect(), false),
                None => (s, false),
            }
        }
        'q' => (serde_json::to_string(&text(value)?).unwrap_or_default(), false),
        't' => (want_bool(value, ai, cx)?.to_string(), false),
        'd' | 'x' | 'X' | 'o' | 'b' => {
            let n = want_num(value, ai, cx)?;
            if !n.is_finite() || n.fract() != 0.0 || n.abs() >= 1.0e38 {
                return Err(arg_err(
                    ai,
                    format!("%{verb} requires a whole number, got {}", cx.describe(value)),
                ));
            }
            let i = n as i128;
            let mag = i.unsigned_abs();
            let digits = match verb {
                'x' => format!("{mag:x}"),
                'X' => format!("{mag:X}"),
                'o' => format!("{mag:o}"),
                'b' => format!("{mag:b}"),
                _ => mag.to_string(),
            };
            let alt = match (sp.sharp, verb) {
                (true, 'x') => "0x",
                (true, 'X') => "0X",
                (true, 'o') => "0",
                _ => "",
            };
            (format!("{}{alt}{digits}", sign_prefix(sp, i < 0)), true)
        }
        'f' | 'F' | 'e' | 'E' | 'g' | 'G' => {
            let n = want_num(value, ai, cx)?;
            let body = if n.is_nan() {
                "NaN".to_string()
            } else if n.is_infinite() {
                "Inf".to_string()
            } else {
                let a = n.abs();
                match (verb, sp.precision) {
                    ('f' | 'F', p) => format!("{a:.*}", p.unwrap_or(6)),
                    ('e' | 'E', p) => go_exponent(format!("{a:.*e}", p.unwrap_or(6)), verb == 'E'),
                    (_, p) => format_g(a, p, sp.sharp, verb == 'G'),
                }
            };
            (
                format!(
                    "{}{body}",
                    sign_prefix(sp, n.is_sign_negative() && !n.is_nan() && n != 0.0)
                ),
                true,
            )
        }
        other => {
            return Err(arg_err(0, format!("unsupported format verb %{other}")));
        }
    })
}
