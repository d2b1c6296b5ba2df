//! End-to-end tests of `modules/pki` through the real binary, checked with the real `openssl`.
//!
//! One environment (3 control-plane nodes; 3 etcd members, one of them stacked on a
//! control-plane node) is applied once and shared by the tests, which only read it: generating
//! 20 RSA keys in a debug build takes seconds. Everything is checked against kubeadm's
//! certificate set (`kubeadm init phase certs all`). `openssl` is required: these tests fail,
//! not skip, without it.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use base64::Engine as _;
use sha2::Digest as _;

const ENV: &str = "environments/test";
const PKI: &str = "/etc/kubernetes/pki";
const LB: &str = "k8s-api-0123456789.elb.eu-west-1.amazonaws.com";

// Non-default validity and renewal, so that the tests see the variables reach the certificates
// (the defaults are checked on a plan in `pki_defaults_are_kubeadms`).
const CA_HOURS: i64 = 43800;
const LEAF_HOURS: i64 = 4380;

const CONTROL_PLANE: [(&str, &str); 3] =
    [("cp-a", "10.0.1.10"), ("cp-b", "10.0.2.10"), ("cp-c", "10.0.3.10")];
/// `cp-a` is stacked (control plane and etcd member); the others are dedicated members.
const ETCD: [(&str, &str); 3] =
    [("cp-a", "10.0.1.10"), ("etcd-b", "10.0.2.20"), ("etcd-c", "10.0.3.20")];

fn hcl_map(entries: &[(&str, &str)]) -> String {
    let body: Vec<String> = entries.iter().map(|(k, v)| format!("    {k} = \"{v}\"")).collect();
    format!("{{\n{}\n  }}", body.join("\n"))
}

fn environment(module_args: &str) -> String {
    format!(
        r#"
module "pki" {{
  source = "../../modules/pki"
{module_args}
}}

output "ca_cert_pem" {{
  value = module.pki.ca_cert_pem
}}

output "etcd_ca_cert_pem" {{
  value = module.pki.etcd_ca_cert_pem
}}

output "front_proxy_ca_cert_pem" {{
  value = module.pki.front_proxy_ca_cert_pem
}}

output "sa_public_key_pem" {{
  value = module.pki.sa_public_key_pem
}}

output "ca_cert_hash" {{
  value = module.pki.ca_cert_hash
}}

output "bundles" {{
  value     = module.pki.bundles
  sensitive = true
}}

output "admin_kubeconfig" {{
  value     = module.pki.admin_kubeconfig
  sensitive = true
}}

output "etcd_metrics_client" {{
  value     = module.pki.etcd_metrics_client
  sensitive = true
}}

output "certificate_expiry" {{
  value = module.pki.certificate_expiry
}}

output "admin_client" {{
  value     = module.pki.admin_client
  sensitive = true
}}
"#
    )
}

fn applied_environment() -> String {
    environment(&format!(
        r#"  apiserver_lb_dns_name = "{LB}"
  cluster_name          = "prod"
  cluster_domain        = "corp.internal"
  service_cidr          = "172.20.0.0/16"
  control_plane_nodes   = {}
  etcd_members          = {}
  ca_validity_hours     = {CA_HOURS}
  leaf_validity_hours   = {LEAF_HOURS}
  early_renewal_hours   = 100"#,
        hcl_map(&CONTROL_PLANE),
        hcl_map(&ETCD)
    ))
}

// ---------------------------------------------------------------------------------------------
// Processes

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn ok(self, what: &str) -> Run {
        assert_eq!(
            self.code, 0,
            "{what} failed\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

fn run(cmd: &mut Command) -> Run {
    let out =
        cmd.stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn slipway(root: &Path, args: &[&str]) -> Run {
    run(Command::new(crate::util::slipway_bin())
        .args(args)
        .current_dir(root)
        .env("NO_COLOR", "1")
        .env_remove("SLIPWAY_STATE_DIR"))
}

/// Runs the real openssl; its absence is a failure, never a skip.
fn openssl(args: &[&str]) -> Run {
    let mut cmd = Command::new("openssl");
    cmd.args(args);
    match cmd.stdin(Stdio::null()).output() {
        Ok(out) => Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        },
        Err(e) => panic!("openssl is required by these tests (scripts/install-deps): {e}"),
    }
}

fn openssl_ok(args: &[&str]) -> String {
    openssl(args).ok(&format!("openssl {}", args.join(" "))).stdout
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A repository with a copy of the module and one environment calling it.
fn repo(dir: &Path, main_hcl: &str) {
    copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("modules/pki"), &dir.join("modules/pki"));
    std::fs::create_dir_all(dir.join(ENV)).unwrap();
    std::fs::write(dir.join(ENV).join("main.hcl"), main_hcl).unwrap();
}

// ---------------------------------------------------------------------------------------------
// The shared, applied environment

type Bundles = BTreeMap<String, BTreeMap<String, String>>;

struct Fixture {
    root: PathBuf,
    apply: Run,
    bundles: Bundles,
    kubeconfig: String,
}

impl Fixture {
    /// Where a node's copy of `/etc/kubernetes/pki/<rel>` was written.
    fn node_file(&self, node: &str, rel: &str) -> PathBuf {
        self.root.join("nodes").join(node).join(rel)
    }

    fn out_file(&self, name: &str) -> PathBuf {
        self.root.join("out").join(name)
    }

    fn ca(&self, name: &str) -> PathBuf {
        self.out_file(&format!("{name}.crt"))
    }

    fn output(&self, name: &str) -> String {
        string_output(&self.root, name)
    }
}

/// A string output, exactly (`--json`: without it the CLI appends a line break for the
/// terminal, which would make PEM comparisons differ by one byte).
fn string_output(root: &Path, name: &str) -> String {
    let json =
        slipway(root, &["output", name, "--json", "--dir", ENV]).ok("slipway output --json").stdout;
    serde_json::from_str(&json)
        .unwrap_or_else(|e| panic!("output {name} is not a string: {e}\n{json}"))
}

static FIXTURE: OnceLock<Fixture> = OnceLock::new();

fn fixture() -> &'static Fixture {
    FIXTURE.get_or_init(|| {
        // A static is never dropped, so a TempDir would never be removed: the fixture lives in
        // cargo's per-target scratch directory instead, named after this process, and each run
        // removes those of earlier runs that have exited.
        let scratch = Path::new(env!("CARGO_TARGET_TMPDIR"));
        crate::util::remove_stale_dirs(scratch, "pki-");
        let root = scratch.join(format!("pki-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        repo(&root, &applied_environment());
        let apply = slipway(&root, &["apply", ENV, "-auto-approve"]).ok("apply");

        let out = root.join("out");
        std::fs::create_dir_all(&out).unwrap();
        let raw = |name: &str| string_output(&root, name);
        for (output, file) in [
            ("ca_cert_pem", "ca.crt"),
            ("etcd_ca_cert_pem", "etcd-ca.crt"),
            ("front_proxy_ca_cert_pem", "front-proxy-ca.crt"),
        ] {
            std::fs::write(out.join(file), raw(output)).unwrap();
        }
        let kubeconfig = raw("admin_kubeconfig");
        write_admin_pair(&kubeconfig, &out);
        // The Prometheus etcd client is in no bundle: written out from its own output.
        let json = slipway(&root, &["output", "etcd_metrics_client", "--json", "--dir", ENV])
            .ok("slipway output etcd_metrics_client --json")
            .stdout;
        let client: BTreeMap<String, String> = serde_json::from_str(&json)
            .unwrap_or_else(|e| panic!("etcd_metrics_client is not a map of strings: {e}"));
        std::fs::write(out.join("etcd-metrics-client.crt"), &client["cert_pem"]).unwrap();
        std::fs::write(out.join("etcd-metrics-client.key"), &client["key_pem"]).unwrap();
        std::fs::write(out.join("etcd-metrics-client-ca.crt"), &client["ca_cert_pem"]).unwrap();

        let json = slipway(&root, &["output", "bundles", "--json", "--dir", ENV])
            .ok("slipway output bundles --json")
            .stdout;
        let bundles: Bundles = serde_json::from_str(&json)
            .unwrap_or_else(|e| panic!("bundles is not a map of maps of strings: {e}\n{json}"));
        for (node, files) in &bundles {
            for (path, pem) in files {
                let rel = path
                    .strip_prefix(&format!("{PKI}/"))
                    .unwrap_or_else(|| panic!("{node}: {path} is outside {PKI}"));
                let file = root.join("nodes").join(node).join(rel);
                std::fs::create_dir_all(file.parent().unwrap()).unwrap();
                std::fs::write(file, pem).unwrap();
            }
        }
        Fixture { root, apply, bundles, kubeconfig }
    })
}

// ---------------------------------------------------------------------------------------------
// Reading certificates with openssl

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The subject as a set of `KEY=value` (one value per attribute in this PKI).
fn subject(cert: &Path) -> BTreeSet<String> {
    let out =
        openssl_ok(&["x509", "-in", path_str(cert), "-noout", "-subject", "-nameopt", "RFC2253"]);
    let line = out.trim().trim_start_matches("subject=");
    line.split(',').map(|s| s.trim().to_string()).collect()
}

/// The value lines of one extension (empty when absent) and whether it is critical.
fn extension(cert: &Path, name: &str) -> (Vec<String>, bool) {
    let out = openssl_ok(&["x509", "-in", path_str(cert), "-noout", "-ext", name]);
    let mut lines = out.lines();
    let Some(header) = lines.next() else {
        return (Vec::new(), false);
    };
    let values = lines
        .flat_map(|l| l.split(", "))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    (values, header.contains("critical"))
}

/// Subject alternative names, normalised: `DNS:name` and `IP:addr` (IPv6 in short form), in
/// certificate order.
fn sans(cert: &Path) -> Vec<String> {
    extension(cert, "subjectAltName")
        .0
        .into_iter()
        .map(|san| {
            if let Some(ip) = san.strip_prefix("IP Address:") {
                let ip: IpAddr = ip.parse().unwrap_or_else(|e| panic!("{san}: {e}"));
                format!("IP:{ip}")
            } else {
                san
            }
        })
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn sorted(items: Vec<String>) -> Vec<String> {
    let mut items = items;
    items.sort();
    items
}

/// Seconds since the epoch of an openssl date such as `Nov  2 11:45:48 2026 GMT`.
fn epoch(date: &str) -> i64 {
    let parts: Vec<&str> = date.split_whitespace().collect();
    assert_eq!(parts.len(), 5, "unexpected date {date:?}");
    assert_eq!(parts[4], "GMT", "unexpected date {date:?}");
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let month = MONTHS.iter().position(|m| *m == parts[0]).unwrap() as i64 + 1;
    let day: i64 = parts[1].parse().unwrap();
    let year: i64 = parts[3].parse().unwrap();
    let hms: Vec<i64> = parts[2].split(':').map(|p| p.parse().unwrap()).collect();
    // Days from civil (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    days * 86400 + hms[0] * 3600 + hms[1] * 60 + hms[2]
}

/// (notBefore, notAfter) in seconds since the epoch.
fn validity(cert: &Path) -> (i64, i64) {
    let out = openssl_ok(&["x509", "-in", path_str(cert), "-noout", "-startdate", "-enddate"]);
    let field = |key: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or_else(|| panic!("no {key} in {out}"))
            .to_string()
    };
    (epoch(&field("notBefore=")), epoch(&field("notAfter=")))
}

fn cert_pubkey(cert: &Path) -> String {
    openssl_ok(&["x509", "-in", path_str(cert), "-noout", "-pubkey"])
}

fn key_pubkey(key: &Path) -> String {
    openssl_ok(&["pkey", "-in", path_str(key), "-pubout"])
}

// ---------------------------------------------------------------------------------------------
// What kubeadm issues

const TLS_SERVER: &str = "TLS Web Server Authentication";
const TLS_CLIENT: &str = "TLS Web Client Authentication";

struct Leaf {
    what: String,
    cert: PathBuf,
    /// File name of the issuing CA under `out/`.
    ca: &'static str,
    subject: BTreeSet<String>,
    sans: Vec<String>,
    eku: BTreeSet<String>,
}

fn apiserver_sans() -> Vec<String> {
    let mut sans: Vec<String> = [
        LB,
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.corp.internal",
    ]
    .iter()
    .map(|d| format!("DNS:{d}"))
    .collect();
    sans.extend(CONTROL_PLANE.iter().map(|(n, _)| format!("DNS:{n}")));
    // The first host of service_cidr 172.20.0.0/16 is the `kubernetes` service IP.
    sans.push("IP:172.20.0.1".into());
    sans.extend(CONTROL_PLANE.iter().map(|(_, ip)| format!("IP:{ip}")));
    sans
}

/// Every leaf of the applied environment, with what kubeadm would put in it.
fn leaves(f: &Fixture) -> Vec<Leaf> {
    let cp = "cp-b";
    let client = |what: &str, node: &str, rel: &str, ca: &'static str, subject: &[&str]| Leaf {
        what: what.to_string(),
        cert: f.node_file(node, rel),
        ca,
        subject: set(subject),
        sans: Vec::new(),
        eku: set(&[TLS_CLIENT]),
    };
    let mut out = vec![
        Leaf {
            what: "apiserver".into(),
            cert: f.node_file(cp, "apiserver.crt"),
            ca: "ca.crt",
            subject: set(&["CN=kube-apiserver"]),
            sans: apiserver_sans(),
            eku: set(&[TLS_SERVER]),
        },
        client(
            "apiserver-kubelet-client",
            cp,
            "apiserver-kubelet-client.crt",
            "ca.crt",
            &["CN=kube-apiserver-kubelet-client", "O=kubeadm:cluster-admins"],
        ),
        client(
            "apiserver-etcd-client",
            cp,
            "apiserver-etcd-client.crt",
            "etcd-ca.crt",
            &["CN=kube-apiserver-etcd-client"],
        ),
        client(
            "front-proxy-client",
            cp,
            "front-proxy-client.crt",
            "front-proxy-ca.crt",
            &["CN=front-proxy-client"],
        ),
        client(
            "etcd healthcheck client",
            "etcd-b",
            "etcd/healthcheck-client.crt",
            "etcd-ca.crt",
            &["CN=kube-etcd-healthcheck-client"],
        ),
        Leaf {
            what: "etcd metrics client (Prometheus)".into(),
            cert: f.out_file("etcd-metrics-client.crt"),
            ca: "etcd-ca.crt",
            subject: set(&["CN=slipway-prometheus-etcd-client"]),
            sans: Vec::new(),
            eku: set(&[TLS_CLIENT]),
        },
        Leaf {
            what: "admin (from the kubeconfig)".into(),
            cert: f.out_file("admin.crt"),
            ca: "ca.crt",
            subject: set(&["CN=kubernetes-admin", "O=kubeadm:cluster-admins"]),
            sans: Vec::new(),
            eku: set(&[TLS_CLIENT]),
        },
    ];
    for (name, ip) in ETCD {
        for kind in ["server", "peer"] {
            out.push(Leaf {
                what: format!("etcd {kind} of {name}"),
                cert: f.node_file(name, &format!("etcd/{kind}.crt")),
                ca: "etcd-ca.crt",
                subject: set(&[&format!("CN={name}")]),
                sans: vec![
                    format!("DNS:{name}"),
                    "DNS:localhost".into(),
                    format!("IP:{ip}"),
                    "IP:127.0.0.1".into(),
                    "IP:::1".into(),
                ],
                eku: set(&[TLS_SERVER, TLS_CLIENT]),
            });
        }
    }
    out
}

const CAS: [(&str, &str); 3] = [
    ("ca.crt", "kubernetes"),
    ("etcd-ca.crt", "etcd-ca"),
    ("front-proxy-ca.crt", "front-proxy-ca"),
];

/// The value of `key: value` on the (only) line holding `key:` in the kubeconfig.
fn kubeconfig_field<'a>(kubeconfig: &'a str, key: &str) -> &'a str {
    let prefix = format!("{key}: ");
    let values: Vec<&str> =
        kubeconfig.lines().filter_map(|l| l.trim_start().strip_prefix(&prefix)).collect();
    assert_eq!(values.len(), 1, "{key} in kubeconfig:\n{kubeconfig}");
    values[0]
}

fn b64(text: &str) -> String {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .unwrap_or_else(|e| panic!("not base64: {e}"));
    String::from_utf8(bytes).unwrap()
}

/// The admin pair exists only inside the kubeconfig; written out once, for openssl.
fn write_admin_pair(kubeconfig: &str, out: &Path) {
    let cert = b64(kubeconfig_field(kubeconfig, "client-certificate-data"));
    let key = b64(kubeconfig_field(kubeconfig, "client-key-data"));
    std::fs::write(out.join("admin.crt"), cert).unwrap();
    std::fs::write(out.join("admin.key"), key).unwrap();
}

// ---------------------------------------------------------------------------------------------
// Tests

#[test]
fn pki_every_leaf_verifies_against_its_own_ca_only() {
    let f = fixture();
    let leaves = leaves(f);
    assert_eq!(leaves.len(), 7 + 2 * ETCD.len());
    for leaf in &leaves {
        // -x509_strict adds RFC 5280 checks (e.g. authority key id present); -purpose checks
        // the extended key usage the certificate is used for.
        for (eku, purpose) in [(TLS_SERVER, "sslserver"), (TLS_CLIENT, "sslclient")] {
            let verify = openssl(&[
                "verify",
                "-x509_strict",
                "-purpose",
                purpose,
                "-CAfile",
                path_str(&f.out_file(leaf.ca)),
                path_str(&leaf.cert),
            ]);
            if !leaf.eku.contains(eku) {
                assert_ne!(verify.code, 0, "{} is not for {purpose}", leaf.what);
                continue;
            }
            assert!(
                verify.code == 0 && verify.stdout.contains(": OK"),
                "{} must verify against {} for {purpose}: {}{}",
                leaf.what,
                leaf.ca,
                verify.stdout,
                verify.stderr
            );
        }
        for (other, _) in CAS.iter().filter(|(ca, _)| *ca != leaf.ca) {
            let bad =
                openssl(&["verify", "-CAfile", path_str(&f.out_file(other)), path_str(&leaf.cert)]);
            assert_ne!(
                bad.code, 0,
                "{} must not verify against {other}: {}",
                leaf.what, bad.stdout
            );
        }
    }
}

#[test]
fn pki_subjects_and_sans_are_kubeadms() {
    let f = fixture();
    for leaf in leaves(f) {
        assert_eq!(subject(&leaf.cert), leaf.subject, "subject of {}", leaf.what);
        let actual = sans(&leaf.cert);
        let unique: BTreeSet<&String> = actual.iter().collect();
        assert_eq!(unique.len(), actual.len(), "{}: duplicate SANs", leaf.what);
        assert_eq!(sorted(actual), sorted(leaf.sans.clone()), "SANs of {}", leaf.what);
        // kubeadm does not put loopback on the apiserver certificate.
        if leaf.what == "apiserver" {
            assert!(!leaf.sans.iter().any(|s| s.contains("127.0.0.1")));
        }
    }
    for (file, cn) in CAS {
        let cert = f.out_file(file);
        assert_eq!(subject(&cert), set(&[&format!("CN={cn}")]), "{file}");
        // kubeadm's CAs repeat their common name as a DNS name.
        assert_eq!(sans(&cert), vec![format!("DNS:{cn}")], "{file}");
        // Self-signed: issuer equals subject.
        let issuer = openssl_ok(&[
            "x509",
            "-in",
            path_str(&cert),
            "-noout",
            "-issuer",
            "-nameopt",
            "RFC2253",
        ]);
        assert_eq!(issuer.trim(), format!("issuer=CN={cn}"));
    }
}

#[test]
fn pki_key_usages_and_ca_flags_are_kubeadms() {
    let f = fixture();
    for leaf in leaves(f) {
        let (ku, critical) = extension(&leaf.cert, "keyUsage");
        assert!(critical, "{}: key usage must be critical", leaf.what);
        assert_eq!(
            ku.into_iter().collect::<BTreeSet<_>>(),
            set(&["Digital Signature", "Key Encipherment"]),
            "key usage of {}",
            leaf.what
        );
        let (eku, _) = extension(&leaf.cert, "extendedKeyUsage");
        assert_eq!(
            eku.into_iter().collect::<BTreeSet<_>>(),
            leaf.eku,
            "extended key usage of {}",
            leaf.what
        );
        let (bc, critical) = extension(&leaf.cert, "basicConstraints");
        assert_eq!(bc, vec!["CA:FALSE"], "{} must not be a CA", leaf.what);
        assert!(critical);
    }
    for (file, _) in CAS {
        let cert = f.out_file(file);
        let (ku, critical) = extension(&cert, "keyUsage");
        assert!(critical);
        assert_eq!(
            ku.into_iter().collect::<BTreeSet<_>>(),
            set(&["Digital Signature", "Key Encipherment", "Certificate Sign"]),
            "key usage of {file}"
        );
        assert_eq!(extension(&cert, "extendedKeyUsage").0, Vec::<String>::new());
        let (bc, critical) = extension(&cert, "basicConstraints");
        assert_eq!(bc, vec!["CA:TRUE"], "{file} must be a CA");
        assert!(critical);
    }
}

#[test]
fn pki_validity_follows_the_variables() {
    let f = fixture();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
        as i64;
    let mut checked = Vec::new();
    for (file, _) in CAS {
        checked.push((file.to_string(), f.out_file(file), CA_HOURS));
    }
    for leaf in leaves(f) {
        checked.push((leaf.what, leaf.cert, LEAF_HOURS));
    }
    for (what, cert, hours) in checked {
        let (start, end) = validity(&cert);
        assert_eq!(end - start, hours * 3600, "validity of {what}");
        // Issued by this run: a stale fixture or clock confusion would show here.
        assert!((now - start).abs() < 3600, "{what} starts at {start}, now is {now}");
    }
}

#[test]
fn pki_private_keys_match_their_certificates() {
    let f = fixture();
    let apiserver_crt = f.node_file("cp-b", "apiserver.crt");
    let apiserver_key = f.node_file("cp-b", "apiserver.key");
    let apiserver_pub = cert_pubkey(&apiserver_crt);
    assert!(apiserver_pub.contains("BEGIN PUBLIC KEY"));
    assert_eq!(apiserver_pub, key_pubkey(&apiserver_key));
    // The comparison can fail: another pair's key differs.
    assert_ne!(apiserver_pub, key_pubkey(&f.node_file("cp-b", "apiserver-kubelet-client.key")));
    assert_eq!(cert_pubkey(&f.out_file("admin.crt")), key_pubkey(&f.out_file("admin.key")));

    let mut pairs = 0;
    for (node, files) in &f.bundles {
        for path in files.keys().filter(|p| p.ends_with(".key")) {
            let rel = path.strip_prefix(&format!("{PKI}/")).unwrap();
            let key = f.node_file(node, rel);
            let text = openssl_ok(&["pkey", "-in", path_str(&key), "-noout", "-text"]);
            assert!(
                text.contains("Private-Key: (2048 bit"),
                "{node}:{path} is not RSA 2048: {}",
                text.lines().next().unwrap_or_default()
            );
            let partner = if rel == "sa.key" {
                std::fs::read_to_string(f.node_file(node, "sa.pub")).unwrap()
            } else {
                cert_pubkey(&f.node_file(node, &rel.replace(".key", ".crt")))
            };
            assert_eq!(key_pubkey(&key), partner, "{node}:{path}");
            pairs += 1;
        }
    }
    // 3 control-plane bundles x 7 keys, a stacked member's 3 etcd pairs + etcd CA key,
    // and 3 etcd pairs on each of the two dedicated members.
    assert_eq!(pairs, 3 * 7 + 4 + 2 * 3);
}

#[test]
fn pki_bundles_hold_what_each_node_needs() {
    let f = fixture();
    let paths = |names: &[&str]| -> BTreeSet<String> {
        names.iter().map(|n| format!("{PKI}/{n}")).collect()
    };
    let control_plane = [
        "ca.crt",
        "ca.key",
        "sa.key",
        "sa.pub",
        "front-proxy-ca.crt",
        "front-proxy-ca.key",
        "etcd/ca.crt",
        "apiserver.crt",
        "apiserver.key",
        "apiserver-kubelet-client.crt",
        "apiserver-kubelet-client.key",
        "apiserver-etcd-client.crt",
        "apiserver-etcd-client.key",
        "front-proxy-client.crt",
        "front-proxy-client.key",
    ];
    let etcd = [
        "etcd/ca.crt",
        "etcd/server.crt",
        "etcd/server.key",
        "etcd/peer.crt",
        "etcd/peer.key",
        "etcd/healthcheck-client.crt",
        "etcd/healthcheck-client.key",
    ];
    let mut stacked: Vec<&str> = control_plane.iter().chain(etcd.iter()).copied().collect();
    stacked.push("etcd/ca.key");

    assert_eq!(
        f.bundles.keys().cloned().collect::<BTreeSet<_>>(),
        set(&["cp-a", "cp-b", "cp-c", "etcd-b", "etcd-c"])
    );
    let keys = |node: &str| f.bundles[node].keys().cloned().collect::<BTreeSet<_>>();
    assert_eq!(keys("cp-a"), paths(&stacked));
    for node in ["cp-b", "cp-c"] {
        assert_eq!(keys(node), paths(&control_plane), "{node}");
    }
    for node in ["etcd-b", "etcd-c"] {
        assert_eq!(keys(node), paths(&etcd), "{node}");
    }

    // Every copy of a CA is the one the module outputs; shared certificates are identical.
    for (node, files) in &f.bundles {
        for (rel, out) in [("ca.crt", "ca.crt"), ("front-proxy-ca.crt", "front-proxy-ca.crt")] {
            if let Some(pem) = files.get(&format!("{PKI}/{rel}")) {
                assert_eq!(pem, &std::fs::read_to_string(f.out_file(out)).unwrap(), "{node}");
            }
        }
        assert_eq!(
            files[&format!("{PKI}/etcd/ca.crt")],
            std::fs::read_to_string(f.ca("etcd-ca")).unwrap(),
            "{node}"
        );
        assert_eq!(
            files.get(&format!("{PKI}/sa.pub")).is_some(),
            files.get(&format!("{PKI}/sa.key")).is_some()
        );
    }
    assert_eq!(
        f.bundles["cp-b"][&format!("{PKI}/apiserver.crt")],
        f.bundles["cp-c"][&format!("{PKI}/apiserver.crt")]
    );
    assert_eq!(f.bundles["cp-a"][&format!("{PKI}/sa.pub")], f.output("sa_public_key_pem"));
    // Each member has its own serving pair.
    assert_ne!(
        f.bundles["etcd-b"][&format!("{PKI}/etcd/server.crt")],
        f.bundles["etcd-c"][&format!("{PKI}/etcd/server.crt")]
    );
    // The stacked member's etcd CA key belongs to the etcd CA.
    assert_eq!(key_pubkey(&f.node_file("cp-a", "etcd/ca.key")), cert_pubkey(&f.ca("etcd-ca")));
}

#[test]
fn pki_ca_cert_hash_is_kubeadms_discovery_hash() {
    let f = fixture();
    // kubeadm's documented recipe: SHA-256 of the CA's DER SubjectPublicKeyInfo.
    let spki_pem = cert_pubkey(&f.ca("ca"));
    let spki_file = f.root.join("out/ca-spki.pem");
    std::fs::write(&spki_file, spki_pem).unwrap();
    let der_file = f.root.join("out/ca-spki.der");
    openssl_ok(&[
        "pkey",
        "-pubin",
        "-in",
        path_str(&spki_file),
        "-outform",
        "der",
        "-out",
        path_str(&der_file),
    ]);
    let der = std::fs::read(&der_file).unwrap();
    let expected = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&der)));
    assert_eq!(f.output("ca_cert_hash").trim_end(), expected);
    // The hash is of the cluster CA, not of another one.
    let etcd_spki = cert_pubkey(&f.ca("etcd-ca"));
    assert_ne!(etcd_spki, cert_pubkey(&f.ca("ca")));
}

#[test]
fn pki_admin_kubeconfig_is_valid_and_embeds_the_admin_pair() {
    let f = fixture();
    let k = &f.kubeconfig;
    assert!(!k.contains('\t'), "YAML forbids tabs in indentation");
    // The exact shape, with the three base64 values cut out.
    let skeleton: Vec<String> = k
        .lines()
        .map(|l| match l.split_once("-data: ") {
            Some((key, _)) => format!("{key}-data: <b64>"),
            None => l.to_string(),
        })
        .collect();
    let expected = format!(
        "apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority-data: <b64>
    server: https://{LB}:6443
  name: prod
contexts:
- context:
    cluster: prod
    user: kubernetes-admin
  name: kubernetes-admin@prod
current-context: kubernetes-admin@prod
preferences: {{}}
users:
- name: kubernetes-admin
  user:
    client-certificate-data: <b64>
    client-key-data: <b64>"
    );
    assert_eq!(skeleton.join("\n").trim_end(), expected);

    let ca = b64(kubeconfig_field(k, "certificate-authority-data"));
    assert_eq!(ca, std::fs::read_to_string(f.ca("ca")).unwrap());
    let key = b64(kubeconfig_field(k, "client-key-data"));
    assert!(key.contains("PRIVATE KEY"));
    assert_eq!(key, std::fs::read_to_string(f.out_file("admin.key")).unwrap());
    // The embedded pair is a client of this cluster's CA.
    openssl_ok(&[
        "verify",
        "-purpose",
        "sslclient",
        "-CAfile",
        path_str(&f.ca("ca")),
        path_str(&f.out_file("admin.crt")),
    ]);

    // A real YAML parser, where one is installed (the skeleton check above always runs).
    let py = run(Command::new("python3").args(["-c", "import yaml"]));
    if py.code == 0 {
        let file = f.root.join("out/admin.conf");
        std::fs::write(&file, k).unwrap();
        let doc = run(Command::new("python3")
            .args([
                "-c",
                "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
            ])
            .arg(&file))
        .ok("parsing the kubeconfig as YAML");
        let doc: serde_json::Value = serde_json::from_str(&doc.stdout).unwrap();
        assert_eq!(doc["kind"], "Config");
        assert_eq!(doc["current-context"], "kubernetes-admin@prod");
        assert_eq!(doc["clusters"][0]["cluster"]["server"], format!("https://{LB}:6443"));
        assert_eq!(doc["users"][0]["name"], "kubernetes-admin");
    } else {
        eprintln!("python3 with PyYAML not found: kubeconfig checked by structure only");
    }
}

#[test]
fn pki_reapply_plans_nothing_and_never_prints_a_private_key() {
    let f = fixture();
    assert!(f.apply.stdout.contains("Apply complete!"), "{}", f.apply.stdout);
    let plan = slipway(&f.root, &["plan", ENV, "--detailed-exitcode"]);
    assert_eq!(
        plan.code, 0,
        "a second plan must be empty\nstdout:\n{}\nstderr:\n{}",
        plan.stdout, plan.stderr
    );
    let all_outputs = slipway(&f.root, &["output", "--dir", ENV]).ok("slipway output");
    assert!(all_outputs.stdout.contains("bundles = <sensitive>"));
    assert!(all_outputs.stdout.contains("admin_kubeconfig = <sensitive>"));
    for (what, text) in [
        ("apply stdout", &f.apply.stdout),
        ("apply stderr", &f.apply.stderr),
        ("plan stdout", &plan.stdout),
        ("plan stderr", &plan.stderr),
        ("output", &all_outputs.stdout),
    ] {
        assert!(!text.contains("PRIVATE KEY"), "{what} shows a private key");
    }
    // The check above can fail: the private keys do exist, in the sensitive outputs.
    assert!(f.bundles["cp-b"][&format!("{PKI}/ca.key")].contains("RSA PRIVATE KEY"));
}

#[test]
fn pki_defaults_are_kubeadms() {
    // Planned only: the defaults are visible in the plan without generating any key.
    let dir = tempfile::tempdir().unwrap();
    repo(
        dir.path(),
        &environment(&format!(
            "  apiserver_lb_dns_name = \"{LB}\"\n  control_plane_nodes = {}\n  etcd_members = {}",
            hcl_map(&CONTROL_PLANE[..1]),
            hcl_map(&ETCD[..1])
        )),
    );
    let plan = slipway(dir.path(), &["plan", ENV, "--detailed-exitcode"]);
    assert_eq!(plan.code, 2, "{}\n{}", plan.stdout, plan.stderr);
    // Plan lines with their alignment collapsed, e.g. `+ early_renewal_hours = 720`.
    let lines: Vec<String> =
        plan.stdout.lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect();
    let attr = |line: &str| lines.iter().filter(|l| *l == line).count();
    // 3 CAs for 10 years; 9 leaves (7 shared + server and peer of one member) for 1 year.
    assert_eq!(attr("+ validity_period_hours = 87600"), 3, "{}", plan.stdout);
    assert_eq!(attr("+ validity_period_hours = 8760"), 9, "{}", plan.stdout);
    assert_eq!(attr("+ early_renewal_hours = 720"), 12, "{}", plan.stdout);
    let count = |needle: &str| plan.stdout.matches(needle).count();
    for san in ["\"kubernetes.default.svc.cluster.local\"", "\"10.96.0.1\""] {
        assert_eq!(count(san), 1, "{san} in\n{}", plan.stdout);
    }
    assert!(!plan.stdout.contains("PRIVATE KEY"));
}

#[test]
fn pki_only_the_secret_outputs_are_sensitive() {
    let module = format!(
        "module \"pki\" {{\n  source = \"../../modules/pki\"\n  apiserver_lb_dns_name = \"{LB}\"\n  control_plane_nodes = {}\n  etcd_members = {}\n}}\n",
        hcl_map(&CONTROL_PLANE[..1]),
        hcl_map(&ETCD[..1])
    );
    // Re-exported without `sensitive = true`: accepted for public material...
    let public: String = [
        "ca_cert_pem",
        "etcd_ca_cert_pem",
        "front_proxy_ca_cert_pem",
        "sa_public_key_pem",
        "ca_cert_hash",
        "certificate_expiry",
    ]
    .iter()
    .map(|o| format!("output \"{o}\" {{\n  value = module.pki.{o}\n}}\n"))
    .collect();
    let dir = tempfile::tempdir().unwrap();
    repo(dir.path(), &format!("{module}{public}"));
    let plan = slipway(dir.path(), &["plan", ENV, "--detailed-exitcode"]);
    assert_eq!(plan.code, 2, "{}\n{}", plan.stdout, plan.stderr);
    // ...and refused for anything that holds a private key.
    for secret in ["bundles", "admin_kubeconfig", "etcd_metrics_client", "admin_client"] {
        let dir = tempfile::tempdir().unwrap();
        repo(
            dir.path(),
            &format!("{module}output \"leak\" {{\n  value = module.pki.{secret}\n}}\n"),
        );
        let plan = slipway(dir.path(), &["plan", ENV]);
        assert_ne!(plan.code, 0, "{secret} must be sensitive: {}", plan.stdout);
        assert!(plan.stderr.contains("refers to sensitive values"), "{secret}: {}", plan.stderr);
    }
}

/// Regression: the evaluator used to dedent heredocs a second time after the parser had, which
/// shifted `<<-` documents left once a line after an interpolation was indented deeper than
/// the first line, and stripped the indentation that a plain `<<` heredoc keeps.
#[test]
fn heredoc_indentation_is_stripped_once() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join(ENV)).unwrap();
    std::fs::write(
        dir.path().join(ENV).join("main.hcl"),
        r#"
locals {
  n = "k"
}

output "indented" {
  value = <<-EOT
    top: 1
    - context:
        cluster: ${local.n}
        user: x
    EOT
}

output "plain" {
  value = <<EOT
    one
      two
EOT
}
"#,
    )
    .unwrap();
    slipway(dir.path(), &["apply", ENV, "-auto-approve"]).ok("apply");
    let indented = slipway(dir.path(), &["output", "indented", "--dir", ENV]).ok("output");
    assert_eq!(
        indented.stdout.trim_end_matches('\n'),
        "top: 1\n- context:\n    cluster: k\n    user: x"
    );
    let plain = slipway(dir.path(), &["output", "plain", "--dir", ENV]).ok("output");
    assert_eq!(plain.stdout.trim_end_matches('\n'), "    one\n      two");
}

/// `certificate_expiry` names every certificate the module issued (3 CAs, 7 shared leaves, a
/// server and a peer per etcd member) with its notAfter as openssl reads it: what
/// modules/observability turns into `slipway:certificate_expiry_timestamp_seconds`.
#[test]
fn pki_certificate_expiry_names_every_certificate_with_its_not_after() {
    let f = fixture();
    let json = slipway(&f.root, &["output", "certificate_expiry", "--json", "--dir", ENV])
        .ok("slipway output certificate_expiry --json")
        .stdout;
    let expiry: BTreeMap<String, String> = serde_json::from_str(&json)
        .unwrap_or_else(|e| panic!("certificate_expiry is not a map of strings: {e}\n{json}"));
    assert_eq!(expiry.len(), 3 + 7 + 2 * ETCD.len(), "{expiry:?}");
    let checked = [
        ("ca", f.out_file("ca.crt")),
        ("etcd-ca", f.out_file("etcd-ca.crt")),
        ("front-proxy-ca", f.out_file("front-proxy-ca.crt")),
        ("apiserver", f.node_file("cp-b", "apiserver.crt")),
        ("etcd-metrics-client", f.out_file("etcd-metrics-client.crt")),
        ("etcd-server/etcd-c", f.node_file("etcd-c", "etcd/server.crt")),
    ];
    for (name, cert) in checked {
        let rfc3339 = expiry.get(name).unwrap_or_else(|| panic!("no {name} in {expiry:?}"));
        let (_, not_after) = validity(&cert);
        // RFC 3339 in UTC as the tls provider writes it: 2027-06-01T19:04:40Z.
        let date = rfc3339.trim_end_matches('Z');
        let (day, time) = date.split_once('T').unwrap_or_else(|| panic!("{rfc3339}"));
        let d: Vec<i64> = day.split('-').map(|p| p.parse().unwrap()).collect();
        const MONTHS: [&str; 12] =
            ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
        let openssl_form = format!("{} {} {} {} GMT", MONTHS[d[1] as usize - 1], d[2], time, d[0]);
        assert_eq!(epoch(&openssl_form), not_after, "{name}: {rfc3339}");
    }
}

/// `admin_client` is the pair the admin kubeconfig embeds (a provider block configured from it
/// authenticates as the same user).
#[test]
fn pki_admin_client_is_the_admin_kubeconfigs_pair() {
    let f = fixture();
    let json = slipway(&f.root, &["output", "admin_client", "--json", "--dir", ENV])
        .ok("slipway output admin_client --json")
        .stdout;
    let client: BTreeMap<String, String> = serde_json::from_str(&json)
        .unwrap_or_else(|e| panic!("admin_client is not a map of strings: {e}"));
    assert_eq!(client["cert_pem"], std::fs::read_to_string(f.out_file("admin.crt")).unwrap());
    assert_eq!(client["key_pem"], std::fs::read_to_string(f.out_file("admin.key")).unwrap());
}
