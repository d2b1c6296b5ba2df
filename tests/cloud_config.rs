//! What every test of rendered user-data needs: Debian's `cloud-init schema`, YAML read through
//! PyYAML (a dependency of cloud-init) as JSON values, the `write_files` of a cloud-config, and
//! typed kubeadm v1beta4 structs (`deny_unknown_fields`) that kubeadm documents must deserialize
//! into. Shared by `bootstrap.rs` (the module on its own) and `aws_prod.rs` (what EC2 hands back).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use serde::Deserialize;
use serde::de::DeserializeOwned;

pub(crate) const KUBEADM_API: &str = "kubeadm.k8s.io/v1beta4";
pub(crate) const INSTALL_HINT: &str =
    "install with `apt-get install -y cloud-init shellcheck` (scripts/install-deps)";

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

pub(crate) fn run(cmd: &mut Command, stdin: Option<&str>) -> Run {
    let mut child = cmd
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}; {INSTALL_HINT}"));
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `cloud-init schema --config-file FILE` (Debian's cloud-init 22.4).
pub(crate) fn cloud_init_schema(file: &Path) -> Run {
    run(Command::new("cloud-init").args(["schema", "--config-file"]).arg(file), None)
}

/// Every YAML document of `text`, through PyYAML's safe loader, as JSON values.
pub(crate) fn yaml_documents(text: &str) -> Vec<serde_json::Value> {
    let r = run(
        Command::new("python3").args([
            "-c",
            "import json, sys, yaml; json.dump(list(yaml.safe_load_all(sys.stdin)), sys.stdout)",
        ]),
        Some(text),
    )
    .ok(&format!("python3 yaml (PyYAML: {INSTALL_HINT})"));
    serde_json::from_str(&r.stdout).expect("PyYAML's JSON")
}

// kubeadm v1beta4 types: the fields this module emits, spelt as in
// k8s.io/kubernetes/cmd/kubeadm/app/apis/kubeadm/v1beta4/types.go. Any other field is an error.

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct InitConfiguration {
    pub(crate) api_version: String,
    pub(crate) kind: String,
    #[serde(default)]
    pub(crate) bootstrap_tokens: Vec<BootstrapToken>,
    pub(crate) node_registration: NodeRegistrationOptions,
    #[serde(rename = "localAPIEndpoint")]
    pub(crate) local_api_endpoint: ApiEndpoint,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct BootstrapToken {
    pub(crate) token: String,
    pub(crate) description: Option<String>,
    pub(crate) ttl: Option<String>,
    #[serde(default)]
    pub(crate) usages: Vec<String>,
    #[serde(default)]
    pub(crate) groups: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct NodeRegistrationOptions {
    pub(crate) name: String,
    pub(crate) cri_socket: Option<String>,
    #[serde(default)]
    pub(crate) kubelet_extra_args: Vec<Arg>,
}

/// v1beta4 turned every extraArgs map into a list of name/value pairs.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct Arg {
    pub(crate) name: String,
    pub(crate) value: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ApiEndpoint {
    pub(crate) advertise_address: String,
    pub(crate) bind_port: u16,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ClusterConfiguration {
    pub(crate) api_version: String,
    pub(crate) kind: String,
    pub(crate) cluster_name: String,
    pub(crate) kubernetes_version: String,
    pub(crate) control_plane_endpoint: String,
    pub(crate) certificates_dir: String,
    pub(crate) networking: Networking,
    pub(crate) etcd: Etcd,
    pub(crate) api_server: ApiServer,
    pub(crate) controller_manager: ControlPlaneComponent,
    pub(crate) scheduler: ControlPlaneComponent,
}

/// `controllerManager` / `scheduler`: only their flags (the metrics bind address).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ControlPlaneComponent {
    pub(crate) extra_args: Vec<Arg>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Networking {
    pub(crate) pod_subnet: String,
    pub(crate) service_subnet: String,
    pub(crate) dns_domain: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Etcd {
    pub(crate) local: Option<LocalEtcd>,
    pub(crate) external: Option<ExternalEtcd>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct LocalEtcd {
    pub(crate) data_dir: String,
    #[serde(rename = "serverCertSANs")]
    pub(crate) server_cert_sans: Vec<String>,
    #[serde(rename = "peerCertSANs")]
    pub(crate) peer_cert_sans: Vec<String>,
    #[serde(default)]
    pub(crate) extra_args: Vec<Arg>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ExternalEtcd {
    pub(crate) endpoints: Vec<String>,
    pub(crate) ca_file: String,
    pub(crate) cert_file: String,
    pub(crate) key_file: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ApiServer {
    #[serde(rename = "certSANs")]
    pub(crate) cert_sans: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct JoinConfiguration {
    pub(crate) api_version: String,
    pub(crate) kind: String,
    pub(crate) node_registration: NodeRegistrationOptions,
    pub(crate) discovery: Discovery,
    pub(crate) control_plane: Option<JoinControlPlane>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Discovery {
    pub(crate) bootstrap_token: BootstrapTokenDiscovery,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct BootstrapTokenDiscovery {
    pub(crate) api_server_endpoint: String,
    pub(crate) token: String,
    pub(crate) ca_cert_hashes: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct JoinControlPlane {
    #[serde(rename = "localAPIEndpoint")]
    pub(crate) local_api_endpoint: ApiEndpoint,
}

/// kubelet.config.k8s.io/v1beta1, for the etcd member's standalone kubelet.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct KubeletConfiguration {
    pub(crate) api_version: String,
    pub(crate) kind: String,
    pub(crate) cgroup_driver: String,
    pub(crate) address: String,
    pub(crate) static_pod_path: String,
    pub(crate) authentication: KubeletAuthentication,
    pub(crate) authorization: KubeletAuthorization,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct KubeletAuthentication {
    pub(crate) anonymous: Enabled,
    pub(crate) webhook: Enabled,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Enabled {
    pub(crate) enabled: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct KubeletAuthorization {
    pub(crate) mode: String,
}

#[derive(Debug)]
pub(crate) enum KubeadmDoc {
    Init(InitConfiguration),
    Cluster(Box<ClusterConfiguration>),
    Join(JoinConfiguration),
}

pub(crate) fn typed<T: DeserializeOwned>(doc: serde_json::Value) -> Result<T, String> {
    serde_json::from_value(doc).map_err(|e| e.to_string())
}

/// One kubeadm document, by its `kind`, after checking `apiVersion`.
pub(crate) fn kubeadm_doc(doc: serde_json::Value) -> Result<KubeadmDoc, String> {
    let api = doc.get("apiVersion").and_then(|v| v.as_str());
    if api != Some(KUBEADM_API) {
        return Err(format!("apiVersion {api:?}, expected {KUBEADM_API}"));
    }
    let kind = doc.get("kind").and_then(|v| v.as_str()).unwrap_or("").to_string();
    let parsed = match kind.as_str() {
        "InitConfiguration" => KubeadmDoc::Init(typed(doc)?),
        "ClusterConfiguration" => KubeadmDoc::Cluster(Box::new(typed(doc)?)),
        "JoinConfiguration" => KubeadmDoc::Join(typed(doc)?),
        other => return Err(format!("unexpected kind {other:?}")),
    };
    // The typed structs carry apiVersion/kind too (deny_unknown_fields needs them declared).
    let (api, k) = match &parsed {
        KubeadmDoc::Init(c) => (&c.api_version, &c.kind),
        KubeadmDoc::Cluster(c) => (&c.api_version, &c.kind),
        KubeadmDoc::Join(c) => (&c.api_version, &c.kind),
    };
    assert_eq!((api.as_str(), k.as_str()), (KUBEADM_API, kind.as_str()));
    Ok(parsed)
}

pub(crate) fn kubeadm_docs(text: &str) -> Vec<KubeadmDoc> {
    yaml_documents(text)
        .into_iter()
        .map(|d| kubeadm_doc(d).unwrap_or_else(|e| panic!("{e}\n{text}")))
        .collect()
}

/// The `write_files` entries of a user_data document: path => (content, permissions).
pub(crate) fn write_files(user_data: &str) -> BTreeMap<String, (String, String)> {
    let docs = yaml_documents(user_data);
    assert_eq!(docs.len(), 1);
    docs[0]["write_files"]
        .as_array()
        .expect("write_files")
        .iter()
        .map(|f| {
            let content = f["content"].as_str().unwrap().to_string();
            // Compressed files (modules/etcd-nodes' membership script): what cloud-init writes.
            let content = match f["encoding"].as_str() {
                Some("gz+b64") => gunzip_base64(&content),
                _ => content,
            };
            (
                f["path"].as_str().unwrap().to_string(),
                (content, f["permissions"].as_str().unwrap().to_string()),
            )
        })
        .collect()
}

/// User-data as a reader of the instance's attributes gets it once decoded: the text itself and
/// every file it writes, compressed ones decompressed. Checks that no secret is in user-data
/// look here, not at the text alone (a compressed file would hide one from a plain search).
pub(crate) fn readable(user_data: &str) -> String {
    let mut all = user_data.to_string();
    for (path, (content, _)) in write_files(user_data) {
        all.push_str(&format!("\n--- {path}\n{content}"));
    }
    all
}

/// Decodes cloud-init's `gz+b64` encoding with the system's base64 and gzip.
fn gunzip_base64(content: &str) -> String {
    let mut child = Command::new("sh")
        .args(["-c", "base64 -d | gzip -dc"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("sh, base64 and gzip");
    child.stdin.take().unwrap().write_all(content.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "cannot decode a gz+b64 file");
    String::from_utf8(out.stdout).unwrap()
}
