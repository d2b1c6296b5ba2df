//! Diagnostics: errors and warnings that point at source, travel as values, and render at the edge.
//!
//! Every stage returns its result *and* the diagnostics it found, so a user sees all errors of a
//! run at once. A [`Diagnostic`] carries a summary, an optional detail and hint, and the spans it is
//! about (file + byte range); [`Sources`] turns byte offsets into line:column and snippets.
//! Rendering (terminal through miette, or JSON) happens only in the CLI layer.
//!
//! **Invariant:** a diagnostic never carries a sensitive value in its text; callers describe the
//! value (type, address) instead of printing it.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

/// Index of a file in [`Sources`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId(pub u32);

/// A range of bytes in one source file.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Span {
    pub file: FileId,
    pub range: Range<usize>,
}

impl Span {
    pub fn new(file: FileId, range: Range<usize>) -> Span {
        Span { file, range }
    }
}

/// One loaded source file.
#[derive(Debug)]
pub struct SourceFile {
    pub path: PathBuf,
    /// The path as shown to users (relative to the working directory when possible).
    pub name: String,
    pub text: Arc<str>,
    line_starts: Vec<usize>,
}

/// Every source file loaded in a run, so that spans can be turned into locations and snippets.
#[derive(Debug, Default)]
pub struct Sources {
    files: Vec<SourceFile>,
}

impl Sources {
    pub fn add(&mut self, path: &Path, text: impl Into<Arc<str>>) -> FileId {
        let text: Arc<str> = text.into();
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        let name = display_path(path);
        self.files.push(SourceFile { path: path.to_path_buf(), name, text, line_starts });
        FileId(self.files.len() as u32 - 1)
    }

    pub fn get(&self, id: FileId) -> &SourceFile {
        &self.files[id.0 as usize]
    }

    pub fn files(&self) -> impl Iterator<Item = (FileId, &SourceFile)> {
        self.files.iter().enumerate().map(|(i, f)| (FileId(i as u32), f))
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, file: FileId, offset: usize) -> (usize, usize) {
        let f = self.get(file);
        let offset = offset.min(f.text.len());
        let line = f.line_starts.partition_point(|&s| s <= offset).max(1) - 1;
        let start = f.line_starts[line];
        let col = f.text.get(start..offset).map(|s| s.chars().count()).unwrap_or(offset - start);
        (line + 1, col + 1)
    }

    /// `file:line:column` of a span's start.
    pub fn location(&self, span: &Span) -> String {
        let (l, c) = self.line_col(span.file, span.range.start);
        format!("{}:{}:{}", self.get(span.file).name, l, c)
    }
}

/// The first character boundary at or after `offset` (clamped to the text). hcl-edit can report
/// a syntax error's offset inside a multi-byte character; slicing there panicked.
pub fn char_boundary_at_or_after(text: &str, offset: usize) -> usize {
    let mut o = offset.min(text.len());
    while !text.is_char_boundary(o) {
        o += 1;
    }
    o
}

fn display_path(path: &Path) -> String {
    let cwd = std::env::current_dir().ok();
    let rel = cwd.as_deref().and_then(|cwd| path.strip_prefix(cwd).ok());
    rel.unwrap_or(path).display().to_string()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// A spanned note attached to a diagnostic (e.g. one step of a dependency cycle).
#[derive(Clone, Debug, PartialEq)]
pub struct Label {
    pub span: Span,
    pub message: String,
}

/// An error or warning about the user's input. Boxed: diagnostics travel in `Err` on every
/// evaluation path, and a thin error keeps the hot `Ok` path small.
#[derive(Clone, Debug, PartialEq)]
pub struct Diagnostic(Box<DiagnosticData>);

impl std::ops::Deref for Diagnostic {
    type Target = DiagnosticData;
    fn deref(&self) -> &DiagnosticData {
        &self.0
    }
}

impl std::ops::DerefMut for Diagnostic {
    fn deref_mut(&mut self) -> &mut DiagnosticData {
        &mut self.0
    }
}

/// The content of a [`Diagnostic`].
#[derive(Clone, Debug, PartialEq)]
pub struct DiagnosticData {
    pub severity: Severity,
    pub summary: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
    /// The primary location.
    pub span: Option<Span>,
    /// Further locations, each with its own message.
    pub labels: Vec<Label>,
}

impl Diagnostic {
    pub fn error(summary: impl Into<String>) -> Diagnostic {
        Diagnostic(Box::new(DiagnosticData {
            severity: Severity::Error,
            summary: summary.into(),
            detail: None,
            hint: None,
            span: None,
            labels: Vec::new(),
        }))
    }

    pub fn warning(summary: impl Into<String>) -> Diagnostic {
        let mut d = Diagnostic::error(summary);
        d.severity = Severity::Warning;
        d
    }

    pub fn at(mut self, span: Span) -> Diagnostic {
        self.span = Some(span);
        self
    }

    pub fn at_opt(mut self, span: Option<Span>) -> Diagnostic {
        if self.span.is_none() {
            self.span = span;
        }
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Diagnostic {
        self.detail = Some(detail.into());
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Diagnostic {
        self.hint = Some(hint.into());
        self
    }

    pub fn label(mut self, span: Span, message: impl Into<String>) -> Diagnostic {
        self.labels.push(Label { span, message: message.into() });
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.summary)?;
        if let Some(d) = &self.detail {
            write!(f, ": {d}")?;
        }
        Ok(())
    }
}

/// A list of diagnostics gathered by a stage.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }

    pub fn extend(&mut self, other: Diagnostics) {
        self.0.extend(other.0);
    }

    pub fn has_errors(&self) -> bool {
        self.0.iter().any(Diagnostic::is_error)
    }

    pub fn error_count(&self) -> usize {
        self.0.iter().filter(|d| d.is_error()).count()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Drops repeats of the same message at the same place, keeping the first.
    pub fn dedup(&mut self) {
        let mut seen = std::collections::HashSet::new();
        self.0.retain(|d| {
            seen.insert((d.summary.clone(), d.span.as_ref().map(|s| (s.file, s.range.clone()))))
        });
    }

    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter()
    }
}

impl From<Vec<Diagnostic>> for Diagnostics {
    fn from(v: Vec<Diagnostic>) -> Diagnostics {
        Diagnostics(v)
    }
}

/// The closest candidate to `name` (edit distance), for "did you mean …?" hints.
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(name, c), c))
        .filter(|(d, c)| *d <= (name.len().max(c.len()) / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

// ---------------------------------------------------------------------------------------------
// JSON form.

#[derive(Serialize)]
struct JsonPos {
    line: usize,
    column: usize,
    byte: usize,
}

#[derive(Serialize)]
struct JsonRange {
    filename: String,
    start: JsonPos,
    end: JsonPos,
}

#[derive(Serialize)]
struct JsonDiagnostic<'a> {
    severity: Severity,
    summary: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hint: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    range: Option<JsonRange>,
    #[serde(skip_serializing_if = "Option::is_none")]
    snippet: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    labels: Vec<JsonLabel<'a>>,
}

#[derive(Serialize)]
struct JsonLabel<'a> {
    message: &'a str,
    range: JsonRange,
}

fn json_range(sources: &Sources, span: &Span) -> JsonRange {
    let (sl, sc) = sources.line_col(span.file, span.range.start);
    let (el, ec) = sources.line_col(span.file, span.range.end);
    JsonRange {
        filename: sources.get(span.file).name.clone(),
        start: JsonPos { line: sl, column: sc, byte: span.range.start },
        end: JsonPos { line: el, column: ec, byte: span.range.end },
    }
}

/// The diagnostic as a JSON object (the `--json` form, documented in docs/json-output.md).
pub fn to_json(d: &Diagnostic, sources: &Sources) -> serde_json::Value {
    let snippet = d.span.as_ref().map(|s| {
        let f = sources.get(s.file);
        let (line, _) = sources.line_col(s.file, s.range.start);
        f.text.lines().nth(line - 1).unwrap_or("").to_string()
    });
    let j = JsonDiagnostic {
        severity: d.severity,
        summary: &d.summary,
        detail: d.detail.as_deref(),
        hint: d.hint.as_deref(),
        range: d.span.as_ref().map(|s| json_range(sources, s)),
        snippet,
        labels: d
            .labels
            .iter()
            .map(|l| JsonLabel { message: &l.message, range: json_range(sources, &l.span) })
            .collect(),
    };
    serde_json::to_value(j).unwrap_or(serde_json::Value::Null)
}

// ---------------------------------------------------------------------------------------------
// Terminal form, through miette.

/// A diagnostic paired with its source, in the shape miette renders.
#[derive(Debug)]
struct Rendered {
    summary: String,
    severity: miette::Severity,
    help: Option<String>,
    source: Option<miette::NamedSource<String>>,
    labels: Vec<miette::LabeledSpan>,
    related: Vec<Rendered>,
}

impl fmt::Display for Rendered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.summary)
    }
}

impl std::error::Error for Rendered {}

impl miette::Diagnostic for Rendered {
    fn severity(&self) -> Option<miette::Severity> {
        Some(self.severity)
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help.as_ref().map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|s| s as &dyn miette::SourceCode)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        if self.labels.is_empty() { None } else { Some(Box::new(self.labels.iter().cloned())) }
    }
    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn miette::Diagnostic> + 'a>> {
        if self.related.is_empty() {
            None
        } else {
            Some(Box::new(self.related.iter().map(|r| r as &dyn miette::Diagnostic)))
        }
    }
}

fn rendered(d: &Diagnostic, sources: &Sources) -> Rendered {
    let mut summary = d.summary.clone();
    if let Some(span) = &d.span {
        summary = format!("{}: {}", sources.location(span), summary);
    }
    let mut help = d.hint.clone();
    if let Some(detail) = &d.detail {
        help = Some(match help {
            Some(h) => format!("{detail}\n{h}"),
            None => detail.clone(),
        });
    }
    let mut related = Vec::new();
    let (source, labels) = match &d.span {
        Some(span) => {
            let f = sources.get(span.file);
            // The summary is already the report's title; the primary underline needs no text.
            let mut labels = vec![miette::LabeledSpan::new_primary_with_span(None, clamp(span, f))];
            for l in &d.labels {
                if l.span.file == span.file {
                    labels.push(miette::LabeledSpan::new_with_span(
                        Some(l.message.clone()),
                        clamp(&l.span, sources.get(l.span.file)),
                    ));
                } else {
                    related.push(rendered(
                        &Diagnostic::warning(l.message.clone()).at(l.span.clone()),
                        sources,
                    ));
                }
            }
            (Some(miette::NamedSource::new(f.name.clone(), f.text.to_string())), labels)
        }
        None => (None, Vec::new()),
    };
    Rendered {
        summary,
        severity: match d.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        },
        help,
        source,
        labels,
        related,
    }
}

fn clamp(span: &Span, f: &SourceFile) -> miette::SourceSpan {
    let start = span.range.start.min(f.text.len());
    let end = span.range.end.clamp(start, f.text.len());
    (start, end - start).into()
}

/// Renders diagnostics for a terminal (colour when `colour`), one after another.
pub fn render_terminal(diags: &Diagnostics, sources: &Sources, colour: bool) -> String {
    let theme = if colour {
        miette::GraphicalTheme::unicode()
    } else {
        miette::GraphicalTheme::unicode_nocolor()
    };
    let handler = miette::GraphicalReportHandler::new_themed(theme).with_context_lines(1);
    let mut out = String::new();
    for d in diags.iter() {
        let r = rendered(d, sources);
        if handler.render_report(&mut out, &r).is_err() {
            out.push_str(&format!("{r}\n"));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_characters_not_bytes() {
        let mut s = Sources::default();
        let id = s.add(Path::new("a.hcl"), "x = 1\nnäme = 2\n");
        assert_eq!(s.line_col(id, 0), (1, 1));
        assert_eq!(s.line_col(id, 6), (2, 1));
        // "nä" is 3 bytes; the column after it is the 3rd character.
        assert_eq!(s.line_col(id, 9), (2, 3));
    }

    #[test]
    fn closest_suggests_near_names_only() {
        let names = ["node_count", "region", "cluster_name"];
        assert_eq!(closest("node_cuont", names), Some("node_count"));
        assert_eq!(closest("zzzzzzzz", names), None);
    }
}
