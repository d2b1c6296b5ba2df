//! Certificate requests and certificates: subjects, alternative names, usages, the validity
//! window and renewal, self-signed and CA-signed issue.
//!
//! **Invariants:** KeyUsage / ExtendedKeyUsage are exactly `allowed_uses`; a locally signed
//! certificate names the CA's subject as issuer and carries its subject key id, and the CA key is
//! checked against the CA certificate before anything is signed.

use std::net::IpAddr;

use rand::Rng;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, CustomExtension,
    DistinguishedName, DnType, ExtendedKeyUsagePurpose as Eku, IsCa, Issuer, KeyPair,
    KeyUsagePurpose as Ku, PublicKeyData, SanType, SerialNumber,
};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::provider::ProviderError;
use crate::value::Value;

use super::keys::{der_encode, key_alg, parse_key};
use super::{fatal, flag, hours, object_of, required_str, set, str_attr, str_list};

pub(super) fn distinguished_name(obj: &Value) -> Result<DistinguishedName, ProviderError> {
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

pub(super) fn subject_alt_names(obj: &Value) -> Result<Vec<SanType>, ProviderError> {
    let mut sans = Vec::new();
    for name in str_list(obj, "dns_names")? {
        let ia5 = name
            .clone()
            .try_into()
            .map_err(|_| fatal(format!("dns_names: {name:?} is not an ASCII DNS name")))?;
        sans.push(SanType::DnsName(ia5));
    }
    for ip in str_list(obj, "ip_addresses")? {
        let addr: IpAddr =
            ip.parse().map_err(|_| fatal(format!("ip_addresses: {ip:?} is not an IP address")))?;
        sans.push(SanType::IpAddress(addr));
    }
    for uri in str_list(obj, "uris")? {
        let scheme_ok = uri.split_once(':').is_some_and(|(scheme, _)| {
            !scheme.is_empty()
                && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        });
        if !scheme_ok {
            return Err(fatal(format!("uris: {uri:?} is not a URI (no scheme)")));
        }
        let ia5 =
            uri.clone().try_into().map_err(|_| fatal(format!("uris: {uri:?} is not ASCII")))?;
        sans.push(SanType::URI(ia5));
    }
    Ok(sans)
}

pub(super) fn create_cert_request(planned: &Value) -> Result<Value, ProviderError> {
    let mut obj = object_of(planned)?;
    let key = parse_key(&required_str(&obj, "private_key_pem")?, "private_key_pem")?;
    let mut params = CertificateParams::default();
    params.distinguished_name = distinguished_name(&obj)?;
    params.subject_alt_names = subject_alt_names(&obj)?;
    let csr_pem = params
        .serialize_request(&key)
        .and_then(|csr| csr.pem())
        .map_err(|e| fatal(format!("building the certificate request failed: {e}")))?;
    set(&mut obj, "key_algorithm", Value::string(key_alg(&key)?.name()));
    set(&mut obj, "id", Value::string(hex::encode(Sha256::digest(csr_pem.as_bytes()))));
    set(&mut obj, "cert_request_pem", Value::string(csr_pem));
    Ok(obj)
}

/// The certificate-specific arguments, validated.
pub(super) struct CertSpec {
    validity_hours: i64,
    is_ca: bool,
    set_subject_key_id: bool,
    key_usages: Vec<Ku>,
    extended_key_usages: Vec<Eku>,
}

/// Maps Terraform's `allowed_uses` names onto KeyUsage bits and ExtendedKeyUsage OIDs.
pub(super) fn usage(name: &str) -> Option<Result<Ku, Eku>> {
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

pub(super) fn cert_spec(obj: &Value) -> Result<CertSpec, ProviderError> {
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
pub(super) fn apply_spec(
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
                .push(CustomExtension::from_oid_content(&[2, 5, 29, 14], der_encode(0x04, &id)));
        }
    }
    // A random serial (rcgen's default hashes the public key, so re-issuing for the same key
    // would repeat a serial under the same issuer, which verifiers reject).
    let mut serial = [0u8; 16];
    rand::rng().fill(&mut serial[..]);
    serial[0] = (serial[0] & 0x7f) | 0x40;
    params.serial_number = Some(SerialNumber::from_slice(&serial));
}

pub(super) fn rfc3339(t: OffsetDateTime) -> Result<String, ProviderError> {
    t.format(&Rfc3339).map_err(|e| fatal(format!("formatting a time failed: {e}")))
}

/// Records the issued certificate and its validity window on the object.
pub(super) fn cert_outputs(
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
    set(obj, "validity_start_time", Value::string(rfc3339(params.not_before)?));
    set(obj, "validity_end_time", Value::string(rfc3339(params.not_after)?));
    set(obj, "id", Value::string(serial));
    let ready = ready_for_renewal(obj, now)?;
    set(obj, "ready_for_renewal", Value::Bool(ready));
    Ok(())
}

/// X.509 times have whole seconds; truncating here keeps validity_* equal to the certificate.
pub(super) fn now_seconds() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(0).unwrap_or(now)
}

/// True once `now` is inside the early-renewal window (or past the end) of a saved certificate.
pub(super) fn ready_for_renewal(obj: &Value, now: OffsetDateTime) -> Result<bool, ProviderError> {
    let end = required_str(obj, "validity_end_time")?;
    let end = OffsetDateTime::parse(&end, &Rfc3339)
        .map_err(|e| fatal(format!("validity_end_time {end:?} is not RFC 3339: {e}")))?;
    let early = hours(obj, "early_renewal_hours", Some(0))?;
    Ok(now >= end - time::Duration::hours(early))
}

pub(super) fn create_self_signed_cert(planned: &Value) -> Result<Value, ProviderError> {
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
    set(&mut obj, "key_algorithm", Value::string(key_alg(&key)?.name()));
    cert_outputs(&mut obj, &params, cert.pem(), now)?;
    Ok(obj)
}

/// Checks that `ca_cert_pem` is a CA certificate for `ca_key`.
pub(super) fn check_ca(ca_cert_pem: &str, ca_key: &KeyPair) -> Result<(), ProviderError> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(ca_cert_pem.as_bytes())
        .map_err(|e| fatal(format!("ca_cert_pem is not PEM: {e}")))?;
    if pem.label != "CERTIFICATE" {
        return Err(fatal(format!("ca_cert_pem holds a {:?} block, not a CERTIFICATE", pem.label)));
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
        return Err(fatal("ca_cert_pem is not a CA certificate (basicConstraints CA:FALSE)"));
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

pub(super) fn create_locally_signed_cert(planned: &Value) -> Result<Value, ProviderError> {
    let mut obj = object_of(planned)?;
    let spec = cert_spec(&obj)?;
    let ca_key = parse_key(&required_str(&obj, "ca_private_key_pem")?, "ca_private_key_pem")?;
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
    set(&mut obj, "ca_key_algorithm", Value::string(key_alg(&ca_key)?.name()));
    cert_outputs(&mut obj, &csr.params, cert.pem(), now)?;
    Ok(obj)
}
