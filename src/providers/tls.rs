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
use std::net::IpAddr;

use base64::Engine as _;
use rand::Rng;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, CustomExtension,
    DistinguishedName, DnType, ExtendedKeyUsagePurpose as Eku, IsCa, Issuer, KeyPair,
    KeyUsagePurpose as Ku, PublicKeyData, SanType, SerialNumber,
};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::provider::{
    AttributeSchema as A, BlockNesting, CreateRequest, PlannedObject, Provider, ProviderError,
    ProviderSchema, ReadRequest, ResourceSchema, Schema,
};
use crate::value::{Type, Value};

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
    base.attr(
        "validity_period_hours",
        A::required(Type::Number).force_new(),
    )
    .attr(
        "early_renewal_hours",
        A::optional(Type::Number)
            .force_new()
            .default(Value::Number(0.0)),
    )
    .attr(
        "is_ca_certificate",
        A::optional(Type::Bool)
            .force_new()
            .default(Value::Bool(false)),
    )
    .attr(
        "set_subject_key_id",
        A::optional(Type::Bool)
            .force_new()
            .default(Value::Bool(false)),
    )
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
                        A::optional(Type::Number)
                            .force_new()
                            .default(Value::Number(2048.0)),
                    )
                    .attr(
                        "ecdsa_curve",
                        A::optional(Type::String)
                            .force_new()
                            .default(Value::string("P256")),
                    )
                    .attr("private_key_pem", A::computed(Type::String).sensitive())
                    .attr(
                        "private_key_pem_pkcs8",
                        A::computed(Type::String).sensitive(),
                    )
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
                    .attr(
                        "private_key_pem",
                        A::required(Type::String).force_new().sensitive(),
                    )
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
                    .attr(
                        "private_key_pem",
                        A::required(Type::String).force_new().sensitive(),
                    )
                    .attr("key_algorithm", A::computed(Type::String)),
            ),
        );
        resources.insert(
            "tls_locally_signed_cert".to_string(),
            ResourceSchema::new(
                "A certificate issued from a certificate request by a CA whose key is at hand.",
                cert_schema(Schema::new())
                    .attr("cert_request_pem", A::required(Type::String).force_new())
                    .attr(
                        "ca_private_key_pem",
                        A::required(Type::String).force_new().sensitive(),
                    )
                    .attr("ca_cert_pem", A::required(Type::String).force_new())
                    .attr("ca_key_algorithm", A::computed(Type::String)),
            ),
        );
        TlsProvider {
            schema: ProviderSchema {
                resources,
                ..Default::default()
            },
        }
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
    obj.get_attr(key)
        .and_then(|v| v.as_str().map(str::to_string))
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
    let items = v
        .as_list()
        .ok_or_else(|| fatal(format!("{key} must be a list of strings")))?;
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
        other => Err(fatal(format!(
            "expected an object, got {}",
            other.type_name()
        ))),
    }
}

// ---------------------------------------------------------------------------------------------
// Minimal DER and PEM, for the re-encodings aws-lc does not offer (PKCS#1, SEC1, SSH keys)

/// One DER element.
struct Der<'a> {
    tag: u8,
    content: &'a [u8],
    /// Tag, length and content together.
    whole: &'a [u8],
}

/// Splits the first DER element off `input`.
fn der_next(input: &[u8]) -> Option<(Der<'_>, &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let mut header = 2;
    let len = if first < 0x80 {
        first as usize
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | b as usize);
        rest = &rest[n..];
        header += n;
        len
    };
    if rest.len() < len {
        return None;
    }
    let element = Der {
        tag,
        content: &rest[..len],
        whole: &input[..header + len],
    };
    Some((element, &rest[len..]))
}

/// The elements inside the constructed value (a SEQUENCE) at the start of `input`.
fn der_fields(input: &[u8]) -> Option<Vec<Der<'_>>> {
    let (outer, _) = der_next(input)?;
    let mut content = outer.content;
    let mut out = Vec::new();
    while !content.is_empty() {
        let (element, rest) = der_next(content)?;
        out.push(element);
        content = rest;
    }
    Some(out)
}

fn der_encode(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|&b| b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

// ---------------------------------------------------------------------------------------------
// Keys

#[derive(Clone, Copy, Debug, PartialEq)]
enum KeyAlg {
    Rsa,
    Ecdsa,
    Ed25519,
}

impl KeyAlg {
    fn name(self) -> &'static str {
        match self {
            KeyAlg::Rsa => "RSA",
            KeyAlg::Ecdsa => "ECDSA",
            KeyAlg::Ed25519 => "ED25519",
        }
    }
}

fn key_alg(key: &KeyPair) -> Result<KeyAlg, ProviderError> {
    let alg = key.algorithm();
    if alg == &rcgen::PKCS_RSA_SHA256 {
        Ok(KeyAlg::Rsa)
    } else if alg == &rcgen::PKCS_ECDSA_P256_SHA256
        || alg == &rcgen::PKCS_ECDSA_P384_SHA384
        || alg == &rcgen::PKCS_ECDSA_P521_SHA512
    {
        Ok(KeyAlg::Ecdsa)
    } else if alg == &rcgen::PKCS_ED25519 {
        Ok(KeyAlg::Ed25519)
    } else {
        Err(fatal("unsupported private key algorithm"))
    }
}

/// Parses a private key in PKCS#8, PKCS#1 or SEC1 PEM.
fn parse_key(pem: &str, what: &str) -> Result<KeyPair, ProviderError> {
    if !pem.contains("-----BEGIN") {
        return Err(fatal(format!("{what} is not PEM (no BEGIN line)")));
    }
    KeyPair::from_pem(pem).map_err(|e| {
        fatal(format!(
            "{what} is not a usable RSA, ECDSA or ED25519 private key: {e}"
        ))
    })
}

fn generate_key(obj: &Value) -> Result<KeyPair, ProviderError> {
    let algorithm = required_str(obj, "algorithm")?;
    let result = match algorithm.as_str() {
        "RSA" => {
            let bits = obj
                .get_attr("rsa_bits")
                .and_then(|v| v.as_f64())
                .unwrap_or(2048.0);
            // aws-lc only generates these sizes; anything else is refused rather than rounded.
            let size = match bits {
                2048.0 => rcgen::RsaKeySize::_2048,
                3072.0 => rcgen::RsaKeySize::_3072,
                4096.0 => rcgen::RsaKeySize::_4096,
                other => {
                    return Err(fatal(format!(
                        "rsa_bits must be 2048, 3072 or 4096, not {other}"
                    )));
                }
            };
            KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, size)
        }
        "ECDSA" => {
            let curve = str_attr(obj, "ecdsa_curve").unwrap_or_else(|| "P256".into());
            let alg = match curve.as_str() {
                "P256" => &rcgen::PKCS_ECDSA_P256_SHA256,
                "P384" => &rcgen::PKCS_ECDSA_P384_SHA384,
                "P521" => &rcgen::PKCS_ECDSA_P521_SHA512,
                other => {
                    return Err(fatal(format!(
                        "ecdsa_curve must be P256, P384 or P521, not {other:?} (P224 is not supported)"
                    )));
                }
            };
            KeyPair::generate_for(alg)
        }
        "ED25519" => KeyPair::generate_for(&rcgen::PKCS_ED25519),
        other => {
            return Err(fatal(format!(
                "algorithm must be one of RSA, ECDSA, ED25519, not {other:?}"
            )));
        }
    };
    result.map_err(|e| fatal(format!("generating a {algorithm} key failed: {e}")))
}

/// The curve OID and SSH names of an ECDSA key.
fn ec_curve(key: &KeyPair) -> (&'static [u8], &'static str) {
    // DER of the curve OIDs: prime256v1, secp384r1, secp521r1.
    let alg = key.algorithm();
    if alg == &rcgen::PKCS_ECDSA_P384_SHA384 {
        (&[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22], "nistp384")
    } else if alg == &rcgen::PKCS_ECDSA_P521_SHA512 {
        (&[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23], "nistp521")
    } else {
        (
            &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07],
            "nistp256",
        )
    }
}

/// The key as PKCS#8 v1. aws-lc writes ED25519 keys as v2 (with the public key appended),
/// which OpenSSL 3.0 refuses to load; v1 is what Terraform writes and every tool reads.
fn pkcs8_v1(der: &[u8]) -> Vec<u8> {
    let Some(children) = der_fields(der) else {
        return der.to_vec();
    };
    if children.len() < 3 || children[0].whole != [0x02, 0x01, 0x01] {
        return der.to_vec();
    }
    let mut body = vec![0x02, 0x01, 0x00];
    for field in &children[1..] {
        // Keep the algorithm, the key and any attributes ([0]); drop the public key ([1]).
        if field.tag != 0x81 && field.tag != 0xa1 {
            body.extend_from_slice(field.whole);
        }
    }
    der_encode(0x30, &body)
}

/// The key in the PEM form Terraform writes to `private_key_pem`: PKCS#1 for RSA and SEC1 for
/// ECDSA (what older tools expect), PKCS#8 for ED25519 (which has no other form).
fn traditional_pem(key: &KeyPair, alg: KeyAlg) -> Result<String, ProviderError> {
    let pkcs8 = key.serialized_der();
    if alg == KeyAlg::Ed25519 {
        return Ok(pem_encode("PRIVATE KEY", &pkcs8_v1(pkcs8)));
    }
    let malformed = || fatal("internal error: unexpected PKCS#8 layout from the crypto library");
    // A key parsed from PKCS#1/SEC1 input is already in its traditional form.
    let children = der_fields(pkcs8).ok_or_else(malformed)?;
    let is_pkcs8 = children.len() >= 3 && children[1].tag == 0x30 && children[2].tag == 0x04;
    let inner = if is_pkcs8 { children[2].content } else { pkcs8 };
    match alg {
        KeyAlg::Rsa => Ok(pem_encode("RSA PRIVATE KEY", inner)),
        _ => {
            // ECPrivateKey inside PKCS#8 usually omits the curve ([0] parameters), which a
            // standalone SEC1 key must carry.
            let fields = der_fields(inner).ok_or_else(malformed)?;
            if fields.iter().any(|f| f.tag == 0xa0) {
                return Ok(pem_encode("EC PRIVATE KEY", inner));
            }
            let mut body = Vec::new();
            for (i, field) in fields.iter().enumerate() {
                body.extend_from_slice(field.whole);
                if i == 1 {
                    body.extend(der_encode(0xa0, ec_curve(key).0));
                }
            }
            Ok(pem_encode("EC PRIVATE KEY", &der_encode(0x30, &body)))
        }
    }
}

/// The OpenSSH wire form of the public key, and its key type name.
fn ssh_public_blob(key: &KeyPair, alg: KeyAlg) -> Result<(String, Vec<u8>), ProviderError> {
    fn put(out: &mut Vec<u8>, bytes: &[u8]) {
        out.extend((bytes.len() as u32).to_be_bytes());
        out.extend_from_slice(bytes);
    }
    let raw = key.der_bytes();
    let mut blob = Vec::new();
    let kind = match alg {
        KeyAlg::Rsa => {
            // RSAPublicKey ::= SEQUENCE { modulus, publicExponent }. DER integers are already
            // minimal two's complement, which is exactly SSH's mpint.
            let fields = der_fields(raw)
                .filter(|f| f.len() == 2)
                .ok_or_else(|| fatal("internal error: malformed RSA public key"))?;
            put(&mut blob, b"ssh-rsa");
            put(&mut blob, fields[1].content);
            put(&mut blob, fields[0].content);
            "ssh-rsa".to_string()
        }
        KeyAlg::Ecdsa => {
            let curve = ec_curve(key).1;
            let kind = format!("ecdsa-sha2-{curve}");
            put(&mut blob, kind.as_bytes());
            put(&mut blob, curve.as_bytes());
            put(&mut blob, raw);
            kind
        }
        KeyAlg::Ed25519 => {
            put(&mut blob, b"ssh-ed25519");
            put(&mut blob, raw);
            "ssh-ed25519".to_string()
        }
    };
    Ok((kind, blob))
}

fn create_private_key(planned: &Value) -> Result<Value, ProviderError> {
    let mut obj = object_of(planned)?;
    let key = generate_key(&obj)?;
    let alg = key_alg(&key)?;
    let (ssh_kind, blob) = ssh_public_blob(&key, alg)?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let fingerprint = format!(
        "SHA256:{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(Sha256::digest(&blob))
    );
    set(
        &mut obj,
        "private_key_pem",
        Value::string(traditional_pem(&key, alg)?).mark_sensitive(),
    );
    set(
        &mut obj,
        "private_key_pem_pkcs8",
        Value::string(pem_encode("PRIVATE KEY", &pkcs8_v1(key.serialized_der()))).mark_sensitive(),
    );
    set(
        &mut obj,
        "public_key_pem",
        Value::string(key.public_key_pem()),
    );
    set(
        &mut obj,
        "public_key_openssh",
        Value::string(format!("{ssh_kind} {}\n", b64.encode(&blob))),
    );
    set(
        &mut obj,
        "public_key_fingerprint_sha256",
        Value::string(fingerprint),
    );
    set(
        &mut obj,
        "id",
        Value::string(hex::encode(Sha256::digest(key.subject_public_key_info()))),
    );
    Ok(obj)
}

// ---------------------------------------------------------------------------------------------
// Names

fn distinguished_name(obj: &Value) -> Result<DistinguishedName, ProviderError> {
    let mut dn = DistinguishedName::new();
    let Some(subject) = obj.get_attr("subject").filter(|s| !s.is_null()) else {
        return Ok(dn);
    };
    // A single-nested block may arrive as a one-element list from some callers.
    let subject = match subject.as_list() {
        Some([one]) => one.clone(),
        Some([]) => return Ok(dn),
        Some(_) => return Err(fatal("only one subject block is allowed")),
        None => subject,
    };
    let fields: [(&str, DnType); 8] = [
        ("country", DnType::CountryName),
        ("province", DnType::StateOrProvinceName),
        ("locality", DnType::LocalityName),
        ("postal_code", DnType::CustomDnType(vec![2, 5, 4, 17])),
        ("organization", DnType::OrganizationName),
        ("organizational_unit", DnType::OrganizationalUnitName),
        ("common_name", DnType::CommonName),
        ("serial_number", DnType::CustomDnType(vec![2, 5, 4, 5])),
    ];
    for (key, ty) in fields {
        if let Some(v) = str_attr(&subject, key) {
            dn.push(ty, v);
        }
    }
    Ok(dn)
}

fn subject_alt_names(obj: &Value) -> Result<Vec<SanType>, ProviderError> {
    let mut sans = Vec::new();
    for name in str_list(obj, "dns_names")? {
        let ia5 = name
            .clone()
            .try_into()
            .map_err(|_| fatal(format!("dns_names: {name:?} is not an ASCII DNS name")))?;
        sans.push(SanType::DnsName(ia5));
    }
    for ip in str_list(obj, "ip_addresses")? {
        let addr: IpAddr = ip
            .parse()
            .map_err(|_| fatal(format!("ip_addresses: {ip:?} is not an IP address")))?;
        sans.push(SanType::IpAddress(addr));
    }
    for uri in str_list(obj, "uris")? {
        let scheme_ok = uri.split_once(':').is_some_and(|(scheme, _)| {
            !scheme.is_empty()
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        });
        if !scheme_ok {
            return Err(fatal(format!("uris: {uri:?} is not a URI (no scheme)")));
        }
        let ia5 = uri
            .clone()
            .try_into()
            .map_err(|_| fatal(format!("uris: {uri:?} is not ASCII")))?;
        sans.push(SanType::URI(ia5));
    }
    Ok(sans)
}

fn create_cert_request(planned: &Value) -> Result<Value, ProviderError> {
    let mut obj = object_of(planned)?;
    let key = parse_key(&required_str(&obj, "private_key_pem")?, "private_key_pem")?;
    let mut params = CertificateParams::default();
    params.distinguished_name = distinguished_name(&obj)?;
    params.subject_alt_names = subject_alt_names(&obj)?;
    let csr_pem = params
        .serialize_request(&key)
        .and_then(|csr| csr.pem())
        .map_err(|e| fatal(format!("building the certificate request failed: {e}")))?;
    set(
        &mut obj,
        "key_algorithm",
        Value::string(key_alg(&key)?.name()),
    );
    set(
        &mut obj,
        "id",
        Value::string(hex::encode(Sha256::digest(csr_pem.as_bytes()))),
    );
    set(&mut obj, "cert_request_pem", Value::string(csr_pem));
    Ok(obj)
}

// ---------------------------------------------------------------------------------------------
// Certificates (shared by tls_self_signed_cert and tls_locally_signed_cert)

/// The certificate-specific arguments, validated.
struct CertSpec {
    validity_hours: i64,
    is_ca: bool,
    set_subject_key_id: bool,
    key_usages: Vec<Ku>,
    extended_key_usages: Vec<Eku>,
}

/// Maps Terraform's `allowed_uses` names onto KeyUsage bits and ExtendedKeyUsage OIDs.
fn usage(name: &str) -> Option<Result<Ku, Eku>> {
    Some(match name {
        "digital_signature" => Ok(Ku::DigitalSignature),
        "content_commitment" => Ok(Ku::ContentCommitment),
        "key_encipherment" => Ok(Ku::KeyEncipherment),
        "data_encipherment" => Ok(Ku::DataEncipherment),
        "key_agreement" => Ok(Ku::KeyAgreement),
        "cert_signing" => Ok(Ku::KeyCertSign),
        "crl_signing" => Ok(Ku::CrlSign),
        "encipher_only" => Ok(Ku::EncipherOnly),
        "decipher_only" => Ok(Ku::DecipherOnly),
        "any_extended" => Err(Eku::Any),
        "server_auth" => Err(Eku::ServerAuth),
        "client_auth" => Err(Eku::ClientAuth),
        "code_signing" => Err(Eku::CodeSigning),
        "email_protection" => Err(Eku::EmailProtection),
        "timestamping" => Err(Eku::TimeStamping),
        "ocsp_signing" => Err(Eku::OcspSigning),
        "ipsec_end_system" => Err(Eku::Other(vec![1, 3, 6, 1, 5, 5, 7, 3, 5])),
        "ipsec_tunnel" => Err(Eku::Other(vec![1, 3, 6, 1, 5, 5, 7, 3, 6])),
        "ipsec_user" => Err(Eku::Other(vec![1, 3, 6, 1, 5, 5, 7, 3, 7])),
        "microsoft_server_gated_crypto" => Err(Eku::Other(vec![1, 3, 6, 1, 4, 1, 311, 10, 3, 3])),
        "netscape_server_gated_crypto" => Err(Eku::Other(vec![2, 16, 840, 1, 113730, 4, 1])),
        "microsoft_commercial_code_signing" => {
            Err(Eku::Other(vec![1, 3, 6, 1, 4, 1, 311, 2, 1, 22]))
        }
        "microsoft_kernel_code_signing" => Err(Eku::Other(vec![1, 3, 6, 1, 4, 1, 311, 61, 1, 1])),
        _ => return None,
    })
}

fn cert_spec(obj: &Value) -> Result<CertSpec, ProviderError> {
    let validity_hours = hours(obj, "validity_period_hours", None)?;
    hours(obj, "early_renewal_hours", Some(0))?;
    let mut key_usages = Vec::new();
    let mut extended_key_usages = Vec::new();
    for name in str_list(obj, "allowed_uses")? {
        match usage(&name) {
            Some(Ok(ku)) if !key_usages.contains(&ku) => key_usages.push(ku),
            Some(Err(eku)) if !extended_key_usages.contains(&eku) => extended_key_usages.push(eku),
            Some(_) => {}
            None => {
                return Err(fatal(format!(
                    "allowed_uses: unknown usage {name:?} (expected e.g. digital_signature, \
                     key_encipherment, cert_signing, crl_signing, server_auth, client_auth)"
                )));
            }
        }
    }
    Ok(CertSpec {
        validity_hours,
        is_ca: flag(obj, "is_ca_certificate"),
        set_subject_key_id: flag(obj, "set_subject_key_id"),
        key_usages,
        extended_key_usages,
    })
}

/// Puts validity, usages, CA-ness and a fresh serial onto `params`, for a certificate whose
/// subject key is `subject_key`.
fn apply_spec(
    params: &mut CertificateParams,
    spec: &CertSpec,
    subject_key: &impl PublicKeyData,
    now: OffsetDateTime,
) {
    params.not_before = now;
    params.not_after = now + time::Duration::hours(spec.validity_hours);
    params.key_usages = spec.key_usages.clone();
    params.extended_key_usages = spec.extended_key_usages.clone();
    if spec.is_ca {
        // rcgen always gives a CA a subject key id with its basicConstraints; that is what we
        // want regardless of set_subject_key_id, since issued certificates point at it through
        // their authority key id.
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    } else {
        // rcgen would tie a subject key id to `CA:FALSE`; Terraform writes `CA:FALSE` always
        // and the key id only on request, so both are written by hand.
        params.is_ca = IsCa::NoCa;
        let mut bc = CustomExtension::from_oid_content(&[2, 5, 29, 19], vec![0x30, 0x00]);
        bc.set_criticality(true);
        params.custom_extensions.push(bc);
        if spec.set_subject_key_id {
            let id = params.key_identifier(subject_key);
            params
                .custom_extensions
                .push(CustomExtension::from_oid_content(
                    &[2, 5, 29, 14],
                    der_encode(0x04, &id),
                ));
        }
    }
    // A random serial (rcgen's default hashes the public key, so re-issuing for the same key
    // would repeat a serial under the same issuer, which verifiers reject).
    let mut serial = [0u8; 16];
    rand::rng().fill(&mut serial[..]);
    serial[0] = (serial[0] & 0x7f) | 0x40;
    params.serial_number = Some(SerialNumber::from_slice(&serial));
}

fn rfc3339(t: OffsetDateTime) -> Result<String, ProviderError> {
    t.format(&Rfc3339)
        .map_err(|e| fatal(format!("formatting a time failed: {e}")))
}

/// Records the issued certificate and its validity window on the object.
fn cert_outputs(
    obj: &mut Value,
    params: &CertificateParams,
    cert_pem: String,
    now: OffsetDateTime,
) -> Result<(), ProviderError> {
    let serial = params
        .serial_number
        .as_ref()
        .map(|s| {
            let mut b = [0u8; 16];
            let bytes = s.to_bytes();
            b[16 - bytes.len().min(16)..].copy_from_slice(&bytes[bytes.len().saturating_sub(16)..]);
            u128::from_be_bytes(b).to_string()
        })
        .unwrap_or_default();
    set(obj, "cert_pem", Value::string(cert_pem));
    set(
        obj,
        "validity_start_time",
        Value::string(rfc3339(params.not_before)?),
    );
    set(
        obj,
        "validity_end_time",
        Value::string(rfc3339(params.not_after)?),
    );
    set(obj, "id", Value::string(serial));
    let ready = ready_for_renewal(obj, now)?;
    set(obj, "ready_for_renewal", Value::Bool(ready));
    Ok(())
}

/// X.509 times have whole seconds; truncating here keeps validity_* equal to the certificate.
fn now_seconds() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(0).unwrap_or(now)
}

/// True once `now` is inside the early-renewal window (or past the end) of a saved certificate.
fn ready_for_renewal(obj: &Value, now: OffsetDateTime) -> Result<bool, ProviderError> {
    let end = required_str(obj, "validity_end_time")?;
    let end = OffsetDateTime::parse(&end, &Rfc3339)
        .map_err(|e| fatal(format!("validity_end_time {end:?} is not RFC 3339: {e}")))?;
    let early = hours(obj, "early_renewal_hours", Some(0))?;
    Ok(now >= end - time::Duration::hours(early))
}

fn create_self_signed_cert(planned: &Value) -> Result<Value, ProviderError> {
    let mut obj = object_of(planned)?;
    let spec = cert_spec(&obj)?;
    let key = parse_key(&required_str(&obj, "private_key_pem")?, "private_key_pem")?;
    let now = now_seconds();
    let mut params = CertificateParams::default();
    params.distinguished_name = distinguished_name(&obj)?;
    params.subject_alt_names = subject_alt_names(&obj)?;
    apply_spec(&mut params, &spec, &key, now);
    let cert = params
        .self_signed(&key)
        .map_err(|e| fatal(format!("signing the certificate failed: {e}")))?;
    set(
        &mut obj,
        "key_algorithm",
        Value::string(key_alg(&key)?.name()),
    );
    cert_outputs(&mut obj, &params, cert.pem(), now)?;
    Ok(obj)
}

/// Checks that `ca_cert_pem` is a CA certificate for `ca_key`.
fn check_ca(ca_cert_pem: &str, ca_key: &KeyPair) -> Result<(), ProviderError> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(ca_cert_pem.as_bytes())
        .map_err(|e| fatal(format!("ca_cert_pem is not PEM: {e}")))?;
    if pem.label != "CERTIFICATE" {
        return Err(fatal(format!(
            "ca_cert_pem holds a {:?} block, not a CERTIFICATE",
            pem.label
        )));
    }
    let cert = pem
        .parse_x509()
        .map_err(|e| fatal(format!("ca_cert_pem is not an X.509 certificate: {e}")))?;
    // Compare the raw public keys rather than whole SubjectPublicKeyInfos, whose algorithm
    // parameters may be encoded differently by another issuer.
    if cert.public_key().subject_public_key.data.as_ref() != ca_key.der_bytes() {
        return Err(fatal(
            "ca_private_key_pem does not match ca_cert_pem (the public keys differ)",
        ));
    }
    if let Ok(Some(bc)) = cert.basic_constraints()
        && !bc.value.ca
    {
        return Err(fatal(
            "ca_cert_pem is not a CA certificate (basicConstraints CA:FALSE)",
        ));
    }
    // Verifiers reject what such a CA signs, so refuse to issue it.
    if let Ok(Some(ku)) = cert.key_usage()
        && !ku.value.key_cert_sign()
    {
        return Err(fatal(
            "ca_cert_pem may not sign certificates: its key usage lacks cert_signing",
        ));
    }
    Ok(())
}

fn create_locally_signed_cert(planned: &Value) -> Result<Value, ProviderError> {
    let mut obj = object_of(planned)?;
    let spec = cert_spec(&obj)?;
    let ca_key = parse_key(
        &required_str(&obj, "ca_private_key_pem")?,
        "ca_private_key_pem",
    )?;
    let ca_cert_pem = required_str(&obj, "ca_cert_pem")?;
    check_ca(&ca_cert_pem, &ca_key)?;
    let issuer = Issuer::from_ca_cert_pem(&ca_cert_pem, &ca_key)
        .map_err(|e| fatal(format!("ca_cert_pem cannot be used as an issuer: {e}")))?;
    let csr_pem = required_str(&obj, "cert_request_pem")?;
    let mut csr = CertificateSigningRequestParams::from_pem(&csr_pem)
        .map_err(|e| fatal(format!("cert_request_pem is not a usable request: {e}")))?;
    // Subject and names come from the request; usages and CA-ness only from allowed_uses and
    // is_ca_certificate, so a request cannot grant itself more than the configuration allows.
    let now = now_seconds();
    let subject_key = csr.public_key.clone();
    apply_spec(&mut csr.params, &spec, &subject_key, now);
    csr.params.use_authority_key_identifier_extension = true;
    let cert = csr
        .signed_by(&issuer)
        .map_err(|e| fatal(format!("signing the certificate failed: {e}")))?;
    set(
        &mut obj,
        "ca_key_algorithm",
        Value::string(key_alg(&ca_key)?.name()),
    );
    cert_outputs(&mut obj, &csr.params, cert.pem(), now)?;
    Ok(obj)
}

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
    Ok(PlannedObject {
        planned,
        requires_replace,
    })
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
mod tests {
    use std::path::{Path, PathBuf};
    use std::process::{Command, Output};

    use super::*;
    use crate::addr::ResourceInstanceAddr;

    fn obj(pairs: &[(&str, Value)]) -> Value {
        Value::Map(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )
    }

    fn s(v: &str) -> Value {
        Value::string(v)
    }

    fn n(v: f64) -> Value {
        Value::Number(v)
    }

    fn list(items: &[&str]) -> Value {
        Value::List(items.iter().map(|i| s(i)).collect())
    }

    fn get(v: &Value, key: &str) -> String {
        v.get_attr(key)
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| panic!("{key} missing from {v:?}"))
    }

    async fn create(rtype: &str, planned: Value) -> Result<Value, ProviderError> {
        let provider = TlsProvider::new();
        let address = ResourceInstanceAddr::parse(&format!("{rtype}.test")).unwrap();
        let tags = BTreeMap::new();
        provider
            .create(
                rtype,
                CreateRequest {
                    address: &address,
                    client_token: "token-1",
                    ownership_tags: &tags,
                    planned: &planned,
                    resuming: false,
                },
            )
            .await
    }

    async fn key(algorithm: &str, extra: &[(&str, Value)]) -> Value {
        let mut pairs = vec![("algorithm", s(algorithm))];
        pairs.extend_from_slice(extra);
        create("tls_private_key", obj(&pairs)).await.unwrap()
    }

    /// Runs the real openssl; a missing binary fails the test rather than skipping it.
    fn openssl(args: &[&str]) -> Output {
        Command::new("/usr/bin/openssl")
            .args(args)
            .output()
            .expect("/usr/bin/openssl must be installed to run the tls tests")
    }

    fn openssl_ok(args: &[&str]) -> String {
        let out = openssl(args);
        assert!(
            out.status.success(),
            "openssl {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn p(path: &Path) -> &str {
        path.to_str().unwrap()
    }

    async fn ca(algorithm: &str, cn: &str) -> (Value, Value) {
        let k = key(algorithm, &[]).await;
        let cert = create(
            "tls_self_signed_cert",
            obj(&[
                ("private_key_pem", k.get_attr("private_key_pem").unwrap()),
                ("subject", obj(&[("common_name", s(cn))])),
                ("validity_period_hours", n(87600.0)),
                ("is_ca_certificate", Value::Bool(true)),
                (
                    "allowed_uses",
                    list(&["digital_signature", "key_encipherment", "cert_signing"]),
                ),
            ]),
        )
        .await
        .unwrap();
        (k, cert)
    }

    async fn leaf(ca: &(Value, Value), algorithm: &str, uses: &[&str]) -> Value {
        let k = key(algorithm, &[]).await;
        let csr = create(
            "tls_cert_request",
            obj(&[
                ("private_key_pem", k.get_attr("private_key_pem").unwrap()),
                (
                    "subject",
                    obj(&[
                        ("common_name", s("kube-apiserver")),
                        ("organization", s("system:masters")),
                    ]),
                ),
                ("dns_names", list(&["kubernetes", "kubernetes.default.svc"])),
                ("ip_addresses", list(&["10.96.0.1", "fd00::1"])),
                ("uris", list(&["spiffe://cluster.local/apiserver"])),
            ]),
        )
        .await
        .unwrap();
        create(
            "tls_locally_signed_cert",
            obj(&[
                (
                    "cert_request_pem",
                    csr.get_attr("cert_request_pem").unwrap(),
                ),
                (
                    "ca_private_key_pem",
                    ca.0.get_attr("private_key_pem").unwrap(),
                ),
                ("ca_cert_pem", ca.1.get_attr("cert_pem").unwrap()),
                ("validity_period_hours", n(8760.0)),
                ("early_renewal_hours", n(720.0)),
                ("allowed_uses", list(uses)),
            ]),
        )
        .await
        .unwrap()
    }

    /// The value following `label` in `openssl x509 -text` output (on the next line).
    fn text_after(text: &str, label: &str) -> String {
        let mut lines = text.lines();
        lines
            .find(|l| l.contains(label))
            .unwrap_or_else(|| panic!("{label} not in {text}"));
        lines
            .next()
            .unwrap()
            .trim()
            .trim_start_matches("keyid:")
            .to_string()
    }

    /// RFC 3339 → openssl's `notBefore=` form.
    fn openssl_date(rfc: &str) -> String {
        let t = OffsetDateTime::parse(rfc, &Rfc3339).unwrap();
        let f = time::format_description::parse_borrowed::<2>(
            "[month repr:short] [day padding:space] [hour]:[minute]:[second] [year] GMT",
        )
        .unwrap();
        t.format(&f).unwrap()
    }

    #[tokio::test]
    async fn every_key_algorithm_parses_with_openssl_and_is_sensitive() {
        let dir = tempfile::tempdir().unwrap();
        // (algorithm, extra arguments, PEM label of private_key_pem, OpenSSH key type)
        type Case<'a> = (&'a str, &'a [(&'a str, Value)], &'a str, &'a str);
        let cases: [Case; 6] = [
            ("RSA", &[], "RSA PRIVATE KEY", "ssh-rsa"),
            (
                "RSA",
                &[("rsa_bits", n(3072.0))],
                "RSA PRIVATE KEY",
                "ssh-rsa",
            ),
            ("ECDSA", &[], "EC PRIVATE KEY", "ecdsa-sha2-nistp256"),
            (
                "ECDSA",
                &[("ecdsa_curve", s("P384"))],
                "EC PRIVATE KEY",
                "ecdsa-sha2-nistp384",
            ),
            (
                "ECDSA",
                &[("ecdsa_curve", s("P521"))],
                "EC PRIVATE KEY",
                "ecdsa-sha2-nistp521",
            ),
            ("ED25519", &[], "PRIVATE KEY", "ssh-ed25519"),
        ];
        for (i, (alg, extra, label, ssh)) in cases.into_iter().enumerate() {
            let k = key(alg, extra).await;
            for attr in ["private_key_pem", "private_key_pem_pkcs8"] {
                assert!(
                    matches!(k.get_attr(attr), Some(Value::Sensitive(_))),
                    "{alg} {attr} must be sensitive"
                );
            }
            assert!(!k.get_attr("public_key_pem").unwrap().is_sensitive());
            let pem = get(&k, "private_key_pem");
            assert!(
                pem.starts_with(&format!("-----BEGIN {label}-----\n")),
                "{pem}"
            );
            let f = write(dir.path(), &format!("k{i}.pem"), &pem);
            let f8 = write(
                dir.path(),
                &format!("k{i}.p8"),
                &get(&k, "private_key_pem_pkcs8"),
            );
            let text = openssl_ok(&["pkey", "-in", p(&f), "-noout", "-text"]);
            if alg == "RSA" {
                let bits = extra.first().map_or(2048.0, |e| e.1.as_f64().unwrap());
                assert!(text.contains(&format!("({bits} bit")), "{text}");
            }
            match extra.first().and_then(|e| e.1.as_str()) {
                Some("P384") => assert!(text.contains("secp384r1"), "{text}"),
                Some("P521") => assert!(text.contains("secp521r1"), "{text}"),
                _ => {}
            }
            // Both encodings carry the same key, whose public half is public_key_pem.
            let public = openssl_ok(&["pkey", "-in", p(&f), "-pubout"]);
            assert_eq!(public, get(&k, "public_key_pem"));
            assert_eq!(openssl_ok(&["pkey", "-in", p(&f8), "-pubout"]), public);

            let openssh = get(&k, "public_key_openssh");
            assert!(openssh.starts_with(&format!("{ssh} ")), "{openssh}");
            let pubf = write(dir.path(), &format!("k{i}.pub"), &openssh);
            let out = Command::new("ssh-keygen")
                .args(["-l", "-E", "sha256", "-f", p(&pubf)])
                .output()
                .expect("ssh-keygen must be installed to check OpenSSH encodings");
            let listing = String::from_utf8_lossy(&out.stdout);
            assert!(
                listing.contains(&get(&k, "public_key_fingerprint_sha256")),
                "{listing} {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(get(&k, "id").len(), 64);
        }
    }

    #[tokio::test]
    async fn chain_verifies_with_openssl_and_carries_names_usages_and_window() {
        let dir = tempfile::tempdir().unwrap();
        let ca = ca("ECDSA", "kubernetes-ca").await;
        let serving = leaf(
            &ca,
            "RSA",
            &["digital_signature", "key_encipherment", "server_auth"],
        )
        .await;
        let client = leaf(&ca, "ED25519", &["digital_signature", "client_auth"]).await;
        let ca_pem = write(dir.path(), "ca.pem", &get(&ca.1, "cert_pem"));
        let serving_pem = write(dir.path(), "serving.pem", &get(&serving, "cert_pem"));
        let client_pem = write(dir.path(), "client.pem", &get(&client, "cert_pem"));
        for cert in [&ca_pem, &serving_pem, &client_pem] {
            let out = openssl_ok(&["verify", "-CAfile", p(&ca_pem), p(cert)]);
            assert!(out.contains(": OK"), "{out}");
        }
        // The CA itself.
        let ca_text = openssl_ok(&["x509", "-in", p(&ca_pem), "-noout", "-text"]);
        assert!(ca_text.contains("CA:TRUE"), "{ca_text}");
        assert!(
            ca_text.contains("Digital Signature, Key Encipherment, Certificate Sign"),
            "{ca_text}"
        );
        assert!(ca_text.contains("Subject: CN = kubernetes-ca"), "{ca_text}");
        assert_eq!(get(&ca.1, "key_algorithm"), "ECDSA");

        // The serving certificate: names, usages, issuer and key ids, validity window.
        let text = openssl_ok(&["x509", "-in", p(&serving_pem), "-noout", "-text"]);
        for want in [
            "DNS:kubernetes",
            "DNS:kubernetes.default.svc",
            "IP Address:10.96.0.1",
            "IP Address:FD00:0:0:0:0:0:0:1",
            "URI:spiffe://cluster.local/apiserver",
            "TLS Web Server Authentication",
            "Digital Signature, Key Encipherment",
            "CA:FALSE",
            "Issuer: CN = kubernetes-ca",
            "Subject: O = system:masters, CN = kube-apiserver",
        ] {
            assert!(text.contains(want), "{want} missing from\n{text}");
        }
        assert!(!text.contains("Client Authentication"), "{text}");
        assert_eq!(
            text_after(&text, "X509v3 Authority Key Identifier"),
            text_after(&ca_text, "X509v3 Subject Key Identifier")
        );
        let dates = openssl_ok(&["x509", "-in", p(&serving_pem), "-noout", "-dates"]);
        assert!(
            dates.contains(&format!(
                "notBefore={}",
                openssl_date(&get(&serving, "validity_start_time"))
            )),
            "{dates}"
        );
        assert!(
            dates.contains(&format!(
                "notAfter={}",
                openssl_date(&get(&serving, "validity_end_time"))
            )),
            "{dates}"
        );
        let start = OffsetDateTime::parse(&get(&serving, "validity_start_time"), &Rfc3339).unwrap();
        let end = OffsetDateTime::parse(&get(&serving, "validity_end_time"), &Rfc3339).unwrap();
        assert_eq!(end - start, time::Duration::hours(8760));
        assert_eq!(
            serving.get_attr("ready_for_renewal"),
            Some(Value::Bool(false))
        );
        assert_eq!(get(&serving, "ca_key_algorithm"), "ECDSA");

        let client_text = openssl_ok(&["x509", "-in", p(&client_pem), "-noout", "-text"]);
        assert!(
            client_text.contains("TLS Web Client Authentication"),
            "{client_text}"
        );
        assert!(
            !client_text.contains("Server Authentication"),
            "{client_text}"
        );
        // Serials are random, so the two leaves differ.
        assert_ne!(get(&serving, "id"), get(&client, "id"));
    }

    #[tokio::test]
    async fn leaf_of_another_ca_fails_verification() {
        let dir = tempfile::tempdir().unwrap();
        let ca1 = ca("RSA", "ca-one").await;
        let ca2 = ca("ECDSA", "ca-two").await;
        let stranger = leaf(&ca2, "ECDSA", &["server_auth"]).await;
        let ca1_pem = write(dir.path(), "ca1.pem", &get(&ca1.1, "cert_pem"));
        let leaf_pem = write(dir.path(), "leaf.pem", &get(&stranger, "cert_pem"));
        let out = openssl(&["verify", "-CAfile", p(&ca1_pem), p(&leaf_pem)]);
        assert!(!out.status.success(), "a foreign leaf must not verify");
    }

    #[tokio::test]
    async fn self_signed_leaf_without_ca_flag_and_with_key_id() {
        let dir = tempfile::tempdir().unwrap();
        let k = key("RSA", &[]).await;
        let cert = create(
            "tls_self_signed_cert",
            obj(&[
                ("private_key_pem", k.get_attr("private_key_pem").unwrap()),
                ("subject", obj(&[("common_name", s("example.com"))])),
                ("dns_names", list(&["example.com"])),
                ("validity_period_hours", n(1.0)),
                ("set_subject_key_id", Value::Bool(true)),
                ("allowed_uses", list(&["key_encipherment", "server_auth"])),
            ]),
        )
        .await
        .unwrap();
        let f = write(dir.path(), "c.pem", &get(&cert, "cert_pem"));
        let text = openssl_ok(&["x509", "-in", p(&f), "-noout", "-text"]);
        assert!(text.contains("CA:FALSE"), "{text}");
        assert!(text.contains("X509v3 Subject Key Identifier"), "{text}");
        assert!(text.contains("DNS:example.com"), "{text}");
        assert!(!text.contains("Certificate Sign"), "{text}");
        assert_eq!(get(&cert, "key_algorithm"), "RSA");
    }

    #[tokio::test]
    async fn ca_key_must_match_ca_cert() {
        let ca1 = ca("ECDSA", "ca-one").await;
        let other = key("ECDSA", &[]).await;
        let k = key("ECDSA", &[]).await;
        let csr = create(
            "tls_cert_request",
            obj(&[("private_key_pem", k.get_attr("private_key_pem").unwrap())]),
        )
        .await
        .unwrap();
        let err = create(
            "tls_locally_signed_cert",
            obj(&[
                (
                    "cert_request_pem",
                    csr.get_attr("cert_request_pem").unwrap(),
                ),
                (
                    "ca_private_key_pem",
                    other.get_attr("private_key_pem").unwrap(),
                ),
                ("ca_cert_pem", ca1.1.get_attr("cert_pem").unwrap()),
                ("validity_period_hours", n(1.0)),
                ("allowed_uses", list(&["server_auth"])),
            ]),
        )
        .await
        .unwrap_err();
        assert!(err.message.contains("does not match"), "{err}");
        assert!(!err.retryable);
    }

    #[tokio::test]
    async fn ca_without_cert_signing_cannot_issue() {
        let k = key("ECDSA", &[]).await;
        let weak_ca = create(
            "tls_self_signed_cert",
            obj(&[
                ("private_key_pem", k.get_attr("private_key_pem").unwrap()),
                ("validity_period_hours", n(1.0)),
                ("is_ca_certificate", Value::Bool(true)),
                ("allowed_uses", list(&["digital_signature"])),
            ]),
        )
        .await
        .unwrap();
        let csr = create(
            "tls_cert_request",
            obj(&[("private_key_pem", k.get_attr("private_key_pem").unwrap())]),
        )
        .await
        .unwrap();
        let err = create(
            "tls_locally_signed_cert",
            obj(&[
                (
                    "cert_request_pem",
                    csr.get_attr("cert_request_pem").unwrap(),
                ),
                ("ca_private_key_pem", k.get_attr("private_key_pem").unwrap()),
                ("ca_cert_pem", weak_ca.get_attr("cert_pem").unwrap()),
                ("validity_period_hours", n(1.0)),
                ("allowed_uses", list(&["server_auth"])),
            ]),
        )
        .await
        .unwrap_err();
        assert!(err.message.contains("cert_signing"), "{err}");
    }

    #[tokio::test]
    async fn bad_input_is_a_fatal_error_not_a_panic() {
        let k = key("ECDSA", &[]).await;
        let pk = k.get_attr("private_key_pem").unwrap();
        let cert = |extra: &[(&str, Value)]| {
            let mut pairs = vec![
                ("private_key_pem", pk.clone()),
                ("validity_period_hours", n(1.0)),
                ("allowed_uses", list(&["server_auth"])),
            ];
            pairs.extend_from_slice(extra);
            obj(&pairs)
        };
        let garbage_pem = "-----BEGIN PRIVATE KEY-----\nnot base64!\n-----END PRIVATE KEY-----\n";
        let cases: Vec<(&str, Value, &str)> = vec![
            (
                "tls_private_key",
                obj(&[("algorithm", s("DSA"))]),
                "algorithm",
            ),
            (
                "tls_private_key",
                obj(&[("algorithm", s("RSA")), ("rsa_bits", n(1000.0))]),
                "rsa_bits",
            ),
            (
                "tls_private_key",
                obj(&[("algorithm", s("ECDSA")), ("ecdsa_curve", s("P224"))]),
                "ecdsa_curve",
            ),
            (
                "tls_cert_request",
                obj(&[("private_key_pem", s("hello"))]),
                "not PEM",
            ),
            (
                "tls_cert_request",
                obj(&[("private_key_pem", s(garbage_pem))]),
                "private_key_pem",
            ),
            (
                "tls_self_signed_cert",
                cert(&[("validity_period_hours", n(-1.0))]),
                "validity_period_hours",
            ),
            (
                "tls_self_signed_cert",
                cert(&[("early_renewal_hours", n(1.5))]),
                "early_renewal_hours",
            ),
            (
                "tls_self_signed_cert",
                cert(&[("allowed_uses", list(&["world_domination"]))]),
                "world_domination",
            ),
            (
                "tls_self_signed_cert",
                cert(&[("ip_addresses", list(&["10.0.0.300"]))]),
                "ip_addresses",
            ),
            (
                "tls_locally_signed_cert",
                cert(&[
                    ("cert_request_pem", s("garbage")),
                    ("ca_private_key_pem", pk.clone()),
                    ("ca_cert_pem", s("garbage")),
                ]),
                "ca_cert_pem",
            ),
        ];
        for (rtype, planned, want) in cases {
            let err = create(rtype, planned).await.unwrap_err();
            assert!(err.message.contains(want), "{rtype}: {err}");
            assert!(!err.retryable);
        }
        // A bad request is caught even with a good CA.
        let ca1 = ca("ECDSA", "ca").await;
        let err = create(
            "tls_locally_signed_cert",
            cert(&[
                ("cert_request_pem", ca1.1.get_attr("cert_pem").unwrap()),
                (
                    "ca_private_key_pem",
                    ca1.0.get_attr("private_key_pem").unwrap(),
                ),
                ("ca_cert_pem", ca1.1.get_attr("cert_pem").unwrap()),
            ]),
        )
        .await
        .unwrap_err();
        assert!(err.message.contains("cert_request_pem"), "{err}");
    }

    fn saved_cert(end: OffsetDateTime, early_hours: f64) -> Value {
        obj(&[
            ("validity_period_hours", n(24.0)),
            ("early_renewal_hours", n(early_hours)),
            ("allowed_uses", list(&["server_auth"])),
            ("cert_pem", s("-----BEGIN CERTIFICATE-----")),
            (
                "validity_start_time",
                s(&rfc3339(end - time::Duration::hours(24)).unwrap()),
            ),
            ("validity_end_time", s(&rfc3339(end).unwrap())),
            ("ready_for_renewal", Value::Bool(false)),
            ("id", s("1")),
        ])
    }

    #[tokio::test]
    async fn early_renewal_replaces_inside_the_window_only() {
        let provider = TlsProvider::new();
        let now = OffsetDateTime::now_utc();
        // Ends in 1h with a 2h renewal window: due.
        let due = saved_cert(now + time::Duration::hours(1), 2.0);
        let plan = provider
            .plan("tls_locally_signed_cert", Some(&due), due.clone())
            .unwrap();
        assert_eq!(plan.requires_replace, vec!["ready_for_renewal".to_string()]);
        assert_eq!(
            plan.planned.get_attr("ready_for_renewal"),
            Some(Value::Bool(true))
        );
        assert_eq!(plan.planned.get_attr("cert_pem"), Some(Value::Unknown));
        // Ends in 10h with a 2h window: not yet.
        let fresh = saved_cert(now + time::Duration::hours(10), 2.0);
        let plan = provider
            .plan("tls_self_signed_cert", Some(&fresh), fresh.clone())
            .unwrap();
        assert!(plan.requires_replace.is_empty());
        assert_eq!(plan.planned, fresh);
        // Expired without a window: due.
        let expired = saved_cert(now - time::Duration::minutes(1), 0.0);
        let plan = provider
            .plan("tls_self_signed_cert", Some(&expired), expired.clone())
            .unwrap();
        assert_eq!(plan.requires_replace, vec!["ready_for_renewal".to_string()]);
        // A create (no prior) is never a renewal, but its inputs are checked.
        let plan = provider
            .plan("tls_self_signed_cert", None, due.clone())
            .unwrap();
        assert!(plan.requires_replace.is_empty());
        let bad = obj(&[("validity_period_hours", n(-5.0))]);
        assert!(provider.plan("tls_self_signed_cert", None, bad).is_err());
        let unknown = obj(&[("validity_period_hours", Value::Unknown)]);
        assert!(provider.plan("tls_self_signed_cert", None, unknown).is_ok());
    }

    #[tokio::test]
    async fn read_recomputes_ready_for_renewal_from_the_clock() {
        let provider = TlsProvider::new();
        let now = OffsetDateTime::now_utc();
        let address = ResourceInstanceAddr::parse("tls_self_signed_cert.ca").unwrap();
        let due = saved_cert(now + time::Duration::hours(1), 2.0);
        let fresh = saved_cert(now + time::Duration::hours(10), 2.0);
        let read = provider
            .read(
                "tls_self_signed_cert",
                &[
                    ReadRequest {
                        address: address.clone(),
                        prior: due.clone(),
                    },
                    ReadRequest {
                        address,
                        prior: fresh.clone(),
                    },
                ],
            )
            .await
            .unwrap();
        let mut expected = due;
        set(&mut expected, "ready_for_renewal", Value::Bool(true));
        assert_eq!(read, vec![Some(expected), Some(fresh)]);

        // A real certificate read back unchanged.
        let ca1 = ca("ED25519", "ca").await;
        let read = provider
            .read(
                "tls_self_signed_cert",
                &[ReadRequest {
                    address: ResourceInstanceAddr::parse("tls_self_signed_cert.ca").unwrap(),
                    prior: ca1.1.clone(),
                }],
            )
            .await
            .unwrap();
        assert_eq!(read, vec![Some(ca1.1)]);
    }

    #[test]
    fn every_argument_is_force_new_and_secrets_are_sensitive() {
        let provider = TlsProvider::new();
        for (name, rs) in &provider.schema().resources {
            for (attr, a) in &rs.block.attributes {
                assert!(a.computed || a.force_new, "{name}.{attr} must be force-new");
                if attr.contains("private_key_pem") {
                    assert!(a.sensitive, "{name}.{attr} must be sensitive");
                }
            }
            for (block, b) in &rs.block.blocks {
                assert!(b.force_new, "{name}.{block} must be force-new");
                assert_eq!(b.nesting, BlockNesting::Single);
            }
        }
    }
}
