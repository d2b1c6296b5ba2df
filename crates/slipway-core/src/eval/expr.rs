//! The expression evaluator: hcl-edit's AST → [`Value`], with unknown and sensitive marks.
//!
//! References (`var.x`, `local.y`, `module.m.out`, `aws_instance.web[0].id`, `each.key`, …) are
//! handed to a [`Resolver`], so the evaluator knows nothing about modules, state or providers.
//! Errors are [`Diagnostic`]s pointing at the smallest sub-expression at fault.
//!
//! Mark rules: an operation over an unknown operand is unknown; an operation over a sensitive
//! operand is sensitive; a conditional with a known condition evaluates one branch only.
//! Recursion is bounded ([`MAX_DEPTH`]) so hostile input cannot overflow the stack.

mod calls;
mod template;
mod traversal;

use template::{HeredocLayout, needs_layout};

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
            RefRoot::Resource { mode: ResourceMode::Managed, rtype, name } => {
                write!(f, "{rtype}.{name}")
            }
            RefRoot::Resource { mode: ResourceMode::Data, rtype, name } => {
                write!(f, "data.{rtype}.{name}")
            }
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
            Ok((RefRoot::Resource { mode: ResourceMode::Data, rtype: t, name: n }, 2))
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
                RefRoot::Resource { mode: ResourceMode::Managed, rtype: rtype.to_string(), name },
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

    // Long because it is one `match` over every HCL expression kind, each arm short; splitting
    // it would scatter the evaluation rules the arms state side by side.
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
                let was = (std::mem::replace(&mut self.quoted, false), self.in_directive);
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
                    let ops: Vec<(&TraversalOperator, Span)> =
                        t.operators.iter().map(|o| (o.value(), self.span(o))).collect();
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
                        let branch = if s == "true" { &c.true_expr } else { &c.false_expr };
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
                    return Err(self
                        .err(e, format!("`{}` needs bools, not {}", op.as_str(), v.type_name())));
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
                self.err(e, format!("`{}` needs numbers, not {}", op.as_str(), v.type_name()))
            })
        };
        let boolean = |v: &Value, e: &Expression| {
            to_bool(v).ok_or_else(|| {
                self.err(e, format!("`{}` needs bools, not {}", op.as_str(), v.type_name()))
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
                Err(A::NotNumber(0)) => {
                    Err(num(&l, le).err().unwrap_or_else(|| self.err(le, "not a number")))
                }
                Err(A::NotNumber(_)) => {
                    Err(num(&r, re).err().unwrap_or_else(|| self.err(re, "not a number")))
                }
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
        let (taken, other) =
            if took_true { (&c.true_expr, &c.false_expr) } else { (&c.false_expr, &c.true_expr) };
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
        self.bindings.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v.clone())
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
                && x.iter().zip(y).all(|((ka, va), (kb, vb))| ka == kb && values_equal(va, vb))
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
        assert!(eval("true || \"no\"").unwrap_err().summary.contains("needs bools"));
        assert!(eval("false && 1").unwrap_err().summary.contains("needs bools"));
    }
}
