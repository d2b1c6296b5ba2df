//! String functions (pure: arguments arrive unmarked and known). Lengths and offsets count
//! grapheme clusters, as Terraform does.

use unicode_segmentation::UnicodeSegmentation as _;

use super::*;

pub(super) fn f_join(args: &[Value], cx: &Cx) -> R {
    let sep = want_str(arg(args, 0), 0, cx)?;
    let mut parts = Vec::new();
    for (i, list) in args.iter().enumerate().skip(1) {
        for item in want_list(list, i, cx)? {
            if item.is_null() {
                return Err(arg_err(i, "list elements must not be null"));
            }
            parts.push(want_str(item, i, cx)?);
        }
    }
    let out = parts.join(&sep);
    check_string_size(out.len())?;
    Ok(Value::String(out))
}

pub(super) fn f_split(args: &[Value], cx: &Cx) -> R {
    let sep = want_str(arg(args, 0), 0, cx)?;
    let s = want_str(arg(args, 1), 1, cx)?;
    if sep.is_empty() {
        return Ok(str_list(s.chars().map(String::from)));
    }
    Ok(str_list(s.split(sep.as_str()).map(String::from)))
}

pub(super) fn f_replace(args: &[Value], cx: &Cx) -> R {
    let s = want_str(arg(args, 0), 0, cx)?;
    let from = want_str(arg(args, 1), 1, cx)?;
    let to = want_str(arg(args, 2), 2, cx)?;
    if let Some(re) =
        from.strip_prefix('/').and_then(|f| f.strip_suffix('/')).filter(|_| from.len() >= 2)
    {
        return replace_regex(&s, re, &to);
    }
    let hits =
        if from.is_empty() { s.chars().count() + 1 } else { s.matches(from.as_str()).count() };
    check_string_size(s.len().saturating_add(hits.saturating_mul(to.len())))?;
    Ok(Value::String(s.replace(from.as_str(), &to)))
}

pub(super) fn str_fn(args: &[Value], cx: &Cx, f: impl Fn(&str) -> String) -> R {
    Ok(Value::String(f(&want_str(arg(args, 0), 0, cx)?)))
}

pub(super) fn f_lower(args: &[Value], cx: &Cx) -> R {
    str_fn(args, cx, str::to_lowercase)
}

pub(super) fn f_upper(args: &[Value], cx: &Cx) -> R {
    str_fn(args, cx, str::to_uppercase)
}

pub(super) fn f_trimspace(args: &[Value], cx: &Cx) -> R {
    str_fn(args, cx, |s| s.trim().to_string())
}

pub(super) fn f_chomp(args: &[Value], cx: &Cx) -> R {
    str_fn(args, cx, |s| s.trim_end_matches(['\n', '\r']).to_string())
}

pub(super) fn f_title(args: &[Value], cx: &Cx) -> R {
    // Word boundaries as Go's strings.Title, which Terraform uses.
    fn is_sep(c: char) -> bool {
        if c.is_ascii() {
            !(c.is_ascii_alphanumeric() || c == '_')
        } else {
            !c.is_alphanumeric() && c.is_whitespace()
        }
    }
    str_fn(args, cx, |s| {
        let mut out = String::with_capacity(s.len());
        let mut prev_sep = true;
        for c in s.chars() {
            if prev_sep {
                out.extend(c.to_uppercase());
            } else {
                out.push(c);
            }
            prev_sep = is_sep(c);
        }
        out
    })
}

pub(super) fn two_strs(args: &[Value], cx: &Cx) -> Result<(String, String), FunctionError> {
    Ok((want_str(arg(args, 0), 0, cx)?, want_str(arg(args, 1), 1, cx)?))
}

pub(super) fn f_trim(args: &[Value], cx: &Cx) -> R {
    let (s, cutset) = two_strs(args, cx)?;
    Ok(Value::String(s.trim_matches(|c| cutset.contains(c)).to_string()))
}

pub(super) fn f_trimprefix(args: &[Value], cx: &Cx) -> R {
    let (s, p) = two_strs(args, cx)?;
    Ok(Value::String(s.strip_prefix(&p).unwrap_or(&s).to_string()))
}

pub(super) fn f_trimsuffix(args: &[Value], cx: &Cx) -> R {
    let (s, p) = two_strs(args, cx)?;
    Ok(Value::String(s.strip_suffix(&p).unwrap_or(&s).to_string()))
}

pub(super) fn f_startswith(args: &[Value], cx: &Cx) -> R {
    let (s, p) = two_strs(args, cx)?;
    Ok(Value::Bool(s.starts_with(&p)))
}

pub(super) fn f_endswith(args: &[Value], cx: &Cx) -> R {
    let (s, p) = two_strs(args, cx)?;
    Ok(Value::Bool(s.ends_with(&p)))
}

pub(super) fn f_substr(args: &[Value], cx: &Cx) -> R {
    let s = want_str(arg(args, 0), 0, cx)?;
    let offset = want_int(arg(args, 1), 1, cx)?;
    let length = want_int(arg(args, 2), 2, cx)?;
    // Offsets and lengths count grapheme clusters, as Terraform's do.
    let chars: Vec<&str> =
        unicode_segmentation::UnicodeSegmentation::graphemes(s.as_str(), true).collect();
    let len = chars.len() as i64;
    // Terraform: a negative offset counts from the end; an offset past the end gives "".
    let mut start = offset;
    if start < 0 {
        start = (start + len).max(0);
    }
    let rest = chars.get(start.min(len) as usize..).unwrap_or(&[]);
    let taken: String = if length < 0 {
        rest.concat()
    } else {
        rest.iter().take(length as usize).copied().collect()
    };
    Ok(Value::String(taken))
}

pub(super) fn f_indent(args: &[Value], cx: &Cx) -> R {
    let n = want_int(arg(args, 0), 0, cx)?;
    let s = want_str(arg(args, 1), 1, cx)?;
    if !(0..=MAX_WIDTH).contains(&n) {
        return Err(arg_err(0, format!("indent must be between 0 and {MAX_WIDTH}")));
    }
    let lines = s.matches('\n').count();
    check_string_size(s.len().saturating_add(lines.saturating_mul(n as usize)))?;
    let pad = format!("\n{}", " ".repeat(n as usize));
    Ok(Value::String(s.replace('\n', &pad)))
}

pub(super) fn f_strrev(args: &[Value], cx: &Cx) -> R {
    // Grapheme clusters, as Terraform: an accent stays on its letter.
    str_fn(args, cx, |s| s.graphemes(true).rev().collect())
}

pub(super) fn f_strcontains(args: &[Value], cx: &Cx) -> R {
    let s = want_str(arg(args, 0), 0, cx)?;
    let sub = want_str(arg(args, 1), 1, cx)?;
    Ok(Value::Bool(s.contains(sub.as_str())))
}

pub(super) fn compile(pattern: &str, i: usize) -> Result<regex_lite::Regex, FunctionError> {
    regex_lite::RegexBuilder::new(pattern)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| arg_err(i, format!("invalid regular expression: {e}")))
}

/// One match as Terraform returns it: the matched string without capture groups, a list of the
/// groups when they are unnamed, a map when they are named.
pub(super) fn match_value(re: &regex_lite::Regex, caps: &regex_lite::Captures) -> Value {
    let names: Vec<Option<&str>> = re.capture_names().skip(1).collect();
    if names.is_empty() {
        return Value::String(caps.get(0).map_or("", |m| m.as_str()).to_string());
    }
    if names.iter().any(Option::is_some) {
        let mut m = BTreeMap::new();
        for (i, n) in names.iter().enumerate() {
            if let Some(n) = n {
                let v = caps.get(i + 1).map_or("", |m| m.as_str());
                m.insert((*n).to_string(), Value::string(v));
            }
        }
        return Value::Map(m);
    }
    Value::List(
        (1..=names.len()).map(|i| Value::string(caps.get(i).map_or("", |m| m.as_str()))).collect(),
    )
}

pub(super) fn f_regex(args: &[Value], cx: &Cx) -> R {
    let pattern = want_str(arg(args, 0), 0, cx)?;
    let s = want_str(arg(args, 1), 1, cx)?;
    let re = compile(&pattern, 0)?;
    match re.captures(&s) {
        Some(caps) => Ok(match_value(&re, &caps)),
        None => Err(err("pattern did not match any part of the given string")),
    }
}

pub(super) fn f_regexall(args: &[Value], cx: &Cx) -> R {
    let pattern = want_str(arg(args, 0), 0, cx)?;
    let s = want_str(arg(args, 1), 1, cx)?;
    let re = compile(&pattern, 0)?;
    let all: Vec<Value> =
        re.captures_iter(&s).take(MAX_ELEMENTS).map(|c| match_value(&re, &c)).collect();
    Ok(Value::List(all))
}

/// `replace(s, "/re/", with)`: Go's ReplaceAllString, `$1`/`${name}` expand groups.
pub(super) fn replace_regex(s: &str, pattern: &str, with: &str) -> R {
    let re = compile(pattern, 1)?;
    let hits = re.find_iter(s).take(MAX_STRING).count();
    check_string_size(s.len().saturating_add(hits.saturating_mul(with.len() * 4)))?;
    Ok(Value::String(re.replace_all(s, with).into_owned()))
}
