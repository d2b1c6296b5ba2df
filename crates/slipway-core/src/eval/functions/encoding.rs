//! Encoding functions: base64, JSON (Go's escapes, as Terraform prints them), YAML, CSV, URL,
//! text in other character sets, gzip.

use super::*;

pub(super) fn f_base64encode(args: &[Value], cx: &Cx) -> R {
    str_fn(args, cx, |s| base64::engine::general_purpose::STANDARD.encode(s))
}

pub(super) fn f_base64decode(args: &[Value], cx: &Cx) -> R {
    let s = want_str(arg(args, 0), 0, cx)?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s.as_bytes())
        .map_err(|e| arg_err(0, format!("invalid base64 data: {e}")))?;
    String::from_utf8(bytes)
        .map(Value::String)
        .map_err(|_| arg_err(0, "the decoded data is not valid UTF-8"))
}

pub(super) fn f_jsonencode(args: &[Value], _cx: &Cx) -> R {
    let mut out = String::new();
    json_text(arg(args, 0), &mut out);
    check_string_size(out.len())?;
    Ok(Value::String(go_json_escapes(out)))
}

/// JSON text of a value — unmasked: callers drop sensitive values first — with numbers in Terraform's digits (serde_json would print an f64's),
/// keys in lexical order (Go's encoding/json sorts them; a BTreeMap iterates so).
pub fn json_text(v: &Value, out: &mut String) {
    match v {
        Value::Null | Value::Unknown => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) if !n.is_finite() => out.push_str("null"),
        Value::Number(n) => out.push_str(&format_number(*n)),
        Value::BigNumber(b) => out.push_str(&b.to_string()),
        Value::String(s) => out.push_str(&serde_json::to_string(s).unwrap_or_default()),
        Value::Sensitive(inner) => json_text(inner, out),
        Value::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_text(item, out);
            }
            out.push(']');
        }
        Value::Map(m) => {
            out.push('{');
            for (i, (k, item)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(k).unwrap_or_default());
                out.push(':');
                json_text(item, out);
            }
            out.push('}');
        }
    }
}

/// Go's encoding/json (which Terraform's jsonencode uses) escapes `<`, `>` and `&` for safe
/// embedding in HTML, and U+2028/U+2029 for JavaScript; the bytes differ from serde_json's, and
/// so do hashes of them. These characters appear only inside JSON strings, so replacing them
/// everywhere in the encoded text is exact.
pub(super) fn go_json_escapes(s: String) -> String {
    if !s.contains(['<', '>', '&', '\u{2028}', '\u{2029}']) {
        return s;
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

pub(super) fn f_jsondecode(args: &[Value], cx: &Cx) -> R {
    let s = want_str(arg(args, 0), 0, cx)?;
    // serde_json refuses nesting deeper than 128, so deep input is an error, not a stack overflow.
    let json: serde_json::Value =
        serde_json::from_str(&s).map_err(|e| arg_err(0, format!("invalid JSON: {e}")))?;
    Ok(Value::from_json(&json))
}

/// The header record of a CSV text, as `csvdecode` reads it (for the type of its result).
pub(crate) fn csv_header(text: &str) -> Option<Vec<String>> {
    parse_csv(text).ok()?.into_iter().next()
}

pub(super) fn f_yamlencode(args: &[Value], _cx: &Cx) -> R {
    let out = yaml::encode(arg(args, 0)).map_err(|e| arg_err(0, e))?;
    check_string_size(out.len())?;
    Ok(Value::String(out))
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
            return Err(arg_err(1, format!("unsupported encoding {}", cx.quote(&enc))));
        }
    };
    Ok(Value::String(base64::engine::general_purpose::STANDARD.encode(bytes)))
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
            return Err(arg_err(1, format!("unsupported encoding {}", cx.quote(&enc))));
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
        let m: BTreeMap<String, Value> =
            header.iter().cloned().zip(row.into_iter().map(Value::String)).collect();
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

pub(super) fn go_gzip(data: &[u8]) -> Result<Vec<u8>, String> {
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
