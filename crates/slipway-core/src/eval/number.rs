//! Arithmetic and comparison of numbers with Terraform's precision.
//!
//! A number is [`Value::Number`] (an `f64`) when its value is exactly an `f64`, and
//! [`Value::BigNumber`] otherwise (see [`crate::value::bignum`]). The common case — integers
//! below 2^53 — never leaves `f64`: sums, differences, products, exact quotients and remainders
//! of such integers are computed and checked in `f64`; everything else goes through 512-bit
//! arithmetic and comes back in canonical form ([`canonical`]).
//!
//! **Invariant:** every number this module returns is canonical, so two equal numbers are equal
//! `Value`s (derived `PartialEq` and the plan's comparisons stay numeric).

use std::cmp::Ordering;

use crate::value::Value;
use crate::value::bignum::BigNum;

/// 2^53: below it every integer is exact in an `f64`.
const EXACT: f64 = 9_007_199_254_740_992.0;

/// The canonical value of a 512-bit number: an `f64` when exact, else the big form.
pub fn canonical(b: BigNum) -> Value {
    if let Some(i) = b.to_i128().filter(|i| (*i as f64).abs() < EXACT) {
        return Value::Number(i as f64);
    }
    let f = b.to_f64();
    if f.is_finite() && BigNum::from_f64(f).as_ref() == Some(&b) {
        return Value::Number(f);
    }
    Value::BigNumber(Box::new(b))
}

/// Parses a number's decimal text (a literal, or a string converted to a number).
pub fn parse(text: &str) -> Option<Value> {
    BigNum::parse(text).map(canonical)
}

/// A number operand: numbers, and strings that parse as numbers (HCL converts them implicitly).
enum Num {
    F(f64),
    B(BigNum),
}

fn operand(v: &Value) -> Option<Num> {
    match v.peel() {
        Value::Number(n) => Some(Num::F(*n)),
        Value::BigNumber(b) => Some(Num::B((**b).clone())),
        Value::String(s) => match parse(s)? {
            Value::Number(n) => Some(Num::F(n)),
            Value::BigNumber(b) => Some(Num::B(*b)),
            _ => None,
        },
        _ => None,
    }
}

fn big(n: &Num) -> Option<BigNum> {
    match n {
        Num::F(f) => BigNum::from_f64(*f),
        Num::B(b) => Some(b.clone()),
    }
}

/// Whether `v` is a number, or a string that converts to one.
pub fn is_number(v: &Value) -> bool {
    operand(v).is_some()
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Op {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

/// Why an arithmetic operation has no result.
#[derive(Debug, PartialEq)]
pub enum ArithError {
    /// An operand is not a number (0: left, 1: right).
    NotNumber(usize),
    DivisionByZero,
    OutOfRange,
}

pub fn arith(op: Op, l: &Value, r: &Value) -> Result<Value, ArithError> {
    let a = operand(l).ok_or(ArithError::NotNumber(0))?;
    let b = operand(r).ok_or(ArithError::NotNumber(1))?;
    if let (Num::F(x), Num::F(y)) = (&a, &b) {
        let (x, y) = (*x, *y);
        if matches!(op, Op::Div | Op::Rem) && y == 0.0 {
            return Err(ArithError::DivisionByZero);
        }
        let ints = x.fract() == 0.0 && y.fract() == 0.0 && x.abs() < EXACT && y.abs() < EXACT;
        if ints {
            let r = match op {
                Op::Add => x + y,
                Op::Sub => x - y,
                Op::Mul => x * y,
                // Truncated, as cty's `a - b × trunc(a / b)` for integers.
                Op::Rem => x % y,
                Op::Div => {
                    let q = x / y;
                    if q.fract() == 0.0 && q * y == x { q } else { f64::NAN }
                }
            };
            if r.is_finite() && r.abs() < EXACT && r.fract() == 0.0 {
                return Ok(Value::Number(if r == 0.0 { 0.0 } else { r }));
            }
        }
    }
    let (x, y) = (big(&a).ok_or(ArithError::OutOfRange)?, big(&b).ok_or(ArithError::OutOfRange)?);
    let out = match op {
        Op::Add => x.add(&y),
        Op::Sub => x.sub(&y),
        Op::Mul => x.mul(&y),
        Op::Div if y.is_zero() => return Err(ArithError::DivisionByZero),
        Op::Div => x.div(&y),
        Op::Rem if y.is_zero() => return Err(ArithError::DivisionByZero),
        Op::Rem => x.rem(&y),
    };
    out.map(canonical).ok_or(ArithError::OutOfRange)
}

/// Numeric order of two numbers (or numeric strings); `None` when one is not a number.
pub fn compare(l: &Value, r: &Value) -> Option<Ordering> {
    match (operand(l)?, operand(r)?) {
        (Num::F(x), Num::F(y)) => x.partial_cmp(&y),
        (a, b) => Some(big(&a)?.cmp(&big(&b)?)),
    }
}

pub fn negate(v: &Value) -> Option<Value> {
    match operand(v)? {
        Num::F(x) => Some(Value::Number(if x == 0.0 { 0.0 } else { -x })),
        Num::B(b) => Some(canonical(b.neg())),
    }
}

/// The decimal text of a number as Terraform prints it in templates, `tostring` and JSON.
pub fn to_text(v: &Value) -> Option<String> {
    match v.peel() {
        Value::Number(n) => Some(crate::value::format_number(*n)),
        Value::BigNumber(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Value {
        parse(s).unwrap()
    }

    #[test]
    fn integers_stay_f64_and_the_rest_is_exact() {
        assert_eq!(arith(Op::Add, &n("1"), &n("2")), Ok(Value::Number(3.0)));
        assert_eq!(arith(Op::Div, &n("10"), &n("4")), Ok(Value::Number(2.5)));
        assert_eq!(arith(Op::Add, &n("0.1"), &n("0.2")), Ok(n("0.3")));
        assert!(matches!(n("0.1"), Value::BigNumber(_)));
        assert_eq!(n("0.5"), Value::Number(0.5));
        assert_eq!(
            to_text(&arith(Op::Add, &n("9007199254740992"), &n("1")).unwrap()).unwrap(),
            "9007199254740993"
        );
        assert_eq!(arith(Op::Rem, &n("5"), &n("0")), Err(ArithError::DivisionByZero));
        assert_eq!(compare(&n("0.1"), &Value::Number(0.1)), Some(Ordering::Less));
        assert_eq!(arith(Op::Rem, &n("-7"), &n("3")), Ok(Value::Number(-1.0)));
        assert_eq!(to_text(&arith(Op::Div, &n("1"), &n("3")).unwrap()).unwrap().len(), 157);
    }
}
