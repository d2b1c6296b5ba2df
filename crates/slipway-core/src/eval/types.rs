//! Terraform's type of a value, as `terraform output -json` and `terraform console` report it.
//!
//! A [`Value`] does not record whether a sequence is a list, a tuple or a set, nor whether a
//! mapping is a map or an object: the engine never needs to know, and carrying it on every value
//! would cost the 10,000-instance plan. The type is therefore *inferred* where it is reported,
//! from the expression that produced the value ([`shape_of`]) together with the value itself
//! ([`type_json`]):
//! - literals `[…]` and `{…}`, `[for …]`/`{for …}`, `jsondecode` and anything not recognised are
//!   tuples and objects, as in Terraform;
//! - the conversion functions (`tolist`, `toset`, `tomap`) and the functions Terraform declares
//!   with a collection result (`split`, `keys`, `range`, `sort`, `setunion`, …) give lists, sets
//!   and maps;
//! - a reference to a local follows the local's own expression; a variable its declared type.
//!
//! **Invariant:** the inference never changes a value and never fails; where it cannot tell, it
//! answers what Terraform answers for a literal (tuple/object). Known gaps are listed in
//! `tests/terraform/differences.txt` and docs/json-output.md.

use std::collections::BTreeMap;

use hcl::edit::expr::{Expression, TraversalOperator};
use serde_json::{Value as Json, json};

use crate::value::{Type, Value};

/// What the expression says about the kind of collection it produces, at each depth.
#[derive(Clone, Debug, PartialEq)]
pub enum Shape {
    /// Nothing known: sequences are tuples, mappings objects (Terraform's literal types).
    Dyn,
    String,
    Number,
    Bool,
    List(Box<Shape>),
    Set(Box<Shape>),
    Map(Box<Shape>),
    Tuple(Vec<Shape>),
    Object(BTreeMap<String, Shape>),
}

impl Shape {
    /// The shape a declared type constraint gives.
    pub fn from_type(t: &Type) -> Shape {
        match t {
            Type::Any => Shape::Dyn,
            Type::String => Shape::String,
            Type::Number => Shape::Number,
            Type::Bool => Shape::Bool,
            Type::List(t) => Shape::List(Box::new(Shape::from_type(t))),
            Type::Set(t) => Shape::Set(Box::new(Shape::from_type(t))),
            Type::Map(t) => Shape::Map(Box::new(Shape::from_type(t))),
            Type::Tuple(ts) => Shape::Tuple(ts.iter().map(Shape::from_type).collect()),
            Type::Object(attrs) => Shape::Object(
                attrs.iter().map(|(k, (t, _))| (k.clone(), Shape::from_type(t))).collect(),
            ),
        }
    }

    fn elem(&self) -> Shape {
        match self {
            Shape::List(s) | Shape::Set(s) | Shape::Map(s) => (**s).clone(),
            // A tuple or object whose elements all have one shape converts to a collection of it.
            Shape::Tuple(v) if !v.is_empty() && v.iter().all(|s| s == &v[0]) => v[0].clone(),
            Shape::Object(m) => {
                let mut it = m.values();
                match it.next() {
                    Some(first) if it.all(|s| s == first) => first.clone(),
                    _ => Shape::Dyn,
                }
            }
            _ => Shape::Dyn,
        }
    }
}

/// Looks up what the names an expression refers to stand for.
pub trait ShapeScope {
    /// The shape of `local.name` / `var.name`, if the scope knows it.
    fn local(&self, name: &str, depth: usize) -> Shape;
    fn variable(&self, name: &str) -> Shape;
}

/// A scope that knows no names.
pub struct NoScope;

impl ShapeScope for NoScope {
    fn local(&self, _: &str, _: usize) -> Shape {
        Shape::Dyn
    }
    fn variable(&self, _: &str) -> Shape {
        Shape::Dyn
    }
}

/// Deepest chain of locals followed; deeper ones are [`Shape::Dyn`] (cycles end here too).
const MAX_SHAPE_DEPTH: usize = 32;

/// The shape an expression gives its value (see the module doc).
// Long because it is one `match` over every HCL expression kind, each arm the shape rule of
// that kind; the rules read best side by side.
pub fn shape_of(e: &Expression, scope: &dyn ShapeScope, depth: usize) -> Shape {
    if depth > MAX_SHAPE_DEPTH {
        return Shape::Dyn;
    }
    let sub = |e: &Expression| shape_of(e, scope, depth + 1);
    match e {
        Expression::String(_) | Expression::HeredocTemplate(_) => Shape::String,
        Expression::StringTemplate(t) => {
            // A template that is one interpolation is that value, with its own type.
            let elems: Vec<_> = t.iter().collect();
            match elems.as_slice() {
                [hcl::edit::template::Element::Interpolation(i)] => sub(&i.expr),
                _ => Shape::String,
            }
        }
        Expression::Number(_) => Shape::Number,
        Expression::Bool(_) => Shape::Bool,
        Expression::Array(items) => Shape::Tuple(items.iter().map(sub).collect()),
        Expression::Object(obj) => {
            let mut m = BTreeMap::new();
            for (k, v) in obj.iter() {
                if let hcl::edit::expr::ObjectKey::Ident(i) = k {
                    m.insert(i.as_str().to_string(), sub(v.expr()));
                }
            }
            Shape::Object(m)
        }
        Expression::Parenthesis(p) => sub(p.inner()),
        Expression::Conditional(c) => unify_shapes(sub(&c.true_expr), sub(&c.false_expr)),
        Expression::Traversal(t) => {
            let mut ops = t.operators.iter().map(|o| o.value()).peekable();
            let mut shape = match &t.expr {
                Expression::Variable(v) if v.as_str() == "local" || v.as_str() == "var" => {
                    match ops.next() {
                        Some(TraversalOperator::GetAttr(name)) if v.as_str() == "local" => {
                            scope.local(name.as_str(), depth + 1)
                        }
                        Some(TraversalOperator::GetAttr(name)) => scope.variable(name.as_str()),
                        _ => return Shape::Dyn,
                    }
                }
                base => sub(base),
            };
            for op in ops {
                // After a splat the operators apply to each element: the result is a list when
                // the splatted value was a list or set, else a tuple.
                if matches!(op, TraversalOperator::FullSplat(_) | TraversalOperator::AttrSplat(_)) {
                    return match shape {
                        Shape::List(_) | Shape::Set(_) => Shape::List(Box::new(Shape::Dyn)),
                        _ => Shape::Dyn,
                    };
                }
                shape = match (op, shape) {
                    (TraversalOperator::GetAttr(a), Shape::Object(m)) => {
                        m.get(a.as_str()).cloned().unwrap_or(Shape::Dyn)
                    }
                    (TraversalOperator::Index(_), Shape::Tuple(_)) => Shape::Dyn,
                    (TraversalOperator::LegacyIndex(_), Shape::Tuple(_)) => Shape::Dyn,
                    (
                        TraversalOperator::Index(_)
                        | TraversalOperator::LegacyIndex(_)
                        | TraversalOperator::GetAttr(_),
                        s @ (Shape::List(_) | Shape::Map(_)),
                    ) => s.elem(),
                    (
                        TraversalOperator::FullSplat(_) | TraversalOperator::AttrSplat(_),
                        Shape::List(_) | Shape::Set(_),
                    ) => Shape::List(Box::new(Shape::Dyn)),
                    _ => Shape::Dyn,
                };
            }
            shape
        }
        Expression::FuncCall(call) => {
            let name = call.name.name.as_str();
            let args: Vec<&Expression> = call.args.iter().collect();
            let arg = |i: usize| args.get(i).map(|a| sub(a)).unwrap_or(Shape::Dyn);
            let list = |s: Shape| Shape::List(Box::new(s));
            match name {
                "tolist" => list(arg(0).elem()),
                "toset" => Shape::Set(Box::new(arg(0).elem())),
                "tomap" => Shape::Map(Box::new(arg(0).elem())),
                "tostring" | "format" | "join" | "lower" | "upper" | "title" | "trimspace"
                | "chomp" | "replace" | "substr" | "indent" | "jsonencode" | "yamlencode"
                | "base64encode" | "base64decode" | "sha1" | "sha256" | "sha512" | "md5"
                | "trim" | "trimprefix" | "trimsuffix" | "strrev" | "cidrhost" | "cidrnetmask"
                | "cidrsubnet" | "urlencode" | "uuid" | "uuidv5" | "timestamp" | "timeadd"
                | "formatdate" | "abspath" | "basename" | "dirname" | "pathexpand" | "file"
                | "templatefile" | "base64sha256" | "base64sha512" | "filebase64" | "filemd5"
                | "filesha1" | "filesha256" | "filesha512" | "filebase64sha256"
                | "filebase64sha512" | "base64gzip" | "textencodebase64" | "textdecodebase64"
                | "plantimestamp" | "regex" => {
                    // `regex` with capture groups returns a collection; the value tells.
                    if name == "regex" { Shape::Dyn } else { Shape::String }
                }
                "tonumber" | "length" | "abs" | "ceil" | "floor" | "log" | "max" | "min"
                | "parseint" | "pow" | "signum" | "sum" | "index" => Shape::Number,
                "tobool" | "contains" | "alltrue" | "anytrue" | "can" | "fileexists"
                | "startswith" | "endswith" | "strcontains" => Shape::Bool,
                "split" | "sort" | "compact" | "formatlist" | "cidrsubnets" => list(Shape::String),
                // keys() of a map is a list; of an object, a tuple of strings.
                "keys" => match arg(0) {
                    Shape::Map(_) => list(Shape::String),
                    _ => Shape::Dyn,
                },
                // Without capture groups (a literal pattern with no `(`), the matches are strings.
                "regexall" => match args.first() {
                    Some(Expression::String(p)) if !p.value().contains('(') => list(Shape::String),
                    _ => list(Shape::Dyn),
                },
                "range" => list(Shape::Number),
                "chunklist" => list(list(arg(0).elem())),
                "distinct" | "matchkeys" => list(arg(0).elem()),
                // One of its arguments, whole: a list only when they are all lists.
                "coalescelist" => {
                    let all = (0..args.len()).map(arg).collect::<Vec<_>>();
                    if !all.is_empty() && all.iter().all(|s| matches!(s, Shape::List(_))) {
                        all.into_iter().next().unwrap_or(Shape::Dyn)
                    } else {
                        Shape::Dyn
                    }
                }
                "setunion" | "setintersection" | "setsubtract" => {
                    Shape::Set(Box::new(arg(0).elem()))
                }
                // Each element is a tuple of one element of each argument, so the element
                // type is known even when the product is empty (`setproduct([], [1])`).
                "setproduct" => {
                    let elem = Shape::Tuple((0..args.len()).map(|i| arg(i).elem()).collect());
                    match arg(0) {
                        Shape::Set(_) => Shape::Set(Box::new(elem)),
                        _ => list(elem),
                    }
                }
                // Objects with the header's attributes, all strings — known from a literal
                // even when there are no records (`csvdecode("a,b\n")`).
                "csvdecode" => match args.first() {
                    Some(Expression::String(text)) => {
                        match super::functions::csv_header(text.value()) {
                            Some(header) => list(Shape::Object(
                                header.into_iter().map(|h| (h, Shape::String)).collect(),
                            )),
                            None => list(Shape::Dyn),
                        }
                    }
                    _ => list(Shape::Dyn),
                },
                "fileset" => Shape::Set(Box::new(Shape::String)),
                "transpose" => Shape::Map(Box::new(list(Shape::String))),
                "values" => match arg(0) {
                    Shape::Map(s) => list(*s),
                    _ => Shape::Dyn,
                },
                "concat" | "reverse" | "slice" | "flatten" => match arg(0) {
                    s @ Shape::List(_) if name != "flatten" => s,
                    Shape::Set(s) if name == "reverse" => list(*s),
                    _ => Shape::Dyn,
                },
                "lookup" | "element" | "one" => arg(0).elem(),
                "merge" => {
                    let all_maps = !args.is_empty()
                        && (0..args.len()).all(|i| matches!(arg(i), Shape::Map(_)));
                    if all_maps { Shape::Map(Box::new(arg(0).elem())) } else { Shape::Dyn }
                }
                "zipmap" => match arg(1) {
                    Shape::List(s) => Shape::Map(s),
                    _ => Shape::Dyn,
                },
                "sensitive" | "nonsensitive" | "try" => arg(0),
                // Its arguments' unified type, as a conditional's.
                "coalesce" => (0..args.len()).map(arg).reduce(unify_shapes).unwrap_or(Shape::Dyn),
                _ => Shape::Dyn,
            }
        }
        Expression::ForExpr(f) => {
            let body = shape_of(&f.value_expr, scope, depth + 1);
            if f.key_expr.is_some() {
                // Elements of an object built by `for` share the body's shape.
                Shape::Object(BTreeMap::from([(String::new(), body)]))
            } else {
                Shape::Tuple(vec![body])
            }
        }
        Expression::BinaryOp(op) => {
            use hcl::edit::expr::BinaryOperator as B;
            match op.operator.value() {
                B::Plus | B::Minus | B::Mul | B::Div | B::Mod => Shape::Number,
                _ => Shape::Bool,
            }
        }
        Expression::UnaryOp(op) => match op.operator.value() {
            hcl::edit::expr::UnaryOperator::Neg => Shape::Number,
            hcl::edit::expr::UnaryOperator::Not => Shape::Bool,
        },
        _ => Shape::Dyn,
    }
}

/// The type of `value` in `terraform output -json`'s notation (`"string"`, `["list","number"]`,
/// `["object",{"a":"bool"}]`, `"dynamic"` for null and unknown).
pub fn type_json(value: &Value, shape: &Shape) -> Json {
    match value {
        Value::Sensitive(inner) => type_json(inner, shape),
        Value::Null | Value::Unknown => match shape {
            Shape::String => json!("string"),
            Shape::Number => json!("number"),
            Shape::Bool => json!("bool"),
            _ => json!("dynamic"),
        },
        Value::Bool(_) => json!("bool"),
        Value::Number(_) | Value::BigNumber(_) => json!("number"),
        Value::String(_) => json!("string"),
        Value::List(items) => match shape {
            Shape::List(s) => json!(["list", elem_type(items.iter(), s)]),
            Shape::Set(s) => json!(["set", elem_type(items.iter(), s)]),
            Shape::Tuple(shapes) => {
                // A `for` body's shape (one entry) applies to every element.
                let one = shapes.len() == 1 && items.len() != 1;
                let ts: Vec<Json> = items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        let s = if one { &shapes[0] } else { shapes.get(i).unwrap_or(&Shape::Dyn) };
                        type_json(v, s)
                    })
                    .collect();
                json!(["tuple", ts])
            }
            _ => json!([
                "tuple",
                items.iter().map(|v| type_json(v, &Shape::Dyn)).collect::<Vec<_>>()
            ]),
        },
        Value::Map(map) => match shape {
            Shape::Map(s) => json!(["map", elem_type(map.values(), s)]),
            Shape::Object(shapes) => {
                let for_body = shapes.get("");
                let ts: serde_json::Map<String, Json> = map
                    .iter()
                    .map(|(k, v)| {
                        let s = shapes.get(k).or(for_body).unwrap_or(&Shape::Dyn);
                        (k.clone(), type_json(v, s))
                    })
                    .collect();
                json!(["object", ts])
            }
            _ => json!([
                "object",
                map.iter()
                    .map(|(k, v)| (k.clone(), type_json(v, &Shape::Dyn)))
                    .collect::<serde_json::Map<_, _>>()
            ]),
        },
    }
}

/// The element type of a list, set or map: the unification of its elements' types (Terraform
/// converted them all to one type), or what the shape says when it has none.
fn elem_type<'v>(items: impl Iterator<Item = &'v Value>, shape: &Shape) -> Json {
    let types: Vec<Json> =
        items.filter(|v| !v.peel().is_null()).map(|v| type_json(v, shape)).collect();
    if types.is_empty() {
        return shape_json(shape);
    }
    types.into_iter().reduce(unify_json).unwrap_or_else(|| json!("dynamic"))
}

/// The type a shape alone gives (for collections without elements, and for the branch of a
/// conditional that is not taken).
pub fn shape_json(shape: &Shape) -> Json {
    match shape {
        Shape::String => json!("string"),
        Shape::Number => json!("number"),
        Shape::Bool => json!("bool"),
        Shape::List(s) => json!(["list", shape_json(s)]),
        Shape::Set(s) => json!(["set", shape_json(s)]),
        Shape::Map(s) => json!(["map", shape_json(s)]),
        Shape::Tuple(ts) => json!(["tuple", ts.iter().map(shape_json).collect::<Vec<_>>()]),
        // (The "" entry is a `for` body's shape, not an attribute.)
        Shape::Object(m) => json!([
            "object",
            m.iter()
                .filter(|(k, _)| !k.is_empty())
                .map(|(k, s)| (k.clone(), shape_json(s)))
                .collect::<serde_json::Map<_, _>>()
        ]),
        Shape::Dyn => json!("dynamic"),
    }
}

/// cty's type unification, on the JSON notation: equal types stay; primitives of different
/// kinds become strings; tuples become lists and objects maps of their unified elements.
fn unify_json(a: Json, b: Json) -> Json {
    if a == b {
        return a;
    }
    let prim = |t: &Json| t.is_string() && t != "dynamic";
    if prim(&a) && prim(&b) {
        return json!("string");
    }
    let parts = |t: &Json| -> Option<(String, Vec<Json>)> {
        let arr = t.as_array()?;
        let kind = arr.first()?.as_str()?.to_string();
        let inner = arr.get(1)?;
        let elems = match kind.as_str() {
            "tuple" => inner.as_array()?.clone(),
            "object" => inner.as_object()?.values().cloned().collect(),
            _ => vec![inner.clone()],
        };
        Some((kind, elems))
    };
    match (parts(&a), parts(&b)) {
        (Some((ka, ea)), Some((kb, eb))) => {
            let seq = |k: &str| matches!(k, "tuple" | "list");
            let map = |k: &str| matches!(k, "object" | "map");
            let all =
                ea.into_iter().chain(eb).reduce(unify_json).unwrap_or_else(|| json!("dynamic"));
            if seq(&ka) && seq(&kb) {
                json!(["list", all])
            } else if map(&ka) && map(&kb) {
                json!(["map", all])
            } else {
                json!("dynamic")
            }
        }
        _ => json!("dynamic"),
    }
}

/// The shape of a conditional: Terraform unifies its two results' types (the same rules as
/// [`unify_types`], on shapes; where they cannot unify, nothing is known).
fn unify_shapes(a: Shape, b: Shape) -> Shape {
    use Shape as S;
    fn all(items: impl IntoIterator<Item = Shape>) -> Shape {
        items.into_iter().reduce(unify_shapes).unwrap_or(S::Dyn)
    }
    match (a, b) {
        (a, b) if a == b => a,
        (S::Dyn, x) | (x, S::Dyn) => x,
        (S::String, S::Number | S::Bool) | (S::Number | S::Bool, S::String) => S::String,
        (S::Tuple(x), S::Tuple(y)) if x.len() == y.len() => {
            S::Tuple(x.into_iter().zip(y).map(|(a, b)| unify_shapes(a, b)).collect())
        }
        (S::Tuple(x), S::Tuple(y)) => S::List(Box::new(all(x.into_iter().chain(y)))),
        (S::List(e), S::Tuple(y)) | (S::Tuple(y), S::List(e)) => {
            S::List(Box::new(all(std::iter::once(*e).chain(y))))
        }
        (S::List(x), S::List(y)) => S::List(Box::new(unify_shapes(*x, *y))),
        (S::Set(x), S::Set(y)) => S::Set(Box::new(unify_shapes(*x, *y))),
        (S::Map(x), S::Map(y)) => S::Map(Box::new(unify_shapes(*x, *y))),
        (S::Object(x), S::Object(y)) if x.keys().eq(y.keys()) => S::Object(
            x.into_iter().zip(y).map(|((k, a), (_, b))| (k, unify_shapes(a, b))).collect(),
        ),
        (S::Object(x), S::Object(y)) => {
            S::Map(Box::new(all(x.into_values().chain(y.into_values()))))
        }
        (S::Map(e), S::Object(o)) | (S::Object(o), S::Map(e)) => {
            S::Map(Box::new(all(std::iter::once(*e).chain(o.into_values()))))
        }
        _ => S::Dyn,
    }
}

/// cty's type unification (what a conditional and `coalesce` give their result), on the JSON
/// notation: equal types stay; `dynamic` (a null, an unknown, a shape not known) takes the other
/// type; a string with a number or bool is a string; tuples of one length unify element-wise,
/// of different lengths (or with a list) to a list of all their elements' unification; objects
/// with the same attributes unify attribute-wise, otherwise (or with a map) to a map. `None`:
/// the types cannot unify (Terraform reports an error there; the value is left as it is).
pub fn unify_types(a: &Json, b: &Json) -> Option<Json> {
    let all = |items: &mut dyn Iterator<Item = &Json>| unify_all(items);
    if a == b {
        return Some(a.clone());
    }
    if a == "dynamic" {
        return Some(b.clone());
    }
    if b == "dynamic" {
        return Some(a.clone());
    }
    if let (Some(x), Some(y)) = (a.as_str(), b.as_str()) {
        return match (x, y) {
            ("string", "number" | "bool") | ("number" | "bool", "string") => Some(json!("string")),
            _ => None,
        };
    }
    let kind = |t: &Json| -> Option<(String, Json)> {
        let arr = t.as_array()?;
        Some((arr.first()?.as_str()?.to_string(), arr.get(1)?.clone()))
    };
    let ((ka, ea), (kb, eb)) = (kind(a)?, kind(b)?);
    let seq = |e: &Json| e.as_array().cloned().unwrap_or_default();
    let attrs = |e: &Json| e.as_object().cloned().unwrap_or_default();
    Some(match (ka.as_str(), kb.as_str()) {
        ("tuple", "tuple") => {
            let (x, y) = (seq(&ea), seq(&eb));
            if x.len() == y.len() {
                let ts: Option<Vec<Json>> =
                    x.iter().zip(&y).map(|(p, q)| unify_types(p, q)).collect();
                json!(["tuple", ts?])
            } else {
                json!(["list", all(&mut x.iter().chain(&y))?])
            }
        }
        ("list", "tuple") => json!(["list", all(&mut std::iter::once(&ea).chain(&seq(&eb)))?]),
        ("tuple", "list") => json!(["list", all(&mut std::iter::once(&eb).chain(&seq(&ea)))?]),
        ("list", "list") | ("set", "set") | ("map", "map") => {
            json!([ka, unify_types(&ea, &eb)?])
        }
        ("object", "object") => {
            let (x, y) = (attrs(&ea), attrs(&eb));
            if x.keys().eq(y.keys()) {
                let mut m = serde_json::Map::new();
                for ((k, p), (_, q)) in x.iter().zip(&y) {
                    m.insert(k.clone(), unify_types(p, q)?);
                }
                json!(["object", m])
            } else {
                json!(["map", all(&mut x.values().chain(y.values()))?])
            }
        }
        ("map", "object") => {
            json!(["map", all(&mut std::iter::once(&ea).chain(attrs(&eb).values()))?])
        }
        ("object", "map") => {
            json!(["map", all(&mut std::iter::once(&eb).chain(attrs(&ea).values()))?])
        }
        _ => return None,
    })
}

/// The unification of several types at once. As in cty, primitives of different kinds unify
/// to a string when a string is among them (`1`, `true`, `"a"` → string) even though a number
/// and a bool alone do not; other types unify pairwise.
pub fn unify_all(types: &mut dyn Iterator<Item = &Json>) -> Option<Json> {
    let types: Vec<&Json> = types.filter(|t| *t != "dynamic").collect();
    if types.is_empty() {
        return Some(json!("dynamic"));
    }
    if types.iter().all(|t| t.is_string()) && types.iter().any(|t| *t == "string") {
        return Some(json!("string"));
    }
    let mut acc = types[0].clone();
    for t in &types[1..] {
        acc = unify_types(&acc, t)?;
    }
    Some(acc)
}

/// Converts a value to a (unified) type: the only conversions unification asks for are a
/// number or bool to a string, at any depth. Marks stay where they were.
pub fn convert_to_type(v: Value, t: &Json) -> Value {
    let (v, sens) = v.unmark();
    let out = match (v, t) {
        (v @ (Value::Number(_) | Value::BigNumber(_) | Value::Bool(_)), t) if t == "string" => {
            v.to_template_string().map_or(v, Value::String)
        }
        (Value::List(items), Json::Array(arr)) => {
            match (arr.first().and_then(Json::as_str), arr.get(1)) {
                (Some("list" | "set"), Some(e)) => {
                    Value::List(items.into_iter().map(|v| convert_to_type(v, e)).collect())
                }
                (Some("tuple"), Some(Json::Array(ts))) => Value::List(
                    items
                        .into_iter()
                        .enumerate()
                        .map(|(i, v)| match ts.get(i) {
                            Some(t) => convert_to_type(v, t),
                            None => v,
                        })
                        .collect(),
                ),
                _ => Value::List(items),
            }
        }
        (Value::Map(map), Json::Array(arr)) => {
            match (arr.first().and_then(Json::as_str), arr.get(1)) {
                (Some("map"), Some(e)) => {
                    Value::Map(map.into_iter().map(|(k, v)| (k, convert_to_type(v, e))).collect())
                }
                (Some("object"), Some(Json::Object(ts))) => Value::Map(
                    map.into_iter()
                        .map(|(k, v)| match ts.get(&k) {
                            Some(t) => {
                                let v = convert_to_type(v, t);
                                (k, v)
                            }
                            None => (k, v),
                        })
                        .collect(),
                ),
                _ => Value::Map(map),
            }
        }
        (v, _) => v,
    };
    out.mark_if(sens)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ty(src: &str, v: Value) -> Json {
        let e = hcl::edit::parser::parse_expr(src).unwrap();
        type_json(&v, &shape_of(&e, &NoScope, 0))
    }

    #[test]
    fn literals_are_tuples_and_objects_conversions_lists_sets_and_maps() {
        let l = Value::List(vec![Value::Number(1.0)]);
        assert_eq!(ty("[1]", l.clone()), json!(["tuple", ["number"]]));
        assert_eq!(ty("tolist([1])", l.clone()), json!(["list", "number"]));
        assert_eq!(ty("toset([1])", l.clone()), json!(["set", "number"]));
        assert_eq!(
            ty("split(\",\", \"a\")", Value::List(vec![Value::string("a")])),
            json!(["list", "string"])
        );
        let m = Value::Map(BTreeMap::from([("a".to_string(), Value::Bool(true))]));
        assert_eq!(ty("{a = true}", m.clone()), json!(["object", {"a": "bool"}]));
        assert_eq!(ty("tomap({a = true})", m), json!(["map", "bool"]));
        assert_eq!(ty("tolist([])", Value::List(vec![])), json!(["list", "dynamic"]));
    }
}
