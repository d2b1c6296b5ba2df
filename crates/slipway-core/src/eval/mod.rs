//! Expression evaluation: the evaluator over hcl-edit's AST ([`expr`]), static reference
//! collection ([`refs`]), the built-in function library ([`functions`]) and type conversion for
//! variable constraints and schemas ([`convert`]).
//!
//! **Architecture invariant:** evaluation is pure. References are resolved through the
//! [`expr::Resolver`] trait; the only I/O is `file()`/`templatefile()` reading local files.

pub mod convert;
pub mod expr;
pub mod functions;
pub mod number;
pub mod refs;
pub mod types;

/// Deepest bracket nesting in a text, counted before parsing: hcl-edit's recursive-descent parser
/// would overflow the stack on hostile input such as 100,000 `(`.
pub fn nesting_depth(text: &str) -> usize {
    let (mut depth, mut max) = (0usize, 0usize);
    for b in text.bytes() {
        match b {
            b'(' | b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// Byte offset of the first bracket nested deeper than `limit`, so that the "nested too deep"
/// error points at it rather than at the start of the file.
pub fn too_deep_at(text: &str, limit: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, b) in text.bytes().enumerate() {
        match b {
            b'(' | b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return Some(i);
                }
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}
