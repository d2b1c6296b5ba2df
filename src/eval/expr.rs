//! The expression evaluator: hcl-edit's AST → [`Value`], with unknown and sensitive marks.
//!
//! References (`var.x`, `local.y`, `module.m.out`, `aws_instance.web[0].id`, `each.key`, …) are
//! handed to a [`Resolver`], so the evaluator knows nothing about modules, state or providers.
//! Errors are [`Diagnostic`]s pointing at the smallest sub-expression at fault.
//!
//! Mark rules: an operation over an unknown operand is unknown; an operation over a sensitive
//! operand is sensitive; a conditional with a known condition evaluates one branch only.
//! Recursion is bounded ([`MAX_DEPTH`]) so hostile input cannot overflow the stack.

use std::collections::BTreeMap;
use std::path::Path;

use hcl::edit::Span as _;
use hcl::edit::expr::{BinaryOperator, Expression, ObjectKey, TraversalOperator, UnaryOperator};
use hcl::edit::template::{Directive, Element, Strip, Template};

use super::functions::{self, FunctionContext};
use crate::addr::ResourceMode;
use crate::diag::{Diagnostic, FileId, Span, closest};
use crate::value::{Value, format_number};

/// Deepest expression nesting the evaluator follows.
pub const MAX_DEPTH: usize = 256;

/// The first part of a reference: what it names before any attribute or index.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RefRoot {
    Var(String),
    Local(String),
    Module(String),
    Resource {
        mode: ResourceMode,
        rtype: String,
        name: String,
    },
    CountIndex,
    EachKey,
    EachValue,
    Path(String),
    /// `slipway.environment` and friends.
    Slipway(String),
}

impl std::fmt::Display for RefRoot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RefRoot::Var(n) => write!(f, "var.{n}"),
            RefRoot::Local(n) => write!(f, "local.{n}"),
            RefRoot::Module(n) => write!(f, "module.{n}"),
            RefRoot::Resource {
                mode: ResourceMode::Managed,
                rtype,
                name,
            } => write!(f, "{rtype}.{name}"),
            RefRoot::Resource {
                mode: ResourceMode::Data,
                rtype,
                name,
            } => write!(f, "data.{rtype}.{name}"),
            RefRoot::CountIndex => f.write_str("count.index"),
            RefRoot::EachKey => f.write_str("each.key"),
            RefRoot::EachValue => f.write_str("each.value"),
            RefRoot::Path(a) => write!(f, "path.{a}"),
            RefRoot::Slipway(a) => write!(f, "slipway.{a}"),
        }
    }
}

/// Resolves reference roots to values; implemented by the graph walk (and by templatefile's
/// closed scope).
pub trait Resolver {
    /// The value a reference names. `next` is the operator right after the root (an index key
    /// lets a resolver record an instance-level dependency instead of a resource-level one).
    fn resolve(
        &self,
        root: &RefRoot,
        next_index: Option<&Value>,
        span: &Span,
    ) -> Result<Value, Diagnostic>;

    /// `root[key]` (the reference followed by an index), when the resolver can produce it without
    /// building the whole value of `root` first: a resource with many instances, referred to by
    /// one instance's key. It must be exactly what indexing `resolve(root, Some(key))` by `key`
    /// gives, and record the same dependencies. `None` (the default) means "resolve and index".
    fn resolve_indexed(
        &self,
        _root: &RefRoot,
        _key: &Value,
        _span: &Span,
    ) -> Option<Result<Value, Diagnostic>> {
        None
    }

    /// Directory that relative paths in `file()` and `templatefile()` are resolved against.
    fn base_dir(&self) -> &Path;

    /// What the expression of `local.name` says about its type (sets, lists, maps); the
    /// default knows nothing, which makes a local's collections tuples and objects.
    fn shape_of_local(&self, _name: &str, _depth: usize) -> super::types::Shape {
        super::types::Shape::Dyn
    }

    /// The shape of `var.name`'s declared type.
    fn shape_of_variable(&self, _name: &str) -> super::types::Shape {
        super::types::Shape::Dyn
    }
}

/// The shapes a resolver knows, for the type inference of [`super::types`].
struct ResolverShapes<'r>(&'r dyn Resolver);

impl super::types::ShapeScope for ResolverShapes<'_> {
    fn local(&self, name: &str, depth: usize) -> super::types::Shape {
        self.0.shape_of_local(name, depth)
    }
    fn variable(&self, name: &str) -> super::types::Shape {
        self.0.shape_of_variable(name)
    }
}

/// The string in Unicode normal form C, as Terraform keeps every string (so `"cafe\u0301"` and
/// `"café"` are equal). ASCII, the common case, is returned without a scan of tables.
pub fn nfc(s: String) -> String {
    use unicode_normalization::UnicodeNormalization as _;
    if s.is_ascii()
        || unicode_normalization::is_nfc_quick(s.chars())
            == unicode_normalization::IsNormalized::Yes
    {
        return s;
    }
    s.nfc().collect()
}

/// Decodes the backslash escapes of a quoted template's literal (`\n`, `\"`, `\u00e9`, …).
pub fn decode_escapes(s: &str) -> Result<String, String> {
    if !s.contains('\\') {
        return Ok(s.to_string());
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('"') => out.push('"'),
            Some('\\') => out.push('\\'),
            Some(u @ ('u' | 'U')) => {
                let n = if u == 'u' { 4 } else { 8 };
                let hex: String = chars.by_ref().take(n).collect();
                let ch = (hex.len() == n)
                    .then(|| u32::from_str_radix(&hex, 16).ok())
                    .flatten()
                    .and_then(char::from_u32)
                    .ok_or_else(|| format!("invalid escape \\{u}{hex}"))?;
                out.push(ch);
            }
            Some(other) => return Err(format!("invalid escape sequence \\{other}")),
            None => return Err("a backslash at the end of a string".to_string()),
        }
    }
    Ok(out)
}

/// Splits a traversal into its root reference and how many operators that root used.
pub fn split_reference(base: &str, ops: &[&TraversalOperator]) -> Result<(RefRoot, usize), String> {
    let attr = |i: usize| match ops.get(i) {
        Some(TraversalOperator::GetAttr(a)) => Some(a.as_str().to_string()),
        _ => None,
    };
    let need = |i: usize, what: &str| {
        attr(i).ok_or_else(|| format!("`{base}` must be followed by `.{what}`"))
    };
    match base {
        "var" => Ok((RefRoot::Var(need(0, "<variable name>")?), 1)),
        "local" => Ok((RefRoot::Local(need(0, "<local name>")?), 1)),
        "module" => Ok((RefRoot::Module(need(0, "<module name>")?), 1)),
        "data" => {
            let t = need(0, "<type>.<name>")?;
            let n = need(1, "<type>.<name>")?;
            Ok((
                RefRoot::Resource {
                    mode: ResourceMode::Data,
                    rtype: t,
                    name: n,
                },
                2,
            ))
        }
        "count" => match attr(0).as_deref() {
            Some("index") => Ok((RefRoot::CountIndex, 1)),
            _ => Err("the only attribute of `count` is `count.index`".into()),
        },
        "each" => match attr(0).as_deref() {
            Some("key") => Ok((RefRoot::EachKey, 1)),
            Some("value") => Ok((RefRoot::EachValue, 1)),
            _ => Err("`each` has two attributes: `each.key` and `each.value`".into()),
        },
        "path" => match attr(0).as_deref() {
            Some(a @ ("module" | "root" | "cwd")) => Ok((RefRoot::Path(a.to_string()), 1)),
            _ => Err("`path` has attributes module, root and cwd".into()),
        },
        "slipway" | "terraform" => match attr(0).as_deref() {
            Some(a @ ("environment" | "workspace")) => Ok((RefRoot::Slipway(a.to_string()), 1)),
            _ => Err("`slipway` has the attribute `environment`".into()),
        },
        "self" => {
            Err("`self` is only meaningful in provisioners, which slipway does not support".into())
        }
        rtype => {
            let name = attr(0).ok_or_else(|| format!("unknown name `{rtype}`"))?;
            Ok((
                RefRoot::Resource {
                    mode: ResourceMode::Managed,
                    rtype: rtype.to_string(),
                    name,
                },
                1,
            ))
        }
    }
}

/// Names bound by `for` expressions and templatefile, visible to nested expressions.
type Bindings = Vec<(String, Value)>;

/// Evaluates expressions of one file against a resolver.
pub struct Evaluator<'a> {
    pub resolver: &'a dyn Resolver,
    pub file: FileId,
    bindings: Bindings,
    depth: usize,
    /// In a templatefile the only names are the given variables.
    closed_scope: bool,
    /// Rendering a quoted template: hcl-edit decodes the backslash escapes of its top-level
    /// literals but leaves those inside `%{if}`/`%{for}` bodies raw, so they are decoded here.
    quoted: bool,
    /// Nesting of directive bodies being rendered (0: top level of the template).
    in_directive: usize,
    /// The literal texts of the `<<-` heredoc being rendered, when it has strip markers (see
    /// [`HeredocLayout`]); its strip markers are then already applied.
    layout: Option<std::rc::Rc<HeredocLayout>>,
}

impl<'a> Evaluator<'a> {
    pub fn new(resolver: &'a dyn Resolver, file: FileId) -> Evaluator<'a> {
        Evaluator {
            resolver,
            file,
            bindings: Vec::new(),
            depth: 0,
            closed_scope: false,
            quoted: false,
            in_directive: 0,
            layout: None,
        }
    }

    /// Adds a bare name visible to the expressions evaluated next (e.g. a dynamic block iterator).
    pub fn bind(&mut self, name: &str, value: Value) {
        self.bindings.push((name.to_string(), value));
    }

    /// How many names are bound now; pass it to [`Evaluator::unbind_to`] to leave a scope.
    pub fn binding_mark(&self) -> usize {
        self.bindings.len()
    }

    pub fn unbind_to(&mut self, mark: usize) {
        self.bindings.truncate(mark);
    }

    fn span(&self, e: &impl hcl::edit::Span) -> Span {
        Span::new(self.file, e.span().unwrap_or(0..0))
    }

    fn err(&self, e: &impl hcl::edit::Span, msg: impl Into<String>) -> Diagnostic {
        Diagnostic::error(msg).at(self.span(e))
    }

    pub fn eval(&mut self, e: &Expression) -> Result<Value, Diagnostic> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            self.depth -= 1;
            return Err(self.err(e, "expression nested too deeply").hint(format!(
                "slipway follows at most {MAX_DEPTH} levels; split the expression into locals"
            )));
        }
        let r = self.eval_inner(e);
        self.depth -= 1;
        r
    }

    fn eval_inner(&mut self, e: &Expression) -> Result<Value, Diagnostic> {
        match e {
            Expression::Null(_) => Ok(Value::Null),
            Expression::Bool(b) => Ok(Value::Bool(*b.value())),
            Expression::Number(n) => {
                // From the literal's own text when it has one (hcl-edit keeps it for numbers
                // that are not exact integers), so 0.1 is the 512-bit 0.1, not an f64's.
                let text = n
                    .as_repr()
                    .map(|r| r.chars().filter(|c| !c.is_whitespace()).collect::<String>())
                    .filter(|t| !t.is_empty())
                    .unwrap_or_else(|| n.value().to_string());
                match super::number::parse(&text) {
                    Some(v) => Ok(v),
                    None => Err(self
                        .err(e, "number out of range")
                        .hint("numbers must be within about ±10^300000")),
                }
            }
            Expression::String(s) => Ok(Value::String(nfc(s.value().clone()))),
            Expression::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items.iter() {
                    out.push(self.eval(item)?);
                }
                Ok(Value::List(out))
            }
            Expression::Object(obj) => {
                let mut map = BTreeMap::new();
                let mut sensitive_key = false;
                for (k, v) in obj.iter() {
                    let key = match k {
                        ObjectKey::Ident(i) => i.as_str().to_string(),
                        ObjectKey::Expression(ke) => {
                            let kv = self.eval(ke)?;
                            if kv.is_unknown() {
                                // An object with an unknown key is unknown as a whole.
                                return Ok(Value::Unknown.mark_if(kv.is_sensitive()));
                            }
                            sensitive_key |= kv.is_sensitive();
                            match kv.to_template_string() {
                                Some(s) => s,
                                None => {
                                    return Err(self.err(
                                        ke,
                                        format!(
                                            "an object key must be a string, not {}",
                                            kv.type_name()
                                        ),
                                    ));
                                }
                            }
                        }
                    };
                    let val = self.eval(v.expr())?;
                    map.insert(key, val);
                }
                Ok(Value::Map(map).mark_if(sensitive_key))
            }
            Expression::StringTemplate(t) => {
                // A quoted template that is one interpolation and nothing else is that value,
                // with its own type (Terraform: `"${local.n}"` is a number, `"${local.l}"` a list).
                let elems: Vec<&Element> = t.iter().collect();
                if let [Element::Interpolation(i)] = elems.as_slice() {
                    return self.eval(&i.expr);
                }
                // A template nested in an interpolation has its own escapes (decoded by the
                // parser at its top level): save and restore the enclosing template's state.
                let was = (std::mem::replace(&mut self.quoted, true), self.in_directive);
                let layout = self.layout.take();
                self.in_directive = 0;
                let r = self.eval_template(t);
                (self.quoted, self.in_directive) = was;
                self.layout = layout;
                r
            }
            // The parser has already stripped the indentation of `<<-` heredocs (and must not
            // strip that of `<<`); dedenting again here stripped it twice.
            Expression::HeredocTemplate(h) => {
                let was = (
                    std::mem::replace(&mut self.quoted, false),
                    self.in_directive,
                );
                self.in_directive = 0;
                // A `<<-` heredoc with directives or strip markers: HCL removes the
                // indentation of every line, directive bodies included, after applying the
                // strip markers per line; hcl-edit has dedented only the top level.
                let layout = match h.indent() {
                    Some(n) if n > 0 && needs_layout(&h.template) => {
                        Some(std::rc::Rc::new(HeredocLayout::new(&h.template, n)))
                    }
                    _ => None,
                };
                let layout = std::mem::replace(&mut self.layout, layout);
                let r = self.eval_template(&h.template);
                (self.quoted, self.in_directive) = was;
                self.layout = layout;
                r
            }
            Expression::Parenthesis(p) => self.eval(p.inner()),
            Expression::Variable(v) => self.eval_traversal(e, v.as_str(), &[]),
            Expression::Traversal(t) => match &t.expr {
                Expression::Variable(v) => {
                    let ops: Vec<&TraversalOperator> =
                        t.operators.iter().map(|o| o.value()).collect();
                    self.eval_traversal(e, v.as_str(), &ops)
                }
                base => {
                    let v = self.eval(base)?;
                    let ops: Vec<(&TraversalOperator, Span)> = t
                        .operators
                        .iter()
                        .map(|o| (o.value(), self.span(o)))
                        .collect();
                    self.apply_ops(v, &ops)
                }
            },
            Expression::Conditional(c) => {
                let cond = self.eval(&c.cond_expr)?;
                let (cond, sens) = cond.unmark();
                match cond {
                    Value::Unknown => Ok(Value::Unknown.mark_if(sens)),
                    Value::Bool(b) => {
                        let v = self.eval(if b { &c.true_expr } else { &c.false_expr })?;
                        Ok(self.unify_conditional(c, b, v).mark_if(sens))
                    }
                    Value::String(s) if s == "true" || s == "false" => {
                        let branch = if s == "true" {
                            &c.true_expr
                        } else {
                            &c.false_expr
                        };
                        Ok(self.eval(branch)?.mark_if(sens))
                    }
                    other => Err(self
                        .err(
                            &c.cond_expr,
                            format!("a condition must be a bool, not {}", other.type_name()),
                        )
                        .hint("compare explicitly, e.g. `var.count > 0 ? … : …`")),
                }
            }
            Expression::FuncCall(call) => self.eval_call(e, call),
            Expression::UnaryOp(op) => {
                let v = self.eval(&op.expr)?;
                let (v, sens) = v.unmark();
                let out = match (op.operator.value(), v) {
                    (_, Value::Unknown) => Value::Unknown,
                    (UnaryOperator::Neg, v) => match to_number(&v) {
                        Some(n) => Value::Number(-n),
                        None => {
                            return Err(self.err(
                                &op.expr,
                                format!("`-` needs a number, not {}", v.type_name()),
                            ));
                        }
                    },
                    (UnaryOperator::Not, v) => match to_bool(&v) {
                        Some(b) => Value::Bool(!b),
                        None => {
                            return Err(self.err(
                                &op.expr,
                                format!("`!` needs a bool, not {}", v.type_name()),
                            ));
                        }
                    },
                };
                Ok(out.mark_if(sens))
            }
            Expression::BinaryOp(op) => {
                let l = self.eval(&op.lhs_expr)?;
                let r = self.eval(&op.rhs_expr)?;
                self.binary(*op.operator.value(), l, r, &op.lhs_expr, &op.rhs_expr)
            }
            Expression::ForExpr(f) => self.eval_for(f),
        }
    }

    fn binary(
        &self,
        op: BinaryOperator,
        l: Value,
        r: Value,
        le: &Expression,
        re: &Expression,
    ) -> Result<Value, Diagnostic> {
        use BinaryOperator as B;
        let (l, ls) = l.unmark_deep();
        let (r, rs) = r.unmark_deep();
        let sens = ls || rs;
        // Both sides of && and || must be bools (or unknown) before any shortcut: `true || "no"`
        // is a type error in HCL, not `true`.
        if matches!(op, B::And | B::Or) {
            for (v, e) in [(&l, le), (&r, re)] {
                if !matches!(v, Value::Unknown) && to_bool(v).is_none() {
                    return Err(self.err(
                        e,
                        format!("`{}` needs bools, not {}", op.as_str(), v.type_name()),
                    ));
                }
            }
        }
        // `false && unknown` and `true || unknown` are known.
        match (op, &l, &r) {
            (B::And, Value::Bool(false), _) | (B::And, _, Value::Bool(false)) => {
                return Ok(Value::Bool(false).mark_if(sens));
            }
            (B::Or, Value::Bool(true), _) | (B::Or, _, Value::Bool(true)) => {
                return Ok(Value::Bool(true).mark_if(sens));
            }
            _ => {}
        }
        if l.contains_unknown() || r.contains_unknown() {
            return Ok(Value::Unknown.mark_if(sens));
        }
        let num = |v: &Value, e: &Expression| {
            to_number(v).ok_or_else(|| {
                self.err(
                    e,
                    format!("`{}` needs numbers, not {}", op.as_str(), v.type_name()),
                )
            })
        };
        let boolean = |v: &Value, e: &Expression| {
            to_bool(v).ok_or_else(|| {
                self.err(
                    e,
                    format!("`{}` needs bools, not {}", op.as_str(), v.type_name()),
                )
            })
        };
        let cmp = |want: fn(std::cmp::Ordering) -> bool| -> Result<Value, Diagnostic> {
            num(&l, le)?;
            num(&r, re)?;
            let o = super::number::compare(&l, &r).unwrap_or(std::cmp::Ordering::Equal);
            Ok(Value::Bool(want(o)))
        };
        let arith = |o: super::number::Op| -> Result<Value, Diagnostic> {
            use super::number::ArithError as A;
            match super::number::arith(o, &l, &r) {
                Ok(v) => Ok(v),
                Err(A::NotNumber(0)) => Err(num(&l, le)
                    .err()
                    .unwrap_or_else(|| self.err(le, "not a number"))),
                Err(A::NotNumber(_)) => Err(num(&r, re)
                    .err()
                    .unwrap_or_else(|| self.err(re, "not a number"))),
                Err(A::DivisionByZero) if o == super::number::Op::Rem => {
                    Err(self.err(re, "modulo by zero"))
                }
                Err(A::DivisionByZero) => Err(self.err(re, "division by zero")),
                Err(A::OutOfRange) => Err(self
                    .err(le, "arithmetic result out of range")
                    .hint("numbers must be within about ±10^300000")),
            }
        };
        use super::number::Op as N;
        let out = match op {
            B::Eq => Value::Bool(values_equal(&l, &r)),
            B::NotEq => Value::Bool(!values_equal(&l, &r)),
            B::Less => cmp(std::cmp::Ordering::is_lt)?,
            B::LessEq => cmp(std::cmp::Ordering::is_le)?,
            B::Greater => cmp(std::cmp::Ordering::is_gt)?,
            B::GreaterEq => cmp(std::cmp::Ordering::is_ge)?,
            B::Plus => arith(N::Add)?,
            B::Minus => arith(N::Sub)?,
            B::Mul => arith(N::Mul)?,
            B::Div => arith(N::Div)?,
            B::Mod => arith(N::Rem)?,
            B::And => Value::Bool(boolean(&l, le)? && boolean(&r, re)?),
            B::Or => Value::Bool(boolean(&l, le)? || boolean(&r, re)?),
        };
        Ok(out.mark_if(sens))
    }

    /// Terraform gives a conditional the unified type of both results, and converts the result
    /// to it: `true ? 1 : "2"` is `"1"`, `true ? [1] : ["a"]` is `["1"]`, `true ? {a = 1} :
    /// {b = "x"}` is the map `{a = "1"}`. The branch not taken is not evaluated (it may fail
    /// where it is not meant to run); its type comes from its expression's shape.
    fn unify_conditional(
        &self,
        c: &hcl::edit::expr::Conditional,
        took_true: bool,
        v: Value,
    ) -> Value {
        use super::types::{convert_to_type, shape_json, shape_of, type_json, unify_types};
        if !matches!(
            v.peel(),
            Value::Number(_)
                | Value::BigNumber(_)
                | Value::Bool(_)
                | Value::List(_)
                | Value::Map(_)
        ) {
            return v;
        }
        let scope = ResolverShapes(self.resolver);
        let (taken, other) = if took_true {
            (&c.true_expr, &c.false_expr)
        } else {
            (&c.false_expr, &c.true_expr)
        };
        let theirs = shape_json(&shape_of(other, &scope, 0));
        // Nothing known of the other branch (a resource attribute, an untyped variable): no
        // conversion, and no walk over this value (which may be large) to type it.
        if theirs == "dynamic" {
            return v;
        }
        let mine = type_json(&v, &shape_of(taken, &scope, 0));
        match unify_types(&mine, &theirs) {
            Some(t) if t != mine => convert_to_type(v, &t),
            _ => v,
        }
    }

    fn lookup_binding(&self, name: &str) -> Option<Value> {
        self.bindings
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    }

    fn eval_traversal(
        &mut self,
        whole: &Expression,
        base: &str,
        ops: &[&TraversalOperator],
    ) -> Result<Value, Diagnostic> {
        let whole_span = self.span(whole);
        let op_spans: Vec<Span> = match whole {
            Expression::Traversal(t) => t.operators.iter().map(|o| self.span(o)).collect(),
            _ => Vec::new(),
        };
        let spanned: Vec<(&TraversalOperator, Span)> = ops
            .iter()
            .enumerate()
            .map(|(i, o)| {
                (
                    *o,
                    op_spans
                        .get(i)
                        .cloned()
                        .unwrap_or_else(|| whole_span.clone()),
                )
            })
            .collect();
        if let Some(v) = self.lookup_binding(base) {
            return self.apply_ops(v, &spanned);
        }
        if self.closed_scope {
            let names: Vec<&str> = self.bindings.iter().map(|(n, _)| n.as_str()).collect();
            let mut d = self.err(whole, format!("unknown variable `{base}` in template"));
            if let Some(c) = closest(base, names.iter().copied()) {
                d = d.hint(format!("did you mean `{c}`?"));
            } else {
                d = d.hint("a template sees only the variables passed to templatefile()");
            }
            return Err(d);
        }
        let (root, used) = split_reference(base, ops).map_err(|m| self.err(whole, m))?;
        // The key right after the root lets the resolver depend on one instance, not all.
        let next_index = match ops.get(used) {
            Some(TraversalOperator::Index(ix)) => match self.eval(ix) {
                Ok(v) if !v.contains_unknown() => Some(v),
                _ => None,
            },
            Some(TraversalOperator::LegacyIndex(n)) => Some(Value::Number(*n.value() as f64)),
            _ => None,
        };
        let root_span = match (whole.span(), op_spans.get(used.saturating_sub(1))) {
            (Some(w), Some(o)) => Span::new(self.file, w.start..o.range.end),
            _ => self.span(whole),
        };
        if let Some(key) = &next_index
            && let Some(v) = self.resolver.resolve_indexed(&root, key, &root_span)
        {
            // The index right after the root is applied already.
            return self.apply_ops(v?, spanned.get(used + 1..).unwrap_or(&[]));
        }
        let v = self
            .resolver
            .resolve(&root, next_index.as_ref(), &root_span)?;
        self.apply_ops(v, spanned.get(used..).unwrap_or(&[]))
    }

    fn apply_ops(
        &mut self,
        mut v: Value,
        ops: &[(&TraversalOperator, Span)],
    ) -> Result<Value, Diagnostic> {
        let mut i = 0;
        while i < ops.len() {
            let (op, span) = &ops[i];
            match op {
                TraversalOperator::GetAttr(name) => v = self.get_attr(v, name.as_str(), span)?,
                TraversalOperator::Index(ix) => {
                    let key = self.eval(ix)?;
                    v = self.index(v, key, span)?;
                }
                TraversalOperator::LegacyIndex(n) => {
                    v = self.index(v, Value::Number(*n.value() as f64), span)?
                }
                TraversalOperator::FullSplat(_) | TraversalOperator::AttrSplat(_) => {
                    let full = matches!(op, TraversalOperator::FullSplat(_));
                    // A splat applies the following operators to each element: all of them for
                    // `[*]`, only the attribute accesses for the legacy `.*`.
                    let end = if full {
                        ops.len()
                    } else {
                        ops[i + 1..]
                            .iter()
                            .position(|(o, _)| !matches!(o, TraversalOperator::GetAttr(_)))
                            .map(|p| i + 1 + p)
                            .unwrap_or(ops.len())
                    };
                    let rest = &ops[i + 1..end];
                    let (inner, sens) = v.unmark();
                    let items = match inner {
                        Value::Unknown => return Ok(Value::Unknown.mark_if(sens)),
                        Value::Null => Vec::new(),
                        Value::List(items) => items,
                        other => vec![other],
                    };
                    let mut out = Vec::with_capacity(items.len());
                    for item in items {
                        out.push(self.apply_ops(item, rest)?);
                    }
                    v = Value::List(out).mark_if(sens);
                    i = end;
                    continue;
                }
            }
            i += 1;
        }
        Ok(v)
    }

    fn get_attr(&self, v: Value, name: &str, span: &Span) -> Result<Value, Diagnostic> {
        let (inner, sens) = v.unmark();
        match inner {
            Value::Unknown => Ok(Value::Unknown.mark_if(sens)),
            Value::Map(mut map) => match map.remove(name) {
                Some(x) => Ok(x.mark_if(sens)),
                None => {
                    let mut d =
                        Diagnostic::error(format!("no attribute `{name}`")).at(span.clone());
                    if let Some(c) = closest(name, map.keys().map(String::as_str)) {
                        d = d.hint(format!("did you mean `{c}`?"));
                    } else if !map.is_empty() && map.len() <= 12 {
                        d = d.hint(format!(
                            "the object has: {}",
                            map.keys()
                                .map(String::as_str)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ));
                    }
                    Err(d)
                }
            },
            Value::Null => Err(
                Diagnostic::error(format!("cannot read `{name}` of a null value")).at(span.clone()),
            ),
            Value::List(_) => Err(Diagnostic::error(format!("cannot read `{name}` of a list"))
                .at(span.clone())
                .hint(format!(
                    "pick an element first (`[0].{name}`) or use a splat (`[*].{name}`)"
                ))),
            other => Err(Diagnostic::error(format!(
                "cannot read `{name}` of a {}",
                other.type_name()
            ))
            .at(span.clone())),
        }
    }

    fn index(&self, v: Value, key: Value, span: &Span) -> Result<Value, Diagnostic> {
        let (inner, sens) = v.unmark();
        let (key, ksens) = key.unmark();
        let sens = sens || ksens;
        if matches!(inner, Value::Unknown) || matches!(key, Value::Unknown) {
            return Ok(Value::Unknown.mark_if(sens));
        }
        match inner {
            Value::List(items) => {
                let Some(n) = to_number(&key) else {
                    return Err(Diagnostic::error(format!(
                        "a list index must be a number, not {}",
                        key.type_name()
                    ))
                    .at(span.clone()));
                };
                if n < 0.0 || n.fract() != 0.0 || n as usize >= items.len() {
                    return Err(Diagnostic::error(format!(
                        "index {} out of range",
                        format_number(n)
                    ))
                    .at(span.clone())
                    .detail(format!(
                        "the list has {} element{}",
                        items.len(),
                        if items.len() == 1 { "" } else { "s" }
                    )));
                }
                Ok(items
                    .into_iter()
                    .nth(n as usize)
                    .unwrap_or_default()
                    .mark_if(sens))
            }
            Value::Map(mut map) => {
                let Some(k) = key.to_template_string() else {
                    return Err(Diagnostic::error(format!(
                        "a map key must be a string, not {}",
                        key.type_name()
                    ))
                    .at(span.clone()));
                };
                match map.remove(&k) {
                    Some(x) => Ok(x.mark_if(sens)),
                    None => {
                        let mut d = Diagnostic::error(format!("no element with key \"{k}\""))
                            .at(span.clone());
                        if let Some(c) = closest(&k, map.keys().map(String::as_str)) {
                            d = d.hint(format!("did you mean \"{c}\"?"));
                        }
                        Err(d)
                    }
                }
            }
            Value::Null => Err(Diagnostic::error("cannot index a null value").at(span.clone())),
            other => Err(
                Diagnostic::error(format!("cannot index a {}", other.type_name())).at(span.clone()),
            ),
        }
    }

    fn eval_template(&mut self, t: &Template) -> Result<Value, Diagnostic> {
        let mut out = String::new();
        let mut unknown = false;
        let mut sens = false;
        self.render_template(t, &mut out, &mut unknown, &mut sens, &mut false)?;
        Ok(if unknown {
            Value::Unknown
        } else {
            Value::String(nfc(out))
        }
        .mark_if(sens))
    }

    /// Renders template elements into `out`. `strip_next` asks to trim the leading whitespace of
    /// the next literal (a `~` on the right of the previous interpolation or directive).
    fn render_template(
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

    fn append_interpolated(
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
                .err(
                    e,
                    format!("cannot interpolate a {} into a string", v.type_name()),
                )
                .hint("use jsonencode(…) or join(…) to turn it into a string")),
        }
    }

    /// (key, value) pairs to iterate: indexes for lists, keys for maps, and for sets the element
    /// twice (Terraform binds `k` of `for k, v in a_set` to the element: a set has no index).
    fn iteration_pairs(
        &self,
        coll: Value,
        e: &Expression,
    ) -> Result<Vec<(Value, Value)>, Diagnostic> {
        let is_set = matches!(
            super::types::shape_of(e, &ResolverShapes(self.resolver), 0),
            super::types::Shape::Set(_)
        );
        match coll {
            Value::List(items) if is_set => Ok(items.into_iter().map(|v| (v.clone(), v)).collect()),
            Value::List(items) => Ok(items
                .into_iter()
                .enumerate()
                .map(|(i, v)| (Value::Number(i as f64), v))
                .collect()),
            Value::Map(map) => Ok(map
                .into_iter()
                .map(|(k, v)| (Value::String(k), v))
                .collect()),
            Value::Null => Err(self.err(e, "cannot iterate over a null value")),
            other => Err(self
                .err(e, format!("cannot iterate over a {}", other.type_name()))
                .hint("`for` iterates over lists, sets and maps")),
        }
    }

    fn eval_for(&mut self, f: &hcl::edit::expr::ForExpr) -> Result<Value, Diagnostic> {
        let coll = self.eval(&f.intro.collection_expr)?;
        let (coll, sens) = coll.unmark();
        if matches!(coll, Value::Unknown) {
            return Ok(Value::Unknown.mark_if(sens));
        }
        let pairs = self.iteration_pairs(coll, &f.intro.collection_expr)?;
        let mark = self.bindings.len();
        let result = self.for_body(f, pairs);
        self.bindings.truncate(mark);
        Ok(result?.mark_if(sens))
    }

    fn for_body(
        &mut self,
        f: &hcl::edit::expr::ForExpr,
        pairs: Vec<(Value, Value)>,
    ) -> Result<Value, Diagnostic> {
        let mark = self.bindings.len();
        let mut list = Vec::new();
        let mut map: BTreeMap<String, Value> = BTreeMap::new();
        let mut groups: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for (k, v) in pairs {
            self.bindings.truncate(mark);
            if let Some(kv) = &f.intro.key_var {
                self.bindings.push((kv.as_str().to_string(), k));
            }
            self.bindings
                .push((f.intro.value_var.as_str().to_string(), v));
            if let Some(cond) = &f.cond {
                let c = self.eval(&cond.expr)?;
                match c.peel() {
                    Value::Bool(true) => {}
                    Value::Bool(false) => continue,
                    Value::Unknown => return Ok(Value::Unknown),
                    other => {
                        return Err(self.err(
                            &cond.expr,
                            format!(
                                "a `for` condition must be a bool, not {}",
                                other.type_name()
                            ),
                        ));
                    }
                }
            }
            let val = self.eval(&f.value_expr)?;
            match &f.key_expr {
                None => list.push(val),
                Some(ke) => {
                    let key = self.eval(ke)?;
                    if key.is_unknown() {
                        return Ok(Value::Unknown);
                    }
                    let Some(key) = key.to_template_string() else {
                        return Err(self.err(
                            ke,
                            format!("a `for` key must be a string, not {}", key.type_name()),
                        ));
                    };
                    if f.grouping {
                        groups.entry(key).or_default().push(val);
                    } else {
                        match map.entry(key) {
                            std::collections::btree_map::Entry::Occupied(o) => {
                                return Err(self
                                    .err(ke, format!("duplicate key \"{}\" in `for` expression", o.key()))
                                    .hint("add `...` after the value to group values with the same key into lists"));
                            }
                            std::collections::btree_map::Entry::Vacant(v) => {
                                v.insert(val);
                            }
                        }
                    }
                }
            }
        }
        Ok(match &f.key_expr {
            None => Value::List(list),
            Some(_) if f.grouping => Value::Map(
                groups
                    .into_iter()
                    .map(|(k, v)| (k, Value::List(v)))
                    .collect(),
            ),
            Some(_) => Value::Map(map),
        })
    }

    fn eval_call(
        &mut self,
        whole: &Expression,
        call: &hcl::edit::expr::FuncCall,
    ) -> Result<Value, Diagnostic> {
        let name = call.name.name.as_str();
        let args: Vec<&Expression> = call.args.iter().collect();
        match name {
            "try" => {
                let mut last = None;
                for a in &args {
                    match self.eval(a) {
                        Ok(v) => return Ok(v),
                        Err(d) => last = Some(d),
                    }
                }
                return Err(match last {
                    Some(d) => Diagnostic::error("no argument of try() could be evaluated")
                        .at(self.span(whole))
                        .detail(format!("the last one failed with: {}", d.summary)),
                    None => self.err(whole, "try() needs at least one argument"),
                });
            }
            "can" => {
                if args.len() != 1 {
                    return Err(self.err(whole, "can() takes exactly one argument"));
                }
                return Ok(match self.eval(args[0]) {
                    Ok(v) if v.is_unknown() => Value::Unknown,
                    Ok(_) => Value::Bool(true),
                    Err(_) => Value::Bool(false),
                });
            }
            "templatefile" => return self.templatefile(whole, &args),
            _ => {}
        }
        if functions::arity(name).is_none() {
            let mut d = self.err(whole, format!("unknown function `{name}`"));
            let mut all: Vec<&str> = functions::function_names().to_vec();
            all.extend(["try", "can", "templatefile"]);
            if let Some(c) = closest(name, all.iter().copied()) {
                d = d.hint(format!("did you mean `{c}`?"));
            }
            return Err(d);
        }
        let mut vals = Vec::with_capacity(args.len());
        for a in &args {
            vals.push(self.eval(a)?);
        }
        // `f(list...)` expands the final argument.
        if call.args.expand_final()
            && let Some(last) = vals.pop()
        {
            let (last, s) = last.unmark();
            match last {
                Value::List(items) => vals.extend(items.into_iter().map(|v| v.mark_if(s))),
                Value::Unknown => return Ok(Value::Unknown.mark_if(s)),
                other => {
                    return Err(self.err(
                        whole,
                        format!("`...` expands a list, not a {}", other.type_name()),
                    ));
                }
            }
        }
        let ctx = FunctionContext {
            base_dir: self.resolver.base_dir(),
        };
        functions::call_function(name, vals, &ctx).map_err(|fe| {
            let span = fe
                .arg_index
                .and_then(|i| args.get(i))
                .map(|a| self.span(*a))
                .unwrap_or_else(|| self.span(whole));
            Diagnostic::error(format!("{name}(): {}", fe.message)).at(span)
        })
    }

    fn templatefile(
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
            return Err(self.err(
                args[1],
                "templatefile()'s second argument must be a map of variables",
            ));
        };
        let full = self.resolver.base_dir().join(&path);
        let text = std::fs::read_to_string(&full).map_err(|e| {
            self.err(
                args[0],
                format!("cannot read template {}: {e}", full.display()),
            )
        })?;
        if text.len() > 4 << 20 {
            return Err(self.err(args[0], "template larger than 4 MiB"));
        }
        if super::nesting_depth(&text) > MAX_DEPTH {
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

fn elem_key(e: &Element) -> usize {
    e as *const Element as usize
}

fn template_key(t: &Template) -> usize {
    t as *const Template as usize
}

/// Whether a `<<-` heredoc needs [`HeredocLayout`]: it has a directive (whose body hcl-edit
/// does not dedent, nor count when it computes the indentation) or a `~` strip marker.
fn needs_layout(t: &Template) -> bool {
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
struct HeredocLayout {
    lit: std::collections::HashMap<usize, String>,
    prefix: std::collections::HashMap<usize, String>,
    suffix: std::collections::HashMap<usize, String>,
}

#[derive(Clone, Copy)]
enum Slot {
    Lit(usize),
    Prefix(usize),
    Suffix(usize),
}

enum LayoutTok {
    Lit { slot: Slot, text: String },
    Marker { trim_before: bool, trim_after: bool },
}

impl HeredocLayout {
    fn new(t: &Template, n: usize) -> HeredocLayout {
        let mut toks = Vec::new();
        let mut line_start = Some(true);
        flatten(t, n, true, &mut toks, &mut line_start);
        // Strip markers, within the adjacent piece only.
        for i in 0..toks.len() {
            if let LayoutTok::Marker {
                trim_before,
                trim_after,
            } = toks[i]
            {
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

/// The token stream HCL would see, in source order, with each literal split into lines. hcl-edit
/// removed `n` characters of indentation from the lines of the *top-level* literals only
/// (directive bodies are left as written), so those lines are re-indented; and where a
/// top-level line begins with a directive or an interpolation, the indentation HCL saw as a
/// literal before it is gone too, so a piece of `n` spaces is restored in a prefix or suffix
/// slot. `line_start` is `Some(top)` at the start of a line, `top` telling whether the line
/// break came from a top-level literal.
fn flatten(
    t: &Template,
    n: usize,
    top: bool,
    toks: &mut Vec<LayoutTok>,
    line_start: &mut Option<bool>,
) {
    let indent = " ".repeat(n);
    let marker = |toks: &mut Vec<LayoutTok>, strip: Strip, slot: Slot, at: &mut Option<bool>| {
        if *at == Some(true) {
            toks.push(LayoutTok::Lit {
                slot,
                text: indent.clone(),
            });
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
                    toks.push(LayoutTok::Lit {
                        slot: Slot::Lit(key),
                        text,
                    });
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

fn strip_before(out: &mut String, strip: Strip) {
    if matches!(strip, Strip::Start | Strip::Both) {
        let trimmed = out.trim_end().len();
        out.truncate(trimmed);
    }
}

/// Numbers, and strings that parse as numbers (HCL converts them implicitly).
pub fn to_number(v: &Value) -> Option<f64> {
    match v.peel() {
        Value::Number(n) => Some(*n),
        Value::BigNumber(b) => Some(b.to_f64()),
        Value::String(s) => s.trim().parse::<f64>().ok().filter(|n| n.is_finite()),
        _ => None,
    }
}

pub fn to_bool(v: &Value) -> Option<bool> {
    match v.peel() {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s == "true" => Some(true),
        Value::String(s) if s == "false" => Some(false),
        _ => None,
    }
}

/// Equality as HCL users expect: structural, numbers by value.
pub fn values_equal(a: &Value, b: &Value) -> bool {
    match (a.peel(), b.peel()) {
        (Value::Number(x), Value::Number(y)) => x == y,
        (Value::List(x), Value::List(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| values_equal(a, b))
        }
        (Value::Map(x), Value::Map(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((ka, va), (kb, vb))| ka == kb && values_equal(va, vb))
        }
        (x, y) => x == y,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoNames;

    impl Resolver for NoNames {
        fn resolve(
            &self,
            root: &RefRoot,
            _: Option<&Value>,
            span: &Span,
        ) -> Result<Value, Diagnostic> {
            Err(Diagnostic::error(format!("no {root}")).at(span.clone()))
        }
        fn base_dir(&self) -> &Path {
            Path::new(".")
        }
    }

    fn eval(src: &str) -> Result<Value, Diagnostic> {
        let e = hcl::edit::parser::parse_expr(src).unwrap();
        Evaluator::new(&NoNames, FileId(0)).eval(&e)
    }

    #[test]
    fn logic_operators_check_both_operand_types_before_short_circuiting() {
        assert_eq!(eval("true || false").unwrap(), Value::Bool(true));
        assert!(
            eval("true || \"no\"")
                .unwrap_err()
                .summary
                .contains("needs bools")
        );
        assert!(
            eval("false && 1")
                .unwrap_err()
                .summary
                .contains("needs bools")
        );
    }
}
