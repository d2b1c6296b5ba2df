//! Templates: string templates with interpolations and directives, heredocs laid out as HCL
//! does (strip markers, then the indentation of every line), and `templatefile`.

use super::*;

impl Evaluator<'_> {
    pub(super) fn eval_template(&mut self, t: &Template) -> Result<Value, Diagnostic> {
        let mut out = String::new();
        let mut unknown = false;
        let mut sens = false;
        self.render_template(t, &mut out, &mut unknown, &mut sens, &mut false)?;
        Ok(if unknown { Value::Unknown } else { Value::String(nfc(out)) }.mark_if(sens))
    }

    /// Renders template elements into `out`. `strip_next` asks to trim the leading whitespace of
    /// the next literal (a `~` on the right of the previous interpolation or directive).
    // Long because it is one `match` over every template element kind (literal, interpolation,
    // `if`, `for`), which share the strip-marker and layout state the arms update in turn.
    pub(super) fn render_template(
        &mut self,
        t: &Template,
        out: &mut String,
        unknown: &mut bool,
        sens: &mut bool,
        strip_next: &mut bool,
    ) -> Result<(), Diagnostic> {
        // In a laid-out heredoc the literals' final texts are known and the strip markers
        // already applied; only evaluation remains.
        let layout = self.layout.clone();
        let laid = layout.is_some();
        for el in t.iter() {
            if let Some(text) = layout.as_ref().and_then(|l| l.prefix.get(&elem_key(el))) {
                out.push_str(text);
            }
            match el {
                Element::Literal(s) if laid => {
                    let text = layout.as_ref().and_then(|l| l.lit.get(&elem_key(el)));
                    out.push_str(text.map_or(s.value().as_str(), String::as_str));
                }
                Element::Literal(s) => {
                    let decoded;
                    let mut text: &str = s.value();
                    if self.quoted && self.in_directive > 0 {
                        decoded = decode_escapes(text).map_err(|m| self.err(s, m))?;
                        text = &decoded;
                    }
                    if *strip_next {
                        out.push_str(text.trim_start());
                    } else {
                        out.push_str(text);
                    }
                    *strip_next = false;
                }
                Element::Interpolation(i) => {
                    if !laid {
                        strip_before(out, i.strip);
                    }
                    let v = self.eval(&i.expr)?;
                    self.append_interpolated(v, &i.expr, out, unknown, sens)?;
                    *strip_next = matches!(i.strip, Strip::End | Strip::Both);
                }
                Element::Directive(d) => match &**d {
                    Directive::If(ifd) => {
                        if !laid {
                            strip_before(out, ifd.if_expr.strip);
                        }
                        let c = self.eval(&ifd.if_expr.cond_expr)?;
                        let (c, s) = c.unmark();
                        *sens |= s;
                        *strip_next = matches!(ifd.if_expr.strip, Strip::End | Strip::Both);
                        match c {
                            Value::Unknown => *unknown = true,
                            Value::Bool(b) => {
                                let body = if b {
                                    Some(&ifd.if_expr.template)
                                } else {
                                    ifd.else_expr.as_ref().map(|e| &e.template)
                                };
                                if let Some(body) = body {
                                    self.in_directive += 1;
                                    let r =
                                        self.render_template(body, out, unknown, sens, strip_next);
                                    self.in_directive -= 1;
                                    r?;
                                }
                            }
                            other => {
                                return Err(self.err(
                                    &ifd.if_expr.cond_expr,
                                    format!("%{{ if }} needs a bool, not {}", other.type_name()),
                                ));
                            }
                        }
                        if !laid {
                            strip_before(out, ifd.endif_expr.strip);
                        }
                        *strip_next = matches!(ifd.endif_expr.strip, Strip::End | Strip::Both);
                    }
                    Directive::For(fd) => {
                        let f = &fd.for_expr;
                        if !laid {
                            strip_before(out, f.strip);
                        }
                        let coll = self.eval(&f.collection_expr)?;
                        let (coll, s) = coll.unmark();
                        *sens |= s;
                        let pairs = match coll {
                            Value::Unknown => {
                                *unknown = true;
                                Vec::new()
                            }
                            other => self.iteration_pairs(other, &f.collection_expr)?,
                        };
                        self.in_directive += 1;
                        for (k, v) in pairs {
                            let mark = self.bindings.len();
                            if let Some(kv) = &f.key_var {
                                self.bindings.push((kv.as_str().to_string(), k));
                            }
                            self.bindings.push((f.value_var.as_str().to_string(), v));
                            *strip_next = matches!(f.strip, Strip::End | Strip::Both);
                            let r =
                                self.render_template(&f.template, out, unknown, sens, strip_next);
                            self.bindings.truncate(mark);
                            if r.is_err() {
                                self.in_directive -= 1;
                            }
                            r?;
                            if !laid {
                                strip_before(out, fd.endfor_expr.strip);
                            }
                        }
                        self.in_directive -= 1;
                        *strip_next = matches!(fd.endfor_expr.strip, Strip::End | Strip::Both);
                    }
                },
            }
        }
        if let Some(text) = layout.as_ref().and_then(|l| l.suffix.get(&template_key(t))) {
            out.push_str(text);
        }
        Ok(())
    }

    pub(super) fn append_interpolated(
        &self,
        v: Value,
        e: &Expression,
        out: &mut String,
        unknown: &mut bool,
        sens: &mut bool,
    ) -> Result<(), Diagnostic> {
        let (v, s) = v.unmark_deep();
        *sens |= s;
        if v.contains_unknown() {
            *unknown = true;
            return Ok(());
        }
        match v.to_template_string() {
            Some(text) => {
                out.push_str(&text);
                Ok(())
            }
            None if v.is_null() => Err(self
                .err(e, "cannot interpolate a null value")
                .hint("use `coalesce(x, \"\")` or a conditional to give a default")),
            None => Err(self
                .err(e, format!("cannot interpolate a {} into a string", v.type_name()))
                .hint("use jsonencode(…) or join(…) to turn it into a string")),
        }
    }

    pub(super) fn templatefile(
        &mut self,
        whole: &Expression,
        args: &[&Expression],
    ) -> Result<Value, Diagnostic> {
        if args.len() != 2 {
            return Err(self.err(whole, "templatefile() takes a path and a map of variables"));
        }
        let path = self.eval(args[0])?;
        let vars = self.eval(args[1])?;
        if path.is_unknown() || vars.contains_unknown() {
            return Ok(Value::Unknown);
        }
        let Some(path) = path.as_str().map(str::to_string) else {
            return Err(self.err(args[0], "templatefile() needs a path string"));
        };
        let Some(vars) = vars.as_map().cloned() else {
            return Err(
                self.err(args[1], "templatefile()'s second argument must be a map of variables")
            );
        };
        let full = self.resolver.base_dir().join(&path);
        let text = std::fs::read_to_string(&full).map_err(|e| {
            self.err(args[0], format!("cannot read template {}: {e}", full.display()))
        })?;
        if text.len() > 4 << 20 {
            return Err(self.err(args[0], "template larger than 4 MiB"));
        }
        if crate::eval::nesting_depth(&text) > MAX_DEPTH {
            return Err(self.err(args[0], "template nested too deeply"));
        }
        let template = hcl::edit::parser::parse_template(&text).map_err(|e| {
            self.err(
                args[0],
                format!(
                    "{}:{}:{}: template syntax error: {}",
                    full.display(),
                    e.location().line(),
                    e.location().column(),
                    e.message()
                ),
            )
        })?;
        let mut inner = Evaluator {
            resolver: self.resolver,
            file: self.file,
            bindings: vars.into_iter().collect(),
            depth: self.depth,
            closed_scope: true,
            // A template file is a heredoc-like text: escapes are not decoded.
            quoted: false,
            in_directive: 0,
            layout: None,
        };
        inner.eval_template(&template).map_err(|d| {
            // Spans inside the template point into another file; keep the call site instead.
            Diagnostic::error(format!("in template {}: {}", path, d.summary))
                .at(self.span(whole))
                .hint(d.hint.clone().unwrap_or_default())
        })
    }
}

pub(super) fn elem_key(e: &Element) -> usize {
    e as *const Element as usize
}

pub(super) fn template_key(t: &Template) -> usize {
    t as *const Template as usize
}

/// Whether a `<<-` heredoc needs [`HeredocLayout`]: it has a directive (whose body hcl-edit
/// does not dedent, nor count when it computes the indentation) or a `~` strip marker.
pub(super) fn needs_layout(t: &Template) -> bool {
    t.iter().any(|el| match el {
        Element::Literal(_) => false,
        Element::Interpolation(i) => !matches!(i.strip, Strip::None),
        Element::Directive(_) => true,
    })
}

/// The literal texts of a `<<-` heredoc with directives or strip markers, as HCL computes them. HCL reads a
/// heredoc's literal text one *line* at a time, so a `~` trims only the adjacent line's piece;
/// and it removes the common indentation after the strip markers have been applied, counting
/// only lines that still begin with a literal (a trimmed-away line counts as unindented, and the
/// line after a trimmed line break no longer begins a line). hcl-edit has already removed the
/// indentation (`n` characters from every line), so the pieces are re-indented first and the
/// whole rule is applied to them. Texts are keyed by element (a literal's text), or by the
/// element a piece comes before, or the body it ends (the indentation before a directive).
#[derive(Default)]
pub(super) struct HeredocLayout {
    lit: std::collections::HashMap<usize, String>,
    prefix: std::collections::HashMap<usize, String>,
    suffix: std::collections::HashMap<usize, String>,
}

impl HeredocLayout {
    pub(super) fn new(t: &Template, n: usize) -> HeredocLayout {
        let mut toks = Vec::new();
        let mut line_start = Some(true);
        flatten(t, n, true, &mut toks, &mut line_start);
        // Strip markers, within the adjacent piece only.
        for i in 0..toks.len() {
            if let LayoutTok::Marker { trim_before, trim_after } = toks[i] {
                if trim_before
                    && i > 0
                    && let LayoutTok::Lit { text, .. } = &mut toks[i - 1]
                {
                    text.truncate(text.trim_end().len());
                }
                if trim_after && let Some(LayoutTok::Lit { text, .. }) = toks.get_mut(i + 1) {
                    *text = text.trim_start().to_string();
                }
            }
        }
        // The flush rule: the fewest leading spaces of the pieces that begin a line (blank
        // lines aside; a line that begins with an interpolation or directive counts as 0).
        let mut min = usize::MAX;
        let mut newline = true;
        let mut adjust = Vec::new();
        for (i, tok) in toks.iter().enumerate() {
            if newline {
                newline = false;
                let spaces = match tok {
                    LayoutTok::Lit { text, .. } => {
                        let trimmed = text.trim_start();
                        if trimmed.is_empty() && text.ends_with('\n') {
                            usize::MAX
                        } else {
                            adjust.push(i);
                            text[..text.len() - trimmed.len()].chars().count()
                        }
                    }
                    LayoutTok::Marker { .. } => 0,
                };
                min = min.min(spaces);
            }
            if let LayoutTok::Lit { text, .. } = tok {
                newline = text.ends_with('\n');
            }
        }
        if min != usize::MAX {
            for i in adjust {
                if let LayoutTok::Lit { text, .. } = &mut toks[i] {
                    let cut: usize = text.chars().take(min).map(char::len_utf8).sum();
                    text.drain(..cut);
                }
            }
        }
        let mut layout = HeredocLayout::default();
        for tok in toks {
            if let LayoutTok::Lit { slot, text } = tok {
                let (map, key) = match slot {
                    Slot::Lit(k) => (&mut layout.lit, k),
                    Slot::Prefix(k) => (&mut layout.prefix, k),
                    Slot::Suffix(k) => (&mut layout.suffix, k),
                };
                map.entry(key).or_default().push_str(&text);
            }
        }
        layout
    }
}

#[derive(Clone, Copy)]
pub(super) enum Slot {
    Lit(usize),
    Prefix(usize),
    Suffix(usize),
}

pub(super) enum LayoutTok {
    Lit { slot: Slot, text: String },
    Marker { trim_before: bool, trim_after: bool },
}

/// The token stream HCL would see, in source order, with each literal split into lines. hcl-edit
/// removed `n` characters of indentation from the lines of the *top-level* literals only
/// (directive bodies are left as written), so those lines are re-indented; and where a
/// top-level line begins with a directive or an interpolation, the indentation HCL saw as a
/// literal before it is gone too, so a piece of `n` spaces is restored in a prefix or suffix
/// slot. `line_start` is `Some(top)` at the start of a line, `top` telling whether the line
/// break came from a top-level literal.
pub(super) fn flatten(
    t: &Template,
    n: usize,
    top: bool,
    toks: &mut Vec<LayoutTok>,
    line_start: &mut Option<bool>,
) {
    let indent = " ".repeat(n);
    let marker = |toks: &mut Vec<LayoutTok>, strip: Strip, slot: Slot, at: &mut Option<bool>| {
        if *at == Some(true) {
            toks.push(LayoutTok::Lit { slot, text: indent.clone() });
        }
        *at = None;
        toks.push(LayoutTok::Marker {
            trim_before: matches!(strip, Strip::Start | Strip::Both),
            trim_after: matches!(strip, Strip::End | Strip::Both),
        });
    };
    for el in t.iter() {
        let key = elem_key(el);
        match el {
            Element::Literal(s) => {
                for piece in s.value().split_inclusive('\n') {
                    let text = if top && line_start.is_some() && piece != "\n" {
                        format!("{indent}{piece}")
                    } else {
                        piece.to_string()
                    };
                    *line_start = piece.ends_with('\n').then_some(top);
                    toks.push(LayoutTok::Lit { slot: Slot::Lit(key), text });
                }
                // (An empty literal adds no token: HCL has none there either; where hcl-edit
                // emptied a line's indentation, the marker that follows restores it.)
            }
            Element::Interpolation(i) => {
                marker(toks, i.strip, Slot::Prefix(key), line_start);
            }
            Element::Directive(d) => match &**d {
                Directive::If(i) => {
                    marker(toks, i.if_expr.strip, Slot::Prefix(key), line_start);
                    flatten(&i.if_expr.template, n, false, toks, line_start);
                    let mut last = template_key(&i.if_expr.template);
                    if let Some(e) = &i.else_expr {
                        marker(toks, e.strip, Slot::Suffix(last), line_start);
                        flatten(&e.template, n, false, toks, line_start);
                        last = template_key(&e.template);
                    }
                    marker(toks, i.endif_expr.strip, Slot::Suffix(last), line_start);
                }
                Directive::For(f) => {
                    marker(toks, f.for_expr.strip, Slot::Prefix(key), line_start);
                    flatten(&f.for_expr.template, n, false, toks, line_start);
                    let body = template_key(&f.for_expr.template);
                    marker(toks, f.endfor_expr.strip, Slot::Suffix(body), line_start);
                }
            },
        }
    }
}

pub(super) fn strip_before(out: &mut String, strip: Strip) {
    if matches!(strip, Strip::Start | Strip::Both) {
        let trimmed = out.trim_end().len();
        out.truncate(trimmed);
    }
}
