//! Numbers as Terraform computes them: binary floating point with a 512-bit mantissa, rounded to
//! nearest-even after every operation (Go's `big.Float` at precision 512, which cty uses), and
//! printed as Go's `Text('f', -1)` does — the shortest decimal that reads back to the same
//! 512-bit number. So `0.1 + 0.2 == 0.3`, integers of any size are exact, and `1/3` prints with
//! the 156 digits Terraform prints.
//!
//! **Invariants:** a [`BigNum`] is normalised (mantissa odd, or zero with exponent 0 and no
//! sign), so derived equality is numeric equality; mantissas never exceed [`PREC`] bits; binary
//! exponents stay within ±[`MAX_EXP`] (beyond, an operation reports "out of range" instead of
//! allocating without bound); nothing here panics.

use std::cmp::Ordering;

use num_bigint::BigUint;
use num_traits::{One, ToPrimitive, Zero};

/// Mantissa bits, as cty's numbers.
pub const PREC: u64 = 512;
/// Largest binary exponent magnitude accepted (about 10^±300,000).
pub const MAX_EXP: i64 = 1 << 20;

/// `(-1)^neg × mant × 2^exp`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BigNum {
    neg: bool,
    mant: BigUint,
    exp: i64,
}

fn bits(m: &BigUint) -> i64 {
    i64::try_from(m.bits()).unwrap_or(i64::MAX)
}

impl BigNum {
    pub fn zero() -> BigNum {
        BigNum { neg: false, mant: BigUint::zero(), exp: 0 }
    }

    pub fn is_zero(&self) -> bool {
        self.mant.is_zero()
    }

    pub fn is_negative(&self) -> bool {
        self.neg
    }

    /// Rounds `m × 2^e` (plus a nonzero remainder below it when `sticky`) to [`PREC`] bits and
    /// normalises; `None` when the exponent leaves the supported range.
    fn round(neg: bool, mut m: BigUint, mut e: i64, sticky: bool) -> Option<BigNum> {
        let n = bits(&m);
        if n > PREC as i64 {
            let shift = (n - PREC as i64) as u64;
            let half = m.bit(shift - 1);
            let below = sticky || m.trailing_zeros().is_some_and(|tz| tz < shift - 1);
            m >>= shift;
            e += shift as i64;
            if half && (below || m.bit(0)) {
                m += 1u32;
            }
        }
        if m.is_zero() {
            return Some(BigNum::zero());
        }
        let tz = m.trailing_zeros().unwrap_or(0);
        m >>= tz;
        e += tz as i64;
        if e.abs() > MAX_EXP + PREC as i64 {
            return None;
        }
        Some(BigNum { neg, mant: m, exp: e })
    }

    /// The exact value of an `f64` (finite).
    pub fn from_f64(x: f64) -> Option<BigNum> {
        if !x.is_finite() {
            return None;
        }
        if x == 0.0 {
            return Some(BigNum::zero());
        }
        let b = x.to_bits();
        let neg = b >> 63 == 1;
        let exp_bits = ((b >> 52) & 0x7ff) as i64;
        let frac = b & ((1u64 << 52) - 1);
        let (m, e) =
            if exp_bits == 0 { (frac, -1074) } else { (frac | (1u64 << 52), exp_bits - 1075) };
        BigNum::round(neg, BigUint::from(m), e, false)
    }

    pub fn from_i128(x: i128) -> BigNum {
        BigNum::round(x < 0, BigUint::from(x.unsigned_abs()), 0, false).unwrap_or_else(BigNum::zero)
    }

    /// Parses a decimal number (`-12.5e-3`, as HCL literals and `tonumber` strings), rounding
    /// once, to nearest-even.
    pub fn parse(text: &str) -> Option<BigNum> {
        let s = text.trim();
        let (neg, s) = match s.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, s.strip_prefix('+').unwrap_or(s)),
        };
        let (num, exp10) = match s.find(['e', 'E']) {
            Some(i) => (s.get(..i)?, s.get(i + 1..)?.parse::<i64>().ok()?),
            None => (s, 0),
        };
        let (int, frac) = match num.find('.') {
            Some(i) => (num.get(..i)?, num.get(i + 1..)?),
            None => (num, ""),
        };
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        if !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
            return None;
        }
        let digits = format!("{int}{frac}");
        let digits = digits.trim_start_matches('0');
        let k = exp10.checked_sub(i64::try_from(frac.len()).ok()?)?;
        if digits.is_empty() {
            return Some(BigNum::zero());
        }
        // 10^k beyond about ±315,000 is out of the supported exponent range anyway.
        let magnitude = k.checked_add(i64::try_from(digits.len()).ok()?)?;
        if magnitude.abs() > 316_000 || digits.len() > 100_000 {
            return None;
        }
        let d = BigUint::parse_bytes(digits.as_bytes(), 10)?;
        if k >= 0 {
            let p = BigUint::from(10u32).pow(u32::try_from(k).ok()?);
            BigNum::round(neg, d * p, 0, false)
        } else {
            // d / 10^-k = d / (5^-k × 2^-k): divide by the odd part exactly enough to round.
            let kk = u32::try_from(-k).ok()?;
            let five = BigUint::from(5u32).pow(kk);
            let shift = (PREC as i64 + 2 + bits(&five) - bits(&d)).max(0);
            let num = d << (shift as u64);
            let (q, r) = (&num / &five, &num % &five);
            BigNum::round(neg, q, -shift - i64::from(kk), !r.is_zero())
        }
    }

    pub fn neg(&self) -> BigNum {
        if self.is_zero() {
            return self.clone();
        }
        BigNum { neg: !self.neg, ..self.clone() }
    }

    pub fn abs(&self) -> BigNum {
        BigNum { neg: false, ..self.clone() }
    }

    pub fn add(&self, o: &BigNum) -> Option<BigNum> {
        if self.is_zero() {
            return Some(o.clone());
        }
        if o.is_zero() {
            return Some(self.clone());
        }
        // An operand far below the other's last bit only decides the rounding, which it cannot
        // change (it is less than a quarter ulp): skip the huge alignment shift.
        let top = |x: &BigNum| x.exp + bits(&x.mant);
        if top(o) < top(self) - PREC as i64 - 4 {
            return Some(self.clone());
        }
        if top(self) < top(o) - PREC as i64 - 4 {
            return Some(o.clone());
        }
        let e = self.exp.min(o.exp);
        let a = &self.mant << ((self.exp - e) as u64);
        let b = &o.mant << ((o.exp - e) as u64);
        if self.neg == o.neg {
            BigNum::round(self.neg, a + b, e, false)
        } else {
            match a.cmp(&b) {
                Ordering::Equal => Some(BigNum::zero()),
                Ordering::Greater => BigNum::round(self.neg, a - b, e, false),
                Ordering::Less => BigNum::round(o.neg, b - a, e, false),
            }
        }
    }

    pub fn sub(&self, o: &BigNum) -> Option<BigNum> {
        self.add(&o.neg())
    }

    pub fn mul(&self, o: &BigNum) -> Option<BigNum> {
        if self.is_zero() || o.is_zero() {
            return Some(BigNum::zero());
        }
        BigNum::round(self.neg != o.neg, &self.mant * &o.mant, self.exp + o.exp, false)
    }

    /// `None` when dividing by zero or out of range.
    pub fn div(&self, o: &BigNum) -> Option<BigNum> {
        if o.is_zero() {
            return None;
        }
        if self.is_zero() {
            return Some(BigNum::zero());
        }
        let shift = (PREC as i64 + 2 + bits(&o.mant) - bits(&self.mant)).max(0);
        let num = &self.mant << (shift as u64);
        let (q, r) = (&num / &o.mant, &num % &o.mant);
        BigNum::round(self.neg != o.neg, q, self.exp - shift - o.exp, !r.is_zero())
    }

    /// The value truncated towards zero.
    pub fn trunc(&self) -> BigNum {
        if self.exp >= 0 {
            return self.clone();
        }
        let m = &self.mant >> ((-self.exp) as u64);
        BigNum::round(self.neg, m, 0, false).unwrap_or_else(BigNum::zero)
    }

    pub fn is_integer(&self) -> bool {
        self.exp >= 0 || self.is_zero()
    }

    /// cty's modulo: `a - b × trunc(a / b)`, each step rounded as cty rounds it.
    pub fn rem(&self, o: &BigNum) -> Option<BigNum> {
        let q = self.div(o)?.trunc();
        self.sub(&o.mul(&q)?)
    }

    pub fn floor(&self) -> BigNum {
        let t = self.trunc();
        if self.neg && t != *self { t.sub(&BigNum::from_i128(1)).unwrap_or(t) } else { t }
    }

    pub fn ceil(&self) -> BigNum {
        let t = self.trunc();
        if !self.neg && t != *self { t.add(&BigNum::from_i128(1)).unwrap_or(t) } else { t }
    }

    fn compare(&self, o: &BigNum) -> Ordering {
        match (self.is_zero(), o.is_zero()) {
            (true, true) => return Ordering::Equal,
            (true, false) => {
                return if o.neg { Ordering::Greater } else { Ordering::Less };
            }
            (false, true) => {
                return if self.neg { Ordering::Less } else { Ordering::Greater };
            }
            _ => {}
        }
        if self.neg != o.neg {
            return if self.neg { Ordering::Less } else { Ordering::Greater };
        }
        let top = |x: &BigNum| x.exp + bits(&x.mant);
        let mag = match top(self).cmp(&top(o)) {
            Ordering::Equal => {
                let e = self.exp.min(o.exp);
                let a = &self.mant << ((self.exp - e) as u64);
                let b = &o.mant << ((o.exp - e) as u64);
                a.cmp(&b)
            }
            other => other,
        };
        if self.neg { mag.reverse() } else { mag }
    }

    /// The nearest `f64` (through the shortest decimal, which reads back exactly).
    pub fn to_f64(&self) -> f64 {
        if let Some(i) = self.to_i128().filter(|i| i.unsigned_abs() < (1u128 << 53)) {
            return i as f64;
        }
        self.to_string().parse().unwrap_or(f64::NAN)
    }

    /// The value as an integer, when it is one and fits.
    pub fn to_i128(&self) -> Option<i128> {
        if !self.is_integer() || self.exp > 126 {
            return None;
        }
        let m = (&self.mant << (self.exp as u64)).to_i128()?;
        Some(if self.neg { -m } else { m })
    }

    /// Decimal digits and point position of `m × 2^e` (value = 0.d₁d₂… × 10^point), without
    /// leading or trailing zeros.
    fn decimal(m: &BigUint, e: i64) -> (Vec<u8>, i64) {
        let (int, point_shift) = if e >= 0 {
            (m << (e as u64), 0i64)
        } else {
            // m × 2^e = m × 5^-e / 10^-e.
            (m * BigUint::from(5u32).pow(u32::try_from(-e).unwrap_or(u32::MAX)), e)
        };
        let s = int.to_str_radix(10);
        let mut digits: Vec<u8> = s.into_bytes();
        let point = i64::try_from(digits.len()).unwrap_or(i64::MAX) + point_shift;
        while digits.last() == Some(&b'0') {
            digits.pop();
        }
        (digits, point)
    }
}

impl std::fmt::Display for BigNum {
    /// Go's `(*big.Float).Text('f', -1)` at precision 512 (see the module doc).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_zero() {
            return f.write_str("0");
        }
        let (mut d, mut point) = BigNum::decimal(&self.mant, self.exp);
        // Go's roundShortest: the bounds are x ± ½ulp at 512 bits; stop at the first digit
        // that tells x apart from both.
        let scale = PREC as i64 + 1 - bits(&self.mant);
        let m2 = &self.mant << (scale as u64);
        let e2 = self.exp - scale;
        let (lower, lp) = BigNum::decimal(&(&m2 - BigUint::one()), e2);
        let (upper, up) = BigNum::decimal(&(&m2 + BigUint::one()), e2);
        let inclusive = !m2.bit(1);
        // Align the bounds' digits with x's (they may have a different point position).
        let at = |v: &[u8], p: i64, i: usize| -> u8 {
            let idx = i as i64 - (point - p);
            if idx < 0 { b'0' } else { v.get(idx as usize).copied().unwrap_or(b'0') }
        };
        let lower_len = lower.len() as i64 + (point - lp);
        let upper_len = upper.len() as i64 + (point - up);
        for i in 0..d.len() {
            let m = d[i];
            let l = at(&lower, lp, i);
            let u = at(&upper, up, i);
            let okdown = l != m || (inclusive && i as i64 + 1 == lower_len);
            let okup = m != u && (inclusive || m + 1 < u || (i as i64 + 1) < upper_len);
            let n = i + 1;
            let round_up = match (okdown, okup) {
                (true, true) => Some(should_round_up(&d, n)),
                (true, false) => Some(false),
                (false, true) => Some(true),
                (false, false) => None,
            };
            if let Some(up) = round_up {
                d.truncate(n);
                if up {
                    // Add one at the last digit, carrying.
                    let mut j = d.len();
                    loop {
                        if j == 0 {
                            d.insert(0, b'1');
                            point += 1;
                            break;
                        }
                        j -= 1;
                        if d[j] == b'9' {
                            d[j] = b'0';
                        } else {
                            d[j] += 1;
                            break;
                        }
                    }
                }
                while d.last() == Some(&b'0') {
                    d.pop();
                }
                break;
            }
        }
        let mut out = String::new();
        if self.neg {
            out.push('-');
        }
        if point <= 0 {
            out.push_str("0.");
            for _ in 0..(-point) {
                out.push('0');
            }
            out.push_str(std::str::from_utf8(&d).unwrap_or(""));
        } else {
            let p = point as usize;
            for i in 0..p {
                out.push(d.get(i).map_or('0', |c| char::from(*c)));
            }
            if d.len() > p {
                out.push('.');
                out.push_str(std::str::from_utf8(&d[p..]).unwrap_or(""));
            }
        }
        f.write_str(&out)
    }
}

impl Ord for BigNum {
    /// Numeric order.
    fn cmp(&self, o: &BigNum) -> Ordering {
        self.compare(o)
    }
}

impl PartialOrd for BigNum {
    fn partial_cmp(&self, o: &BigNum) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

/// Saved plans keep a big number as its decimal text, which reads back to the same number.
impl serde::Serialize for BigNum {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> serde::Deserialize<'de> for BigNum {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<BigNum, D::Error> {
        let text = String::deserialize(d)?;
        BigNum::parse(&text).ok_or_else(|| serde::de::Error::custom("invalid number"))
    }
}

/// Go's `shouldRoundUp`: at a tie (exactly "5" last), round to even.
fn should_round_up(d: &[u8], n: usize) -> bool {
    match d.get(n) {
        Some(b'5') if n + 1 == d.len() => n > 0 && (d[n - 1] - b'0') % 2 == 1,
        Some(c) => *c >= b'5',
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::BigNum;

    fn n(s: &str) -> BigNum {
        BigNum::parse(s).unwrap()
    }

    #[test]
    fn decimal_arithmetic_prints_as_terraform_does() {
        assert_eq!(n("0.1").add(&n("0.2")).unwrap().to_string(), "0.3");
        assert_eq!(n("0.1").add(&n("0.2")).unwrap(), n("0.3"));
        assert_eq!(
            n("1").div(&n("3")).unwrap().to_string(),
            "0.33333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333335"
        );
        assert_eq!(
            n("123456789012345678901234567890").to_string(),
            "123456789012345678901234567890"
        );
        assert_eq!(n("9007199254740993").to_string(), "9007199254740993");
        assert_eq!(n("1.5e-3").to_string(), "0.0015");
        assert_eq!(n("1e3").to_string(), "1000");
        assert_eq!(n("-0.25").to_string(), "-0.25");
        assert_eq!(n("2.50").to_string(), "2.5");
        assert_eq!(n("7.5").rem(&n("2")).unwrap().to_string(), "1.5");
        assert_eq!(n("-7").rem(&n("3")).unwrap().to_string(), "-1");
        // As Terraform 1.0.3 prints them (its `terraform output -json`).
        assert_eq!(n("1.1").mul(&n("3")).unwrap().to_string(), format!("3.3{}2", "0".repeat(152)));
        assert_eq!(n("1").sub(&n("0.9")).unwrap().to_string(), format!("0.1{}3", "0".repeat(153)));
        assert_eq!(n("0").to_string(), "0");
        assert!(BigNum::parse("1e999999999").is_none());
        assert!(BigNum::parse("x").is_none());
        assert_eq!(n("0.1").to_f64(), 0.1);
        assert_eq!(BigNum::from_f64(0.5).unwrap(), n("0.5"));
    }
}
