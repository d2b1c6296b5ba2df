//! Tests of the `tls` provider: keys and certificates it makes are checked with the real
//! `openssl` binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use time::format_description::well_known::Rfc3339;

use super::certs::rfc3339;
use super::*;
use crate::addr::ResourceInstanceAddr;

fn obj(pairs: &[(&str, Value)]) -> Value {
    Value::Map(pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect())
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
            ("allowed_uses", list(&["digital_signature", "key_encipherment", "cert_signing"])),
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
                obj(&[("common_name", s("kube-apiserver")), ("organization", s("system:masters"))]),
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
            ("cert_request_pem", csr.get_attr("cert_request_pem").unwrap()),
            ("ca_private_key_pem", ca.0.get_attr("private_key_pem").unwrap()),
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
    lines.find(|l| l.contains(label)).unwrap_or_else(|| panic!("{label} not in {text}"));
    lines.next().unwrap().trim().trim_start_matches("keyid:").to_string()
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
        ("RSA", &[("rsa_bits", n(3072.0))], "RSA PRIVATE KEY", "ssh-rsa"),
        ("ECDSA", &[], "EC PRIVATE KEY", "ecdsa-sha2-nistp256"),
        ("ECDSA", &[("ecdsa_curve", s("P384"))], "EC PRIVATE KEY", "ecdsa-sha2-nistp384"),
        ("ECDSA", &[("ecdsa_curve", s("P521"))], "EC PRIVATE KEY", "ecdsa-sha2-nistp521"),
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
        assert!(pem.starts_with(&format!("-----BEGIN {label}-----\n")), "{pem}");
        let f = write(dir.path(), &format!("k{i}.pem"), &pem);
        let f8 = write(dir.path(), &format!("k{i}.p8"), &get(&k, "private_key_pem_pkcs8"));
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
    let serving = leaf(&ca, "RSA", &["digital_signature", "key_encipherment", "server_auth"]).await;
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
    assert!(ca_text.contains("Digital Signature, Key Encipherment, Certificate Sign"), "{ca_text}");
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
        dates.contains(&format!("notAfter={}", openssl_date(&get(&serving, "validity_end_time")))),
        "{dates}"
    );
    let start = OffsetDateTime::parse(&get(&serving, "validity_start_time"), &Rfc3339).unwrap();
    let end = OffsetDateTime::parse(&get(&serving, "validity_end_time"), &Rfc3339).unwrap();
    assert_eq!(end - start, time::Duration::hours(8760));
    assert_eq!(serving.get_attr("ready_for_renewal"), Some(Value::Bool(false)));
    assert_eq!(get(&serving, "ca_key_algorithm"), "ECDSA");

    let client_text = openssl_ok(&["x509", "-in", p(&client_pem), "-noout", "-text"]);
    assert!(client_text.contains("TLS Web Client Authentication"), "{client_text}");
    assert!(!client_text.contains("Server Authentication"), "{client_text}");
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
            ("cert_request_pem", csr.get_attr("cert_request_pem").unwrap()),
            ("ca_private_key_pem", other.get_attr("private_key_pem").unwrap()),
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
            ("cert_request_pem", csr.get_attr("cert_request_pem").unwrap()),
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
        ("tls_private_key", obj(&[("algorithm", s("DSA"))]), "algorithm"),
        ("tls_private_key", obj(&[("algorithm", s("RSA")), ("rsa_bits", n(1000.0))]), "rsa_bits"),
        (
            "tls_private_key",
            obj(&[("algorithm", s("ECDSA")), ("ecdsa_curve", s("P224"))]),
            "ecdsa_curve",
        ),
        ("tls_cert_request", obj(&[("private_key_pem", s("hello"))]), "not PEM"),
        ("tls_cert_request", obj(&[("private_key_pem", s(garbage_pem))]), "private_key_pem"),
        (
            "tls_self_signed_cert",
            cert(&[("validity_period_hours", n(-1.0))]),
            "validity_period_hours",
        ),
        ("tls_self_signed_cert", cert(&[("early_renewal_hours", n(1.5))]), "early_renewal_hours"),
        (
            "tls_self_signed_cert",
            cert(&[("allowed_uses", list(&["world_domination"]))]),
            "world_domination",
        ),
        ("tls_self_signed_cert", cert(&[("ip_addresses", list(&["10.0.0.300"]))]), "ip_addresses"),
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
            ("ca_private_key_pem", ca1.0.get_attr("private_key_pem").unwrap()),
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
        ("validity_start_time", s(&rfc3339(end - time::Duration::hours(24)).unwrap())),
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
    let plan = provider.plan("tls_locally_signed_cert", Some(&due), due.clone()).unwrap();
    assert_eq!(plan.requires_replace, vec!["ready_for_renewal".to_string()]);
    assert_eq!(plan.planned.get_attr("ready_for_renewal"), Some(Value::Bool(true)));
    assert_eq!(plan.planned.get_attr("cert_pem"), Some(Value::Unknown));
    // Ends in 10h with a 2h window: not yet.
    let fresh = saved_cert(now + time::Duration::hours(10), 2.0);
    let plan = provider.plan("tls_self_signed_cert", Some(&fresh), fresh.clone()).unwrap();
    assert!(plan.requires_replace.is_empty());
    assert_eq!(plan.planned, fresh);
    // Expired without a window: due.
    let expired = saved_cert(now - time::Duration::minutes(1), 0.0);
    let plan = provider.plan("tls_self_signed_cert", Some(&expired), expired.clone()).unwrap();
    assert_eq!(plan.requires_replace, vec!["ready_for_renewal".to_string()]);
    // A create (no prior) is never a renewal, but its inputs are checked.
    let plan = provider.plan("tls_self_signed_cert", None, due.clone()).unwrap();
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
                ReadRequest { address: address.clone(), prior: due.clone() },
                ReadRequest { address, prior: fresh.clone() },
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
