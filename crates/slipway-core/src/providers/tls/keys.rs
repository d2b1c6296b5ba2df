//! Private keys: generation (RSA, ECDSA, ED25519), parsing, and the encodings Terraform writes
//! (PKCS#1 / SEC1 / PKCS#8 PEM, OpenSSH and authorized_keys), with the minimal DER reader and
//! writer they need.
//!
//! **Invariants:** a key is generated only at create; every PEM output is sensitive; input that does
//! not parse is a fatal error, never a panic.

use base64::Engine as _;
use rcgen::{KeyPair, PublicKeyData};
use sha2::{Digest, Sha256};

use crate::provider::ProviderError;
use crate::value::Value;

use super::{fatal, object_of, required_str, set, str_attr};

/// One DER element.
pub(super) struct Der<'a> {
    tag: u8,
    content: &'a [u8],
    /// Tag, length and content together.
    whole: &'a [u8],
}

/// Splits the first DER element off `input`.
pub(super) fn der_next(input: &[u8]) -> Option<(Der<'_>, &[u8])> {
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
        let len = rest[..n].iter().fold(0usize, |acc, &b| (acc << 8) | b as usize);
        rest = &rest[n..];
        header += n;
        len
    };
    if rest.len() < len {
        return None;
    }
    let element = Der { tag, content: &rest[..len], whole: &input[..header + len] };
    Some((element, &rest[len..]))
}

/// The elements inside the constructed value (a SEQUENCE) at the start of `input`.
pub(super) fn der_fields(input: &[u8]) -> Option<Vec<Der<'_>>> {
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

pub(super) fn der_encode(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len.to_be_bytes().into_iter().skip_while(|&b| b == 0).collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

pub(super) fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum KeyAlg {
    Rsa,
    Ecdsa,
    Ed25519,
}

impl KeyAlg {
    pub(super) fn name(self) -> &'static str {
        match self {
            KeyAlg::Rsa => "RSA",
            KeyAlg::Ecdsa => "ECDSA",
            KeyAlg::Ed25519 => "ED25519",
        }
    }
}

pub(super) fn key_alg(key: &KeyPair) -> Result<KeyAlg, ProviderError> {
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
pub(super) fn parse_key(pem: &str, what: &str) -> Result<KeyPair, ProviderError> {
    if !pem.contains("-----BEGIN") {
        return Err(fatal(format!("{what} is not PEM (no BEGIN line)")));
    }
    KeyPair::from_pem(pem).map_err(|e| {
        fatal(format!("{what} is not a usable RSA, ECDSA or ED25519 private key: {e}"))
    })
}

pub(super) fn generate_key(obj: &Value) -> Result<KeyPair, ProviderError> {
    let algorithm = required_str(obj, "algorithm")?;
    let result = match algorithm.as_str() {
        "RSA" => {
            let bits = obj.get_attr("rsa_bits").and_then(|v| v.as_f64()).unwrap_or(2048.0);
            // aws-lc only generates these sizes; anything else is refused rather than rounded.
            let size = match bits {
                2048.0 => rcgen::RsaKeySize::_2048,
                3072.0 => rcgen::RsaKeySize::_3072,
                4096.0 => rcgen::RsaKeySize::_4096,
                other => {
                    return Err(fatal(format!("rsa_bits must be 2048, 3072 or 4096, not {other}")));
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
pub(super) fn ec_curve(key: &KeyPair) -> (&'static [u8], &'static str) {
    // DER of the curve OIDs: prime256v1, secp384r1, secp521r1.
    let alg = key.algorithm();
    if alg == &rcgen::PKCS_ECDSA_P384_SHA384 {
        (&[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22], "nistp384")
    } else if alg == &rcgen::PKCS_ECDSA_P521_SHA512 {
        (&[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23], "nistp521")
    } else {
        (&[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07], "nistp256")
    }
}

/// The key as PKCS#8 v1. aws-lc writes ED25519 keys as v2 (with the public key appended),
/// which OpenSSL 3.0 refuses to load; v1 is what Terraform writes and every tool reads.
pub(super) fn pkcs8_v1(der: &[u8]) -> Vec<u8> {
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
pub(super) fn traditional_pem(key: &KeyPair, alg: KeyAlg) -> Result<String, ProviderError> {
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
pub(super) fn ssh_public_blob(
    key: &KeyPair,
    alg: KeyAlg,
) -> Result<(String, Vec<u8>), ProviderError> {
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

pub(super) fn create_private_key(planned: &Value) -> Result<Value, ProviderError> {
    let mut obj = object_of(planned)?;
    let key = generate_key(&obj)?;
    let alg = key_alg(&key)?;
    let (ssh_kind, blob) = ssh_public_blob(&key, alg)?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let fingerprint = format!(
        "SHA256:{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(Sha256::digest(&blob))
    );
    set(&mut obj, "private_key_pem", Value::string(traditional_pem(&key, alg)?).mark_sensitive());
    set(
        &mut obj,
        "private_key_pem_pkcs8",
        Value::string(pem_encode("PRIVATE KEY", &pkcs8_v1(key.serialized_der()))).mark_sensitive(),
    );
    set(&mut obj, "public_key_pem", Value::string(key.public_key_pem()));
    set(
        &mut obj,
        "public_key_openssh",
        Value::string(format!("{ssh_kind} {}\n", b64.encode(&blob))),
    );
    set(&mut obj, "public_key_fingerprint_sha256", Value::string(fingerprint));
    set(&mut obj, "id", Value::string(hex::encode(Sha256::digest(key.subject_public_key_info()))));
    Ok(obj)
}
