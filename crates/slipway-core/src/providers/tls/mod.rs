//! The `tls` provider: keys, certificate requests and certificates for the cluster PKI, with
//! hashicorp/tls semantics.
//!
//! What it promises:
//! - `tls_private_key` generates an RSA (2048/3072/4096 bits), ECDSA (P256/P384/P521) or
//!   ED25519 key once, at create. `private_key_pem` (PKCS#1 for RSA, SEC1 for ECDSA, PKCS#8
//!   for ED25519, as Terraform writes them) and `private_key_pem_pkcs8` are sensitive.
//! - `tls_cert_request` signs a PKCS#10 request with a given key.
//! - `tls_self_signed_cert` and `tls_locally_signed_cert` issue X.509 v3 certificates whose
//!   KeyUsage / ExtendedKeyUsage are exactly `allowed_uses`. A locally signed certificate names
//!   the CA's subject as issuer and carries the CA's subject key id as its authority key id, so
//!   it chains; the CA key is checked against the CA certificate before anything is signed.
//! - Everything exists only in state, so every argument is force-new. Certificates renew by
//!   replacement: once `now >= validity_end_time - early_renewal_hours`, `read` reports
//!   `ready_for_renewal = true` and `plan` asks for a replacement.
//! - Bad input (PEM that does not parse, unknown algorithms or usages, negative hours, a CA key
//!   that does not match its certificate) is a fatal [`ProviderError`], never a panic.

use std::collections::BTreeMap;

use time::OffsetDateTime;

use crate::provider::{
    AttributeSchema as A, BlockNesting, CreateRequest, PlannedObject, Provider, ProviderError,
    ProviderSchema, ReadRequest, ResourceSchema, Schema,
};
use crate::value::{Type, Value};

mod certs;
mod keys;

use certs::{
    create_cert_request, create_locally_signed_cert, create_self_signed_cert, ready_for_renewal,
    usage,
};
use keys::create_private_key;

pub struct TlsProvider {
    schema: ProviderSchema,
}

fn string_list() -> Type {
    Type::List(Box::new(Type::String))
}

/// The subject block shared by the request and both certificate types.
fn subject_schema() -> Schema {
    let s = || A::optional(Type::String).force_new();
    Schema::new()
        .attr("common_name", s())
        .attr("organization", s())
        .attr("organizational_unit", s())
        .attr("country", s())
        .attr("province", s())
        .attr("locality", s())
        .attr("postal_code", s())
        .attr("serial_number", s())
}

/// Arguments and results common to the two certificate types.
fn cert_schema(base: Schema) -> Schema {
    base.attr("validity_period_hours", A::required(Type::Number).force_new())
        .attr(
            "early_renewal_hours",
            A::optional(Type::Number).force_new().default(Value::Number(0.0)),
        )
        .attr("is_ca_certificate", A::optional(Type::Bool).force_new().default(Value::Bool(false)))
        .attr("set_subject_key_id", A::optional(Type::Bool).force_new().default(Value::Bool(false)))
        .attr("allowed_uses", A::required(string_list()).force_new())
        .attr("cert_pem", A::computed(Type::String))
        .attr("validity_start_time", A::computed(Type::String))
        .attr("validity_end_time", A::computed(Type::String))
        .attr("ready_for_renewal", A::computed(Type::Bool))
        .attr("id", A::computed(Type::String))
}

/// Subject and subject alternative names, shared by the request and the self-signed cert.
fn names_schema(base: Schema) -> Schema {
    base.block_force_new("subject", BlockNesting::Single, subject_schema())
        .attr("dns_names", A::optional(string_list()).force_new())
        .attr("ip_addresses", A::optional(string_list()).force_new())
        .attr("uris", A::optional(string_list()).force_new())
}

impl TlsProvider {
    pub fn new() -> TlsProvider {
        let mut resources = BTreeMap::new();
        resources.insert(
            "tls_private_key".to_string(),
            ResourceSchema::new(
                "A private key (RSA, ECDSA or ED25519), generated once and kept in state.",
                Schema::new()
                    .attr("algorithm", A::required(Type::String).force_new())
                    .attr(
                        "rsa_bits",
                        A::optional(Type::Number).force_new().default(Value::Number(2048.0)),
                    )
                    .attr(
                        "ecdsa_curve",
                        A::optional(Type::String).force_new().default(Value::string("P256")),
                    )
                    .attr("private_key_pem", A::computed(Type::String).sensitive())
                    .attr("private_key_pem_pkcs8", A::computed(Type::String).sensitive())
                    .attr("public_key_pem", A::computed(Type::String))
                    .attr("public_key_openssh", A::computed(Type::String))
                    .attr("public_key_fingerprint_sha256", A::computed(Type::String))
                    .attr("id", A::computed(Type::String)),
            ),
        );
        resources.insert(
            "tls_cert_request".to_string(),
            ResourceSchema::new(
                "A PKCS#10 certificate signing request.",
                names_schema(Schema::new())
                    .attr("private_key_pem", A::required(Type::String).force_new().sensitive())
                    .attr("key_algorithm", A::computed(Type::String))
                    .attr("cert_request_pem", A::computed(Type::String))
                    .attr("id", A::computed(Type::String)),
            ),
        );
        resources.insert(
            "tls_self_signed_cert".to_string(),
            ResourceSchema::new(
                "A self-signed certificate (typically a CA).",
                cert_schema(names_schema(Schema::new()))
                    .attr("private_key_pem", A::required(Type::String).force_new().sensitive())
                    .attr("key_algorithm", A::computed(Type::String)),
            ),
        );
        resources.insert(
            "tls_locally_signed_cert".to_string(),
            ResourceSchema::new(
                "A certificate issued from a certificate request by a CA whose key is at hand.",
                cert_schema(Schema::new())
                    .attr("cert_request_pem", A::required(Type::String).force_new())
                    .attr("ca_private_key_pem", A::required(Type::String).force_new().sensitive())
                    .attr("ca_cert_pem", A::required(Type::String).force_new())
                    .attr("ca_key_algorithm", A::computed(Type::String)),
            ),
        );
        TlsProvider { schema: ProviderSchema { resources, ..Default::default() } }
    }
}

impl Default for TlsProvider {
    fn default() -> Self {
        Self::new()
    }
}

// ---------------------------------------------------------------------------------------------
// Reading attributes

fn fatal(message: impl Into<String>) -> ProviderError {
    ProviderError::fatal(message)
}

fn str_attr(obj: &Value, key: &str) -> Option<String> {
    obj.get_attr(key).and_then(|v| v.as_str().map(str::to_string))
}

fn required_str(obj: &Value, key: &str) -> Result<String, ProviderError> {
    str_attr(obj, key).ok_or_else(|| fatal(format!("{key} is required")))
}

fn flag(obj: &Value, key: &str) -> bool {
    obj.get_attr(key).and_then(|v| v.as_bool()).unwrap_or(false)
}

/// A whole, non-negative number of hours (`default` when unset).
fn hours(obj: &Value, key: &str, default: Option<i64>) -> Result<i64, ProviderError> {
    let v = obj.get_attr(key).unwrap_or_default();
    if v.is_null() {
        return default.ok_or_else(|| fatal(format!("{key} is required")));
    }
    let n = v
        .as_f64()
        .ok_or_else(|| fatal(format!("{key} must be a number, not {}", v.type_name())))?;
    // Cap at ~1000 years so that adding it to the clock cannot overflow.
    if n < 0.0 || n.fract() != 0.0 || n > 8_760_000.0 {
        return Err(fatal(format!(
            "{key} must be a whole number of hours from 0 to 8760000, not {n}"
        )));
    }
    Ok(n as i64)
}

fn str_list(obj: &Value, key: &str) -> Result<Vec<String>, ProviderError> {
    let v = obj.get_attr(key).unwrap_or_default();
    if v.is_null() {
        return Ok(Vec::new());
    }
    let items = v.as_list().ok_or_else(|| fatal(format!("{key} must be a list of strings")))?;
    items
        .iter()
        .map(|i| {
            i.as_str()
                .map(str::to_string)
                .ok_or_else(|| fatal(format!("{key} must be a list of strings")))
        })
        .collect()
}

fn set(obj: &mut Value, key: &str, v: Value) {
    if let Value::Map(map) = obj {
        map.insert(key.to_string(), v);
    }
}

/// The planned object as a plain map (the engine may hand it over wrapped in a mark).
fn object_of(planned: &Value) -> Result<Value, ProviderError> {
    match planned.peel() {
        Value::Map(m) => Ok(Value::Map(m.clone())),
        other => Err(fatal(format!("expected an object, got {}", other.type_name()))),
    }
}

// ---------------------------------------------------------------------------------------------
// Minimal DER and PEM, for the re-encodings aws-lc does not offer (PKCS#1, SEC1, SSH keys)

// ---------------------------------------------------------------------------------------------
// Keys

// ---------------------------------------------------------------------------------------------
// Names

// ---------------------------------------------------------------------------------------------
// Certificates (shared by tls_self_signed_cert and tls_locally_signed_cert)

fn is_cert(rtype: &str) -> bool {
    matches!(rtype, "tls_self_signed_cert" | "tls_locally_signed_cert")
}

/// The plan of a certificate at time `now`: a saved certificate inside its renewal window is
/// replaced, because a certificate cannot be extended in place.
fn plan_cert(
    prior: Option<&Value>,
    proposed: Value,
    now: OffsetDateTime,
) -> Result<PlannedObject, ProviderError> {
    let mut planned = proposed;
    // Validate what is already known so that mistakes surface at plan, not halfway through apply.
    for key in ["validity_period_hours", "early_renewal_hours"] {
        if planned.get_attr(key).is_some_and(|v| !v.is_unknown()) {
            hours(&planned, key, Some(0))?;
        }
    }
    if let Some(uses) = planned.get_attr("allowed_uses")
        && !uses.contains_unknown()
    {
        for name in str_list(&planned, "allowed_uses")? {
            if usage(&name).is_none() {
                return Err(fatal(format!("allowed_uses: unknown usage {name:?}")));
            }
        }
    }
    let mut requires_replace = Vec::new();
    if let Some(prior) = prior
        && ready_for_renewal(prior, now)?
    {
        set(&mut planned, "ready_for_renewal", Value::Bool(true));
        for key in ["cert_pem", "validity_start_time", "validity_end_time", "id"] {
            set(&mut planned, key, Value::Unknown);
        }
        requires_replace.push("ready_for_renewal".to_string());
    }
    Ok(PlannedObject { planned, requires_replace })
}

#[async_trait::async_trait]
impl Provider for TlsProvider {
    /// Keys, values and times made here: nothing remote holds them (`state recover`).
    async fn discover(
        &self,
        _rtype: &str,
    ) -> Result<crate::provider::Discovery, crate::provider::ProviderError> {
        Ok(crate::provider::Discovery::LocalOnly)
    }

    fn name(&self) -> &'static str {
        "tls"
    }

    fn schema(&self) -> &ProviderSchema {
        &self.schema
    }

    fn plan(
        &self,
        rtype: &str,
        prior: Option<&Value>,
        proposed: Value,
    ) -> Result<PlannedObject, ProviderError> {
        if is_cert(rtype) {
            plan_cert(prior, proposed, OffsetDateTime::now_utc())
        } else {
            Ok(PlannedObject::as_proposed(proposed))
        }
    }

    async fn read(
        &self,
        rtype: &str,
        requests: &[ReadRequest],
    ) -> Result<Vec<Option<Value>>, ProviderError> {
        // Everything lives in state; only the clock can change a certificate's renewal status.
        let now = OffsetDateTime::now_utc();
        requests
            .iter()
            .map(|r| {
                let mut obj = r.prior.clone();
                if is_cert(rtype) {
                    let ready = ready_for_renewal(&obj, now)?;
                    set(&mut obj, "ready_for_renewal", Value::Bool(ready));
                }
                Ok(Some(obj))
            })
            .collect()
    }

    async fn create(
        &self,
        rtype: &str,
        request: CreateRequest<'_>,
    ) -> Result<Value, ProviderError> {
        match rtype {
            "tls_private_key" => create_private_key(request.planned),
            "tls_cert_request" => create_cert_request(request.planned),
            "tls_self_signed_cert" => create_self_signed_cert(request.planned),
            "tls_locally_signed_cert" => create_locally_signed_cert(request.planned),
            other => Err(fatal(format!("unknown resource type {other}"))),
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
}

#[cfg(test)]
mod tests;
