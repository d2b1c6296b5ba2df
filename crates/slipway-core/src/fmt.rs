//! Canonical formatting of HCL source: the engine behind `slipway fmt` (like `terraform fmt`).
//!
//! [`format_source`] re-lays out one file's text. What it promises:
//!
//! - **Refuses broken input.** Text that does not parse is rejected with a [`FormatError`]
//!   (byte offset, line, column, message); nothing is ever produced for it.
//! - **Meaning-preserving.** Only whitespace between tokens changes. Every result is checked
//!   before it is returned: it must parse to the same structure as the input and contain the
//!   same token sequence; if a bug ever broke that, the call fails instead of returning text.
//! - **Comments kept.** `#`, `//` and `/* */` comments stay where they were, word for word
//!   (only trailing whitespace is dropped and the comment's line is re-indented).
//! - **Literal text untouched.** Heredoc bodies (`<<EOF`, `<<-EOF`) and the content of
//!   multi-line strings and templates are copied byte for byte.
//! - **Idempotent.** Formatting formatted text returns it unchanged.
//!
//! The layout: two spaces per nesting level (continuation lines of a bracketed expression one
//! level inside their brackets); `=` of consecutive single-line attributes or object items
//! aligned; one space around those `=` and between a block's type, labels and `{`; trailing
//! whitespace removed; runs of blank lines collapsed to one, none directly after an opening
//! bracket or before a closing one, none at the start or end; exactly one final newline.
//!
//! Deliberately left as written: spacing inside expressions (except that tabs between tokens
//! become one space), object items written `key: value` (not aligned), the lines after the first
//! of a multi-line `/* */` comment, and line endings inside heredocs and multi-line strings
//! (elsewhere CRLF becomes LF). Alignment counts characters, not display width.
//!
//! How: the text is validated with hcl-edit, then split into tokens by a small lexer that treats
//! strings (with their `${ }` / `%{ }` templates), heredocs and comments as opaque units.
//! Indentation is computed per line from bracket counts, the way `hclwrite` does it, so that a
//! line opening several brackets (`[{`) indents its contents only once.

use std::borrow::Cow;
use std::fmt;

use crate::diag::{Diagnostic, FileId, Span};

/// Why a file could not be formatted.
#[derive(Debug, Clone, PartialEq)]
pub struct FormatError {
    /// Byte offset of the problem in the input.
    pub offset: usize,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    pub message: String,
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)
    }
}

impl std::error::Error for FormatError {}

impl FormatError {
    /// The error as a diagnostic pointing into `file`.
    pub fn to_diagnostic(&self, file: FileId) -> Diagnostic {
        Diagnostic::error("cannot format file")
            .detail(self.message.clone())
            .at(Span::new(file, self.offset..self.offset))
    }

    /// A failed self-check: the formatter produced text that would change the file. Reported as
    /// an error (rather than returned) so that a formatter bug can never damage a file.
    fn internal(what: &str) -> FormatError {
        FormatError {
            offset: 0,
            line: 1,
            column: 1,
            message: format!("internal formatter error ({what}); the file was left unchanged"),
        }
    }
}

/// Formats one HCL file's text canonically. Errors if the input does not parse (with byte
/// offset, line, column, message), and never returns text that means something else.
pub fn format_source(src: &str) -> Result<String, FormatError> {
    // A UTF-8 byte-order mark is not HCL (the loader skips it too): format what follows it and
    // keep the mark, so formatting never changes a file's encoding.
    if let Some(rest) = src.strip_prefix('\u{feff}') {
        return format_source(rest).map(|out| format!("\u{feff}{out}")).map_err(|mut e| {
            e.offset += '\u{feff}'.len_utf8();
            e
        });
    }
    let before = parse(src)?;
    let tokens = lex(src);
    let out = layout(&tokens);

    let after = parse(&out).map_err(|e| {
        FormatError::internal(&format!(
            "output does not parse at {}:{}: {}",
            e.line, e.column, e.message
        ))
    })?;
    if after != before {
        return Err(FormatError::internal("output parses to a different structure"));
    }
    if !same_tokens(&tokens, &lex(&out)) {
        return Err(FormatError::internal("output has different tokens"));
    }
    Ok(out)
}

fn parse(src: &str) -> Result<hcl::Body, FormatError> {
    match hcl::edit::parser::parse_body(&crate::config::heredoc::neutralize_empty_heredocs(src)) {
        Ok(body) => Ok(hcl::Body::from(body)),
        Err(e) => {
            let loc = e.location();
            Err(FormatError {
                offset: crate::diag::char_boundary_at_or_after(src, loc.offset()),
                line: loc.line(),
                column: loc.column(),
                message: e.message().to_string(),
            })
        }
    }
}

/// Whether two token streams are the same apart from whitespace and line breaks.
fn same_tokens(a: &[Tok<'_>], b: &[Tok<'_>]) -> bool {
    let significant = |toks: &[Tok<'_>]| -> Vec<(Kind, String)> {
        toks.iter()
            .filter(|t| t.kind != Kind::Newline)
            .map(|t| (t.kind, t.render().into_owned()))
            .collect()
    };
    significant(a) == significant(b)
}

// ---------------------------------------------------------------------------------------------
// Lexing.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Ident,
    /// A quoted string or template, with everything inside it (may span lines).
    Str,
    /// `<<EOF` … `EOF`, body and end marker included.
    Heredoc,
    LineComment,
    BlockComment,
    Open,
    Close,
    /// A lone `=` (not `==`, `=>`, `<=`, …).
    Eq,
    /// Anything else: numbers, operators, punctuation.
    Other,
    Newline,
}

#[derive(Clone, Copy, Debug)]
struct Tok<'a> {
    kind: Kind,
    /// The spaces and tabs written before the token.
    ws: &'a str,
    text: &'a str,
}

impl<'a> Tok<'a> {
    fn is_comment(&self) -> bool {
        matches!(self.kind, Kind::LineComment | Kind::BlockComment)
    }

    fn is_multiline(&self) -> bool {
        self.text.contains('\n')
    }

    /// The token's output text: verbatim, except that comments lose trailing whitespace
    /// (inside a block comment, at the end of each of its lines).
    fn render(&self) -> Cow<'a, str> {
        match self.kind {
            Kind::LineComment => Cow::Borrowed(self.text.trim_end()),
            Kind::BlockComment if self.is_multiline() => {
                Cow::Owned(self.text.split('\n').map(str::trim_end).collect::<Vec<_>>().join("\n"))
            }
            _ => Cow::Borrowed(self.text),
        }
    }
}

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

fn is_ident_continue(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '-'
}

/// Splits HCL text into tokens. Total on any input (it never fails, and always advances), but
/// only meaningful for text that parses; `format_source` checks that first. Positions only
/// ever move by whole characters and all slicing goes through `get`, so it cannot panic.
// Long because it is the lexer's one loop: each token kind is a branch of the same state
// (position, pending whitespace), and splitting it would pass that state around.
fn lex(src: &str) -> Vec<Tok<'_>> {
    let lx = Lexer { src };
    let mut toks = Vec::new();
    let mut i = 0;
    loop {
        let ws_start = i;
        while matches!(lx.byte(i), Some(b' ' | b'\t'))
            || (lx.byte(i) == Some(b'\r') && lx.byte(i + 1) != Some(b'\n'))
        {
            i += 1;
        }
        let ws = lx.slice(ws_start, i);
        let Some(b) = lx.byte(i) else { break };
        let start = i;
        let kind = match b {
            b'\n' => {
                i += 1;
                Kind::Newline
            }
            // Only "\r\n" gets here; a lone '\r' was skipped as whitespace.
            b'\r' => {
                i += 2;
                Kind::Newline
            }
            b'#' => {
                i = lx.line_end(i);
                Kind::LineComment
            }
            b'/' if lx.at(i + 1, "/") => {
                i = lx.line_end(i);
                Kind::LineComment
            }
            b'/' if lx.at(i + 1, "*") => {
                i = lx.block_comment_end(i);
                Kind::BlockComment
            }
            b'"' => {
                i = lx.quoted_end(i);
                Kind::Str
            }
            b'<' if lx.heredoc_end(i).is_some() => {
                i = lx.heredoc_end(i).unwrap_or(i + 1);
                Kind::Heredoc
            }
            b'{' | b'[' | b'(' => {
                i += 1;
                Kind::Open
            }
            b'}' | b']' | b')' => {
                i += 1;
                Kind::Close
            }
            b'=' if lx.at(i + 1, "=") || lx.at(i + 1, ">") => {
                i += 2;
                Kind::Other
            }
            b'=' => {
                i += 1;
                Kind::Eq
            }
            b'!' | b'<' | b'>' if lx.at(i + 1, "=") => {
                i += 2;
                Kind::Other
            }
            b'&' | b'|' if lx.byte(i + 1) == Some(b) => {
                i += 2;
                Kind::Other
            }
            b'.' if lx.at(i, "...") => {
                i += 3;
                Kind::Other
            }
            _ => match lx.char_at(i) {
                Some(c) if is_ident_start(c) => {
                    i += c.len_utf8();
                    while let Some(c) = lx.char_at(i).filter(|&c| is_ident_continue(c)) {
                        i += c.len_utf8();
                    }
                    Kind::Ident
                }
                Some(c) if c.is_ascii_digit() => {
                    // A number; its exact extent does not matter as its text is kept as is.
                    i += 1;
                    while let Some(c) = lx.char_at(i) {
                        let digit_after_dot =
                            c == '.' && lx.char_at(i + 1).is_some_and(|d| d.is_ascii_digit());
                        if c.is_ascii_alphanumeric() || digit_after_dot {
                            i += 1;
                        } else {
                            break;
                        }
                    }
                    Kind::Other
                }
                _ => {
                    i += lx.char_len(i);
                    Kind::Other
                }
            },
        };
        toks.push(Tok { kind, ws, text: lx.slice(start, i) });
    }
    toks
}

struct Lexer<'a> {
    src: &'a str,
}

impl<'a> Lexer<'a> {
    fn byte(&self, i: usize) -> Option<u8> {
        self.src.as_bytes().get(i).copied()
    }

    fn at(&self, i: usize, pat: &str) -> bool {
        self.src.as_bytes().get(i..).is_some_and(|b| b.starts_with(pat.as_bytes()))
    }

    fn char_at(&self, i: usize) -> Option<char> {
        self.src.get(i..).and_then(|s| s.chars().next())
    }

    /// Length of the character at `i`; 1 when `i` is not on a character boundary (which the
    /// lexer avoids, but stepping one byte keeps it total).
    fn char_len(&self, i: usize) -> usize {
        self.char_at(i).map_or(1, char::len_utf8)
    }

    fn slice(&self, start: usize, end: usize) -> &'a str {
        let end = end.min(self.src.len());
        self.src.get(start..end).unwrap_or("")
    }

    /// End of a line comment starting at `i`: before the line break (and its '\r').
    fn line_end(&self, i: usize) -> usize {
        let rest = self.src.as_bytes().get(i..).unwrap_or(&[]);
        let mut end = rest.iter().position(|&b| b == b'\n').map_or(self.src.len(), |p| i + p);
        if end > i + 1 && self.byte(end - 1) == Some(b'\r') {
            end -= 1;
        }
        end
    }

    /// End (exclusive) of a `/* */` comment starting at `i`.
    fn block_comment_end(&self, i: usize) -> usize {
        let rest = self.src.get(i + 2..).unwrap_or("");
        rest.find("*/").map_or(self.src.len(), |p| i + 2 + p + 2)
    }

    /// End (exclusive) of the quoted string starting at `i` (on its `"`), skipping over
    /// escapes and template interpolations/directives, which may contain nested strings.
    ///
    /// Mirrors a quirk of hcl-edit: inside the body of a `%{ if }` / `%{ for }` directive the
    /// text is parsed as a plain template, where `"` does not end the string and `\` is no
    /// escape. Following it means everything the parser accepts can be formatted.
    fn quoted_end(&self, i: usize) -> usize {
        let mut j = i + 1;
        let mut directives = 0usize;
        loop {
            match self.byte(j) {
                None => return self.src.len(),
                Some(b'"') if directives == 0 => return j + 1,
                Some(b'\\') if directives == 0 => j += 1 + self.char_len(j + 1),
                // `$${` and `%%{` are escaped markers, not templates.
                Some(b'$') if self.at(j, "$${") => j += 3,
                Some(b'%') if self.at(j, "%%{") => j += 3,
                Some(b'%') if self.at(j + 1, "{") => {
                    match self.directive_keyword(j + 2) {
                        "if" | "for" => directives += 1,
                        "endif" | "endfor" => directives = directives.saturating_sub(1),
                        _ => {}
                    }
                    j = self.template_end(j + 2);
                }
                Some(b'$') if self.at(j + 1, "{") => j = self.template_end(j + 2),
                Some(_) => j += self.char_len(j),
            }
        }
    }

    /// The keyword of a `%{` directive whose body starts at `i` (after an optional `~` strip
    /// marker and whitespace).
    fn directive_keyword(&self, i: usize) -> &'a str {
        let mut j = i;
        if self.at(j, "~") {
            j += 1;
        }
        while matches!(self.byte(j), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            j += 1;
        }
        let start = j;
        while self.byte(j).is_some_and(|b| b.is_ascii_alphabetic()) {
            j += 1;
        }
        self.slice(start, j)
    }

    /// End (exclusive) of a `${ … }` or `%{ … }` whose body starts at `i`: the matching `}`,
    /// skipping nested strings, heredocs, comments and braces.
    fn template_end(&self, i: usize) -> usize {
        let mut depth = 1usize;
        let mut j = i;
        loop {
            match self.byte(j) {
                None => return self.src.len(),
                Some(b'"') => j = self.quoted_end(j),
                Some(b'{') => {
                    depth += 1;
                    j += 1;
                }
                Some(b'}') => {
                    depth -= 1;
                    j += 1;
                    if depth == 0 {
                        return j;
                    }
                }
                Some(b'#') => j = self.line_end(j),
                Some(b'/') if self.at(j + 1, "/") => j = self.line_end(j),
                Some(b'/') if self.at(j + 1, "*") => j = self.block_comment_end(j),
                Some(b'<') if self.heredoc_end(j).is_some() => {
                    j = self.heredoc_end(j).unwrap_or(j + 1);
                }
                Some(_) => j += self.char_len(j),
            }
        }
    }

    /// If a heredoc starts at `i` (`<<ID` or `<<-ID` then a line break), its end (exclusive):
    /// just after the end marker, the way hcl-edit finds it — a line break, optional spaces or
    /// tabs, the identifier, and no identifier character after it.
    fn heredoc_end(&self, i: usize) -> Option<usize> {
        if !self.at(i, "<<") {
            return None;
        }
        let mut j = i + 2;
        if self.at(j, "-") {
            j += 1;
        }
        let id_start = j;
        match self.char_at(j) {
            Some(c) if is_ident_start(c) => j += c.len_utf8(),
            _ => return None,
        }
        while let Some(c) = self.char_at(j).filter(|&c| is_ident_continue(c)) {
            j += c.len_utf8();
        }
        let id = self.slice(id_start, j);
        j += self.line_break_len(j)?;
        let body = j;
        loop {
            if j >= self.src.len() {
                // No end marker after a line break: hcl-edit then accepts an empty heredoc whose
                // marker is the very next line. Only then, like the parser, which otherwise lets
                // `<<EOF`, `EOF`, …, `EOF` run to the later marker.
                return Some(self.end_marker(body, id).unwrap_or(self.src.len()));
            }
            if self.at(j, "$${") || self.at(j, "%%{") {
                j += 3;
            } else if self.at(j, "${") || self.at(j, "%{") {
                j = self.template_end(j + 2);
            } else if let Some(n) = self.line_break_len(j) {
                j += n;
                if let Some(end) = self.end_marker(j, id) {
                    return Some(end);
                }
            } else {
                j += self.char_len(j);
            }
        }
    }

    fn line_break_len(&self, i: usize) -> Option<usize> {
        if self.at(i, "\n") {
            Some(1)
        } else if self.at(i, "\r\n") {
            Some(2)
        } else {
            None
        }
    }

    /// If a heredoc end marker for `id` starts at `i`, the position just after it.
    fn end_marker(&self, i: usize, id: &str) -> Option<usize> {
        let mut j = i;
        while matches!(self.byte(j), Some(b' ' | b'\t')) {
            j += 1;
        }
        if !self.at(j, id) {
            return None;
        }
        j += id.len();
        match self.char_at(j) {
            Some(c) if is_ident_continue(c) => None,
            _ => Some(j),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Layout.

/// What a `{`, `[` or `(` opened; decides which lines may hold `key = value`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ctx {
    Block,
    Object,
    Tuple,
    Paren,
}

#[derive(Debug)]
enum Content {
    Blank,
    Text(String),
    /// `key = value`; `align` when it is a single-line item that joins an alignment run.
    Assign {
        key: String,
        value: String,
        align: bool,
    },
}

#[derive(Debug)]
struct OutLine {
    level: usize,
    content: Content,
    /// The last token, comments aside, opens a bracket.
    ends_open: bool,
    /// The first token closes a bracket.
    starts_close: bool,
}

/// Spacing between two tokens on a line: kept as written (people line up trailing comments),
/// except that a gap with tabs becomes one space. Never emptied, which could join tokens.
fn spacing(ws: &str) -> &str {
    if ws.contains(['\t', '\r']) { " " } else { ws }
}

/// Joins tokens as written: the first without its leading whitespace, the rest with theirs.
fn join(toks: &[Tok<'_>]) -> String {
    let mut s = String::new();
    for (n, t) in toks.iter().enumerate() {
        if n > 0 {
            s.push_str(spacing(t.ws));
        }
        s.push_str(&t.render());
    }
    s
}

fn layout(tokens: &[Tok<'_>]) -> String {
    // The hclwrite indent stack: one entry per indentation level, holding how many brackets
    // the line that opened the level left open.
    let mut indents: Vec<usize> = Vec::new();
    let mut ctx: Vec<Ctx> = Vec::new();
    let mut lines = Vec::new();

    for line in tokens.split(|t| t.kind == Kind::Newline) {
        let Some(first) = line.first() else {
            lines.push(OutLine {
                level: indents.len(),
                content: Content::Blank,
                ends_open: false,
                starts_close: false,
            });
            continue;
        };
        let level = indent_line(line, &mut indents);
        let top = ctx.last().copied();
        let in_body = matches!(top, None | Some(Ctx::Block));

        let header = if in_body { block_header(line) } else { None };
        let content = if let Some(open) = header {
            // Block header: single spaces between type, labels and `{`.
            let (head, rest) = line.split_at(open.saturating_add(1).min(line.len()));
            let mut s = head.iter().map(|t| t.text).collect::<Vec<_>>().join(" ");
            if let Some(next) = rest.first() {
                s.push_str(spacing(next.ws));
                s.push_str(&join(rest));
            }
            Content::Text(s)
        } else if in_body || top == Some(Ctx::Object) {
            assignment(line, in_body).unwrap_or_else(|| Content::Text(join(line)))
        } else {
            Content::Text(join(line))
        };

        for (n, t) in line.iter().enumerate() {
            match t.kind {
                Kind::Open => ctx.push(match t.text {
                    "{" if header == Some(n) => Ctx::Block,
                    "{" => Ctx::Object,
                    "[" => Ctx::Tuple,
                    _ => Ctx::Paren,
                }),
                Kind::Close => {
                    ctx.pop();
                }
                _ => {}
            }
        }

        let ends_open =
            line.iter().rev().find(|t| !t.is_comment()).is_some_and(|t| t.kind == Kind::Open);
        lines.push(OutLine { level, content, ends_open, starts_close: first.kind == Kind::Close });
    }

    align(&mut lines);
    render(&lines)
}

/// The indentation level of a line, updating the indent stack with the line's net bracket
/// change. This is `hclwrite`'s rule (a line that leaves brackets open adds one level, however
/// many it opened), except for where lines that close brackets go: one starting with a closing
/// bracket is placed at the level of the line that opened it, so `}, {` between list elements
/// lines up with `[{`; one that closes brackets only after some content (`  b)`) stays at the
/// level of that content.
fn indent_line(line: &[Tok<'_>], indents: &mut Vec<usize>) -> usize {
    let net: isize = line
        .iter()
        .map(|t| match t.kind {
            Kind::Open => 1,
            Kind::Close => -1,
            _ => 0,
        })
        .sum();
    let leading = line.iter().take_while(|t| t.kind == Kind::Close).count();

    let mut level = indents.len();
    let mut closing = leading;
    for &opened in indents.iter().rev() {
        if closing == 0 {
            break;
        }
        closing = closing.saturating_sub(opened);
        level -= 1;
    }

    if net > 0 {
        indents.push(net.unsigned_abs());
    } else if net < 0 {
        let mut closed = net.unsigned_abs();
        while closed > 0 {
            let Some(top) = indents.last_mut() else { break };
            if closed >= *top {
                closed -= *top;
                indents.pop();
            } else {
                *top -= closed;
                closed = 0;
            }
        }
    }
    level
}

/// If the line opens a block (`type "label" label {`), the index of its `{`.
fn block_header(line: &[Tok<'_>]) -> Option<usize> {
    if line.first()?.kind != Kind::Ident {
        return None;
    }
    for (n, t) in line.iter().enumerate().skip(1) {
        match t.kind {
            Kind::Ident => {}
            Kind::Str if !t.is_multiline() => {}
            Kind::Open if t.text == "{" => return Some(n),
            _ => return None,
        }
    }
    None
}

/// Splits `key = value` at the first `=` outside brackets. In a body the key must be a single
/// identifier (an attribute); in an object it may be any expression without comments.
fn assignment(line: &[Tok<'_>], in_body: bool) -> Option<Content> {
    let mut depth = 0isize;
    let mut eq = None;
    for (n, t) in line.iter().enumerate() {
        match t.kind {
            Kind::Open => depth += 1,
            Kind::Close => depth -= 1,
            Kind::Eq if depth == 0 => {
                eq = Some(n);
                break;
            }
            _ => {}
        }
        if depth < 0 {
            return None;
        }
    }
    let eq = eq?;
    let (key, rest) = line.split_at(eq);
    let value = rest.get(1..).unwrap_or(&[]);
    if key.is_empty() || key.iter().any(|t| t.is_comment() || t.is_multiline()) {
        return None;
    }
    if in_body && !matches!(key, [k] if k.kind == Kind::Ident) {
        return None;
    }

    // Single-line: nothing spans lines and every bracket opened in the value closes in it.
    let mut depth = 0isize;
    let mut single = !value.is_empty();
    for t in value {
        match t.kind {
            Kind::Open => depth += 1,
            Kind::Close => depth -= 1,
            _ if t.is_multiline() => single = false,
            _ => {}
        }
        if depth < 0 {
            single = false;
        }
    }
    Some(Content::Assign { key: join(key), value: join(value), align: single && depth == 0 })
}

/// Pads keys so that the `=` of each run of consecutive single-line assignments at the same
/// level line up. Anything else (blank, comment, block, multi-line value) ends a run.
fn align(lines: &mut [OutLine]) {
    let alignable = |l: &OutLine| matches!(l.content, Content::Assign { align: true, .. });
    let runs = lines.chunk_by_mut(|a, b| alignable(a) && alignable(b) && a.level == b.level);
    for run in runs {
        let width = |l: &OutLine| match &l.content {
            Content::Assign { key, .. } => key.chars().count(),
            _ => 0,
        };
        let max = run.iter().map(width).max().unwrap_or(0);
        for l in run.iter_mut() {
            let pad = max.saturating_sub(width(l));
            if let Content::Assign { key, .. } = &mut l.content {
                key.extend(std::iter::repeat_n(' ', pad));
            }
        }
    }
}

fn render(lines: &[OutLine]) -> String {
    let mut out = String::new();
    let mut prev: Option<&OutLine> = None;
    let mut blank = false;
    for l in lines {
        let text = match &l.content {
            Content::Blank => {
                // Keep at most one blank line, and none at the start or after an opener.
                blank = prev.is_some_and(|p| !p.ends_open);
                continue;
            }
            Content::Text(s) => Cow::Borrowed(s.as_str()),
            Content::Assign { key, value, .. } if value.is_empty() => {
                Cow::Owned(format!("{key} ="))
            }
            Content::Assign { key, value, .. } => Cow::Owned(format!("{key} = {value}")),
        };
        if blank && !l.starts_close {
            out.push('\n');
        }
        blank = false;
        for _ in 0..l.level {
            out.push_str("  ");
        }
        out.push_str(&text);
        out.push('\n');
        prev = Some(l);
    }
    out
}

#[cfg(test)]
mod bom_tests {
    use super::format_source;

    #[test]
    fn a_byte_order_mark_is_kept_and_the_rest_formatted() {
        let out = format_source("\u{feff}a=1\n").unwrap();
        assert_eq!(out, "\u{feff}a = 1\n");
        assert_eq!(format_source(&out).unwrap(), out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Formats, then checks every promise: parses to the same structure, idempotent, same
    /// comments, one final newline, no runs of blank lines, no trailing whitespace outside
    /// heredocs.
    fn check(src: &str) -> String {
        let out = format_source(src).unwrap_or_else(|e| panic!("{e}\n--- input:\n{src}"));
        assert_eq!(
            hcl::parse(src).expect("input parses"),
            hcl::parse(&out).expect("output parses"),
            "structure changed:\n{out}"
        );
        let again = format_source(&out).expect("output formats");
        assert_eq!(out, again, "not idempotent");
        assert_eq!(comments(src), comments(&out), "comments changed:\n{out}");
        assert!(out.is_empty() || (out.ends_with('\n') && !out.ends_with("\n\n")));
        if !src.contains("<<") {
            assert!(!out.contains("\n\n\n"), "blank lines not collapsed:\n{out}");
            for line in out.lines() {
                assert_eq!(line, line.trim_end(), "trailing whitespace:\n{out}");
            }
        }
        out
    }

    /// The comments of a text, trimmed, in order.
    fn comments(src: &str) -> Vec<String> {
        lex(src).iter().filter(|t| t.is_comment()).map(|t| t.render().trim().to_string()).collect()
    }

    #[test]
    fn aligns_equals_in_runs() {
        let src = "a = 1\nlonger_name = 2\n\nx=3\nyy   =    4\n";
        assert_eq!(check(src), "a           = 1\nlonger_name = 2\n\nx  = 3\nyy = 4\n");
    }

    #[test]
    fn runs_broken_by_comments_blocks_and_multiline_values() {
        let src = r#"
resource "x" "y" {
  a = 1
  bbb = 2
  # note
  cc = 3
  d = 4
  tags = {
    Name = "n"
    Environment = "prod"
  }
  e = 5
  nested {
    f = 6
  }
  gg = 7
}
"#;
        let want = r#"resource "x" "y" {
  a   = 1
  bbb = 2
  # note
  cc = 3
  d  = 4
  tags = {
    Name        = "n"
    Environment = "prod"
  }
  e = 5
  nested {
    f = 6
  }
  gg = 7
}
"#;
        assert_eq!(check(src), want);
    }

    #[test]
    fn reindents_nesting_and_normalises_headers() {
        let src = "resource   \"a\"    \"b\"{\n\tcount=2\n        lifecycle {\nignore_changes = [\ntags,\n]\n    }\n}\n";
        let want = "resource \"a\" \"b\" {\n  count = 2\n  lifecycle {\n    ignore_changes = [\n      tags,\n    ]\n  }\n}\n";
        assert_eq!(check(src), want);
    }

    #[test]
    fn objects_in_lists_line_up_with_their_opener() {
        let src = "x = [{\na = 1\nbb = 2\n}, {\nc = 3\n}]\n";
        let want = "x = [{\n  a  = 1\n  bb = 2\n}, {\n  c = 3\n}]\n";
        assert_eq!(check(src), want);
    }

    #[test]
    fn comments_kept_and_reindented() {
        let src = "# top\n// slashes\nlocals {\n      # inside\n  a = 1 # trailing   \n/* block\n   comment */\n  b = 2 // end\n}\n";
        let want = "# top\n// slashes\nlocals {\n  # inside\n  a = 1 # trailing\n  /* block\n   comment */\n  b = 2 // end\n}\n";
        assert_eq!(check(src), want);
    }

    #[test]
    fn heredoc_bodies_untouched() {
        let src = "locals {\n      script = <<EOF\n  #!/bin/sh   \n\n\n\techo ${var.x}   \n  EOF\n    other = <<-EOT\n        indented\n          more\n        EOT\n}\n";
        let out = check(src);
        assert!(out.contains("<<EOF\n  #!/bin/sh   \n\n\n\techo ${var.x}   \n  EOF\n"));
        assert!(out.contains("<<-EOT\n        indented\n          more\n        EOT\n"));
        assert!(out.starts_with("locals {\n  script = <<EOF\n"));
        assert!(out.contains("\n  other = <<-EOT\n"));
    }

    #[test]
    fn empty_heredocs_follow_the_parser() {
        // hcl-edit ends an empty heredoc at the next line only when no later line holds the
        // marker; otherwise everything up to that later marker is the heredoc's body.
        assert_eq!(check("a=<<EOF\nEOF\nb=1\n"), "a = <<EOF\nEOF\nb = 1\n");
        let swallowed = "a = <<EOF\nEOF\n\n  b = <<EOF\n x\nEOF\n";
        assert_eq!(check(swallowed), swallowed);
        let prefix = "a = <<EOF\nEOF\nb = <<EOFTF\ncontent\nEOFTF\n";
        assert_eq!(check(prefix), prefix);
    }

    #[test]
    fn blank_lines_collapsed_and_trimmed() {
        let src = "\n\n\nvariable \"a\" {\n\n\n  type = string   \n\n\n\n  default = \"x\"\n\n}\n\n\n\nvariable \"b\" {}\n\n\n";
        let want =
            "variable \"a\" {\n  type = string\n\n  default = \"x\"\n}\n\nvariable \"b\" {}\n";
        assert_eq!(check(src), want);
    }

    #[test]
    fn quotes_inside_directive_bodies_follow_the_parser() {
        // hcl-edit reads the body of a `%{ if }` inside a quoted string as a plain template, so
        // a bare `"` there does not end the string.
        let src =
            "x=\"%{ if true }a\"b%{ endif }\"\ny=\"%{~for v in l~}\\\"${v}\\\"%{~ endfor ~}\"\n";
        assert_eq!(
            check(src),
            "x = \"%{ if true }a\"b%{ endif }\"\ny = \"%{~for v in l~}\\\"${v}\\\"%{~ endfor ~}\"\n"
        );
    }

    #[test]
    fn crlf_and_no_final_newline() {
        assert_eq!(check("a=1\r\nbb=2"), "a  = 1\nbb = 2\n");
    }

    #[test]
    fn empty_and_comment_only_files() {
        assert_eq!(check(""), "");
        assert_eq!(check("\n\n  \n"), "");
        assert_eq!(
            check("  # just a comment\n\n\n// another\n"),
            "# just a comment\n\n// another\n"
        );
        assert_eq!(check("/* only */"), "/* only */\n");
    }

    #[test]
    fn malformed_input_is_refused() {
        let cases = [
            ("resource \"a\" \"b\" {\n  x = 1\n", "unclosed brace"),
            ("x = \"abc\n", "unterminated string"),
            ("x = 1\n}\n", "stray brace"),
            ("x = [1, 2\n", "unclosed bracket"),
            ("x = <<EOF\nbody\n", "unterminated heredoc"),
            ("= 1\n", "missing key"),
            ("a = 1 +\n", "dangling operator"),
            ("x = \"ü\n\u{1F600}", "unicode then end of input"),
            ("x = /* open", "unterminated comment"),
            ("x = \"%{ if true }a\"", "unterminated directive body"),
        ];
        for (src, what) in cases {
            let err = format_source(src).expect_err(what);
            assert!(err.line >= 1 && err.column >= 1, "{what}: {err:?}");
            assert!(err.offset <= src.len(), "{what}: {err:?}");
            assert!(!err.message.is_empty(), "{what}");
        }
        let err = format_source("a = 1\nb = \n").expect_err("missing value");
        assert_eq!(err.line, 2, "{err:?}");
    }

    #[test]
    fn error_locates_the_problem() {
        let src = "locals {\n  a = 1\n  b = \"ü\" +\n}\n";
        let err = format_source(src).expect_err("dangling operator");
        // The line break after `+`: the column counts characters, the offset bytes.
        assert_eq!((err.line, err.column), (3, 12), "{err:?}");
        assert_eq!(err.offset, src.find("+\n").map_or(0, |i| i + 1), "{err:?}");
        assert!(err.to_string().starts_with("3:12: "), "{err}");
        let diag = err.to_diagnostic(FileId(0));
        assert!(diag.is_error());
        assert_eq!(diag.span.clone().map(|s| s.range), Some(err.offset..err.offset));
    }

    #[test]
    fn never_panics_on_prefixes_of_valid_input() {
        // Every prefix of a realistic file (cut at character boundaries) either formats to a
        // fixed point or is refused.
        let src = SAMPLES.join("\n");
        for (i, _) in src.char_indices() {
            let prefix = &src[..i];
            if let Ok(out) = format_source(prefix) {
                assert_eq!(format_source(&out).as_ref(), Ok(&out));
            }
        }
    }

    #[test]
    fn random_edits_never_panic_and_keep_promises() {
        // Deterministic xorshift, so a failure reproduces. Each case deletes, duplicates or
        // inserts a few characters (brackets, quotes, newlines, tabs, comment and heredoc
        // starters) into a sample; whatever comes out must satisfy every promise.
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        let mut next = move |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        let inserts = [
            "{",
            "}",
            "[",
            "]",
            "(",
            ")",
            "\"",
            "\n",
            "\n\n",
            "\t",
            " ",
            "#",
            "//",
            "/*",
            "*/",
            "=",
            "==",
            "${",
            "%{",
            "%{ if x }",
            "%{ endif }",
            "%{ for a in b }",
            "%{ endfor }",
            "\\",
            ":",
            "<<-EOF\n",
            "  EOF\n",
            "$${",
            "~}",
            "\"${",
            "}\"",
            "<<EOF\n",
            "\nEOF\n",
            "\r\n",
            "ü",
            "🚀",
            ",",
            "a = 1\n",
        ];
        let mut formatted = 0;
        for _ in 0..3000 {
            let mut text: Vec<char> = SAMPLES[next(SAMPLES.len())].chars().collect();
            for _ in 0..=next(3) {
                let at = next(text.len() + 1);
                match next(3) {
                    0 if at < text.len() => {
                        text.remove(at);
                    }
                    1 if at < text.len() => {
                        let c = text[at];
                        text.insert(at, c);
                    }
                    _ => {
                        let ins = inserts[next(inserts.len())];
                        for (k, c) in ins.chars().enumerate() {
                            text.insert(at + k, c);
                        }
                    }
                }
            }
            let src: String = text.into_iter().collect();
            match format_source(&src) {
                Ok(out) => {
                    assert_eq!(format_source(&out).as_ref(), Ok(&out), "not idempotent:\n{src}");
                    assert_eq!(comments(&src), comments(&out));
                    formatted += 1;
                }
                // A refusal must come from the parser, not from a failed self-check.
                Err(e) => assert!(!e.message.starts_with("internal"), "{e}\n{src}"),
            }
        }
        // The edits must not all be fatal, or this would test nothing but the parser.
        assert!(formatted > 500, "only {formatted} edited inputs parsed");
    }

    #[test]
    fn samples_keep_meaning_and_are_idempotent() {
        assert!(SAMPLES.len() >= 15);
        for src in SAMPLES {
            check(src);
        }
    }

    #[test]
    fn samples_already_canonical_except_alignment() {
        // The samples are written in canonical layout apart from `=` alignment; formatting
        // must not move anything else.
        for src in SAMPLES {
            let out = check(src);
            let squash = |s: &str| -> Vec<String> {
                s.lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect()
            };
            assert_eq!(squash(src), squash(&out), "{out}");
            let indents = |s: &str| -> Vec<usize> {
                s.lines().map(|l| l.len() - l.trim_start().len()).collect()
            };
            assert_eq!(indents(src), indents(&out), "{out}");
        }
    }

    #[test]
    fn samples_restored_from_mangled_indentation() {
        // Squash every line's indentation to a tab and add trailing spaces: formatting must
        // give back the same result as for the tidy sample. (Skips samples whose lines inside
        // heredocs, block comments or multi-line strings are content.)
        for src in SAMPLES {
            if src.contains("<<") || src.contains("/*") || src.contains("${\n") {
                continue;
            }
            let mangled: String =
                src.lines().map(|l| format!("\t{}   \n", l.trim_start())).collect();
            assert_eq!(check(&mangled), check(src));
        }
    }

    const SAMPLES: &[&str] = &[
        // 0: resource with nested blocks and a dynamic block.
        r#"resource "aws_security_group" "web" {
  name = "web"
  description = "Web traffic"
  vpc_id = var.vpc_id

  ingress {
    from_port = 443
    to_port = 443
    protocol = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }

  dynamic "egress" {
    for_each = var.egress_rules
    content {
      from_port = egress.value.from
      to_port = egress.value.to
      protocol = "-1"
    }
  }

  tags = merge(local.common_tags, {
    Name = "web"
  })
}
"#,
        // 1: module call.
        r#"module "vpc" {
  source  = "terraform-aws-modules/vpc/aws"
  version = "~> 5.0"

  name = "main"
  cidr = "10.0.0.0/16"
  azs = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
  private_subnets = [
    "10.0.1.0/24",
    "10.0.2.0/24",
  ]
  enable_nat_gateway = true
}
"#,
        // 2: variable with validation.
        r#"variable "environment" {
  type        = string
  description = "Deployment environment"
  default = "dev"

  validation {
    condition = contains(["dev", "staging", "prod"], var.environment)
    error_message = "Environment must be dev, staging or prod."
  }
}
"#,
        // 3: for-expressions split over lines.
        r#"locals {
  instance_ids = [
    for i in aws_instance.web :
    i.id
    if i.tags["Role"] == "web"
  ]
  by_name = {
    for k, v in var.instances :
    k => v.id...
  }
  names = { for s in var.subnets : s.name => s.cidr }
}
"#,
        // 4: conditionals.
        r#"resource "aws_instance" "app" {
  count = var.enabled ? 1 : 0
  instance_type = var.env == "prod" ? "m5.large" : (
    var.env == "staging" ? "t3.medium" : "t3.micro"
  )
  ami = var.ami != "" ? var.ami : data.aws_ami.default.id
}
"#,
        // 5: templates with directives.
        r#"output "greeting" {
  value = "Hello, %{ if var.name != "" }${var.name}%{ else }stranger%{ endif }!"
}

output "list" {
  value = <<EOT
%{ for ip in var.ips ~}
server ${ip}
%{ endfor ~}
EOT
}
"#,
        // 6: objects in lists.
        r#"locals {
  rules = [
    {
      port = 80
      protocol = "tcp"
    },
    {
      port = 443
      protocol = "tcp"
      description = "TLS"
    },
  ]
  users = [{ name = "a", admin = true }, { name = "b", admin = false }]
}
"#,
        // 7: unicode strings and keys.
        r#"locals {
  greeting = "héllo wörld 🌍"
  translations = {
    "clé" = "värde"
    日本 = "東京"
  }
  emoji = "🚀 launch"
}
"#,
        // 8: provider and terraform blocks.
        r#"terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source = "hashicorp/aws"
      version = ">= 5.0"
    }
    kubernetes = {
      source = "hashicorp/kubernetes"
    }
  }
  backend "s3" {
    bucket = "state"
    key = "prod/terraform.tfstate"
    region = "eu-west-1"
  }
}

provider "aws" {
  region = var.region
  default_tags {
    tags = local.tags
  }
}
"#,
        // 9: comments of every kind.
        r#"# Header comment
// Another header

/* A block
   comment */
resource "null_resource" "x" { # trailing on header
  # inside
  triggers = {
    # about a
    a = "1" // why
    bb = "2" /* inline */
  }
}
"#,
        // 10: heredocs, indented and not.
        r#"resource "aws_iam_policy" "p" {
  name = "p"
  policy = <<-JSON
    {
      "Version": "2012-10-17",
      "Statement": []
    }
    JSON
  user_data = <<EOF
#!/bin/bash
echo "hello ${var.name}"
EOF
}
"#,
        // 11: function calls split over lines.
        r#"locals {
  subnet_cidrs = cidrsubnets(
    var.cidr,
    4,
    4,
    8,
  )
  joined = join(",", concat(
    var.a,
    var.b,
  ))
  value = lookup(var.map, "key", "default")
}
"#,
        // 12: data source, splats and indexes.
        r#"data "aws_availability_zones" "available" {
  state = "available"
}

output "azs" {
  value = data.aws_availability_zones.available.names[*]
  sensitive = false
}

output "first" {
  value = aws_instance.web[0].id
}
"#,
        // 13: kubernetes resource with deep nesting.
        r#"resource "kubernetes_deployment" "app" {
  metadata {
    name = "app"
    labels = {
      app = "app"
    }
  }
  spec {
    replicas = 3
    template {
      metadata {
        labels = {
          app = "app"
        }
      }
      spec {
        container {
          name = "app"
          image = "nginx:1.25"
          port {
            container_port = 80
          }
          env {
            name = "MODE"
            value = "production"
          }
        }
      }
    }
  }
}
"#,
        // 14: object keys of several kinds and a multi-line string interpolation.
        r#"locals {
  m = {
    plain = 1
    "quoted key" = 2
    (var.dynamic_key) = 3
  }
  s = "prefix-${
    var.name
  }-suffix"
  after = true
}
"#,
        // 15: lifecycle, depends_on and preconditions.
        r#"resource "aws_s3_bucket" "b" {
  bucket = "my-bucket"

  lifecycle {
    prevent_destroy = true
    ignore_changes = [tags, tags_all]
    precondition {
      condition = length(var.bucket) > 3
      error_message = "Bucket name too short."
    }
  }

  depends_on = [
    aws_iam_role.r,
  ]
}
"#,
        // 16: one-line blocks and empty blocks.
        r#"locals {}
variable "a" { default = 1 }
variable "b" {
}
"#,
        // 17: arithmetic and logic.
        r#"locals {
  total = (var.a + var.b) * 2 - var.c / 4 % 3
  ok = !var.disabled && (var.x >= 1 || var.y <= 2)
  neg = -1
  float = 1.5e3
}
"#,
    ];
}
