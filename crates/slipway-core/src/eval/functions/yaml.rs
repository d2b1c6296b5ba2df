//! `yamlencode` and `yamldecode` as Terraform 1.0.3 has them (go-cty-yaml v1.0.2).
//!
//! **Encoding** reproduces go-cty-yaml's bytes, because users hash them and put them in
//! user-data: the encoder below is a port of the part of libyaml's emitter (go-yaml's
//! `emitterc.go`) that go-cty-yaml's events reach — block mappings and sequences, empty
//! collections in flow style (`[]`, `{}`), strings double-quoted (literal blocks `|` when they
//! hold a line break and a block can carry them), numbers, bools and null plain, keys longer
//! than 128 bytes or spanning lines as complex keys (`? key`), double-quoted strings folded at
//! column 80, and the `...` document end after a plain scalar at the root. The state variables
//! and their names follow the Go code so that the two can be read side by side.
//!
//! **Decoding** follows go-cty-yaml's resolver (`resolve.go`): YAML 1.1 booleans (`yes`, `on`,
//! `y`…), integers in decimal, `0x` and `0o`, floats, `.inf`, null (`~`, `null`, empty),
//! timestamps as RFC 3339 strings, quoted scalars always strings; mappings become objects,
//! sequences tuples. The YAML parser is granit-parser (serde-saphyr's, already in the tree).

use std::collections::BTreeMap;

use crate::value::Value;

// --- encoding --------------------------------------------------------------------------------

const BEST_INDENT: i64 = 2;
const BEST_WIDTH: usize = 80;

#[derive(Clone, Copy, PartialEq)]
enum Style {
    Plain,
    DoubleQuoted,
    Literal,
}

/// What `yaml_emitter_analyze_scalar` finds out about a scalar (the fields go-cty-yaml's
/// styles consult).
struct Analysis {
    multiline: bool,
    block_plain_allowed: bool,
    block_allowed: bool,
}

/// The part of `yaml_emitter_t` the reachable code paths use.
struct Emitter {
    out: String,
    column: usize,
    indent: i64,
    indents: Vec<i64>,
    whitespace: bool,
    indention: bool,
    open_ended: bool,
    flow_level: usize,
    root_context: bool,
    mapping_context: bool,
    simple_key_context: bool,
}

/// Encodes a value as Terraform 1.0.3's `yamlencode` does. Errors name what cannot be
/// encoded (an unknown value).
pub fn encode(v: &Value) -> Result<String, String> {
    let mut e = Emitter {
        out: String::new(),
        column: 0,
        indent: -1,
        indents: Vec::new(),
        whitespace: true,
        indention: true,
        open_ended: false,
        flow_level: 0,
        root_context: false,
        mapping_context: false,
        simple_key_context: false,
    };
    // STREAM-START and an implicit DOCUMENT-START write nothing.
    e.node(v, true, false, false)?;
    // DOCUMENT-END (implicit): end the last line.
    e.write_indent();
    // STREAM-END: a document that ends open (a plain scalar at the root, a `|+` block) gets
    // an explicit end marker.
    if e.open_ended {
        e.write_indicator("...", true, false, false);
        e.write_indent();
    }
    Ok(e.out)
}

/// The scalar text and requested style of a primitive, as go-cty-yaml's `marshalPrimitive`.
fn primitive(v: &Value) -> Option<(String, Style)> {
    Some(match v {
        Value::Null => ("null".to_string(), Style::Plain),
        Value::Bool(b) => (b.to_string(), Style::Plain),
        Value::Number(n) if n.is_infinite() => {
            // big.Float's Text('f', -1) of an infinity.
            (
                (if *n > 0.0 { "+Inf" } else { "-Inf" }).to_string(),
                Style::Plain,
            )
        }
        Value::Number(n) => (crate::value::format_number(*n), Style::Plain),
        Value::BigNumber(b) => (b.to_string(), Style::Plain),
        Value::String(s) => {
            let style = if s.contains('\n') {
                Style::Literal
            } else {
                Style::DoubleQuoted
            };
            (s.clone(), style)
        }
        _ => return None,
    })
}

fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// libyaml's `is_printable`, which works on UTF-8 lead bytes: note that it counts no
/// character beyond the Basic Multilingual Plane as printable (so an emoji is escaped).
fn is_printable(c: char) -> bool {
    matches!(c, '\n' | '\u{20}'..='\u{7e}' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}')
        && c != '\u{feff}'
}

fn analyze(value: &str) -> Analysis {
    if value.is_empty() {
        return Analysis {
            multiline: false,
            block_plain_allowed: true,
            block_allowed: false,
        };
    }
    let chars: Vec<char> = value.chars().collect();
    let mut block_indicators = value.starts_with("---") || value.starts_with("...");
    let (mut line_breaks, mut special_characters) = (false, false);
    let (mut leading_space, mut leading_break) = (false, false);
    let (mut trailing_space, mut trailing_break) = (false, false);
    let (mut break_space, mut space_break) = (false, false);
    let (mut previous_space, mut previous_break) = (false, false);
    let mut preceded_by_whitespace = true;
    for (i, &c) in chars.iter().enumerate() {
        let followed_by_whitespace = i + 1 >= chars.len() || matches!(chars[i + 1], ' ' | '\t');
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"'
                | '%' | '@' | '`' => block_indicators = true,
                '?' | ':' | '-' if followed_by_whitespace => block_indicators = true,
                _ => {}
            }
        } else {
            match c {
                ':' if followed_by_whitespace => block_indicators = true,
                '#' if preceded_by_whitespace => block_indicators = true,
                _ => {}
            }
        }
        if !is_printable(c) {
            special_characters = true;
        }
        let last = i + 1 == chars.len();
        if c == ' ' {
            leading_space |= i == 0;
            trailing_space |= last;
            break_space |= previous_break;
            previous_space = true;
            previous_break = false;
        } else if is_break(c) {
            line_breaks = true;
            leading_break |= i == 0;
            trailing_break |= last;
            space_break |= previous_space;
            previous_space = false;
            previous_break = true;
        } else {
            previous_space = false;
            previous_break = false;
        }
        preceded_by_whitespace = matches!(c, ' ' | '\t' | '\0') || is_break(c);
    }
    let mut a = Analysis {
        multiline: line_breaks,
        block_plain_allowed: true,
        block_allowed: true,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.block_plain_allowed = false;
    }
    if trailing_space {
        a.block_allowed = false;
    }
    if break_space {
        a.block_plain_allowed = false;
    }
    if space_break || special_characters {
        a.block_plain_allowed = false;
        a.block_allowed = false;
    }
    if line_breaks || block_indicators {
        a.block_plain_allowed = false;
    }
    a
}

impl Emitter {
    fn put(&mut self, c: char) {
        self.out.push(c);
        self.column += 1;
    }

    fn put_break(&mut self) {
        self.out.push('\n');
        self.column = 0;
    }

    fn write_all(&mut self, s: &str) {
        for c in s.chars() {
            self.put(c);
        }
    }

    /// `write_break`: a `\n` is written as the emitter's line break, any other break
    /// character as itself; either starts a new line.
    fn write_break(&mut self, c: char) {
        if c == '\n' {
            self.put_break();
        } else {
            self.out.push(c);
            self.column = 0;
        }
    }

    fn increase_indent(&mut self, flow: bool, indentless: bool) {
        self.indents.push(self.indent);
        if self.indent < 0 {
            self.indent = if flow { BEST_INDENT } else { 0 };
        } else if !indentless {
            self.indent += BEST_INDENT;
        }
    }

    fn pop_indent(&mut self) {
        self.indent = self.indents.pop().unwrap_or(-1);
    }

    fn write_indent(&mut self) {
        let indent = self.indent.max(0) as usize;
        if !self.indention || self.column > indent || (self.column == indent && !self.whitespace) {
            self.put_break();
        }
        while self.column < indent {
            self.put(' ');
        }
        self.whitespace = true;
        self.indention = true;
    }

    fn write_indicator(
        &mut self,
        indicator: &str,
        need_whitespace: bool,
        is_whitespace: bool,
        is_indention: bool,
    ) {
        if need_whitespace && !self.whitespace {
            self.put(' ');
        }
        self.write_all(indicator);
        self.whitespace = is_whitespace;
        self.indention = self.indention && is_indention;
        self.open_ended = false;
    }

    /// `yaml_emitter_emit_node`, for the events go-cty-yaml produces from one value.
    fn node(
        &mut self,
        v: &Value,
        root: bool,
        mapping: bool,
        simple_key: bool,
    ) -> Result<(), String> {
        self.root_context = root;
        self.mapping_context = mapping;
        self.simple_key_context = simple_key;
        match v {
            Value::Sensitive(inner) => self.node(inner, root, mapping, simple_key),
            Value::Unknown => Err("cannot serialize unknown value as YAML".to_string()),
            Value::List(items) if items.is_empty() || self.flow_level > 0 => {
                self.write_indicator("[", true, true, false);
                self.increase_indent(true, false);
                self.pop_indent();
                self.write_indicator("]", false, false, false);
                Ok(())
            }
            Value::Map(map) if map.is_empty() || self.flow_level > 0 => {
                self.write_indicator("{", true, true, false);
                self.increase_indent(true, false);
                self.pop_indent();
                self.write_indicator("}", false, false, false);
                Ok(())
            }
            Value::List(items) => {
                // A sequence directly under a mapping key is not indented ("indentless").
                self.increase_indent(false, self.mapping_context && !self.indention);
                for item in items {
                    self.write_indent();
                    self.write_indicator("-", true, false, true);
                    self.node(item, false, false, false)?;
                }
                self.pop_indent();
                Ok(())
            }
            Value::Map(map) => {
                self.increase_indent(false, false);
                for (k, val) in map {
                    self.write_indent();
                    let key = Value::String(k.clone());
                    if simple_key_ok(k) {
                        self.node(&key, false, true, true)?;
                        self.write_indicator(":", false, false, false);
                    } else {
                        self.write_indicator("?", true, false, true);
                        self.node(&key, false, true, false)?;
                        self.write_indent();
                        self.write_indicator(":", true, false, true);
                    }
                    self.node(val, false, true, false)?;
                }
                self.pop_indent();
                Ok(())
            }
            other => {
                let Some((text, style)) = primitive(other) else {
                    return Err("cannot serialize this value as YAML".to_string());
                };
                self.scalar(&text, style);
                Ok(())
            }
        }
    }

    /// `yaml_emitter_emit_scalar`: style selection, then the writer.
    fn scalar(&mut self, value: &str, requested: Style) {
        let a = analyze(value);
        let mut style = requested;
        if self.simple_key_context && a.multiline {
            style = Style::DoubleQuoted;
        }
        // Only numbers, bools and null ask for plain style, and they are always plain-safe
        // except in cases go-cty-yaml cannot produce; libyaml would single-quote them.
        if style == Style::Plain && (!a.block_plain_allowed || value.is_empty()) {
            style = Style::DoubleQuoted;
        }
        if style == Style::Literal
            && (!a.block_allowed || self.flow_level > 0 || self.simple_key_context)
        {
            style = Style::DoubleQuoted;
        }
        self.increase_indent(true, false);
        match style {
            Style::Plain => self.write_plain(value),
            Style::DoubleQuoted => self.write_double_quoted(value, !self.simple_key_context),
            Style::Literal => self.write_literal(value),
        }
        self.pop_indent();
    }

    /// `yaml_emitter_write_plain_scalar` for the single-line values that reach it.
    fn write_plain(&mut self, value: &str) {
        if !self.whitespace {
            self.put(' ');
        }
        self.write_all(value);
        self.whitespace = false;
        self.indention = false;
        if self.root_context {
            self.open_ended = true;
        }
    }

    fn write_double_quoted(&mut self, value: &str, allow_breaks: bool) {
        self.write_indicator("\"", true, false, false);
        // libyaml checks for a byte-order mark at the start of the value, not at the current
        // character: a value that starts with one has every character escaped.
        let bom = value.starts_with('\u{feff}');
        let chars: Vec<char> = value.chars().collect();
        let mut spaces = false;
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if !is_printable(c) || bom || is_break(c) || c == '"' || c == '\\' {
                self.put('\\');
                let v = c as u32;
                match c {
                    '\0' => self.put('0'),
                    '\u{7}' => self.put('a'),
                    '\u{8}' => self.put('b'),
                    '\t' => self.put('t'),
                    '\n' => self.put('n'),
                    '\u{b}' => self.put('v'),
                    '\u{c}' => self.put('f'),
                    '\r' => self.put('r'),
                    '\u{1b}' => self.put('e'),
                    '"' => self.put('"'),
                    '\\' => self.put('\\'),
                    '\u{85}' => self.put('N'),
                    '\u{a0}' => self.put('_'),
                    '\u{2028}' => self.put('L'),
                    '\u{2029}' => self.put('P'),
                    _ => {
                        let (letter, digits) = if v <= 0xff {
                            ('x', 2)
                        } else if v <= 0xffff {
                            ('u', 4)
                        } else {
                            ('U', 8)
                        };
                        self.put(letter);
                        self.write_all(&format!("{v:0digits$X}"));
                    }
                }
                spaces = false;
                i += 1;
            } else if c == ' ' {
                if allow_breaks
                    && !spaces
                    && self.column > BEST_WIDTH
                    && i > 0
                    && i < chars.len() - 1
                {
                    self.write_indent();
                    if chars.get(i + 1) == Some(&' ') {
                        self.put('\\');
                    }
                } else {
                    self.put(c);
                }
                i += 1;
                spaces = true;
            } else {
                self.put(c);
                i += 1;
                spaces = false;
            }
        }
        self.write_indicator("\"", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn write_literal(&mut self, value: &str) {
        self.write_indicator("|", true, false, false);
        // Block scalar hints: an indentation indicator when the text starts with a space or
        // a break, and the chomping indicator for its trailing breaks.
        let chars: Vec<char> = value.chars().collect();
        if chars.first().is_some_and(|&c| c == ' ' || is_break(c)) {
            self.write_indicator(&BEST_INDENT.to_string(), false, false, false);
        }
        self.open_ended = false;
        let n = chars.len();
        let chomp = if n == 0 || !is_break(chars[n - 1]) {
            Some("-")
        } else if n == 1 || is_break(chars[n - 2]) {
            self.open_ended = true;
            Some("+")
        } else {
            None
        };
        // (libyaml marks a `+` block open-ended and then writes the indicator, which clears
        // the mark again: no `...` follows it.)
        if let Some(h) = chomp {
            self.write_indicator(h, false, false, false);
        }
        self.put_break();
        self.indention = true;
        self.whitespace = true;
        let mut breaks = true;
        for &c in &chars {
            if is_break(c) {
                self.write_break(c);
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                self.put(c);
                self.indention = false;
                breaks = false;
            }
        }
    }
}

/// `yaml_emitter_check_simple_key` for a string key: one line, at most 128 bytes.
fn simple_key_ok(key: &str) -> bool {
    !key.chars().any(is_break) && key.len() <= 128
}

// --- decoding --------------------------------------------------------------------------------

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
    format!(
        "on line {}, column {}: {msg}",
        span.start.line(),
        span.start.col() + 1
    )
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
    let mut d = Decoder {
        events: Parser::new_from_str(src),
        anchors: BTreeMap::new(),
        nodes: 0,
    };
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
            return Err(at(
                span,
                format!("document expands to more than {MAX_NODES} values"),
            ));
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
                    return Err(at(
                        &span,
                        "reference to an anchor from inside its own definition",
                    ));
                };
                self.count(n, &span)?;
                return Ok(self
                    .anchors
                    .get(&id)
                    .map(|(v, _)| v.clone())
                    .unwrap_or_default());
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
                (Value::Map(map), anchor)
            }
            _ => return Err(at(&span, "expecting a value")),
        };
        if anchor != 0 {
            let n = self.nodes - start;
            self.anchors.insert(anchor, (v.clone(), n));
        }
        Ok(v)
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
    if !matches!(
        tag,
        "" | STR | BOOL | INT | FLOAT | NULL | TIMESTAMP | BINARY
    ) {
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
        || body
            .strip_prefix("0o")
            .is_some_and(|t| all(t, |c| matches!(c, '0'..='7')))
        || all(body, |c| c.is_ascii_digit())
        || body
            .strip_prefix("0x")
            .is_some_and(|t| all(t, |c| c.is_ascii_hexdigit()))
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
    let days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
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
    let sign = rest
        .as_bytes()
        .first()
        .filter(|c| matches!(c, b'+' | b'-'))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn d(src: &str) -> Value {
        decode(src).unwrap_or_else(|e| panic!("{src:?}: {e}"))
    }
    fn num(text: &str) -> Value {
        Value::from_bignum(crate::value::bignum::BigNum::parse(text).unwrap())
    }

    /// Expected values are Terraform 1.0.3's (`terraform console`, go-cty-yaml v1.0.2).
    #[test]
    fn yamldecode_resolves_scalars_as_go_cty_yaml() {
        assert_eq!(d("0x1F"), num("31"));
        assert_eq!(d("0o17"), num("15"));
        assert_eq!(d("017"), num("17"));
        assert_eq!(d("-0x10"), num("-16"));
        assert_eq!(d("1_000"), num("1000"));
        assert_eq!(d("1e3"), num("1000"));
        assert_eq!(d(".5"), num("0.5"));
        assert_eq!(d("12345678901234567890123"), num("12345678901234567890123"));
        for t in ["y", "Yes", "ON", "true"] {
            assert_eq!(d(t), Value::Bool(true), "{t}");
        }
        assert_eq!(d("Off"), Value::Bool(false));
        for n in ["~", "null", "NULL"] {
            assert_eq!(d(n), Value::Null, "{n}");
        }
        // Quoted scalars are strings whatever they spell; so are near-misses.
        assert_eq!(d("'yes'"), Value::String("yes".into()));
        assert_eq!(d("\"1\""), Value::String("1".into()));
        assert_eq!(d("0b101"), Value::String("0b101".into()));
        assert_eq!(d("!!str 1"), Value::String("1".into()));
        // Timestamps become RFC 3339 strings without fractions.
        assert_eq!(
            d("2001-12-14"),
            Value::String("2001-12-14T00:00:00Z".into())
        );
        assert_eq!(
            d("2001-12-14t21:59:43.10-05:00"),
            Value::String("2001-12-14T21:59:43-05:00".into())
        );
        assert_eq!(
            d("2001-12-14 21:59:43.10"),
            Value::String("2001-12-14T21:59:43Z".into())
        );
        assert_eq!(d("2001-2-3"), Value::String("2001-02-03T00:00:00Z".into()));
        assert_eq!(d("2001-13-03"), Value::String("2001-13-03".into()));
    }

    #[test]
    fn yamldecode_keys_anchors_and_merges() {
        let v = d("1: a\ntrue: b\n1.50: c\ny: d");
        let keys: Vec<&String> = match &v {
            Value::Map(m) => m.keys().collect(),
            other => panic!("{other:?}"),
        };
        // `y` is a YAML 1.1 bool, so its key is "true" (and replaces the earlier one).
        assert_eq!(keys, ["1", "1.5", "true"]);
        let v = d("a: &x {b: 1}\nc: *x\n<<: {e: 2, c: 0}\nf: [*x]");
        let Value::Map(m) = &v else { panic!() };
        assert_eq!(m["f"], Value::List(vec![m["a"].clone()]));
        // A merge key's entries override those before it (go-cty-yaml assigns them in turn).
        assert_eq!(m["c"], num("0"));
        assert_eq!(m["e"], num("2"));
    }

    #[test]
    fn yamldecode_errors_are_located_and_hostile_input_is_bounded() {
        for (src, want) in [
            ("", "missing start of document"),
            ("+", "cannot parse \"+\""),
            ("!foo x", "unsupported tag"),
            (".nan", "NaN"),
            ("~: a", "mapping key cannot be null"),
            ("? [a]\n: b", "only strings are allowed as mapping keys"),
            ("--- 1\n--- 2", "only a single document"),
            ("a: b: c", "line 1, column"),
        ] {
            let e = decode(src).unwrap_err();
            assert!(e.contains(want), "{src:?}: {e}");
            assert!(e.starts_with("on line "), "{src:?}: {e}");
        }
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        // (The parser or the decoder refuses it, whichever limit comes first.)
        assert!(decode(&deep).unwrap_err().starts_with("on line "));
        // A billion laughs: each level doubles the value.
        let mut laughs = String::from("a0: &a0 [x, x]\n");
        for i in 1..40 {
            laughs.push_str(&format!("a{i}: &a{i} [*a{}, *a{}]\n", i - 1, i - 1));
        }
        assert!(decode(&laughs).unwrap_err().contains("more than"));
    }
}
