//! Static reference collection: which names an expression refers to, without evaluating it.
//!
//! The graph is built from these references. Names bound inside the expression (`for` variables,
//! template `%{ for }` variables, dynamic-block iterators passed in `bound`) are not references.

use hcl::edit::expr::{Expression, ObjectKey, TraversalOperator};
use hcl::edit::template::{Directive, Element, Template};

use super::expr::{RefRoot, split_reference};
use crate::diag::{FileId, Span};

/// One reference found in an expression.
#[derive(Clone, Debug)]
pub struct Reference {
    pub root: RefRoot,
    pub span: Span,
}

/// A reference that cannot be understood (e.g. `var` alone), found while collecting.
#[derive(Clone, Debug)]
pub struct BadReference {
    pub message: String,
    pub span: Span,
}

/// Collects references of `e` into `out`; `bound` are names already bound by an enclosing scope.
pub fn collect(
    e: &Expression,
    file: FileId,
    bound: &[String],
    out: &mut Vec<Reference>,
    bad: &mut Vec<BadReference>,
) {
    let mut c = Collector { file, bound: bound.to_vec(), out, bad, depth: 0 };
    c.expr(e);
}

struct Collector<'a> {
    file: FileId,
    bound: Vec<String>,
    out: &'a mut Vec<Reference>,
    bad: &'a mut Vec<BadReference>,
    depth: usize,
}

impl Collector<'_> {
    fn span(&self, s: &impl hcl::edit::Span) -> Span {
        Span::new(self.file, s.span().unwrap_or(0..0))
    }

    fn root(&mut self, whole: &Expression, base: &str, ops: &[&TraversalOperator]) {
        if self.bound.iter().any(|b| b == base) {
            return;
        }
        match split_reference(base, ops) {
            Ok((root, _)) => self.out.push(Reference { root, span: self.span(whole) }),
            Err(message) => self.bad.push(BadReference { message, span: self.span(whole) }),
        }
    }

    fn expr(&mut self, e: &Expression) {
        self.depth += 1;
        // The evaluator rejects deeper nesting with a diagnostic; stop here without recursing.
        if self.depth <= super::expr::MAX_DEPTH {
            self.expr_inner(e);
        }
        self.depth -= 1;
    }

    fn expr_inner(&mut self, e: &Expression) {
        match e {
            Expression::Null(_)
            | Expression::Bool(_)
            | Expression::Number(_)
            | Expression::String(_) => {}
            Expression::Array(items) => items.iter().for_each(|i| self.expr(i)),
            Expression::Object(obj) => {
                for (k, v) in obj.iter() {
                    if let ObjectKey::Expression(ke) = k {
                        // A bare name as a key is a literal key, not a reference.
                        if !matches!(ke, Expression::Variable(_)) {
                            self.expr(ke);
                        }
                    }
                    self.expr(v.expr());
                }
            }
            Expression::StringTemplate(t) => self.template(t),
            Expression::HeredocTemplate(h) => self.template(&h.template),
            Expression::Parenthesis(p) => self.expr(p.inner()),
            Expression::Variable(v) => self.root(e, v.as_str(), &[]),
            Expression::Traversal(t) => {
                match &t.expr {
                    Expression::Variable(v) => {
                        let ops: Vec<&TraversalOperator> =
                            t.operators.iter().map(|o| o.value()).collect();
                        self.root(e, v.as_str(), &ops);
                    }
                    other => self.expr(other),
                }
                for op in &t.operators {
                    if let TraversalOperator::Index(ix) = op.value() {
                        self.expr(ix);
                    }
                }
            }
            Expression::Conditional(c) => {
                self.expr(&c.cond_expr);
                self.expr(&c.true_expr);
                self.expr(&c.false_expr);
            }
            Expression::FuncCall(f) => f.args.iter().for_each(|a| self.expr(a)),
            Expression::UnaryOp(u) => self.expr(&u.expr),
            Expression::BinaryOp(b) => {
                self.expr(&b.lhs_expr);
                self.expr(&b.rhs_expr);
            }
            Expression::ForExpr(f) => {
                self.expr(&f.intro.collection_expr);
                let mark = self.bound.len();
                if let Some(k) = &f.intro.key_var {
                    self.bound.push(k.as_str().to_string());
                }
                self.bound.push(f.intro.value_var.as_str().to_string());
                if let Some(k) = &f.key_expr {
                    self.expr(k);
                }
                self.expr(&f.value_expr);
                if let Some(c) = &f.cond {
                    self.expr(&c.expr);
                }
                self.bound.truncate(mark);
            }
        }
    }

    fn template(&mut self, t: &Template) {
        for el in t.iter() {
            match el {
                Element::Literal(_) => {}
                Element::Interpolation(i) => self.expr(&i.expr),
                Element::Directive(d) => match &**d {
                    Directive::If(i) => {
                        self.expr(&i.if_expr.cond_expr);
                        self.template(&i.if_expr.template);
                        if let Some(e) = &i.else_expr {
                            self.template(&e.template);
                        }
                    }
                    Directive::For(f) => {
                        let f = &f.for_expr;
                        self.expr(&f.collection_expr);
                        let mark = self.bound.len();
                        if let Some(k) = &f.key_var {
                            self.bound.push(k.as_str().to_string());
                        }
                        self.bound.push(f.value_var.as_str().to_string());
                        self.template(&f.template);
                        self.bound.truncate(mark);
                    }
                },
            }
        }
    }
}
