//! Functions Terraform 1.0.3 has that the first library lacked (found by the differential test,
//! `tests/terraform_diff.rs`), and later Terraform functions users rely on (`strcontains`,
//! `timecmp`, `plantimestamp`). Same promises as the parent module: no panic on any argument,
//! sizes capped, errors name the argument; they are `pure` functions, so marks and unknowns are
//! handled by [`super::call_function`].

use std::collections::BTreeMap;
use std::io::Read as _;

use base64::Engine as _;
use unicode_segmentation::UnicodeSegmentation as _;

use super::{
    Cx, FunctionError, MAX_ELEMENTS, MAX_STRING, R, arg, arg_err, check_string_size, err, str_fn,
    str_list, want_int, want_list, want_num, want_str,
};
use crate::value::Value;

// --- strings ---------------------------------------------------------------------------------

pub(super) fn f_strrev(args: &[Value], cx: &Cx) -> R {
    // Grapheme clusters, as Terraform: an accent stays on its letter.
    str_fn(args, cx, |s| s.graphemes(true).rev().collect())
}

pub(super) fn f_strcontains(args: &[Value], cx: &Cx) -> R {
    let s = want_str(arg(args, 0), 0, cx)?;
    let sub = want_str(arg(args, 1), 1, cx)?;
    Ok(Value::Bool(s.contains(sub.as_str())))
}

pub(super) fn f_urlencode(args: &[Value], cx: &Cx) -> R {
    // Go's url.QueryEscape: unreserved bytes stay, space becomes '+', the rest %XX.
    str_fn(args, cx, |s| {
        let mut out = String::with_capacity(s.len());
        for b in s.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    out.push(b as char)
                }
                b' ' => out.push('+'),
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
        out
    })
}

fn compile(pattern: &str, i: usize) -> Result<regex_lite::Regex, FunctionError> {
    regex_lite::RegexBuilder::new(pattern)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| arg_err(i, format!("invalid regular expression: {e}")))
}

/// One match as Terraform returns it: the matched string without capture groups, a list of the
/// groups when they are unnamed, a map when they are named.
fn match_value(re: &regex_lite::Regex, caps: &regex_lite::Captures) -> Value {
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
        (1..=names.len())
            .map(|i| Value::string(caps.get(i).map_or("", |m| m.as_str())))
            .collect(),
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
    let all: Vec<Value> = re
        .captures_iter(&s)
        .take(MAX_ELEMENTS)
        .map(|c| match_value(&re, &c))
        .collect();
    Ok(Value::List(all))
}

/// `replace(s, "/re/", with)`: Go's ReplaceAllString, `$1`/`${name}` expand groups.
pub(super) fn replace_regex(s: &str, pattern: &str, with: &str) -> R {
    let re = compile(pattern, 1)?;
    let hits = re.find_iter(s).take(MAX_STRING).count();
    check_string_size(s.len().saturating_add(hits.saturating_mul(with.len() * 4)))?;
    Ok(Value::String(re.replace_all(s, with).into_owned()))
}

pub(super) fn f_textencodebase64(args: &[Value], cx: &Cx) -> R {
    let s = want_str(arg(args, 0), 0, cx)?;
    let enc = want_str(arg(args, 1), 1, cx)?;
    let bytes: Vec<u8> = match enc.to_ascii_uppercase().replace('_', "-").as_str() {
        "UTF-8" | "UTF8" => s.into_bytes(),
        "UTF-16LE" => s.encode_utf16().flat_map(u16::to_le_bytes).collect(),
        "UTF-16BE" => s.encode_utf16().flat_map(u16::to_be_bytes).collect(),
        "ISO-8859-1" | "LATIN1" => s
            .chars()
            .map(|c| {
                u8::try_from(u32::from(c))
                    .map_err(|_| arg_err(0, "a character has no ISO-8859-1 encoding"))
            })
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(arg_err(
                1,
                format!("unsupported encoding {}", cx.quote(&enc)),
            ));
        }
    };
    Ok(Value::String(
        base64::engine::general_purpose::STANDARD.encode(bytes),
    ))
}

pub(super) fn f_textdecodebase64(args: &[Value], cx: &Cx) -> R {
    let s = want_str(arg(args, 0), 0, cx)?;
    let enc = want_str(arg(args, 1), 1, cx)?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s.as_bytes())
        .map_err(|e| arg_err(0, format!("invalid base64 data: {e}")))?;
    let utf16 = |words: Vec<u16>| {
        String::from_utf16(&words).map_err(|_| arg_err(0, "the decoded data is not valid UTF-16"))
    };
    let pairs = |be: bool| -> Vec<u16> {
        bytes
            .chunks(2)
            .map(|c| match c {
                [a, b] if be => u16::from_be_bytes([*a, *b]),
                [a, b] => u16::from_le_bytes([*a, *b]),
                _ => 0xFFFD,
            })
            .collect()
    };
    let text = match enc.to_ascii_uppercase().replace('_', "-").as_str() {
        "UTF-8" | "UTF8" => String::from_utf8(bytes.clone())
            .map_err(|_| arg_err(0, "the decoded data is not valid UTF-8"))?,
        "UTF-16LE" => utf16(pairs(false))?,
        "UTF-16BE" => utf16(pairs(true))?,
        "ISO-8859-1" | "LATIN1" => bytes.iter().map(|b| char::from(*b)).collect(),
        _ => {
            return Err(arg_err(
                1,
                format!("unsupported encoding {}", cx.quote(&enc)),
            ));
        }
    };
    Ok(Value::String(text))
}

pub(super) fn f_csvdecode(args: &[Value], cx: &Cx) -> R {
    let s = want_str(arg(args, 0), 0, cx)?;
    let rows = parse_csv(&s).map_err(|m| arg_err(0, m))?;
    let mut rows = rows.into_iter();
    let Some(header) = rows.next() else {
        return Ok(Value::List(Vec::new()));
    };
    let mut out = Vec::new();
    for (n, row) in rows.enumerate() {
        if row.len() != header.len() {
            return Err(arg_err(
                0,
                format!(
                    "record {} has {} fields, the header has {}",
                    n + 2,
                    row.len(),
                    header.len()
                ),
            ));
        }
        let m: BTreeMap<String, Value> = header
            .iter()
            .cloned()
            .zip(row.into_iter().map(Value::String))
            .collect();
        out.push(Value::Map(m));
    }
    Ok(Value::List(out))
}

/// RFC 4180 records (Go's encoding/csv): quoted fields, `""` escapes, CRLF or LF; blank lines
/// are skipped.
pub(super) fn parse_csv(s: &str) -> Result<Vec<Vec<String>>, String> {
    let mut rows = Vec::new();
    let mut row: Vec<String> = Vec::new();
    let mut field = String::new();
    let mut chars = s.chars().peekable();
    let mut in_quotes = false;
    let mut any = false;
    while let Some(c) = chars.next() {
        if in_quotes {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => in_quotes = false,
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.is_empty() => {
                in_quotes = true;
                any = true;
            }
            ',' => {
                row.push(std::mem::take(&mut field));
                any = true;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                if any || !field.is_empty() {
                    row.push(std::mem::take(&mut field));
                    rows.push(std::mem::take(&mut row));
                }
                any = false;
            }
            _ => {
                field.push(c);
                any = true;
            }
        }
        if rows.len() > MAX_ELEMENTS {
            return Err("too many records".to_string());
        }
    }
    if in_quotes {
        return Err("a quoted field is not closed".to_string());
    }
    if any || !field.is_empty() {
        row.push(field);
        rows.push(row);
    }
    Ok(rows)
}

// --- hashes and ids ----------------------------------------------------------------------------

pub(super) fn f_md5(args: &[Value], cx: &Cx) -> R {
    use md5::Digest as _;
    str_fn(args, cx, |s| hex::encode(md5::Md5::digest(s.as_bytes())))
}

pub(super) fn f_sha1(args: &[Value], cx: &Cx) -> R {
    use sha1::Digest as _;
    str_fn(args, cx, |s| hex::encode(sha1::Sha1::digest(s.as_bytes())))
}

pub(super) fn f_uuid(_args: &[Value], _cx: &Cx) -> R {
    Ok(Value::String(uuid::Uuid::new_v4().to_string()))
}

pub(super) fn f_uuidv5(args: &[Value], cx: &Cx) -> R {
    use sha1::Digest as _;
    let ns = want_str(arg(args, 0), 0, cx)?;
    let name = want_str(arg(args, 1), 1, cx)?;
    let namespace = match ns.as_str() {
        "dns" => uuid::Uuid::NAMESPACE_DNS,
        "url" => uuid::Uuid::NAMESPACE_URL,
        "oid" => uuid::Uuid::NAMESPACE_OID,
        "x500" => uuid::Uuid::NAMESPACE_X500,
        other => uuid::Uuid::parse_str(other).map_err(|_| {
            arg_err(
                0,
                format!(
                    "{} is not a UUID nor dns, url, oid or x500",
                    cx.quote(other)
                ),
            )
        })?,
    };
    // RFC 4122 §4.3: SHA-1 of namespace ‖ name, version 5, variant 10.
    let mut h = sha1::Sha1::new();
    h.update(namespace.as_bytes());
    h.update(name.as_bytes());
    let digest = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(digest.get(..16).unwrap_or(&[0; 16]));
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    Ok(Value::String(uuid::Uuid::from_bytes(b).to_string()))
}

// --- files and paths ---------------------------------------------------------------------------

fn read_bytes(args: &[Value], cx: &Cx) -> Result<Vec<u8>, FunctionError> {
    let p = want_str(arg(args, 0), 0, cx)?;
    let path = cx.base_dir.join(&p);
    let mut bytes = Vec::new();
    std::fs::File::open(&path)
        .and_then(|f| f.take(MAX_STRING as u64 + 1).read_to_end(&mut bytes))
        .map_err(|e| arg_err(0, format!("cannot read file {}: {e}", cx.quote(&p))))?;
    check_string_size(bytes.len())?;
    Ok(bytes)
}

pub(super) fn f_filebase64(args: &[Value], cx: &Cx) -> R {
    Ok(Value::String(
        base64::engine::general_purpose::STANDARD.encode(read_bytes(args, cx)?),
    ))
}

pub(super) fn f_filemd5(args: &[Value], cx: &Cx) -> R {
    use md5::Digest as _;
    Ok(Value::String(hex::encode(md5::Md5::digest(read_bytes(
        args, cx,
    )?))))
}

pub(super) fn f_filesha1(args: &[Value], cx: &Cx) -> R {
    use sha1::Digest as _;
    Ok(Value::String(hex::encode(sha1::Sha1::digest(read_bytes(
        args, cx,
    )?))))
}

pub(super) fn f_filesha256(args: &[Value], cx: &Cx) -> R {
    use sha2::Digest as _;
    Ok(Value::String(hex::encode(sha2::Sha256::digest(
        read_bytes(args, cx)?,
    ))))
}

pub(super) fn f_filesha512(args: &[Value], cx: &Cx) -> R {
    use sha2::Digest as _;
    Ok(Value::String(hex::encode(sha2::Sha512::digest(
        read_bytes(args, cx)?,
    ))))
}

pub(super) fn f_filebase64sha256(args: &[Value], cx: &Cx) -> R {
    use sha2::Digest as _;
    let d = sha2::Sha256::digest(read_bytes(args, cx)?);
    Ok(Value::String(
        base64::engine::general_purpose::STANDARD.encode(d),
    ))
}

pub(super) fn f_filebase64sha512(args: &[Value], cx: &Cx) -> R {
    use sha2::Digest as _;
    let d = sha2::Sha512::digest(read_bytes(args, cx)?);
    Ok(Value::String(
        base64::engine::general_purpose::STANDARD.encode(d),
    ))
}

pub(super) fn f_fileexists(args: &[Value], cx: &Cx) -> R {
    let p = want_str(arg(args, 0), 0, cx)?;
    match std::fs::metadata(cx.base_dir.join(&p)) {
        Ok(m) if m.is_file() => Ok(Value::Bool(true)),
        Ok(_) => Err(arg_err(
            0,
            format!("{} is not a regular file", cx.quote(&p)),
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Value::Bool(false)),
        Err(e) => Err(arg_err(0, format!("cannot stat {}: {e}", cx.quote(&p)))),
    }
}

pub(super) fn f_basename(args: &[Value], cx: &Cx) -> R {
    // Go's filepath.Base: trailing slashes dropped, "" → ".", all slashes → "/".
    str_fn(args, cx, |s| {
        if s.is_empty() {
            return ".".to_string();
        }
        let t = s.trim_end_matches('/');
        if t.is_empty() {
            return "/".to_string();
        }
        t.rsplit('/').next().unwrap_or(t).to_string()
    })
}

pub(super) fn f_dirname(args: &[Value], cx: &Cx) -> R {
    // Go's filepath.Dir: everything before the last slash, cleaned; "." when there is none.
    str_fn(args, cx, |s| match s.rfind('/') {
        None => ".".to_string(),
        Some(i) => clean_path(s.get(..=i).unwrap_or("")),
    })
}

/// Go's filepath.Clean for the forms dirname produces.
fn clean_path(p: &str) -> String {
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." if parts.last().is_some_and(|l| *l != "..") => {
                parts.pop();
            }
            ".." if rooted => {}
            s => parts.push(s),
        }
    }
    let body = parts.join("/");
    match (rooted, body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => ".".to_string(),
        (false, false) => body,
    }
}

pub(super) fn f_pathexpand(args: &[Value], cx: &Cx) -> R {
    str_fn(args, cx, |s| {
        match (s.strip_prefix('~'), std::env::var("HOME")) {
            (Some(rest), Ok(home)) if rest.is_empty() || rest.starts_with('/') => {
                format!("{home}{rest}")
            }
            _ => s.to_string(),
        }
    })
}

pub(super) fn f_abspath(args: &[Value], cx: &Cx) -> R {
    let p = want_str(arg(args, 0), 0, cx)?;
    let path = std::path::Path::new(&p);
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|e| err(format!("cannot find the current directory: {e}")))?
            .join(path)
    };
    Ok(Value::String(clean_path(&abs.to_string_lossy())))
}

/// `fileset(path, pattern)`: files (not directories) under `path` matching a glob with `*`,
/// `?`, `[…]` and `**`, as paths relative to `path`, sorted.
pub(super) fn f_fileset(args: &[Value], cx: &Cx) -> R {
    let base = want_str(arg(args, 0), 0, cx)?;
    let pattern = want_str(arg(args, 1), 1, cx)?;
    let root = cx.base_dir.join(&base);
    let mut found = Vec::new();
    let mut stack = vec![(root.clone(), String::new())];
    while let Some((dir, rel)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let r = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                if stack.len() + found.len() < MAX_ELEMENTS {
                    stack.push((e.path(), r));
                }
            } else if glob_match(pattern.as_bytes(), r.as_bytes()) {
                found.push(r);
            }
        }
    }
    found.sort();
    Ok(str_list(found))
}

/// Glob matching on `/`-separated paths: `*` and `?` stay within a segment, `**` spans any.
fn glob_match(p: &[u8], s: &[u8]) -> bool {
    match p.first() {
        None => s.is_empty(),
        Some(b'*') if p.get(1) == Some(&b'*') => {
            let rest = p.get(2..).unwrap_or(&[]);
            let rest = rest.strip_prefix(b"/").unwrap_or(rest);
            (0..=s.len()).any(|i| {
                (i == 0 || s.get(i - 1) == Some(&b'/') || i == s.len())
                    && glob_match(rest, s.get(i..).unwrap_or(&[]))
            }) || glob_match(rest, s)
        }
        Some(b'*') => {
            let rest = p.get(1..).unwrap_or(&[]);
            (0..=s.len())
                .take_while(|&i| i == 0 || s.get(i - 1) != Some(&b'/'))
                .any(|i| glob_match(rest, s.get(i..).unwrap_or(&[])))
        }
        Some(b'?') => {
            s.first().is_some_and(|c| *c != b'/')
                && glob_match(p.get(1..).unwrap_or(&[]), s.get(1..).unwrap_or(&[]))
        }
        Some(c) => {
            s.first() == Some(c) && glob_match(p.get(1..).unwrap_or(&[]), s.get(1..).unwrap_or(&[]))
        }
    }
}

// --- numbers ---------------------------------------------------------------------------------

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
        return Err(arg_err(
            0,
            format!("cannot parse {} as a base {base} integer", cx.quote(&s)),
        ));
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

// --- collections -----------------------------------------------------------------------------

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
            return Err(err(format!(
                "the product has more than {MAX_ELEMENTS} elements"
            )));
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
            format!(
                "expected map of lists of strings, got {}",
                cx.describe(arg(args, 0))
            ),
        ));
    };
    let mut out: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for (k, v) in m {
        for item in want_list(v, 0, cx)? {
            let Value::String(s) = item else {
                return Err(arg_err(0, "expected map of lists of strings"));
            };
            out.entry(s.clone())
                .or_default()
                .push(Value::String(k.clone()));
        }
    }
    Ok(Value::Map(
        out.into_iter().map(|(k, v)| (k, Value::List(v))).collect(),
    ))
}

// --- time ------------------------------------------------------------------------------------

fn parse_rfc3339(s: &str, i: usize, cx: &Cx) -> Result<time::OffsetDateTime, FunctionError> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).map_err(|_| {
        arg_err(
            i,
            format!("{} is not a valid RFC 3339 timestamp", cx.quote(s)),
        )
    })
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    // Go's time.RFC3339: "Z" for UTC, no fractional seconds.
    let t = t.replace_nanosecond(0).unwrap_or(t);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

pub(super) fn f_timestamp(_args: &[Value], _cx: &Cx) -> R {
    Ok(Value::String(rfc3339(time::OffsetDateTime::now_utc())))
}

/// One timestamp for the whole run, as Terraform takes one per plan.
pub(super) fn f_plantimestamp(_args: &[Value], _cx: &Cx) -> R {
    static AT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    Ok(Value::String(
        AT.get_or_init(|| rfc3339(time::OffsetDateTime::now_utc()))
            .clone(),
    ))
}

pub(super) fn f_timeadd(args: &[Value], cx: &Cx) -> R {
    let ts = want_str(arg(args, 0), 0, cx)?;
    let t = parse_rfc3339(&ts, 0, cx)?;
    let d = want_str(arg(args, 1), 1, cx)?;
    let dur = parse_go_duration(&d)
        .ok_or_else(|| arg_err(1, format!("invalid duration {}", cx.quote(&d))))?;
    let t2 = t
        .checked_add(dur)
        .ok_or_else(|| arg_err(1, "the result is out of range"))?;
    Ok(Value::String(rfc3339(t2)))
}

/// A Go duration: `[-+]` then one or more `<number><unit>` with units ns us µs ms s m h.
fn parse_go_duration(s: &str) -> Option<time::Duration> {
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Some(time::Duration::ZERO);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let n_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let n: f64 = rest.get(..n_end)?.parse().ok()?;
        rest = rest.get(n_end..)?;
        let u_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match rest.get(..u_end)? {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += n * unit;
        rest = rest.get(u_end..)?;
    }
    if !total.is_finite() || total > 1e15 {
        return None;
    }
    let d = time::Duration::seconds_f64(total);
    Some(if neg { -d } else { d })
}

pub(super) fn f_timecmp(args: &[Value], cx: &Cx) -> R {
    let a = parse_rfc3339(&want_str(arg(args, 0), 0, cx)?, 0, cx)?;
    let b = parse_rfc3339(&want_str(arg(args, 1), 1, cx)?, 1, cx)?;
    Ok(Value::Number(match a.cmp(&b) {
        std::cmp::Ordering::Less => -1.0,
        std::cmp::Ordering::Equal => 0.0,
        std::cmp::Ordering::Greater => 1.0,
    }))
}

pub(super) fn f_formatdate(args: &[Value], cx: &Cx) -> R {
    let spec = want_str(arg(args, 0), 0, cx)?;
    let t = parse_rfc3339(&want_str(arg(args, 1), 1, cx)?, 1, cx)?;
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    const DAYS: [&str; 7] = [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
    ];
    let chars: Vec<char> = spec.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            // 'literal', with '' for a quote.
            let mut j = i + 1;
            if chars.get(j) == Some(&'\'') {
                out.push('\'');
                i += 2;
                continue;
            }
            loop {
                match chars.get(j) {
                    None => return Err(arg_err(0, "unterminated quoted literal in format")),
                    Some('\'') if chars.get(j + 1) == Some(&'\'') => {
                        out.push('\'');
                        j += 2;
                    }
                    Some('\'') => break,
                    Some(ch) => {
                        out.push(*ch);
                        j += 1;
                    }
                }
            }
            i = j + 1;
            continue;
        }
        if !c.is_ascii_alphabetic() {
            out.push(c);
            i += 1;
            continue;
        }
        let mut n = 1;
        while chars.get(i + n) == Some(&c) {
            n += 1;
        }
        let month = usize::from(u8::from(t.month())) - 1;
        let wd = usize::from(t.weekday().number_days_from_monday());
        let (h12, pm) = match t.hour() {
            0 => (12, false),
            h @ 1..=11 => (h, false),
            12 => (12, true),
            h => (h - 12, true),
        };
        let off = t.offset();
        let (oh, om) = (off.whole_hours(), off.minutes_past_hour().abs());
        let sign = if off.is_negative() { '-' } else { '+' };
        let piece = match (c, n) {
            ('Y', 4) => format!("{:04}", t.year()),
            ('Y', 2) => format!("{:02}", t.year().rem_euclid(100)),
            ('M', 1) => format!("{}", month + 1),
            ('M', 2) => format!("{:02}", month + 1),
            ('M', 3) => MONTHS[month].get(..3).unwrap_or("").to_string(),
            ('M', 4) => MONTHS[month].to_string(),
            ('D', 1) => format!("{}", t.day()),
            ('D', 2) => format!("{:02}", t.day()),
            ('E', 3) => DAYS[wd].get(..3).unwrap_or("").to_string(),
            ('E', 4) => DAYS[wd].to_string(),
            ('h', 1) => format!("{}", t.hour()),
            ('h', 2) => format!("{:02}", t.hour()),
            ('H', 1) => format!("{h12}"),
            ('H', 2) => format!("{h12:02}"),
            ('A', 2) => (if pm { "PM" } else { "AM" }).to_string(),
            ('a', 2) => (if pm { "pm" } else { "am" }).to_string(),
            ('m', 1) => format!("{}", t.minute()),
            ('m', 2) => format!("{:02}", t.minute()),
            ('s', 1) => format!("{}", t.second()),
            ('s', 2) => format!("{:02}", t.second()),
            ('Z', 1) if off.is_utc() => "Z".to_string(),
            ('Z', 1) => format!("{sign}{:02}:{om:02}", oh.abs()),
            ('Z', 3) if off.is_utc() => "UTC".to_string(),
            ('Z', 3) => format!("{sign}{:02}{om:02}", oh.abs()),
            ('Z', 4) => format!("{sign}{:02}:{om:02}", oh.abs()),
            ('Z', 5) => format!("{sign}{:02}{om:02}", oh.abs()),
            _ => {
                return Err(arg_err(
                    0,
                    format!(
                        "invalid date format verb {}",
                        cx.quote(&c.to_string().repeat(n))
                    ),
                ));
            }
        };
        out.push_str(&piece);
        i += n;
    }
    Ok(Value::String(out))
}

// --- encodings and hashes that need their own machinery ------------------------------------

pub(super) fn f_yamldecode(args: &[Value], cx: &Cx) -> R {
    let s = want_str(arg(args, 0), 0, cx)?;
    super::yaml::decode(&s).map_err(|e| arg_err(0, e))
}

/// Terraform's `base64gzip`: Go's `compress/gzip` at the default level, written, flushed and
/// closed. The header is Go's (no name, modification time 0, no extra flags, OS byte 255);
/// the data is one deflate stream ended as Go ends it after `Flush` then `Close` — a sync
/// flush (an empty stored block) and then a final empty stored block. The compressed blocks
/// themselves come from miniz at level 6, which matches Go's bytes for short inputs; longer
/// inputs may choose other (equally valid) matches, so the differential test compares those
/// after decompression.
pub(super) fn f_base64gzip(args: &[Value], cx: &Cx) -> R {
    let s = want_str(arg(args, 0), 0, cx)?;
    let out = go_gzip(s.as_bytes()).map_err(|e| arg_err(0, e))?;
    let enc = base64::engine::general_purpose::STANDARD.encode(out);
    check_string_size(enc.len())?;
    Ok(Value::String(enc))
}

fn go_gzip(data: &[u8]) -> Result<Vec<u8>, String> {
    use miniz_oxide::deflate::core::{
        CompressorOxide, TDEFLFlush, TDEFLStatus, compress, create_comp_flags_from_zip_params,
    };
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    // Negative window bits: a raw deflate stream (the gzip framing is written here).
    let mut c = CompressorOxide::new(create_comp_flags_from_zip_params(6, -15, 0));
    let mut buf = vec![0u8; 64 * 1024];
    let mut input = data;
    loop {
        let (status, used, written) = compress(&mut c, input, &mut buf, TDEFLFlush::Sync);
        out.extend_from_slice(&buf[..written]);
        input = &input[used..];
        match status {
            TDEFLStatus::Okay if input.is_empty() && written < buf.len() => break,
            TDEFLStatus::Okay => {}
            other => return Err(format!("gzip compression failed ({other:?})")),
        }
    }
    // Go's Close: a final, empty stored block (the sync flush left the stream byte-aligned).
    out.extend_from_slice(&[0x01, 0x00, 0x00, 0xff, 0xff]);
    out.extend_from_slice(&crc32fast::hash(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    Ok(out)
}

/// Terraform's `bcrypt(str, cost = 10)`: a salted hash in Go's `$2a$` form; a new salt each
/// call, so (as in Terraform) the result differs every time.
pub(super) fn f_bcrypt(args: &[Value], cx: &Cx) -> R {
    let s = want_str(arg(args, 0), 0, cx)?;
    let cost = match args.get(1) {
        Some(v) => want_int(v, 1, cx)?,
        None => 10,
    };
    // Go's x/crypto/bcrypt: a cost below 4 means the default (10), above 31 is an error; a
    // password longer than 72 bytes is truncated, as the bcrypt crate's `hash` does.
    let cost = if cost < 4 { 10 } else { cost };
    if cost > 31 {
        return Err(arg_err(
            1,
            format!(
                "error occured generating password\ncrypto/bcrypt: cost {cost} is outside allowed range (4,31)"
            ),
        ));
    }
    let parts = bcrypt::hash_with_result(s.as_bytes(), cost as u32)
        .map_err(|e| arg_err(0, format!("bcrypt: {e}")))?;
    Ok(Value::String(
        parts.format_for_version(bcrypt::Version::TwoA),
    ))
}

#[cfg(test)]
mod tests {
    use super::super::{FunctionContext, call_function};
    use crate::value::Value;

    fn call(name: &str, args: Vec<Value>) -> Value {
        let cx = FunctionContext {
            base_dir: std::path::Path::new("."),
        };
        call_function(name, args, &cx).unwrap_or_else(|e| panic!("{name}: {e}"))
    }
    fn s(x: &str) -> Value {
        Value::string(x)
    }

    /// The examples of Terraform's documentation of functions added after 1.0.
    #[test]
    fn later_terraform_functions_match_their_documented_examples() {
        assert_eq!(
            call("startswith", vec![s("hello world"), s("hello")]),
            Value::Bool(true)
        );
        assert_eq!(
            call("startswith", vec![s("hello world"), s("world")]),
            Value::Bool(false)
        );
        assert_eq!(
            call("endswith", vec![s("hello world"), s("world")]),
            Value::Bool(true)
        );
        assert_eq!(
            call("endswith", vec![s("hello world"), s("hello")]),
            Value::Bool(false)
        );
        assert_eq!(
            call("strcontains", vec![s("hello world"), s("wor")]),
            Value::Bool(true)
        );
        assert_eq!(
            call("strcontains", vec![s("hello world"), s("wod")]),
            Value::Bool(false)
        );
        let ts = |a: &str, b: &str| call("timecmp", vec![s(a), s(b)]);
        assert_eq!(
            ts("2017-11-22T00:00:00Z", "2017-11-22T00:00:00Z"),
            Value::Number(0.0)
        );
        assert_eq!(
            ts("2017-11-22T00:00:00Z", "2017-11-22T01:00:00Z"),
            Value::Number(-1.0)
        );
        assert_eq!(
            ts("2017-11-22T01:00:00Z", "2017-11-22T00:00:00Z"),
            Value::Number(1.0)
        );
        assert_eq!(
            ts("2017-11-22T01:00:00Z", "2017-11-22T00:00:00-01:00"),
            Value::Number(0.0)
        );
        let Value::String(p) = call("plantimestamp", vec![]) else {
            panic!("plantimestamp is a string")
        };
        assert!(p.ends_with('Z') && p.len() == 20, "{p}");
    }

    #[test]
    fn go_durations_parse_like_go() {
        let d = super::parse_go_duration;
        assert_eq!(d("1h30m"), Some(time::Duration::minutes(90)));
        assert_eq!(d("-1.5s"), Some(time::Duration::milliseconds(-1500)));
        assert_eq!(d("1 hour"), None);
        assert_eq!(d(""), None);
    }

    #[test]
    fn globs_match_within_and_across_segments() {
        let g = |p: &str, s: &str| super::glob_match(p.as_bytes(), s.as_bytes());
        assert!(g("*.txt", "a.txt"));
        assert!(!g("*.txt", "d/a.txt"));
        assert!(g("**/*.txt", "d/e/a.txt"));
        assert!(g("**/*.txt", "a.txt"));
        assert!(g("d/?.txt", "d/a.txt"));
    }
}
