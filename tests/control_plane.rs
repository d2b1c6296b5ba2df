//! The cluster slipway renders, run by the real Kubernetes components (`scripts/install-kube`).
//!
//! One environment renders, through the real binary, what the first control-plane node of an
//! external-etcd cluster receives: `modules/pki`'s certificates, `modules/etcd`'s member
//! configuration and `modules/node-bootstrap`'s kubeadm documents. Then, with nothing
//! hand-written in between:
//! - three etcd 3.6 members run the rendered config files on 127.0.0.21-23 with slipway's etcd
//!   TLS (client and peer certificates required);
//! - the real `kubeadm init phase control-plane apiserver --dry-run` turns slipway's kubeadm
//!   configuration into kube-apiserver's static-pod manifest, and the real kube-apiserver runs
//!   with exactly those flags — only `/etc/kubernetes/pki` is rewritten into the test directory,
//!   the node's address (10.0.1.10) and port rebound to 127.0.0.20 and a free port, and
//!   `--bind-address` added so nothing listens outside loopback — on slipway's certificates
//!   (serving, etcd client, service-account pair, front proxy);
//! - the admin kubeconfig of `slipway kubeconfig` is used by the real kubectl, with the load
//!   balancer's DNS name as TLS server name (what the certificate names) and 127.0.0.20 as the
//!   address;
//! - certificates the apiserver must refuse (another CA, a server-only usage, a name the
//!   serving certificate does not carry) are refused.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use base64::Engine as _;

use crate::kubeutil::{self, KUBE_VERSION, Out, kube_bin, output, wait_until};

const ENV: &str = "environments/test";
const PKI: &str = "/etc/kubernetes/pki";
const LB: &str = "k8s-api-cp-test.elb.us-east-1.amazonaws.com";
/// The control-plane node's static IP as rendered (kubeadm refuses a loopback advertise address:
/// it would replace it with the host's default interface), and where its apiserver is rebound.
const NODE_IP: &str = "10.0.1.10";
const BIND_IP: &str = "127.0.0.20";
const MEMBERS: [(&str, &str); 3] =
    [("etcd-a", "127.0.0.21"), ("etcd-b", "127.0.0.22"), ("etcd-c", "127.0.0.23")];

fn environment(client_port: u16, peer_port: u16) -> String {
    let members: Vec<String> = MEMBERS.iter().map(|(n, ip)| format!("{n} = \"{ip}\"")).collect();
    format!(
        r#"
locals {{
  members = {{ {members} }}
  token   = "${{random_string.token_id.result}}.${{random_password.token_secret.result}}"
}}

resource "random_string" "token_id" {{
  length  = 6
  upper   = false
  special = false
}}

resource "random_password" "token_secret" {{
  length  = 16
  upper   = false
  special = false
}}

module "pki" {{
  source                = "../../modules/pki"
  cluster_name          = "cp-test"
  apiserver_lb_dns_name = "{LB}"
  control_plane_nodes   = {{ cp-a = "{NODE_IP}" }}
  etcd_members          = local.members
}}

# Dedicated members on one host's loopback: relative pki and data paths, each member in its own
# directory (as tests/etcd.rs runs them).
module "etcd" {{
  source                = "../../modules/etcd"
  cluster_name          = "cp-test"
  topology              = "external"
  members               = local.members
  client_port           = {client_port}
  peer_port             = {peer_port}
  listen_on_localhost   = false
  data_dir              = "data"
  pki_dir               = "pki"
  control_plane_cidrs   = ["{NODE_IP}/32"]
}}

module "init" {{
  source             = "../../modules/node-bootstrap"
  cluster_name       = "cp-test"
  role               = "control-plane-init"
  node_name          = "cp-a"
  node_ip            = "{NODE_IP}"
  kubernetes_version = "{KUBE_VERSION}"
  containerd_version = "1.7.24"
  bundle_s3_uri      = "s3://cp-test/nodes/cp-a/bundle.json"
  apiserver_endpoint = "{LB}"
  etcd = {{
    topology  = "external"
    endpoints = module.etcd.endpoints
    members   = local.members
  }}
  pod_cidr        = "10.244.0.0/16"
  bootstrap_token = local.token
  ca_cert_hash    = module.pki.ca_cert_hash
  pki_files       = module.pki.bundles["cp-a"]
}}

output "bundles" {{
  value     = module.pki.bundles
  sensitive = true
}}

output "etcd_configs" {{
  value = module.etcd.config_files
}}

output "kubeadm_config" {{
  value = module.init.kubeadm_config
}}

output "token" {{
  value     = local.token
  sensitive = true
}}

output "admin_kubeconfig" {{
  value     = module.pki.admin_kubeconfig
  sensitive = true
}}
"#,
        members = members.join(", ")
    )
}

fn slipway(root: &Path, args: &[&str]) -> Out {
    output(
        Command::new(crate::util::slipway_bin())
            .args(args)
            .current_dir(root)
            .env("NO_COLOR", "1")
            .env_remove("SLIPWAY_STATE_DIR"),
    )
}

fn json_output<T: serde::de::DeserializeOwned>(root: &Path, name: &str) -> T {
    let out = slipway(root, &["output", name, "--json", "--dir", ENV]).ok(name);
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("output {name}: {e}"))
}

/// A port free on every address the control plane uses (127.0.0.20-23).
fn free_port_everywhere() -> u16 {
    let [a, b, c] = MEMBERS.map(|(_, ip)| ip);
    crate::util::free_port(&[a, b, c, BIND_IP], &[])
}

/// The fixture's processes. The fixture is a static, never dropped, so each process is also
/// handed to a watcher that kills it once the test process is gone (`kubeutil::kill_when_gone`).
struct Procs(Vec<(String, Child, PathBuf)>);

impl Procs {
    fn spawn(&mut self, name: &str, cmd: &mut Command, log: PathBuf) {
        let file = std::fs::File::create(&log).unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        crate::kubeutil::kill_when_gone(child.id());
        self.0.push((name.to_string(), child, log));
    }

    /// Panics with the log of any process that exited.
    fn assert_running(&mut self) {
        for (name, child, log) in &mut self.0 {
            if let Some(status) = child.try_wait().unwrap() {
                let text = std::fs::read_to_string(log).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(40).collect::<Vec<_>>();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                panic!("{name} exited with {status}:\n{}", tail.join("\n"));
            }
        }
    }
}

impl Drop for Procs {
    fn drop(&mut self) {
        for (_, child, _) in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

struct Fixture {
    root: PathBuf,
    /// The control-plane node's PKI directory (its bundle), for the negative tests.
    pki: PathBuf,
    /// kube-apiserver's secure port (on NODE_IP).
    port: u16,
    /// `slipway kubeconfig`'s file, exactly as written.
    kubeconfig: PathBuf,
    /// The static-pod manifest's kube-apiserver command, as kubeadm rendered it.
    kubeadm_command: Vec<String>,
    procs: Mutex<Procs>,
}

static FIXTURE: OnceLock<Fixture> = OnceLock::new();

/// Writes each bundle file (absolute path under /etc/kubernetes/pki) below `dir`.
fn install_bundle(bundle: &BTreeMap<String, String>, strip: &str, dir: &Path) {
    for (path, pem) in bundle {
        let rel = path
            .strip_prefix(&format!("{strip}/"))
            .unwrap_or_else(|| panic!("{path} is outside {strip}"));
        let file = dir.join(rel);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, pem).unwrap();
    }
}

fn fixture() -> &'static Fixture {
    FIXTURE.get_or_init(|| {
        let scratch = Path::new(env!("CARGO_TARGET_TMPDIR"));
        crate::util::remove_stale_dirs(scratch, "cp-");
        let root = scratch.join(format!("cp-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let modules = Path::new(env!("CARGO_MANIFEST_DIR")).join("modules");
        for m in ["pki", "etcd", "node-bootstrap"] {
            crate::util::copy_dir(&modules.join(m), &root.join("modules").join(m));
        }
        let client_port = free_port_everywhere();
        let peer_port = free_port_everywhere();
        std::fs::create_dir_all(root.join(ENV)).unwrap();
        std::fs::write(root.join(ENV).join("main.hcl"), environment(client_port, peer_port))
            .unwrap();
        slipway(&root, &["apply", ENV, "-auto-approve"]).ok("slipway apply");

        let bundles: BTreeMap<String, BTreeMap<String, String>> = json_output(&root, "bundles");
        let etcd_configs: BTreeMap<String, String> = json_output(&root, "etcd_configs");
        let kubeadm_config: String = json_output(&root, "kubeadm_config");
        let token: String = json_output(&root, "token");
        let mut procs = Procs(Vec::new());

        // etcd 3.6 members, each in its own directory with its config file as rendered.
        for (name, _) in MEMBERS {
            let dir = root.join("etcd").join(name);
            install_bundle(&bundles[name], &format!("{PKI}/etcd"), &dir.join("pki"));
            std::fs::write(dir.join("etcd.conf.yml"), &etcd_configs[name]).unwrap();
            procs.spawn(
                &format!("etcd {name}"),
                Command::new(kube_bin("etcd"))
                    .args(["--config-file", "etcd.conf.yml"])
                    .current_dir(&dir)
                    .env_clear(),
                dir.join("etcd.log"),
            );
        }

        // The control-plane node's PKI directory, from its bundle.
        let pki = root.join("pki");
        install_bundle(&bundles["cp-a"], PKI, &pki);

        // kubeadm renders kube-apiserver's static pod from slipway's configuration.
        let config = root.join("kubeadm.yaml");
        std::fs::write(&config, kubeadm_config.replace("SLIPWAY_BOOTSTRAP_TOKEN", &token)).unwrap();
        // --dry-run writes the manifest into KUBEADM_INIT_DRYRUN_DIR (default: under
        // /etc/kubernetes), not into the static-pod directory.
        let manifests = root.join("manifests");
        std::fs::create_dir_all(&manifests).unwrap();
        output(
            Command::new(kube_bin("kubeadm"))
                .args(["init", "phase", "control-plane", "apiserver", "--dry-run", "--config"])
                .arg(&config)
                .env("KUBEADM_INIT_DRYRUN_DIR", &manifests),
        )
        .ok("kubeadm init phase control-plane apiserver --dry-run");
        let manifest = std::fs::read_to_string(manifests.join("kube-apiserver.yaml"))
            .expect("kubeadm wrote kube-apiserver.yaml");
        let manifest = crate::cloud_config::yaml_documents(&manifest).remove(0);
        let container = &manifest["spec"]["containers"][0];
        let kubeadm_command: Vec<String> = container["command"]
            .as_array()
            .expect("a command in kube-apiserver's manifest")
            .iter()
            .map(|a| a.as_str().unwrap().to_string())
            .collect();
        assert_eq!(kubeadm_command[0], "kube-apiserver");

        // Exactly those flags; only paths, the address and port, and the bind address change.
        let port = crate::util::free_port_on(BIND_IP);
        let pki_str = pki.to_str().unwrap();
        let mut args: Vec<String> = Vec::new();
        for arg in &kubeadm_command[1..] {
            let arg = arg.replace(PKI, pki_str);
            if arg.starts_with("--secure-port=") {
                args.push(format!("--secure-port={port}"));
            } else if arg == format!("--advertise-address={NODE_IP}") {
                args.push(format!("--advertise-address={BIND_IP}"));
            } else {
                args.push(arg);
            }
        }
        args.push(format!("--bind-address={BIND_IP}"));
        args.push(format!("--cert-dir={}", root.join("apiserver-certs").display()));
        procs.spawn(
            "kube-apiserver",
            Command::new(kube_bin("kube-apiserver")).args(&args),
            root.join("kube-apiserver.log"),
        );

        // slipway's admin kubeconfig, as a user gets it.
        let kubeconfig = root.join("admin.kubeconfig");
        slipway(&root, &["kubeconfig", ENV, "--output", kubeconfig.to_str().unwrap()])
            .ok("slipway kubeconfig");

        let fixture =
            Fixture { root, pki, port, kubeconfig, kubeadm_command, procs: Mutex::new(procs) };
        wait_until("kube-apiserver /readyz", Duration::from_secs(90), || {
            fixture.procs.lock().unwrap().assert_running();
            let out = fixture.admin(&["get", "--raw", "/readyz"]);
            if out.code == 0 && out.stdout.trim() == "ok" { Ok(()) } else { Err(out.all()) }
        });
        fixture
    })
}

impl Fixture {
    fn server(&self) -> String {
        format!("https://{BIND_IP}:{}", self.port)
    }

    /// kubectl with slipway's kubeconfig, reaching the apiserver on loopback under the load
    /// balancer's name.
    fn admin(&self, args: &[&str]) -> Out {
        let server = self.server();
        let mut full = vec![
            "--kubeconfig",
            self.kubeconfig.to_str().unwrap(),
            "--server",
            &server,
            "--tls-server-name",
            LB,
            "--request-timeout=10s",
        ];
        full.extend_from_slice(args);
        kubeutil::kubectl(&full)
    }

    /// kubectl with a client certificate pair and the cluster CA.
    fn as_user(&self, cert: &Path, key: &Path, server_name: &str, args: &[&str]) -> Out {
        let server = self.server();
        let ca = self.pki.join("ca.crt");
        let mut full = vec![
            "--kubeconfig=/dev/null",
            "--server",
            &server,
            "--tls-server-name",
            server_name,
            "--certificate-authority",
            ca.to_str().unwrap(),
            "--client-certificate",
            cert.to_str().unwrap(),
            "--client-key",
            key.to_str().unwrap(),
            "--request-timeout=10s",
        ];
        full.extend_from_slice(args);
        kubeutil::kubectl(&full)
    }

    /// Issues a client certificate with openssl, signed by `ca` (cert, key), with the given
    /// subject and extended key usage. Returns (cert, key) paths.
    fn issue(
        &self,
        name: &str,
        subject: &str,
        eku: &str,
        ca: (&Path, &Path),
    ) -> (PathBuf, PathBuf) {
        let dir = self.root.join("issued");
        std::fs::create_dir_all(&dir).unwrap();
        let (cert, key, csr, ext) = (
            dir.join(format!("{name}.crt")),
            dir.join(format!("{name}.key")),
            dir.join(format!("{name}.csr")),
            dir.join(format!("{name}.ext")),
        );
        output(
            Command::new("openssl")
                .args(["req", "-new", "-newkey", "rsa:2048", "-nodes", "-subj", subject, "-keyout"])
                .arg(&key)
                .arg("-out")
                .arg(&csr),
        )
        .ok("openssl req");
        std::fs::write(
            &ext,
            format!("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage={eku}\n"),
        )
        .unwrap();
        output(
            Command::new("openssl")
                .args(["x509", "-req", "-days", "1", "-sha256", "-CAcreateserial", "-in"])
                .arg(&csr)
                .arg("-CA")
                .arg(ca.0)
                .arg("-CAkey")
                .arg(ca.1)
                .arg("-extfile")
                .arg(&ext)
                .arg("-out")
                .arg(&cert),
        )
        .ok("openssl x509 -req");
        (cert, key)
    }

    /// A self-signed CA that is not the cluster's.
    fn other_ca(&self) -> (PathBuf, PathBuf) {
        let dir = self.root.join("other-ca");
        std::fs::create_dir_all(&dir).unwrap();
        let (cert, key) = (dir.join("ca.crt"), dir.join("ca.key"));
        if !cert.exists() {
            output(
                Command::new("openssl")
                    .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"])
                    .args(["-subj", "/CN=kubernetes", "-keyout"])
                    .arg(&key)
                    .arg("-out")
                    .arg(&cert)
                    .args(["-addext", "basicConstraints=critical,CA:TRUE"])
                    .args(["-addext", "keyUsage=critical,keyCertSign,digitalSignature"]),
            )
            .ok("openssl req -x509");
        }
        (cert, key)
    }

    fn cluster_ca(&self) -> (PathBuf, PathBuf) {
        (self.pki.join("ca.crt"), self.pki.join("ca.key"))
    }
}

/// The ClusterRoleBinding `kubeadm init` creates for the `kubeadm:cluster-admins` group
/// (kubeadm ≥ 1.29: `EnsureAdminClusterRoleBinding`, made with the super-admin credential).
/// Created here the same way: as a `system:masters` identity issued from the cluster CA, which is
/// what kubeadm's super-admin.conf holds.
fn create_kubeadm_admin_binding(f: &Fixture) {
    let (cert, key) = f.issue(
        "super-admin",
        "/O=system:masters/CN=kubernetes-super-admin",
        "clientAuth",
        (&f.cluster_ca().0, &f.cluster_ca().1),
    );
    let out = f.as_user(
        &cert,
        &key,
        LB,
        &[
            "create",
            "clusterrolebinding",
            "kubeadm:cluster-admins",
            "--clusterrole=cluster-admin",
            "--group=kubeadm:cluster-admins",
        ],
    );
    assert!(
        out.code == 0 || out.all().contains("AlreadyExists"),
        "create the kubeadm:cluster-admins binding: {}",
        out.all()
    );
}

static BINDING: Mutex<bool> = Mutex::new(false);

fn ensure_binding(f: &Fixture) {
    let mut done = BINDING.lock().unwrap();
    if !*done {
        create_kubeadm_admin_binding(f);
        *done = true;
    }
}

/// kubectl's report of a 401 (“You must be logged in to the server (Unauthorized)”, or “… (the
/// server has asked for the client to provide credentials)”): the apiserver did not accept the
/// client certificate.
fn unauthenticated(out: &Out) -> bool {
    out.code != 0 && out.all().contains("You must be logged in to the server")
}

#[test]
fn control_plane_kubeadm_renders_the_apiserver_from_slipways_config() {
    let f = fixture();
    let flags: BTreeMap<&str, &str> = f.kubeadm_command[1..]
        .iter()
        .filter_map(|a| a.strip_prefix("--").and_then(|a| a.split_once('=')))
        .collect();
    // What slipway's configuration decides, as kubeadm turned it into flags.
    let endpoints: Vec<String> = MEMBERS.iter().map(|(_, ip)| format!("https://{ip}:")).collect();
    for e in &endpoints {
        assert!(flags["etcd-servers"].contains(e.as_str()), "{}", flags["etcd-servers"]);
    }
    assert_eq!(flags["advertise-address"], NODE_IP);
    assert_eq!(flags["etcd-cafile"], format!("{PKI}/etcd/ca.crt"));
    assert_eq!(flags["etcd-certfile"], format!("{PKI}/apiserver-etcd-client.crt"));
    assert_eq!(flags["tls-cert-file"], format!("{PKI}/apiserver.crt"));
    assert_eq!(flags["service-account-key-file"], format!("{PKI}/sa.pub"));
    assert_eq!(flags["service-account-signing-key-file"], format!("{PKI}/sa.key"));
    assert_eq!(flags["requestheader-client-ca-file"], format!("{PKI}/front-proxy-ca.crt"));
    assert_eq!(flags["proxy-client-cert-file"], format!("{PKI}/front-proxy-client.crt"));
    assert_eq!(flags["authorization-mode"], "Node,RBAC");
    assert_eq!(flags["service-cluster-ip-range"], "10.96.0.0/12");
    // Every file the apiserver is told to read is one slipway delivered in the node's bundle.
    for (flag, value) in &flags {
        if value.starts_with(PKI) {
            let file = f.pki.join(value.strip_prefix(&format!("{PKI}/")).unwrap());
            assert!(file.is_file(), "--{flag}={value}: not in the control-plane bundle");
        }
    }
}

#[test]
fn control_plane_apiserver_runs_on_slipways_pki_and_etcd_and_answers_its_kubeconfig() {
    let f = fixture();
    let readyz = f.admin(&["get", "--raw", "/readyz"]).ok("readyz");
    assert_eq!(readyz.stdout.trim(), "ok");
    let version = f.admin(&["version", "-o", "json"]).ok("kubectl version");
    let v: serde_json::Value = serde_json::from_str(&version.stdout).unwrap();
    assert_eq!(v["serverVersion"]["gitVersion"], format!("v{KUBE_VERSION}"));

    // The admin identity is the group kubeadm uses: authenticated, but nothing is allowed until
    // the binding kubeadm creates exists.
    let who = f.admin(&["auth", "whoami", "-o", "json"]).ok("kubectl auth whoami");
    let who: serde_json::Value = serde_json::from_str(&who.stdout).unwrap();
    assert_eq!(who["status"]["userInfo"]["username"], "kubernetes-admin");
    let groups: Vec<&str> = who["status"]["userInfo"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g.as_str().unwrap())
        .collect();
    assert!(groups.contains(&"kubeadm:cluster-admins"), "{groups:?}");
    assert!(!groups.contains(&"system:masters"), "{groups:?}");

    // Before the binding: authenticated, not authorized.
    if !*BINDING.lock().unwrap() {
        let out = f.admin(&["get", "namespaces"]);
        assert!(out.all().contains("Forbidden"), "{}", out.all());
    }
    ensure_binding(f);
    // etcd is reached over TLS with slipway's apiserver-etcd-client certificate, checked by the
    // apiserver's own etcd readiness check.
    let verbose = f.admin(&["get", "--raw", "/readyz?verbose"]).ok("readyz?verbose");
    assert!(verbose.stdout.contains("[+]etcd ok"), "{}", verbose.stdout);
    let ns = format!("slipway-admin-{}", std::process::id());
    f.admin(&["create", "namespace", &ns]).ok("create namespace as the admin");
    let got = f.admin(&["get", "namespace", &ns, "-o", "jsonpath={.status.phase}"]).ok("get ns");
    assert_eq!(got.stdout, "Active");
    // The stored object went through etcd: a service account token signed with slipway's
    // sa.key is accepted by the apiserver that verifies with sa.pub.
    f.admin(&["-n", &ns, "create", "serviceaccount", "probe"]).ok("create sa");
    let token = f.admin(&["-n", &ns, "create", "token", "probe"]).ok("create token");
    let server = f.server();
    let ca = f.pki.join("ca.crt");
    let as_sa = kubeutil::kubectl(&[
        "--kubeconfig=/dev/null",
        "--server",
        &server,
        "--tls-server-name",
        LB,
        "--certificate-authority",
        ca.to_str().unwrap(),
        "--token",
        token.stdout.trim(),
        "auth",
        "whoami",
        "-o",
        "jsonpath={.status.userInfo.username}",
    ])
    .ok("whoami with a service-account token");
    assert_eq!(as_sa.stdout, format!("system:serviceaccount:{ns}:probe"));

    // The front-proxy chain: a proxy presenting slipway's front-proxy-client certificate (from
    // the front-proxy CA, CN front-proxy-client) may assert a user in request headers, as the
    // aggregation layer does; the same headers from the admin's certificate are not trusted.
    let review = |cert: &str, key: &str| -> serde_json::Value {
        let port = f.port.to_string();
        let resolve = format!("{LB}:{port}:{BIND_IP}");
        let url = format!("https://{LB}:{port}/apis/authentication.k8s.io/v1/selfsubjectreviews");
        let out = output(
            Command::new("curl")
                .args(["--silent", "--show-error", "--max-time", "10", "--resolve", &resolve])
                .arg("--cacert")
                .arg(f.pki.join("ca.crt"))
                .arg("--cert")
                .arg(f.pki.join(cert))
                .arg("--key")
                .arg(f.pki.join(key))
                .args(["-H", "X-Remote-User: proxied-alice"])
                .args(["-H", "X-Remote-Group: proxied-group"])
                .args(["-H", "Content-Type: application/json", "-X", "POST", "--data"])
                .arg(r#"{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}"#)
                .arg(&url),
        )
        .ok("curl selfsubjectreviews");
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout))
    };
    let proxied = review("front-proxy-client.crt", "front-proxy-client.key");
    assert_eq!(proxied["status"]["userInfo"]["username"], "proxied-alice", "{proxied}");
    assert!(proxied["status"]["userInfo"]["groups"].to_string().contains("proxied-group"));
    let direct = review("apiserver-kubelet-client.crt", "apiserver-kubelet-client.key");
    assert_eq!(
        direct["status"]["userInfo"]["username"], "kube-apiserver-kubelet-client",
        "headers from a certificate outside the front-proxy chain must be ignored: {direct}"
    );
}

#[test]
fn control_plane_refuses_certificates_it_must_not_accept() {
    let f = fixture();
    ensure_binding(f);

    // A client certificate of the right name and group, from another CA: unauthenticated.
    let other = f.other_ca();
    let (cert, key) = f.issue(
        "other-ca-admin",
        "/O=kubeadm:cluster-admins/CN=kubernetes-admin",
        "clientAuth",
        (&other.0, &other.1),
    );
    let out = f.as_user(&cert, &key, LB, &["get", "namespaces"]);
    assert_ne!(out.code, 0, "a certificate of another CA was accepted");
    assert!(unauthenticated(&out), "{}", out.all());

    // The cluster CA, but a server-only usage: not a client certificate.
    let (cert, key) = f.issue(
        "server-usage-admin",
        "/O=kubeadm:cluster-admins/CN=kubernetes-admin",
        "serverAuth",
        (&f.cluster_ca().0, &f.cluster_ca().1),
    );
    let out = f.as_user(&cert, &key, LB, &["get", "namespaces"]);
    assert_ne!(out.code, 0, "a server-usage certificate was accepted as a client");
    assert!(unauthenticated(&out), "{}", out.all());

    // The same identity with a client usage is accepted: the refusals above are about the
    // certificate, not the name.
    let (cert, key) = f.issue(
        "good-admin",
        "/O=kubeadm:cluster-admins/CN=kubernetes-admin",
        "clientAuth",
        (&f.cluster_ca().0, &f.cluster_ca().1),
    );
    f.as_user(&cert, &key, LB, &["get", "namespaces"]).ok("a proper client certificate");

    // The serving certificate names the load balancer, not an arbitrary name: a client checking
    // the name refuses it.
    let out = f.as_user(&cert, &key, "k8s-api.elsewhere.example", &["get", "namespaces"]);
    assert_ne!(out.code, 0, "the serving certificate matched a name it does not carry");
    assert!(out.all().contains("x509"), "{}", out.all());
    // ... while every name slipway put in it works.
    for name in ["kubernetes", "kubernetes.default.svc", "cp-a"] {
        f.as_user(&cert, &key, name, &["get", "--raw", "/readyz"])
            .ok(&format!("server name {name}"));
    }

    // The admin kubeconfig's embedded credentials are refused by an apiserver of another CA is
    // out of scope; but the kubeconfig must not authenticate anyone as system:masters.
    let b64 = base64::engine::general_purpose::STANDARD;
    let kubeconfig = std::fs::read_to_string(&f.kubeconfig).unwrap();
    let cert_b64 = kubeconfig
        .lines()
        .find_map(|l| l.trim().strip_prefix("client-certificate-data: "))
        .expect("client-certificate-data");
    let pem = String::from_utf8(b64.decode(cert_b64).unwrap()).unwrap();
    let subject = output(
        Command::new("sh")
            .arg("-c")
            .arg(format!("printf '%s' '{pem}' | openssl x509 -noout -subject")),
    )
    .ok("openssl x509 -subject");
    assert!(!subject.stdout.contains("system:masters"), "{}", subject.stdout);
}
