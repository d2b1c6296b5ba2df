//! End-to-end tests of `modules/etcd`: the configuration slipway renders is run, byte for byte,
//! by three real etcd 3.6 members — the release etcd nodes install, built from source by
//! `scripts/install-kube` — with certificates from `modules/pki`, and probed with the real
//! `etcdctl` and `curl`.
//!
//! The members listen on 127.0.0.1, 127.0.0.2 and 127.0.0.3 — loopback only — and are rendered
//! with those addresses directly, so nothing in a config file is rewritten. Two inputs make
//! three members fit on one host: `pki_dir` and `data_dir` are relative (`pki`, `data`), and
//! each etcd runs in its own directory, so each finds its own certificates and data; and
//! `listen_on_localhost = false`, since three members cannot all bind 127.0.0.1:<client port>.
//! Ports are free ones picked at run time. `etcd`, `etcdctl` (from `SLIPWAY_KUBE_BIN`), `curl`
//! and `openssl` are required: these tests fail, not skip, without them (`scripts/install-kube`,
//! `scripts/install-deps`).

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

const ENV: &str = "environments/test";
const PKI_ETCD: &str = "/etc/kubernetes/pki/etcd";
const MEMBERS: [(&str, &str); 3] =
    [("etcd-a", "127.0.0.1"), ("etcd-b", "127.0.0.2"), ("etcd-c", "127.0.0.3")];
const INSTALL: &str = "build etcd with `export SLIPWAY_KUBE_BIN=$(scripts/install-kube)` and \
                       install curl and openssl (scripts/install-deps)";

// ---------------------------------------------------------------------------------------------
// Processes

pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    pub(crate) fn ok(self, what: &str) -> Run {
        assert_eq!(
            self.code, 0,
            "{what} failed\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    pub(crate) fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// Runs a command; a missing program is a failure that says how to install it, never a skip.
pub(crate) fn run(cmd: &mut Command) -> Run {
    let out = cmd.stdin(Stdio::null()).output().unwrap_or_else(|e| {
        panic!(
            "cannot run {:?} ({e}): these tests need etcd, etcdctl, curl and openssl; {INSTALL}",
            cmd.get_program()
        )
    });
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

fn json_output<T: serde::de::DeserializeOwned>(root: &Path, name: &str) -> T {
    let json = slipway(root, &["output", name, "--json", "--dir", ENV])
        .ok(&format!("slipway output {name} --json"))
        .stdout;
    serde_json::from_str(&json).unwrap_or_else(|e| panic!("output {name}: {e}\n{json}"))
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

/// A repository with copies of modules/pki and modules/etcd and one environment.
fn repo(dir: &Path, main_hcl: &str) {
    let modules = Path::new(env!("CARGO_MANIFEST_DIR")).join("modules");
    for module in ["pki", "etcd"] {
        copy_dir(&modules.join(module), &dir.join("modules").join(module));
    }
    std::fs::create_dir_all(dir.join(ENV)).unwrap();
    std::fs::write(dir.join(ENV).join("main.hcl"), main_hcl).unwrap();
}

fn hcl_map(entries: &[(&str, &str)]) -> String {
    let body: Vec<String> = entries.iter().map(|(k, v)| format!("    {k} = \"{v}\"")).collect();
    format!("{{\n{}\n  }}", body.join("\n"))
}

/// A port free on 127.0.0.1, .2 and .3 (and not in `avoid`): every member listens on it.
fn free_port(avoid: &[u16]) -> u16 {
    crate::util::free_port(&MEMBERS.map(|(_, ip)| ip), avoid)
}

// ---------------------------------------------------------------------------------------------
// The applied environment, shared by the tests (generating the PKI's RSA keys takes seconds)

type Bundles = BTreeMap<String, BTreeMap<String, String>>;
type Texts = BTreeMap<String, String>;

struct Fixture {
    client_port: u16,
    peer_port: u16,
    bundles: Bundles,
    /// The members' config files, exactly as rendered.
    configs: Texts,
    endpoints: Vec<String>,
    initial_cluster: String,
    units: Texts,
    /// A stacked cluster rendered with every default, for the checks of production values.
    default_configs: Texts,
    default_units: Texts,
    default_rules: serde_json::Value,
    default_endpoints: Vec<String>,
}

fn environment(client_port: u16, peer_port: u16) -> String {
    let members = hcl_map(&MEMBERS);
    format!(
        r#"
variable "client_port" {{
  type    = number
  default = {client_port}
}}

variable "peer_port" {{
  type    = number
  default = {peer_port}
}}

locals {{
  members = {members}
}}

module "pki" {{
  source                = "../../modules/pki"
  apiserver_lb_dns_name = "k8s-api.test.internal"
  control_plane_nodes   = {{ cp-a = "127.0.0.10" }}
  etcd_members          = local.members
}}

# Three dedicated members on one host's loopback: each etcd runs in its own directory, where
# the relative pki and data paths lead to its own files.
module "etcd" {{
  source                = "../../modules/etcd"
  cluster_name          = "test"
  topology              = "external"
  members               = local.members
  client_port           = var.client_port
  peer_port             = var.peer_port
  listen_on_localhost   = false
  data_dir              = "data"
  pki_dir               = "pki"
  initial_cluster_token = "slipway-etcd-test"
  control_plane_cidrs   = ["127.0.0.10/32"]
}}

# Production values: stacked on three control-plane nodes, every default.
module "etcd_defaults" {{
  source              = "../../modules/etcd"
  cluster_name        = "prod"
  members             = {{ cp-a = "10.0.1.10", cp-b = "10.0.2.10", cp-c = "10.0.3.10" }}
  control_plane_cidrs = ["10.0.1.0/24", "10.0.2.0/24", "10.0.3.0/24"]
}}

output "bundles" {{
  value     = module.pki.bundles
  sensitive = true
}}

output "config_files" {{
  value = module.etcd.config_files
}}

output "endpoints" {{
  value = module.etcd.endpoints
}}

output "initial_cluster" {{
  value = module.etcd.initial_cluster
}}

output "systemd_units" {{
  value = module.etcd.systemd_units
}}

output "default_config_files" {{
  value = module.etcd_defaults.config_files
}}

output "default_systemd_units" {{
  value = module.etcd_defaults.systemd_units
}}

output "default_security_group_rules" {{
  value = module.etcd_defaults.security_group_rules
}}

output "default_endpoints" {{
  value = module.etcd_defaults.endpoints
}}
"#
    )
}

static FIXTURE: OnceLock<Fixture> = OnceLock::new();

fn fixture() -> &'static Fixture {
    FIXTURE.get_or_init(|| {
        // A static is never dropped: the fixture lives in cargo's scratch directory, named after
        // this process, and each run removes those of runs that have exited.
        let scratch = Path::new(env!("CARGO_TARGET_TMPDIR"));
        crate::util::remove_stale_dirs(scratch, "etcd-");
        let root = scratch.join(format!("etcd-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let client_port = free_port(&[]);
        let peer_port = free_port(&[client_port]);
        repo(&root, &environment(client_port, peer_port));
        slipway(&root, &["apply", ENV, "-auto-approve"]).ok("apply");
        Fixture {
            client_port,
            peer_port,
            bundles: json_output(&root, "bundles"),
            configs: json_output(&root, "config_files"),
            endpoints: json_output(&root, "endpoints"),
            initial_cluster: json_output(&root, "initial_cluster"),
            units: json_output(&root, "systemd_units"),
            default_configs: json_output(&root, "default_config_files"),
            default_units: json_output(&root, "default_systemd_units"),
            default_rules: json_output(&root, "default_security_group_rules"),
            default_endpoints: json_output(&root, "default_endpoints"),
        }
    })
}

// ---------------------------------------------------------------------------------------------
// A running cluster

/// The etcd processes; dropping it kills every one still running, whatever the test did.
pub(crate) struct Cluster {
    members: Vec<(String, Option<Child>)>,
}

impl Cluster {
    pub(crate) fn kill(&mut self, name: &str) {
        let (_, child) = self
            .members
            .iter_mut()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no member {name}"));
        let mut child = child.take().expect("member already killed");
        // std's kill is SIGKILL: no graceful shutdown, as when an instance dies.
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// Panics, with the member's log, if a member has exited.
    pub(crate) fn assert_running(&mut self, dirs: &BTreeMap<String, PathBuf>) {
        for (name, child) in &mut self.members {
            if let Some(child) = child
                && let Some(status) = child.try_wait().unwrap()
            {
                let log = std::fs::read_to_string(dirs[name.as_str()].join("etcd.log"))
                    .unwrap_or_default();
                panic!("etcd member {name} exited with {status}\n{log}");
            }
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for (_, child) in &mut self.members {
            if let Some(mut child) = child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// Each member's directory: `etcd.conf.yml` exactly as rendered, and its bundle's etcd files
/// under `pki/` (the relative `pki_dir`). Returns member name => directory.
fn member_dirs(f: &Fixture, under: &Path) -> BTreeMap<String, PathBuf> {
    let mut dirs = BTreeMap::new();
    for (name, _) in MEMBERS {
        let dir = under.join(name);
        std::fs::create_dir_all(dir.join("pki")).unwrap();
        for (path, pem) in &f.bundles[name] {
            let file = path
                .strip_prefix(&format!("{PKI_ETCD}/"))
                .unwrap_or_else(|| panic!("{name}: {path} is outside {PKI_ETCD}"));
            std::fs::write(dir.join("pki").join(file), pem).unwrap();
        }
        std::fs::write(dir.join("etcd.conf.yml"), &f.configs[name]).unwrap();
        dirs.insert(name.to_string(), dir);
    }
    dirs
}

/// Starts `etcd --config-file etcd.conf.yml` in each member directory.
pub(crate) fn start(dirs: &BTreeMap<String, PathBuf>) -> Cluster {
    let mut cluster = Cluster { members: Vec::new() };
    for (name, dir) in dirs {
        let child = crate::etcdutil::spawn_etcd(dir, &["--config-file", "etcd.conf.yml"], INSTALL);
        cluster.members.push((name.clone(), Some(child)));
    }
    cluster
}

/// `etcdctl` (API v3) with the given TLS files; short timeouts so a refusal fails fast.
pub(crate) fn etcdctl(endpoints: &[String], tls: &[(&str, &Path)], args: &[&str]) -> Run {
    let mut cmd = Command::new(crate::kubeutil::kube_bin("etcdctl"));
    cmd.env("ETCDCTL_API", "3")
        .arg(format!("--endpoints={}", endpoints.join(",")))
        .args(["--dial-timeout=2s", "--command-timeout=4s"]);
    for (flag, path) in tls {
        cmd.arg(format!("--{flag}={}", path.display()));
    }
    run(cmd.args(args))
}

fn curl(args: &[&str]) -> Run {
    run(Command::new("curl")
        .args(["--silent", "--show-error", "--http1.1", "--max-time", "5"])
        .args(args))
}

/// An HTTPS request with curl, trusting the etcd CA, presenting `client` if given.
fn probe(url: &str, ca: &Path, client: Option<(&Path, &Path)>) -> Run {
    let mut args = vec!["--cacert", path_str(ca)];
    if let Some((cert, key)) = client {
        args.extend(["--cert", path_str(cert), "--key", path_str(key)]);
    }
    args.push(url);
    curl(&args)
}

/// The member refused the TLS handshake (curl: 35 handshake failed, 55/56 the connection
/// closed or an alert such as "bad certificate"), rather than answering.
fn assert_refused(url: &str, r: Run) {
    assert!(
        matches!(r.code, 35 | 55 | 56),
        "{url} was not refused (curl exit {}): {}",
        r.code,
        r.all()
    );
}

/// Polls until a check passes (shared with the other tests of real processes).
pub(crate) use crate::kubeutil::wait_until;

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

// ---------------------------------------------------------------------------------------------
// Tests

#[test]
fn etcd_rendered_config_runs_a_tls_cluster_that_keeps_quorum() {
    // Fail early, and clearly, without the real programs; and run the release nodes install.
    for (program, arg) in [("etcd", "--version"), ("etcdctl", "version")] {
        let version = run(Command::new(crate::kubeutil::kube_bin(program)).arg(arg));
        assert_eq!(version.code, 0, "{program} {arg}: {}", version.all());
        assert!(
            version.stdout.contains(crate::kubeutil::ETCD_VERSION),
            "{program} is not etcd {}: {}",
            crate::kubeutil::ETCD_VERSION,
            version.stdout
        );
    }

    let f = fixture();
    let work = tempfile::tempdir().unwrap();
    let dirs = member_dirs(f, work.path());
    let mut cluster = start(&dirs);

    let ca = dirs["etcd-a"].join("pki/ca.crt");
    let hc_cert = dirs["etcd-a"].join("pki/healthcheck-client.crt");
    let hc_key = dirs["etcd-a"].join("pki/healthcheck-client.key");
    let peer_cert = dirs["etcd-b"].join("pki/peer.crt");
    let peer_key = dirs["etcd-b"].join("pki/peer.key");
    let healthcheck: [(&str, &Path); 3] = [("cacert", &ca), ("cert", &hc_cert), ("key", &hc_key)];
    let all = f.endpoints.clone();

    // 1. All three members healthy, found through the member list (--cluster), with the
    //    healthcheck client certificate kubeadm's probe uses.
    wait_until("3 healthy members", Duration::from_secs(30), || {
        cluster.assert_running(&dirs);
        let r = etcdctl(&all, &healthcheck, &["endpoint", "health", "--cluster"]);
        let healthy = r.all().matches("is healthy").count();
        if r.code == 0 && healthy == 3 { Ok(()) } else { Err(r.all()) }
    });
    let members = etcdctl(&all[..1], &healthcheck, &["member", "list"]).ok("member list");
    for (name, ip) in MEMBERS {
        let line = members
            .stdout
            .lines()
            .find(|l| l.contains(&format!(", {name}, ")))
            .unwrap_or_else(|| panic!("{name} not in member list:\n{}", members.stdout));
        assert!(
            line.contains(&format!("https://{ip}:{}", f.peer_port))
                && line.contains(&format!("https://{ip}:{}", f.client_port)),
            "{line}"
        );
    }

    // 2. A client certificate from another CA is refused, though it trusts the server.
    let foreign = work.path().join("foreign");
    std::fs::create_dir_all(&foreign).unwrap();
    let (f_cert, f_key) = (foreign.join("client.crt"), foreign.join("client.key"));
    run(Command::new("openssl").args([
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=kube-etcd-healthcheck-client",
        "-addext",
        "extendedKeyUsage=clientAuth",
        "-keyout",
        path_str(&f_key),
        "-out",
        path_str(&f_cert),
    ]))
    .ok("openssl req -x509");
    let foreign_pair = Some((f_cert.as_path(), f_key.as_path()));
    let healthcheck_pair = Some((hc_cert.as_path(), hc_key.as_path()));
    let r = etcdctl(&all, &[("cacert", &ca), ("cert", &f_cert), ("key", &f_key)], &["get", "k"]);
    assert_ne!(r.code, 0, "foreign client certificate accepted: {}", r.all());
    // etcdctl only reports a timeout; curl shows the TLS alert each member sends. The same
    // probe with the healthcheck certificate succeeds, so the refusal is the certificate's.
    for endpoint in &all {
        let health = format!("{endpoint}/health");
        assert_refused(&health, probe(&health, &ca, foreign_pair));
        let served = probe(&health, &ca, healthcheck_pair).ok(&health);
        assert!(served.stdout.contains(r#""health":"true""#), "{health}: {}", served.stdout);
    }

    // 3. No client certificate: refused on the client port...
    let r = etcdctl(&all, &[("cacert", &ca)], &["get", "k"]);
    assert_ne!(r.code, 0, "a client without certificate was served: {}", r.all());
    for endpoint in &all {
        let health = format!("{endpoint}/health");
        assert_refused(&health, probe(&health, &ca, None));
    }
    // ...and on the peer port, where only a member's peer certificate gets the member list.
    let peer_pair = Some((peer_cert.as_path(), peer_key.as_path()));
    for (_, ip) in MEMBERS {
        let url = format!("https://{ip}:{}/members", f.peer_port);
        assert_refused(&url, probe(&url, &ca, None));
        assert_refused(&url, probe(&url, &ca, foreign_pair));
        let served = probe(&url, &ca, peer_pair).ok(&url);
        assert!(served.stdout.contains("etcd-c"), "{url}: {}", served.stdout);
    }
    //    Plain HTTP: etcdctl over http:// fails, and a raw HTTP request to the client port is
    //    never answered by etcd (the TLS listener drops it).
    let http: Vec<String> = all.iter().map(|e| e.replace("https://", "http://")).collect();
    let r = etcdctl(&http, &[], &["get", "k"]);
    assert_ne!(r.code, 0, "plain HTTP was served: {}", r.all());
    for (_, ip) in MEMBERS {
        let mut conn = TcpStream::connect((ip, f.client_port)).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        conn.write_all(b"GET /health HTTP/1.0\r\n\r\n").unwrap();
        let mut answer = Vec::new();
        let _ = conn.read_to_end(&mut answer);
        let answer = String::from_utf8_lossy(&answer);
        assert!(
            !answer.contains("health") && !answer.contains(" 200 "),
            "{ip} answered plain HTTP: {answer}"
        );
    }

    // 4. Quorum: a write survives the loss of one member of three; a second loss stops writes.
    etcdctl(&all, &healthcheck, &["put", "k", "v"]).ok("put k v");
    cluster.kill("etcd-a");
    let survivors = &all[1..];
    let got = etcdctl(survivors, &healthcheck, &["get", "k", "--print-value-only"])
        .ok("get k after losing etcd-a");
    assert_eq!(got.stdout.trim(), "v");
    for endpoint in survivors {
        // Each survivor answers a linearizable read itself, so both agree on the leader's data.
        let got = etcdctl(
            std::slice::from_ref(endpoint),
            &healthcheck,
            &["get", "k", "--print-value-only"],
        )
        .ok(&format!("get k from {endpoint}"));
        assert_eq!(got.stdout.trim(), "v", "{endpoint}");
    }
    etcdctl(survivors, &healthcheck, &["put", "k", "v2"]).ok("put with 2 of 3 members");
    let got = etcdctl(survivors, &healthcheck, &["get", "k", "--print-value-only"])
        .ok("get k after the second put");
    assert_eq!(got.stdout.trim(), "v2");
    let dead = etcdctl(&all[..1], &healthcheck, &["endpoint", "health"]);
    assert_ne!(dead.code, 0, "the killed member still answers");

    cluster.kill("etcd-b");
    let last = &all[2..];
    let r = etcdctl(last, &healthcheck, &["put", "k", "v3", "--command-timeout=2s"]);
    assert_ne!(r.code, 0, "a write succeeded without quorum: {}", r.all());
    cluster.assert_running(&dirs);
    // The members say why: etcd logs every refused handshake.
    for (name, dir) in &dirs {
        let log = std::fs::read_to_string(dir.join("etcd.log")).unwrap();
        for reason in
            ["certificate signed by unknown authority", "client didn't provide a certificate"]
        {
            assert!(
                log.lines().any(|l| l.contains("rejected connection") && l.contains(reason)),
                "{name} logged no refusal for {reason:?}"
            );
        }
    }
    // `cluster` drops here and kills etcd-c; on a panic above it kills all that remain.
}

#[test]
fn etcd_config_file_is_what_the_test_cluster_ran() {
    // The exact file of one member, byte for byte: these are the keys etcd 3.4 reads (unknown
    // keys are silently ignored, so a typo would not fail etcd; it fails here).
    let f = fixture();
    let (c, p) = (f.client_port, f.peer_port);
    // (yamlencode's bytes are Terraform's: keys and strings double-quoted.)
    let expected = format!(
        r#""advertise-client-urls": "https://127.0.0.2:{c}"
"client-transport-security":
  "cert-file": "pki/server.crt"
  "client-cert-auth": true
  "key-file": "pki/server.key"
  "trusted-ca-file": "pki/ca.crt"
"data-dir": "data"
"initial-advertise-peer-urls": "https://127.0.0.2:{p}"
"initial-cluster": "etcd-a=https://127.0.0.1:{p},etcd-b=https://127.0.0.2:{p},etcd-c=https://127.0.0.3:{p}"
"initial-cluster-state": "new"
"initial-cluster-token": "slipway-etcd-test"
"listen-client-urls": "https://127.0.0.2:{c}"
"listen-peer-urls": "https://127.0.0.2:{p}"
"logger": "zap"
"name": "etcd-b"
"peer-transport-security":
  "cert-file": "pki/peer.crt"
  "client-cert-auth": true
  "key-file": "pki/peer.key"
  "trusted-ca-file": "pki/ca.crt"
"#
    );
    assert_eq!(f.configs["etcd-b"], expected);
    assert_eq!(
        f.initial_cluster,
        format!(
            "etcd-a=https://127.0.0.1:{p},etcd-b=https://127.0.0.2:{p},etcd-c=https://127.0.0.3:{p}"
        )
    );
    let endpoints: Vec<String> =
        MEMBERS.iter().map(|(_, ip)| format!("https://{ip}:{c}")).collect();
    assert_eq!(f.endpoints, endpoints);
    // Every member agrees on the cluster (a mismatch fails bootstrap).
    for (name, config) in &f.configs {
        assert!(
            config.contains(&format!("\"initial-cluster\": \"{}\"\n", f.initial_cluster)),
            "{name}"
        );
        assert!(config.contains(&format!("\"name\": \"{name}\"\n")), "{name}");
    }
    // External members refuse to start without their data volume mounted.
    let unit = &f.units["etcd-a"];
    assert!(unit.contains("\nAssertPathIsMountPoint=data\n"), "{unit}");
    assert!(
        unit.contains("\nExecStart=/usr/local/bin/etcd --config-file /etc/etcd/etcd.conf.yml\n"),
        "{unit}"
    );
}

#[test]
fn etcd_defaults_match_the_pki_bundles_and_kubeadm_ports() {
    let f = fixture();
    let config = &f.default_configs["cp-b"];
    // Read as YAML (yamlencode quotes keys and strings, as Terraform's does).
    let doc = crate::cloud_config::yaml_documents(config).remove(0);
    for (key, want) in [
        ("name", "cp-b"),
        ("data-dir", "/var/lib/etcd"),
        ("listen-client-urls", "https://10.0.2.10:2379,https://127.0.0.1:2379"),
        ("advertise-client-urls", "https://10.0.2.10:2379"),
        ("listen-peer-urls", "https://10.0.2.10:2380"),
        ("initial-advertise-peer-urls", "https://10.0.2.10:2380"),
        (
            "initial-cluster",
            "cp-a=https://10.0.1.10:2380,cp-b=https://10.0.2.10:2380,cp-c=https://10.0.3.10:2380",
        ),
        ("initial-cluster-state", "new"),
        ("initial-cluster-token", "prod-etcd"),
    ] {
        assert_eq!(doc[key], want, "{key} in\n{config}");
    }
    // Every file the default config names is one modules/pki puts in a member's bundle.
    let bundle = &f.bundles["etcd-a"];
    fn files<'a>(v: &'a serde_json::Value, out: &mut Vec<&'a str>) {
        if let Some(m) = v.as_object() {
            for (k, v) in m {
                match v.as_str() {
                    Some(path) if k.ends_with("-file") => out.push(path),
                    _ => files(v, out),
                }
            }
        }
    }
    let mut named = Vec::new();
    files(&doc, &mut named);
    assert_eq!(named.len(), 6, "{config}");
    for path in named {
        assert!(path.starts_with(PKI_ETCD), "{path}");
        assert!(bundle.contains_key(path), "{path} is in no pki bundle");
    }
    assert_eq!(
        f.default_endpoints,
        ["https://10.0.1.10:2379", "https://10.0.2.10:2379", "https://10.0.3.10:2379"]
    );
    // Stacked members run on the control-plane's root disk: no mount guard.
    let unit = &f.default_units["cp-a"];
    assert!(!unit.contains("Mount"), "{unit}");
    assert!(unit.contains("Type=notify"), "{unit}");
    // Client port from the control plane only; peer port between members only.
    let rules = f.default_rules.as_array().unwrap();
    assert_eq!(rules.len(), 2);
    assert_eq!(rules[0]["from_port"], 2379);
    assert_eq!(rules[0]["to_port"], 2379);
    assert_eq!(
        rules[0]["cidr_blocks"],
        serde_json::json!(["10.0.1.0/24", "10.0.2.0/24", "10.0.3.0/24"])
    );
    assert_eq!(rules[1]["from_port"], 2380);
    assert_eq!(
        rules[1]["cidr_blocks"],
        serde_json::json!(["10.0.1.10/32", "10.0.2.10/32", "10.0.3.10/32"])
    );
    // Nothing secret in the configs: they name key files, they do not hold keys.
    for config in f.configs.values().chain(f.default_configs.values()) {
        assert!(!config.contains("PRIVATE KEY"));
    }
}

#[test]
fn etcd_rejects_bad_topology_and_even_member_counts() {
    let cases = [
        (r#"topology = "both""#, r#"{ a = "10.0.0.1" }"#, "topology must be"),
        (
            r#"topology = "external""#,
            r#"{ a = "10.0.0.1", b = "10.0.0.2" }"#,
            "odd number of members",
        ),
        (r#"topology = "stacked""#, r#"{ "a,b" = "10.0.0.1" }"#, "neither ',' nor '='"),
    ];
    for (topology, members, message) in cases {
        let dir = tempfile::tempdir().unwrap();
        repo(
            dir.path(),
            &format!(
                "module \"etcd\" {{\n  source = \"../../modules/etcd\"\n  cluster_name = \"t\"\n  {topology}\n  members = {members}\n  control_plane_cidrs = [\"10.0.0.0/24\"]\n}}\n"
            ),
        );
        let plan = slipway(dir.path(), &["plan", ENV]);
        assert_ne!(plan.code, 0, "{topology} {members} accepted");
        assert!(plan.stderr.contains(message), "{topology} {members}: {}", plan.stderr);
    }
}
