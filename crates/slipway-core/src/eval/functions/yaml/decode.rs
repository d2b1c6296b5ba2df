//! `yamldecode`: go-cty-yaml's resolver over granit-parser's events (see the parent module).

use std::collections::BTreeMap;

use crate::value::Value;

use granit_parser::{Event, Parser, ScalarStyle, Span};

/// Deepest nesting decoded: deeper documents get an error, never a stack overflow.
const MAX_DEPTH: usize = 256;
/// Most nodes a document may expand to through aliases (`*a` copies the anchored value), so
/// that a "billion laughs" document is an error instead of exhausting memory.
const MAX_NODES: usize = 1024 * 1024;

const TAG_PREFIX: &str = "tag:yaml.org,2002:";

struct Decoder<'a> {
    events: Parser<'a, granit_parser::StrInput<'a>>,
    /// Anchored values by anchor id, with their node counts.
    anchors: BTreeMap<usize, (Value, usize)>,
    nodes: usize,
}

fn at(span: &Span, msg: impl std::fmt::Display) -> String {
    format!("on line {}, column {}: {msg}", span.start.line(), span.start.col() + 1)
}

/// A resolved scalar, or the marker of a merge key (`<<`).
enum Scalar {
    Value(Value),
    Merge,
}

/// Decodes a YAML document as Terraform 1.0.3's `yamldecode`. A document that is only a null
/// is `null` (go-cty-yaml before 1.0.3 returned an unknown there, which Terraform shows as
/// null once applied).
pub fn decode(src: &str) -> Result<Value, String> {
    let src = if src.is_empty() { "\n" } else { src };
    let mut d = Decoder { events: Parser::new_from_str(src), anchors: BTreeMap::new(), nodes: 0 };
    let (first, span) = d.next()?;
    if !matches!(first, Event::StreamStart) {
        return Err(at(&span, "missing stream start token"));
    }
    let (doc, span) = d.next()?;
    if !matches!(doc, Event::DocumentStart(..)) {
        return Err(at(&span, "missing start of document"));
    }
    let (ev, span) = d.next()?;
    let v = d.node(ev, span, 0)?;
    let (end, span) = d.next()?;
    match end {
        Event::DocumentEnd => {}
        Event::DocumentStart(..) => return Err(at(&span, "only a single document is allowed")),
        _ => return Err(at(&span, "unexpected extra content after value")),
    }
    let (end, span) = d.next()?;
    if !matches!(end, Event::StreamEnd) {
        return Err(at(&span, "only a single document is allowed"));
    }
    Ok(v)
}

impl<'a> Decoder<'a> {
    /// The next event that is part of the data (comments and anchor names are skipped).
    fn next(&mut self) -> Result<(Event<'a>, Span), String> {
        loop {
            match self.events.next_event() {
                None => return Err("unexpected end of YAML input".to_string()),
                Some(Err(e)) => {
                    return Err(format!(
                        "on line {}, column {}: {}",
                        e.marker().line(),
                        e.marker().col() + 1,
                        e.info()
                    ));
                }
                Some(Ok((ev, span))) => match ev {
                    Event::Anchor(..) => continue,
                    Event::StreamStart
                    | Event::StreamEnd
                    | Event::DocumentStart(..)
                    | Event::DocumentEnd
                    | Event::Alias(_)
                    | Event::UnresolvedAlias(_)
                    | Event::Scalar(..)
                    | Event::SequenceStart(..)
                    | Event::SequenceEnd
                    | Event::MappingStart(..)
                    | Event::MappingEnd => return Ok((ev, span)),
                    #[allow(unreachable_patterns)]
                    _ => continue,
                },
            }
        }
    }

    fn count(&mut self, n: usize, span: &Span) -> Result<(), String> {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > MAX_NODES {
            return Err(at(span, format!("document expands to more than {MAX_NODES} values")));
        }
        Ok(())
    }

    fn node(&mut self, ev: Event<'a>, span: Span, depth: usize) -> Result<Value, String> {
        if depth > MAX_DEPTH {
            return Err(at(&span, format!("nesting deeper than {MAX_DEPTH}")));
        }
        let start = self.nodes;
        let (v, anchor) = match ev {
            Event::Scalar(text, style, anchor, tag) => {
                let tag = tag.map(|t| format!("{}{}", t.handle(), t.suffix()));
                let v = match resolve(tag.as_deref().unwrap_or(""), &text, style) {
                    Ok(Scalar::Value(v)) => v,
                    // A merge key's text outside a mapping key is just a string.
                    Ok(Scalar::Merge) => Value::String("<<".to_string()),
                    Err(e) => return Err(at(&span, e)),
                };
                self.count(1, &span)?;
                (v, anchor)
            }
            Event::Alias(id) => {
                // Counted before the copy is made, so a "billion laughs" stops early.
                let Some(n) = self.anchors.get(&id).map(|(_, n)| *n) else {
                    return Err(at(&span, "reference to an anchor from inside its own definition"));
                };
                self.count(n, &span)?;
                return Ok(self.anchors.get(&id).map(|(v, _)| v.clone()).unwrap_or_default());
            }
            Event::UnresolvedAlias(name) => {
                return Err(at(&span, format!("reference to undefined anchor {name:?}")));
            }
            Event::SequenceStart(_, anchor, tag) => {
                if let Some(t) = tag.map(|t| format!("{}{}", t.handle(), t.suffix()))
                    && t != format!("{TAG_PREFIX}seq")
                {
                    return Err(at(&span, format!("can't interpret sequence as {t}")));
                }
                self.count(1, &span)?;
                let mut items = Vec::new();
                loop {
                    let (ev, span) = self.next()?;
                    if matches!(ev, Event::SequenceEnd) {
                        break;
                    }
                    items.push(self.node(ev, span, depth + 1)?);
                }
                (Value::List(items), anchor)
            }
            Event::MappingStart(_, anchor, tag) => {
                if let Some(t) = tag.map(|t| format!("{}{}", t.handle(), t.suffix()))
                    && t != format!("{TAG_PREFIX}map")
                {
                    return Err(at(&span, format!("can't interpret mapping as {t}")));
                }
                self.count(1, &span)?;
                (self.mapping(depth)?, anchor)
            }
            _ => return Err(at(&span, "expecting a value")),
        };
        if anchor != 0 {
            let n = self.nodes - start;
            self.anchors.insert(anchor, (v.clone(), n));
        }
        Ok(v)
    }

    /// A mapping's entries up to its end: keys are scalars (a string, or a bool or number in
    /// its text form), and a merge key (`<<`) merges the mapping it names.
    fn mapping(&mut self, depth: usize) -> Result<Value, String> {
        let mut map = BTreeMap::new();
        loop {
            let (ev, kspan) = self.next()?;
            let key = match ev {
                Event::MappingEnd => break,
                Event::Scalar(text, style, _, tag) => {
                    let tag = tag.map(|t| format!("{}{}", t.handle(), t.suffix()));
                    resolve(tag.as_deref().unwrap_or(""), &text, style)
                        .map_err(|e| at(&kspan, e))?
                }
                _ => return Err(at(&kspan, "only strings are allowed as mapping keys")),
            };
            let key = match key {
                Scalar::Merge => {
                    let (ev, vspan) = self.next()?;
                    match self.node(ev, vspan, depth + 1)? {
                        Value::Map(m) => map.extend(m),
                        other => {
                            return Err(at(
                                &kspan,
                                format!("cannot merge {} into mapping", other.type_name()),
                            ));
                        }
                    }
                    continue;
                }
                Scalar::Value(Value::Null) => {
                    return Err(at(&kspan, "mapping key cannot be null"));
                }
                Scalar::Value(Value::String(s)) => s,
                Scalar::Value(Value::Bool(b)) => b.to_string(),
                Scalar::Value(Value::Number(n)) => crate::value::format_number(n),
                Scalar::Value(Value::BigNumber(b)) => b.to_string(),
                Scalar::Value(_) => {
                    return Err(at(&kspan, "only strings are allowed as mapping keys"));
                }
            };
            let (ev, vspan) = self.next()?;
            let v = self.node(ev, vspan, depth + 1)?;
            map.insert(key, v);
        }
        Ok(Value::Map(map))
    }
}

/// go-cty-yaml's `resolveScalar`: the value a scalar stands for, by tag, style and text.
fn resolve(tag: &str, src: &str, style: ScalarStyle) -> Result<Scalar, String> {
    const STR: &str = "tag:yaml.org,2002:str";
    const BINARY: &str = "tag:yaml.org,2002:binary";
    const BOOL: &str = "tag:yaml.org,2002:bool";
    const INT: &str = "tag:yaml.org,2002:int";
    const FLOAT: &str = "tag:yaml.org,2002:float";
    const NULL: &str = "tag:yaml.org,2002:null";
    const TIMESTAMP: &str = "tag:yaml.org,2002:timestamp";
    if !matches!(tag, "" | STR | BOOL | INT | FLOAT | NULL | TIMESTAMP | BINARY) {
        return Err(format!("unsupported tag {tag:?}"));
    }
    let hint = match src.as_bytes().first() {
        None => 'N',
        Some(b'+' | b'-') => 'S',
        Some(b'0'..=b'9') => 'D',
        Some(b'y' | b'Y' | b'n' | b'N' | b't' | b'T' | b'f' | b'F' | b'o' | b'O' | b'~') => 'M',
        Some(b'.') => '.',
        Some(_) => '\0',
    };
    let mut tag = tag;
    if hint != '\0' && tag != STR && tag != BINARY {
        if matches!(style, ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted) {
            return Ok(Scalar::Value(Value::String(src.to_string())));
        }
        if let Some(v) = keyword(src) {
            return Ok(Scalar::Value(v));
        }
        if tag.is_empty() && matches!(src, ".nan" | ".NaN" | ".NAN") {
            return Err("floating point NaN is not supported".to_string());
        }
        match hint {
            '.' => {
                if let Some(b) = crate::value::bignum::BigNum::parse(src) {
                    return Ok(Scalar::Value(Value::from_bignum(b)));
                }
            }
            'D' | 'S' => {
                if (tag.is_empty() || tag == TIMESTAMP)
                    && let Some(t) = timestamp(src)
                {
                    return Ok(Scalar::Value(Value::String(t)));
                }
                if integer_literal(src) {
                    tag = INT;
                } else if float_literal(src) {
                    tag = FLOAT;
                }
            }
            _ => {}
        }
    }
    if tag.is_empty() && src == "<<" {
        return Ok(Scalar::Merge);
    }
    let cannot = |tag: &str| format!("cannot parse {src:?} as {tag}");
    let v = match tag {
        STR => Value::String(src.to_string()),
        BINARY => {
            base64::Engine::decode(&base64::engine::general_purpose::STANDARD, src)
                .map_err(|_| format!("cannot parse {src:?} as {tag}: not valid base64"))?;
            Value::String(src.to_string())
        }
        BOOL => match keyword(src) {
            Some(v @ Value::Bool(_)) => v,
            _ => return Err(cannot(tag)),
        },
        INT | FLOAT => {
            let plain = src.replace('_', "");
            if let Some(b) = crate::value::bignum::BigNum::parse(&plain) {
                Value::from_bignum(b)
            } else if let Some(i) = go_parse_int(&plain) {
                Value::from_bignum(crate::value::bignum::BigNum::from_i128(i))
            } else {
                return Err(cannot(tag));
            }
        }
        TIMESTAMP => Value::String(timestamp(src).ok_or_else(|| cannot(tag))?),
        NULL => Value::Null,
        _ => Value::String(src.to_string()),
    };
    Ok(Scalar::Value(v))
}

/// The words YAML 1.1 reads as booleans, null and infinities.
fn keyword(s: &str) -> Option<Value> {
    Some(match s {
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            Value::Bool(true)
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            Value::Bool(false)
        }
        "" | "~" | "null" | "Null" | "NULL" => Value::Null,
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => Value::Number(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => Value::Number(f64::NEG_INFINITY),
        _ => return None,
    })
}

/// go-cty-yaml's integer pattern `[-+]?(|0o[0-7_]+|[0-9_]+|0x[0-9a-fA-F_]+)` — the empty
/// alternative included, so a lone sign "is" an integer that then fails to parse, as there.
fn integer_literal(s: &str) -> bool {
    let body = s.strip_prefix(['-', '+']).unwrap_or(s);
    let all = |t: &str, f: fn(char) -> bool| !t.is_empty() && t.chars().all(|c| f(c) || c == '_');
    body.is_empty()
        || body.strip_prefix("0o").is_some_and(|t| all(t, |c| matches!(c, '0'..='7')))
        || all(body, |c| c.is_ascii_digit())
        || body.strip_prefix("0x").is_some_and(|t| all(t, |c| c.is_ascii_hexdigit()))
}

/// `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`
fn float_literal(s: &str) -> bool {
    let body = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (mant, exp) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    let mant_ok = match mant.split_once('.') {
        Some(("", frac)) => digits(frac),
        Some((int, frac)) => digits(int) && (frac.is_empty() || digits(frac)),
        None => digits(mant),
    };
    let exp_ok = exp.is_none_or(|e| digits(e.strip_prefix(['-', '+']).unwrap_or(e)));
    mant_ok && exp_ok
}

/// Go's `strconv.ParseInt(s, 0, 64)`, then `ParseUint`: `0x`, `0o`, `0b` and leading-`0`
/// octal prefixes, within 64 bits.
fn go_parse_int(s: &str) -> Option<i128> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (radix, digits) = if let Some(r) = body.strip_prefix("0x").or(body.strip_prefix("0X")) {
        (16, r)
    } else if let Some(r) = body.strip_prefix("0o").or(body.strip_prefix("0O")) {
        (8, r)
    } else if let Some(r) = body.strip_prefix("0b").or(body.strip_prefix("0B")) {
        (2, r)
    } else if body.len() > 1 && body.starts_with('0') {
        (8, &body[1..])
    } else {
        (10, body)
    };
    if digits.is_empty() || digits.starts_with(['+', '-']) {
        return None;
    }
    let m = u64::from_str_radix(digits, radix).ok()?;
    let v = if neg { -i128::from(m) } else { i128::from(m) };
    // ParseInt's range, or (for positives) ParseUint's.
    (v >= i128::from(i64::MIN)).then_some(v)
}

/// go-cty-yaml's timestamps (`2001-12-14`, `2001-12-14T21:59:43.1Z`, `…+01:00`,
/// `2001-12-14 21:59:43.10` in UTC), written as RFC 3339 without fractions, as Go's
/// `time.Format(time.RFC3339)` writes them.
fn timestamp(s: &str) -> Option<String> {
    let b = s.as_bytes();
    if b.len() < 5 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return None;
    }
    // Numbers of 1–2 digits (Go's "1", "2", "15", "4", "5" layout elements).
    fn num(s: &str, min: usize, max: usize) -> Option<(u32, &str)> {
        let n = s.bytes().take_while(u8::is_ascii_digit).count();
        if n < min || n > max {
            return None;
        }
        Some((s[..n].parse().ok()?, &s[n..]))
    }
    let (year, rest) = num(s, 4, 4)?;
    let (month, rest) = num(rest.strip_prefix('-')?, 1, 2)?;
    let (day, rest) = num(rest.strip_prefix('-')?, 1, 2)?;
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if !(1..=12).contains(&month) || day < 1 || day > days[month as usize - 1] {
        return None;
    }
    let date = format!("{year:04}-{month:02}-{day:02}");
    if rest.is_empty() {
        return Some(format!("{date}T00:00:00Z"));
    }
    let (zoned, rest) = match rest.as_bytes()[0] {
        b'T' | b't' => (true, &rest[1..]),
        b' ' => (false, &rest[1..]),
        _ => return None,
    };
    let (h, rest) = num(rest, 1, 2)?;
    let (mi, rest) = num(rest.strip_prefix(':')?, 1, 2)?;
    let (sec, mut rest) = num(rest.strip_prefix(':')?, 1, 2)?;
    if h > 23 || mi > 59 || sec > 59 {
        return None;
    }
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 || n > 9 {
            return None;
        }
        rest = &frac[n..];
    }
    let time = format!("{date}T{h:02}:{mi:02}:{sec:02}");
    if !zoned {
        return rest.is_empty().then(|| format!("{time}Z"));
    }
    if rest == "Z" {
        return Some(format!("{time}Z"));
    }
    let sign = rest.as_bytes().first().filter(|c| matches!(c, b'+' | b'-'))?;
    let (oh, r) = num(&rest[1..], 2, 2)?;
    let (om, r) = num(r.strip_prefix(':')?, 2, 2)?;
    if !r.is_empty() || oh > 23 || om > 59 {
        return None;
    }
    if oh == 0 && om == 0 {
        return Some(format!("{time}Z"));
    }
    Some(format!("{time}{}{oh:02}:{om:02}", *sign as char))
}
