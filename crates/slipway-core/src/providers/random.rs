//! The `random` provider: random_id, random_string, random_password.
//!
//! Values are drawn once, at create, and then kept in state; any change to an input replaces the
//! object (every argument is force-new, and `keepers` exists to tie regeneration to other
//! values). random_password's `result` is sensitive.

use std::collections::BTreeMap;

use base64::Engine as _;
use rand::Rng;

use crate::provider::{
    AttributeSchema as A, CreateRequest, Provider, ProviderError, ProviderSchema, ReadRequest,
    ResourceSchema, Schema,
};
use crate::value::{Type, Value};

pub struct RandomProvider {
    schema: ProviderSchema,
}

const LOWER: &str = "abcdefghijklmnopqrstuvwxyz";
const UPPER: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const DIGITS: &str = "0123456789";
const DEFAULT_SPECIAL: &str = "!@#$%&*()-_=+[]{}<>:?";

fn string_schema(sensitive_result: bool) -> Schema {
    let flag = |d: bool| A::optional(Type::Bool).force_new().default(Value::Bool(d));
    let count = || A::optional(Type::Number).force_new().default(Value::Number(0.0));
    let result = A::computed(Type::String);
    Schema::new()
        .attr("length", A::required(Type::Number).force_new())
        .attr("upper", flag(true))
        .attr("lower", flag(true))
        .attr("numeric", flag(true))
        .attr("special", flag(true))
        .attr("min_upper", count())
        .attr("min_lower", count())
        .attr("min_numeric", count())
        .attr("min_special", count())
        .attr("override_special", A::optional(Type::String).force_new())
        .attr("keepers", A::optional(Type::Map(Box::new(Type::String))).force_new())
        .attr("id", A::computed(Type::String))
        .attr("result", if sensitive_result { result.sensitive() } else { result })
}

impl RandomProvider {
    pub fn new() -> RandomProvider {
        let mut resources = BTreeMap::new();
        resources.insert(
            "random_id".to_string(),
            ResourceSchema::new(
                "Random bytes, exposed as hex, base64url and decimal forms.",
                Schema::new()
                    .attr("byte_length", A::required(Type::Number).force_new())
                    .attr("prefix", A::optional(Type::String).force_new())
                    .attr("keepers", A::optional(Type::Map(Box::new(Type::String))).force_new())
                    .attr("id", A::computed(Type::String))
                    .attr("hex", A::computed(Type::String))
                    .attr("b64_url", A::computed(Type::String))
                    .attr("b64_std", A::computed(Type::String))
                    .attr("dec", A::computed(Type::String)),
            ),
        );
        resources.insert(
            "random_string".to_string(),
            ResourceSchema::new(
                "A random string of the given length and alphabet.",
                string_schema(false),
            ),
        );
        resources.insert(
            "random_password".to_string(),
            ResourceSchema::new(
                "Like random_string, but the result is sensitive.",
                string_schema(true),
            ),
        );
        RandomProvider { schema: ProviderSchema { resources, ..Default::default() } }
    }
}

impl Default for RandomProvider {
    fn default() -> Self {
        Self::new()
    }
}

fn num(obj: &Value, key: &str) -> f64 {
    obj.get_attr(key).and_then(|v| v.as_f64()).unwrap_or(0.0)
}

fn flag(obj: &Value, key: &str, default: bool) -> bool {
    obj.get_attr(key).and_then(|v| v.as_bool()).unwrap_or(default)
}

fn set(obj: &Value, key: &str, v: Value) -> Value {
    let mut map = obj.as_map().cloned().unwrap_or_default();
    map.insert(key.to_string(), v);
    Value::Map(map)
}

fn random_id(planned: &Value) -> Result<Value, ProviderError> {
    let n = num(planned, "byte_length");
    if !(1.0..=1024.0).contains(&n) || n.fract() != 0.0 {
        return Err(ProviderError::fatal(format!(
            "byte_length must be a whole number from 1 to 1024, not {n}"
        )));
    }
    let mut bytes = vec![0u8; n as usize];
    rand::rng().fill(&mut bytes[..]);
    Ok(random_id_object(planned.clone(), &bytes))
}

/// The random_id object for given bytes (shared by create and import).
fn random_id_object(planned: Value, bytes: &[u8]) -> Value {
    let bytes = bytes.to_vec();
    let prefix =
        planned.get_attr("prefix").and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
    let b64_url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes);
    let dec = decimal_of(&bytes);
    let mut obj = planned;
    obj = set(&obj, "id", Value::string(b64_url.clone()));
    obj = set(&obj, "hex", Value::string(format!("{prefix}{}", hex::encode(&bytes))));
    obj = set(&obj, "b64_url", Value::string(format!("{prefix}{b64_url}")));
    obj = set(
        &obj,
        "b64_std",
        Value::string(format!(
            "{prefix}{}",
            base64::engine::general_purpose::STANDARD.encode(&bytes)
        )),
    );
    obj = set(&obj, "dec", Value::string(format!("{prefix}{dec}")));
    obj
}

/// Big-endian bytes as a decimal string, without a bignum crate.
fn decimal_of(bytes: &[u8]) -> String {
    let mut digits: Vec<u8> = vec![0];
    for &b in bytes {
        let mut carry = b as u32;
        for d in digits.iter_mut() {
            let v = *d as u32 * 256 + carry;
            *d = (v % 10) as u8;
            carry = v / 10;
        }
        while carry > 0 {
            digits.push((carry % 10) as u8);
            carry /= 10;
        }
    }
    while digits.len() > 1 && digits.last() == Some(&0) {
        digits.pop();
    }
    digits.iter().rev().map(|d| char::from(b'0' + d)).collect()
}

fn random_string(planned: &Value) -> Result<Value, ProviderError> {
    let length = num(planned, "length");
    if !(1.0..=4096.0).contains(&length) || length.fract() != 0.0 {
        return Err(ProviderError::fatal(format!(
            "length must be a whole number from 1 to 4096, not {length}"
        )));
    }
    let special: String = planned
        .get_attr("override_special")
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| DEFAULT_SPECIAL.to_string());
    let classes = [
        (flag(planned, "upper", true), UPPER.to_string(), num(planned, "min_upper")),
        (flag(planned, "lower", true), LOWER.to_string(), num(planned, "min_lower")),
        (flag(planned, "numeric", true), DIGITS.to_string(), num(planned, "min_numeric")),
        (flag(planned, "special", true), special, num(planned, "min_special")),
    ];
    let mut rng = rand::rng();
    let mut out: Vec<char> = Vec::new();
    let mut alphabet: Vec<char> = Vec::new();
    for (enabled, chars, min) in &classes {
        if !enabled || chars.is_empty() {
            continue;
        }
        let chars: Vec<char> = chars.chars().collect();
        for _ in 0..(*min as usize) {
            out.push(chars[rng.random_range(0..chars.len())]);
        }
        alphabet.extend(chars);
    }
    if alphabet.is_empty() {
        return Err(ProviderError::fatal(
            "every character class is disabled; enable at least one of upper, lower, numeric, special",
        ));
    }
    if out.len() > length as usize {
        return Err(ProviderError::fatal("the min_* counts add up to more than length"));
    }
    while out.len() < length as usize {
        out.push(alphabet[rng.random_range(0..alphabet.len())]);
    }
    // Shuffle so that the guaranteed characters are not all at the front.
    for i in (1..out.len()).rev() {
        let j = rng.random_range(0..=i);
        out.swap(i, j);
    }
    let result: String = out.into_iter().collect();
    let obj = set(planned, "result", Value::string(result));
    Ok(set(&obj, "id", Value::string("none")))
}

#[async_trait::async_trait]
impl Provider for RandomProvider {
    /// Keys, values and times made here: nothing remote holds them (`state recover`).
    async fn discover(
        &self,
        _rtype: &str,
    ) -> Result<crate::provider::Discovery, crate::provider::ProviderError> {
        Ok(crate::provider::Discovery::LocalOnly)
    }

    fn name(&self) -> &'static str {
        "random"
    }

    fn schema(&self) -> &ProviderSchema {
        &self.schema
    }

    async fn read(
        &self,
        _rtype: &str,
        requests: &[ReadRequest],
    ) -> Result<Vec<Option<Value>>, ProviderError> {
        // Random values exist only in state: what was saved is what exists.
        Ok(requests.iter().map(|r| Some(r.prior.clone())).collect())
    }

    async fn create(
        &self,
        rtype: &str,
        request: CreateRequest<'_>,
    ) -> Result<Value, ProviderError> {
        match rtype {
            "random_id" => random_id(request.planned),
            "random_string" | "random_password" => random_string(request.planned),
            other => Err(ProviderError::fatal(format!("unknown resource type {other}"))),
        }
    }

    async fn update(
        &self,
        _rtype: &str,
        _prior: &Value,
        planned: &Value,
    ) -> Result<Value, ProviderError> {
        // Every argument is force-new, so an update only ever carries unchanged values.
        Ok(planned.clone())
    }

    async fn delete(&self, _rtype: &str, _prior: &Value) -> Result<(), ProviderError> {
        Ok(())
    }

    /// random_id imports from its base64url id, as in Terraform's random provider.
    async fn import(&self, rtype: &str, id: &str) -> Result<Value, ProviderError> {
        if rtype != "random_id" {
            return Err(ProviderError::fatal(format!(
                "{rtype} cannot be imported: its value exists only in state"
            )));
        }
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(id.trim_end_matches('='))
            .map_err(|e| {
                ProviderError::fatal(format!("`{id}` is not a base64url random_id: {e}"))
            })?;
        if bytes.is_empty() || bytes.len() > 1024 {
            return Err(ProviderError::fatal("a random_id has 1 to 1024 bytes"));
        }
        let mut m = BTreeMap::new();
        m.insert("byte_length".to_string(), Value::Number(bytes.len() as f64));
        m.insert("prefix".to_string(), Value::Null);
        m.insert("keepers".to_string(), Value::Null);
        Ok(random_id_object(Value::Map(m), &bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_of_matches_u128() {
        let bytes = [0x01, 0x00, 0xff, 0x10];
        assert_eq!(decimal_of(&bytes), u32::from_be_bytes(bytes).to_string());
        assert_eq!(decimal_of(&[0, 0]), "0");
    }

    #[test]
    fn random_string_honours_minimums_and_classes() {
        let mut m = BTreeMap::new();
        m.insert("length".to_string(), Value::Number(12.0));
        m.insert("special".to_string(), Value::Bool(false));
        m.insert("min_numeric".to_string(), Value::Number(5.0));
        let v = random_string(&Value::Map(m)).unwrap();
        let s = v.get_attr("result").unwrap().as_str().unwrap().to_string();
        assert_eq!(s.chars().count(), 12);
        assert!(s.chars().filter(|c| c.is_ascii_digit()).count() >= 5);
        assert!(s.chars().all(|c| c.is_ascii_alphanumeric()));
    }
}
