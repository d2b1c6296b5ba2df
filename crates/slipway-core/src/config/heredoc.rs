//! Empty heredocs, made safe for hcl-edit's parser.
//!
//! hcl-edit 0.10 looks for a heredoc's end as "line ending, spaces, delimiter". In an empty
//! heredoc (`<<EOT` followed at once by the line `EOT`) the line ending before the delimiter was
//! already consumed by the opening line, so the parser reads on to the *next* line holding that
//! delimiter: everything in between — whole blocks — became the heredoc's text, and apply
//! exited 0 with those blocks silently gone. Terraform reads the same text as `""`.
//!
//! [`neutralize_empty_heredocs`] rewrites each empty heredoc into the quoted empty string
//! before parsing. **Invariants:** the rewritten text has the same length, the same line
//! breaks and the same bytes everywhere else, so every span, line and column a diagnostic
//! shows stays the user's; only an empty heredoc *in expression position* is rewritten —
//! heredoc openers inside comments, quoted strings and other heredocs' bodies (a shell
//! script's `cat <<EOF` / `EOF` in user-data) are left alone.

use std::borrow::Cow;

/// The text with every empty heredoc replaced by `""` padded with spaces (see the module doc).
pub fn neutralize_empty_heredocs(text: &str) -> Cow<'_, str> {
    let b = text.as_bytes();
    let mut edits: Vec<(usize, usize)> = Vec::new();
    scan_heredocs(b, |start, h| {
        if let Heredoc::Empty { end } = *h {
            edits.push((start, end));
        }
    });
    if edits.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut out = Vec::with_capacity(b.len());
    let mut at = 0;
    for (start, end) in edits {
        out.extend_from_slice(&b[at..start]);
        out.extend_from_slice(b"\"\"");
        // Keep every line break (and so every later line number); blank the rest.
        for &c in &b[start + 2..end] {
            out.push(if c == b'\n' || c == b'\r' { c } else { b' ' });
        }
        at = end;
    }
    out.extend_from_slice(&b[at..]);
    // Only ASCII bytes of an opener and a delimiter line were replaced by ASCII bytes.
    match String::from_utf8(out) {
        Ok(s) => Cow::Owned(s),
        Err(_) => Cow::Borrowed(text),
    }
}

enum Heredoc {
    /// An empty heredoc spanning `start..end` (`end` just after its closing delimiter).
    Empty { end: usize },
    /// A heredoc with a body; scanning resumes at `end`.
    Body { end: usize },
    /// No closing delimiter line before the end of the text.
    Unterminated,
}

/// Whether the text ends inside a heredoc (the console then reads on past blank lines).
pub fn ends_in_open_heredoc(text: &str) -> bool {
    let mut open = false;
    scan_heredocs(text.as_bytes(), |_, h| open |= matches!(h, Heredoc::Unterminated));
    open
}

/// Walks the text as HCL's lexer would for heredocs — skipping comments and quoted strings,
/// where `<<` means nothing — and calls `found` with each heredoc's start and kind, in order.
/// An unterminated heredoc runs to the end of the text, so it is the last one reported.
fn scan_heredocs(b: &[u8], mut found: impl FnMut(usize, &Heredoc)) {
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'#' => i = line_end(b, i),
            b'/' if b.get(i + 1) == Some(&b'/') => i = line_end(b, i),
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i = find(b, i + 2, b"*/").map_or(b.len(), |e| e + 2);
            }
            b'"' => i = skip_quoted(b, i),
            b'<' if b.get(i + 1) == Some(&b'<') => match heredoc_at(b, i) {
                Some(h) => {
                    found(i, &h);
                    match h {
                        Heredoc::Empty { end } | Heredoc::Body { end } => i = end,
                        Heredoc::Unterminated => return,
                    }
                }
                None => i += 2,
            },
            _ => i += 1,
        }
    }
}

/// Recognises `<<IDENT` or `<<-IDENT` and a line ending at `i`, then finds its closing line.
fn heredoc_at(b: &[u8], i: usize) -> Option<Heredoc> {
    let mut j = i + 2;
    if b.get(j) == Some(&b'-') {
        j += 1;
    }
    let id_start = j;
    if !b.get(j).is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_') {
        return None;
    }
    while b.get(j).is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-') {
        j += 1;
    }
    let delim = &b[id_start..j];
    // The opener's line must end right after the identifier.
    let body = match (b.get(j), b.get(j + 1)) {
        (Some(b'\n'), _) => j + 1,
        (Some(b'\r'), Some(b'\n')) => j + 2,
        _ => return None,
    };
    let mut line = body;
    while line < b.len() {
        let mut k = line;
        while b.get(k).is_some_and(|c| *c == b' ' || *c == b'\t') {
            k += 1;
        }
        if b[k..].starts_with(delim) {
            let after = k + delim.len();
            let continues =
                b.get(after).is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-');
            if !continues {
                return Some(if line == body {
                    Heredoc::Empty { end: after }
                } else {
                    Heredoc::Body { end: after }
                });
            }
        }
        line = line_end(b, line) + 1;
    }
    // Unterminated: the parser reports it; nothing to rewrite.
    Some(Heredoc::Unterminated)
}

fn line_end(b: &[u8], i: usize) -> usize {
    find(b, i, b"\n").unwrap_or(b.len())
}

fn find(b: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    b.get(from..)?.windows(needle.len()).position(|w| w == needle).map(|p| p + from)
}

/// Skips a quoted template starting at `i` (its `"`), with escapes and `${…}`/`%{…}` nesting
/// (which may hold quoted strings of their own). Returns the index after the closing quote, or
/// the end of the line when the string is unterminated (the parser reports it).
fn skip_quoted(b: &[u8], i: usize) -> usize {
    let mut j = i + 1;
    let mut depth = 0usize;
    while j < b.len() {
        match b[j] {
            b'\\' => j += 2,
            b'"' if depth == 0 => return j + 1,
            b'"' => j = skip_quoted(b, j),
            b'$' | b'%' if b.get(j + 1) == Some(&b'{') => {
                depth += 1;
                j += 2;
            }
            b'{' if depth > 0 => {
                depth += 1;
                j += 1;
            }
            b'}' if depth > 0 => {
                depth -= 1;
                j += 1;
            }
            b'\n' if depth == 0 => return j,
            _ => j += 1,
        }
    }
    b.len()
}

#[cfg(test)]
mod tests {
    use super::neutralize_empty_heredocs as n;

    #[test]
    fn empty_heredoc_becomes_an_empty_string_of_the_same_shape() {
        let src = "a = <<EOT\nEOT\nb = 1\n";
        let out = n(src);
        assert_eq!(out, "a = \"\"   \n   \nb = 1\n");
        assert_eq!(out.len(), src.len());
        let src = "a = <<-EOT\r\n    EOT\r\nb = 1\r\n";
        let out = n(src);
        assert_eq!(out.len(), src.len());
        assert!(out.starts_with("a = \"\""), "{out:?}");
        assert_eq!(out.matches('\n').count(), src.matches('\n').count());
    }

    #[test]
    fn heredoc_openers_outside_expressions_are_left_alone() {
        for src in [
            // A shell heredoc inside a heredoc body.
            "a = <<A\ncat <<EOF\nEOF\nA\n",
            "# <<EOT\nEOT\n",
            "// <<EOT\nEOT\n",
            "/* <<EOT\nEOT */\n",
            "a = \"<<EOT\"\nEOT = 1\n",
            "a = \"${\"<<EOT\"}\"\nEOT = 1\n",
            // Not an empty heredoc: the delimiter is a prefix of a longer word.
            "a = <<EOT\nEOTX\nEOT\n",
            // Unterminated.
            "a = <<EOT\n",
            "a = <<\n",
        ] {
            assert_eq!(n(src), src, "{src:?}");
        }
    }

    #[test]
    fn open_heredocs_are_recognised() {
        use super::ends_in_open_heredoc as open;
        assert!(open("<<EOT\nline\n\n"));
        assert!(!open("<<EOT\nline\nEOT\n"));
        assert!(!open("\"<<EOT\"\n"));
    }

    #[test]
    fn later_empty_heredocs_are_found_after_a_non_empty_one() {
        let src = "a = <<X\nbody\nX\nb = <<Y\nY\n";
        assert_eq!(n(src), "a = <<X\nbody\nX\nb = \"\" \n \n");
    }
}
