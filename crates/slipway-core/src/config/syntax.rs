//! Syntax helpers shared with the evaluator and the CLI: identifiers, literal strings,
//! traversals as text, type constraints.

use super::*;

/// Names: a letter or `_`, then letters, digits, `_` and `-`.
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_' || c == '-')
}

/// The value of a string literal without interpolation.
pub fn literal_string(e: &Expression) -> Option<String> {
    match e {
        Expression::String(s) => Some(s.value().clone()),
        Expression::StringTemplate(t) => {
            let mut out = String::new();
            for el in t.iter() {
                out.push_str(el.as_literal()?.value());
            }
            Some(out)
        }
        _ => None,
    }
}

/// `a.b.c` as a string, for meta-arguments that name things (`provider = aws.west`).
pub fn traversal_string(e: &Expression) -> Option<String> {
    match e {
        Expression::Variable(v) => Some(v.as_str().to_string()),
        Expression::Traversal(t) => {
            let mut s = traversal_string(&t.expr)?;
            for op in &t.operators {
                match op.value() {
                    TraversalOperator::GetAttr(a) => {
                        s.push('.');
                        s.push_str(a.as_str());
                    }
                    TraversalOperator::Index(Expression::Number(n)) => {
                        s.push_str(&format!("[{}]", n.value()))
                    }
                    TraversalOperator::LegacyIndex(n) => s.push_str(&format!("[{}]", n.value())),
                    TraversalOperator::Index(e) => {
                        let k = literal_string(e)?;
                        s.push_str(&format!("[{}]", serde_json::to_string(&k).ok()?));
                    }
                    _ => return None,
                }
            }
            Some(s)
        }
        _ => None,
    }
}

/// Parses a type constraint expression (`list(object({ name = string, size = optional(number) }))`).
pub fn parse_type(e: &Expression, in_object: bool) -> Result<(Type, bool), String> {
    parse_type_inner(e, in_object, 0)
}

pub(super) fn parse_type_inner(
    e: &Expression,
    in_object: bool,
    depth: usize,
) -> Result<(Type, bool), String> {
    if depth > 64 {
        return Err("type constraint nested too deeply".into());
    }
    match e {
        Expression::Variable(v) => match v.as_str() {
            "string" => Ok((Type::String, false)),
            "number" => Ok((Type::Number, false)),
            "bool" => Ok((Type::Bool, false)),
            "any" => Ok((Type::Any, false)),
            other => Err(format!("unknown type `{other}`")),
        },
        Expression::FuncCall(call) => {
            let name = call.name.name.as_str();
            let args: Vec<&Expression> = call.args.iter().collect();
            let one = |args: &[&Expression]| -> Result<Type, String> {
                if args.len() != 1 {
                    return Err(format!("`{name}(…)` takes one type"));
                }
                Ok(parse_type_inner(args[0], false, depth + 1)?.0)
            };
            match name {
                "list" => Ok((Type::List(Box::new(one(&args)?)), false)),
                "set" => Ok((Type::Set(Box::new(one(&args)?)), false)),
                "map" => Ok((Type::Map(Box::new(one(&args)?)), false)),
                "optional" if in_object => {
                    if args.len() == 2 {
                        return Err("optional(…) with a default value is not supported yet; give the default in the variable's `default` instead".into());
                    }
                    Ok((one(&args)?, true))
                }
                "optional" => Err("optional(…) is only allowed for object attributes".into()),
                "tuple" => match args.as_slice() {
                    [Expression::Array(items)] => Ok((
                        Type::Tuple(
                            items
                                .iter()
                                .map(|i| parse_type_inner(i, false, depth + 1).map(|t| t.0))
                                .collect::<Result<_, _>>()?,
                        ),
                        false,
                    )),
                    _ => Err("tuple takes a list of types: tuple([string, number])".into()),
                },
                "object" => match args.as_slice() {
                    [Expression::Object(obj)] => {
                        let mut attrs = BTreeMap::new();
                        for (k, v) in obj.iter() {
                            let key = match k {
                                hcl::edit::expr::ObjectKey::Ident(i) => i.as_str().to_string(),
                                hcl::edit::expr::ObjectKey::Expression(e) => literal_string(e)
                                    .ok_or("object attribute names must be names")?,
                            };
                            attrs.insert(key, parse_type_inner(v.expr(), true, depth + 1)?);
                        }
                        Ok((Type::Object(attrs), false))
                    }
                    _ => Err("object takes attribute types: object({ name = string })".into()),
                },
                other => Err(format!("unknown type constructor `{other}`")),
            }
        }
        _ => Err("expected a type such as string, list(string) or object({…})".into()),
    }
}
