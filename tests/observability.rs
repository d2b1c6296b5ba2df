//! `modules/observability` (issue #14) through the real binary: applied with `modules/pki` into a
//! real control plane (`LocalCluster`, two kwok nodes), every workload Available, a second plan
//! empty, no secret in the output; and what it renders checked by the real Prometheus tools —
//! `promtool check config` on prometheus.yml (only file paths rewritten to where the files are
//! here), `promtool check rules` on every rule file it mounts, `amtool check-config` on the
//! Alertmanager configuration. promtool and amtool come from Debian's `prometheus` and
//! `prometheus-alertmanager` (scripts/install-deps); without them the test fails.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use base64::Engine as _;

use crate::cloud_config::yaml_documents;
use crate::kubeutil::{LocalCluster, Out, output};
use crate::util::{Cmd, Run};

const ENV: &str = "environments/test";
const NS: &str = "monitoring";
const INSTALL_HINT: &str = "scripts/install-deps (apt: prometheus prometheus-alertmanager)";

/// The scrape jobs the rules in modules/observability/rules rely on, by name.
const JOBS: [&str; 11] = [
    "alertmanager",
    "apiserver",
    "cadvisor",
    "etcd",
    "kube-controller-manager",
    "kube-scheduler",
    "kube-state-metrics",
    "kubelet",
    "node-exporter",
    "prometheus",
    "slipway-agent",
];

/// A receiver secret: it must reach the Secret and nothing else.
const RECEIVER_TOKEN: &str = "xoxb-obs-receiver-token-4242";

/// One control-plane node with stacked etcd, one worker: the environment declares 2 nodes.
fn environment(kubeconfig: &Path) -> String {
    format!(
        r##"provider "kubernetes" {{
  config_path = "{kubeconfig}"
}}

module "pki" {{
  source                = "../../modules/pki"
  apiserver_lb_dns_name = "api.obs.example"
  cluster_name          = "obs"
  control_plane_nodes   = {{ obs-cp-a = "10.0.1.10" }}
  etcd_members          = {{ obs-cp-a = "10.0.1.10" }}
}}

module "observability" {{
  source              = "../../modules/observability"
  cluster_name        = "obs"
  declared_node_count = 2
  certificate_expiry  = module.pki.certificate_expiry
  control_plane_ips   = ["10.0.1.10"]
  etcd_member_ips     = ["10.0.1.10"]
  etcd_client         = module.pki.etcd_metrics_client
  alertmanager_config = <<-EOT
    route:
      receiver: team
      group_by: [alertname, namespace]
    receivers:
      - name: team
        slack_configs:
          - channel: "#alerts"
            api_url: https://hooks.slack.example/services/{RECEIVER_TOKEN}
    EOT
}}

output "prometheus_config" {{
  value = module.observability.prometheus_config
}}

output "rule_files" {{
  value = module.observability.rule_files
}}

output "certificate_expiry" {{
  value = module.pki.certificate_expiry
}}

output "etcd_metrics_client" {{
  value     = module.pki.etcd_metrics_client
  sensitive = true
}}

output "alertmanager_config" {{
  value     = module.observability.alertmanager_config
  sensitive = true
}}

output "grafana_admin_password" {{
  value     = module.observability.grafana_admin_password
  sensitive = true
}}
"##,
        kubeconfig = kubeconfig.display()
    )
}

struct Stack {
    repo: tempfile::TempDir,
    cluster: LocalCluster,
}

impl Stack {
    fn new(ip: &str) -> Stack {
        let cluster = LocalCluster::start(ip, 2);
        let repo = tempfile::tempdir().unwrap();
        let modules = Path::new(env!("CARGO_MANIFEST_DIR")).join("modules");
        for m in ["pki", "observability"] {
            crate::util::copy_dir(&modules.join(m), &repo.path().join("modules").join(m));
        }
        // A promtool unit test beside the rules: it must not be loaded as a rule file.
        let tests = repo.path().join("modules/observability/rules/tests");
        std::fs::create_dir_all(&tests).unwrap();
        std::fs::write(
            tests.join("zz-not-a-rule-file.yaml"),
            "rule_files: [../x.yaml]\ntests: []\n",
        )
        .unwrap();
        std::fs::create_dir_all(repo.path().join(ENV)).unwrap();
        std::fs::write(repo.path().join(ENV).join("main.hcl"), environment(&cluster.kubeconfig))
            .unwrap();
        Stack { repo, cluster }
    }

    fn slipway(&self, args: &[&str]) -> Run {
        let r = Cmd::new()
            .current_dir(self.repo.path())
            .args(args)
            .timeout(Duration::from_secs(900))
            .run();
        r.assert_no_crash();
        r
    }

    /// An output as JSON (`output NAME --json` shows sensitive values: it is asked for by name).
    fn output(&self, name: &str) -> serde_json::Value {
        let r = self.slipway(&["output", name, "--json", "--dir", ENV]);
        r.assert_code(0);
        serde_json::from_str(&r.stdout)
            .unwrap_or_else(|e| panic!("output {name} is not JSON: {e}\n{}", r.stdout))
    }

    fn string_output(&self, name: &str) -> String {
        self.output(name)
            .as_str()
            .unwrap_or_else(|| panic!("output {name} is not a string"))
            .to_string()
    }

    fn kubectl_json(&self, args: &[&str]) -> serde_json::Value {
        let mut full = args.to_vec();
        full.extend_from_slice(&["-o", "json"]);
        let out = self.cluster.kubectl(&full).ok(&format!("kubectl {args:?}"));
        serde_json::from_str(&out.stdout).unwrap()
    }
}

fn all(r: &Run) -> String {
    format!("{}{}", r.stdout, r.stderr)
}

/// The Prometheus release of the module's image, whose promtool `scripts/install-promtool`
/// builds from the Go module proxy (Debian's lacks Kubernetes service discovery).
const PROMTOOL_VERSION: &str = "3.5.0";

/// Upstream promtool: `SLIPWAY_PROMTOOL`, else where `scripts/install-promtool` puts it.
fn upstream_promtool() -> std::path::PathBuf {
    let path =
        std::env::var_os("SLIPWAY_PROMTOOL").map(std::path::PathBuf::from).unwrap_or_else(|| {
            let home = std::env::var_os("HOME").expect("HOME");
            Path::new(&home)
                .join(format!(".cache/slipway-prometheus/v{PROMTOOL_VERSION}/bin/promtool"))
        });
    assert!(
        path.is_file(),
        "{} is missing: this test checks prometheus.yml with Prometheus {PROMTOOL_VERSION}'s promtool; \
         build it with `export SLIPWAY_PROMTOOL=$(scripts/install-promtool)` (scripts/test does)",
        path.display()
    );
    path
}

/// Runs one of the Prometheus tools; missing is a failure with the install hint.
fn tool(name: &str, args: &[&str]) -> Out {
    let found = Command::new(name).arg("--version").output();
    assert!(found.is_ok(), "{name} is required by this test: {INSTALL_HINT}");
    output(Command::new(name).args(args))
}

/// Every Deployment, DaemonSet and StatefulSet of the namespace, ready with all its replicas.
fn assert_workloads_ready(s: &Stack) {
    let list = s.kubectl_json(&["get", "deployments,daemonsets,statefulsets", "-n", NS]);
    let mut seen = BTreeMap::new();
    for item in list["items"].as_array().unwrap() {
        let kind = item["kind"].as_str().unwrap();
        let name = item["metadata"]["name"].as_str().unwrap();
        let st = &item["status"];
        let (ready, want) = match kind {
            "Deployment" => {
                let available = st["conditions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|c| c["type"] == "Available" && c["status"] == "True");
                assert!(available, "Deployment {name} not Available: {st}");
                (&st["availableReplicas"], &item["spec"]["replicas"])
            }
            "DaemonSet" => (&st["numberReady"], &st["desiredNumberScheduled"]),
            "StatefulSet" => (&st["readyReplicas"], &item["spec"]["replicas"]),
            other => panic!("unexpected kind {other}"),
        };
        assert_eq!(ready, want, "{kind} {name}: {st}");
        seen.insert(name.to_string(), (kind.to_string(), want.as_i64().unwrap()));
    }
    let expect: BTreeMap<String, (String, i64)> = [
        ("alertmanager", "StatefulSet", 1),
        ("grafana", "Deployment", 1),
        ("kube-state-metrics", "Deployment", 1),
        // One per kwok node: the DaemonSet reaches every node.
        ("node-exporter", "DaemonSet", 2),
        ("prometheus", "StatefulSet", 1),
    ]
    .into_iter()
    .map(|(n, k, c)| (n.to_string(), (k.to_string(), c)))
    .collect();
    assert_eq!(seen, expect);
}

/// The module applied into a real API server in one run: every workload Available (the
/// provider waited), the configuration in the cluster is the rendered one, rules/tests is not
/// loaded, the second plan is empty, and neither the Grafana password nor a receiver token is
/// ever printed. Then the rendered files go through promtool and amtool.
#[test]
fn observability_installs_into_a_real_cluster_all_available_plan_empty_no_secret_printed() {
    let s = Stack::new("127.0.0.80");

    let plan = s.slipway(&["plan", ENV, "--detailed-exitcode"]);
    plan.assert_code(2);
    assert!(!all(&plan).contains(RECEIVER_TOKEN), "{}", all(&plan));

    let apply = s.slipway(&["apply", ENV, "-auto-approve"]);
    apply.assert_code(0);
    assert_workloads_ready(&s);

    let again = s.slipway(&["plan", ENV, "--detailed-exitcode"]);
    again.assert_code(0);

    // Secrets: in the cluster's Secrets, never in what slipway printed.
    let password = s.string_output("grafana_admin_password");
    assert_eq!(password.len(), 32, "grafana password length");
    for (what, r) in [("plan", &plan), ("apply", &apply), ("second plan", &again)] {
        let text = all(r);
        assert!(!text.contains(&password), "Grafana password in {what}");
        assert!(!text.contains(RECEIVER_TOKEN), "receiver token in {what}");
    }
    let secret = s.kubectl_json(&["get", "secret", "grafana-admin", "-n", NS]);
    let stored = base64::engine::general_purpose::STANDARD
        .decode(secret["data"]["password"].as_str().unwrap())
        .unwrap();
    assert_eq!(String::from_utf8(stored).unwrap(), password);
    assert!(!all(&apply).contains("PRIVATE KEY"), "a private key in apply's output");

    // The configuration Prometheus mounts is the one the module renders.
    let prometheus_yml = s.string_output("prometheus_config");
    let cm = s.kubectl_json(&["get", "configmap", "prometheus-config", "-n", NS]);
    assert_eq!(cm["data"]["prometheus.yml"], prometheus_yml.as_str());
    let rules = s.kubectl_json(&["get", "configmap", "prometheus-rules", "-n", NS]);
    let rule_names: Vec<&String> = rules["data"].as_object().unwrap().keys().collect();
    assert!(rule_names.iter().any(|n| *n == "slipway-generated.yaml"), "{rule_names:?}");
    assert!(
        !rule_names.iter().any(|n| n.contains("not-a-rule-file")),
        "rules/tests/ was loaded: {rule_names:?}"
    );

    check_rbac(&s);
    check_prometheus_config(&s, &prometheus_yml);
    check_generated_rules(&s);
    assert!(s.string_output("alertmanager_config").contains(RECEIVER_TOKEN));
    check_alertmanager_config(&s);

    // Without alertmanager_config the module's own default goes into the Secret, amtool accepts
    // it too, and the changed configuration rolls Alertmanager's pod (its checksum annotation).
    let checksum = |s: &Stack| {
        s.kubectl_json(&["get", "statefulset", "alertmanager", "-n", NS])["spec"]["template"]
            ["metadata"]["annotations"]["slipway.dev/config-sha256"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let before = checksum(&s);
    let main = s.repo.path().join(ENV).join("main.hcl");
    let text = std::fs::read_to_string(&main).unwrap();
    let start = text.find("  alertmanager_config = <<-EOT").unwrap();
    let end = start + text[start..].find("    EOT\n").unwrap() + "    EOT\n".len();
    std::fs::write(&main, format!("{}{}", &text[..start], &text[end..])).unwrap();
    let update = s.slipway(&["apply", ENV, "-auto-approve"]);
    update.assert_code(0);
    assert!(!all(&update).contains(RECEIVER_TOKEN), "{}", all(&update));
    assert_ne!(checksum(&s), before, "a new configuration must roll the pod");
    check_alertmanager_config(&s);
    assert_workloads_ready(&s);
    s.slipway(&["plan", ENV, "--detailed-exitcode"]).assert_code(0);
}

/// prometheus.yml: the contract's job names, honor_labels on kube-state-metrics, etcd over TLS
/// with the client certificate, and `promtool check config` (which also checks every rule file
/// the `rule_files` glob finds) with only the file paths rewritten to real files here.
fn check_prometheus_config(s: &Stack, prometheus_yml: &str) {
    let config = yaml_documents(prometheus_yml).remove(0);
    let jobs: BTreeMap<&str, &serde_json::Value> = config["scrape_configs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| (j["job_name"].as_str().unwrap(), j))
        .collect();
    assert_eq!(jobs.keys().copied().collect::<Vec<_>>(), JOBS.to_vec());
    assert_eq!(jobs["kube-state-metrics"]["honor_labels"], true);
    assert_eq!(jobs["etcd"]["static_configs"][0]["targets"], serde_json::json!(["10.0.1.10:2379"]));
    assert_eq!(jobs["etcd"]["scheme"], "https");
    assert_eq!(
        jobs["kube-controller-manager"]["static_configs"][0]["targets"],
        serde_json::json!(["10.0.1.10:10257"])
    );
    assert_eq!(
        jobs["kube-scheduler"]["static_configs"][0]["targets"],
        serde_json::json!(["10.0.1.10:10259"])
    );
    assert_eq!(config["rule_files"], serde_json::json!(["/etc/prometheus/rules/*.yaml"]));

    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path();
    // The files Prometheus finds in its pod, here: the service account's token and CA, the etcd
    // client pair from modules/pki, the rule files of the ConfigMap.
    let sa = dir.join("sa");
    std::fs::create_dir_all(&sa).unwrap();
    std::fs::write(sa.join("token"), "token").unwrap();
    let client = s.output("etcd_metrics_client");
    std::fs::write(sa.join("ca.crt"), client["ca_cert_pem"].as_str().unwrap()).unwrap();
    let etcd = dir.join("etcd");
    std::fs::create_dir_all(&etcd).unwrap();
    for (file, key) in [("ca.crt", "ca_cert_pem"), ("tls.crt", "cert_pem"), ("tls.key", "key_pem")]
    {
        std::fs::write(etcd.join(file), client[key].as_str().unwrap()).unwrap();
    }
    let rules = dir.join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    let files = s.output("rule_files");
    for (name, text) in files.as_object().unwrap() {
        std::fs::write(rules.join(name), text.as_str().unwrap()).unwrap();
    }
    let rewrite_paths = |text: &str| {
        text.replace("/var/run/secrets/kubernetes.io/serviceaccount", sa.to_str().unwrap())
            .replace("/etc/prometheus/secrets/etcd", etcd.to_str().unwrap())
            .replace("/etc/prometheus/rules", rules.to_str().unwrap())
    };
    let rewritten = rewrite_paths(prometheus_yml);
    assert_ne!(rewritten, prometheus_yml);

    // Prometheus upstream's promtool, the release the module's image runs: the configuration
    // as rendered, file paths aside.
    let file = dir.join("prometheus.yml");
    std::fs::write(&file, &rewritten).unwrap();
    let out =
        output(Command::new(upstream_promtool()).args(["check", "config", file.to_str().unwrap()]));
    assert_eq!(
        out.code,
        0,
        "promtool {PROMTOOL_VERSION} check config refuses the rendered prometheus.yml:\n{}\n{rewritten}",
        out.all()
    );
    assert!(out.all().contains("SUCCESS"), "{}", out.all());

    // Debian's promtool 2.42 is built without Kubernetes service discovery (the package drops
    // it), so there each `kubernetes_sd_configs` becomes a `file_sd_configs` of the same job;
    // everything else (relabelling, TLS, authorization, the rule files) is checked as rendered.
    let targets = dir.join("targets.json");
    std::fs::write(&targets, "[]").unwrap();
    let (debian, replaced) = with_file_discovery(&config, &targets);
    // apiserver, kubelet, cadvisor, node-exporter, slipway-agent.
    assert_eq!(replaced, 5);
    let debian_text = rewrite_paths(&serde_json::to_string_pretty(&debian).unwrap());
    let file = dir.join("prometheus-debian.yml");
    std::fs::write(&file, &debian_text).unwrap();
    let out = tool("promtool", &["check", "config", file.to_str().unwrap()]);
    assert_eq!(
        out.code,
        0,
        "promtool check config refuses the rendered prometheus.yml:\n{}\n{debian_text}",
        out.all()
    );
    assert!(out.all().contains("SUCCESS"), "{}", out.all());

    // Every rule file mounted, the generated one included.
    let mut args = vec!["check".to_string(), "rules".to_string()];
    for name in files.as_object().unwrap().keys() {
        args.push(rules.join(name).to_str().unwrap().to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = tool("promtool", &args);
    assert_eq!(out.code, 0, "promtool check rules:\n{}", out.all());
}

/// slipway-generated.yaml: the declared node count, and one expiry series per certificate
/// modules/pki issued whose value is that certificate's notAfter in unix seconds.
fn check_generated_rules(s: &Stack) {
    let files = s.output("rule_files");
    let generated = files["slipway-generated.yaml"].as_str().unwrap();
    let doc = yaml_documents(generated).remove(0);
    let rules = doc["groups"][0]["rules"].as_array().unwrap();
    assert_eq!(rules[0]["record"], "slipway:declared_nodes");
    assert_eq!(rules[0]["expr"], "vector(2)");
    let expiry = s.output("certificate_expiry");
    let expiry = expiry.as_object().unwrap();
    // 3 CAs, 7 shared leaves, the member's server and peer.
    assert_eq!(expiry.len(), 12, "{expiry:?}");
    let series: BTreeMap<&str, &str> = rules[1..]
        .iter()
        .map(|r| {
            assert_eq!(r["record"], "slipway:certificate_expiry_timestamp_seconds");
            (r["labels"]["certificate"].as_str().unwrap(), r["expr"].as_str().unwrap())
        })
        .collect();
    assert_eq!(
        series.keys().copied().collect::<Vec<_>>(),
        expiry.keys().map(String::as_str).collect::<Vec<_>>()
    );
    // The apiserver's expiry, computed here from its RFC 3339 form with `date`.
    let rfc3339 = expiry["apiserver"].as_str().unwrap();
    let date = output(Command::new("date").args(["-u", "-d", rfc3339, "+%s"])).ok("date -d");
    assert_eq!(series["apiserver"], format!("vector({})", date.stdout.trim()));
}

/// The Alertmanager configuration in the Secret is the module's, and amtool accepts it.
fn check_alertmanager_config(s: &Stack) {
    let config = s.string_output("alertmanager_config");
    let secret = s.kubectl_json(&["get", "secret", "alertmanager-config", "-n", NS]);
    let stored = base64::engine::general_purpose::STANDARD
        .decode(secret["data"]["alertmanager.yml"].as_str().unwrap())
        .unwrap();
    assert_eq!(String::from_utf8(stored).unwrap(), config);
    let scratch = tempfile::tempdir().unwrap();
    let file = scratch.path().join("alertmanager.yml");
    std::fs::write(&file, &config).unwrap();
    let out = tool("amtool", &["check-config", file.to_str().unwrap()]);
    assert_eq!(out.code, 0, "amtool check-config:\n{}\n{config}", out.all());
    assert!(out.stdout.contains("SUCCESS"), "{}", out.all());
}

/// The service accounts' RBAC is what they need, no more: Prometheus may read metrics and
/// discovery objects but not `nodes/proxy` or Secrets; the real kube-state-metrics, run with
/// its service account's token and the module's `--resources`, lists every kind it exports
/// without one refusal.
fn check_rbac(s: &Stack) {
    let prometheus = "system:serviceaccount:monitoring:prometheus";
    // (verb, resource or URL, subresource): `nodes/proxy` would name a node called "proxy".
    for (verb, what, sub, allowed) in [
        ("get", "/metrics", "", true),
        ("get", "/metrics/cadvisor", "", true),
        ("get", "nodes", "metrics", true),
        ("list", "endpointslices.discovery.k8s.io", "", true),
        ("list", "nodes", "", true),
        ("list", "pods", "", true),
        ("get", "nodes", "proxy", false),
        ("list", "secrets", "", false),
        ("create", "pods", "", false),
    ] {
        let mut args = vec!["auth", "can-i", verb, what, "--as", prometheus];
        if !sub.is_empty() {
            args.extend_from_slice(&["--subresource", sub]);
        }
        let out = s.cluster.kubectl(&args);
        assert_eq!(out.code == 0, allowed, "prometheus {verb} {what} {sub}: {}", out.all());
    }

    let ksm = s.kubectl_json(&["get", "deployment", "kube-state-metrics", "-n", NS]);
    let args: Vec<String> = ksm["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    let resources = args.iter().find(|a| a.starts_with("--resources=")).expect("--resources");
    assert!(resources.contains("replicationcontrollers"), "{resources}");
    assert!(resources.contains("jobs"), "{resources}");
    assert!(!resources.contains("secrets"), "{resources}");
    let token = s
        .cluster
        .kubectl(&["create", "token", "kube-state-metrics", "-n", NS])
        .ok("kubectl create token")
        .stdout;
    let scratch = tempfile::tempdir().unwrap();
    let kubeconfig = scratch.path().join("ksm.kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {}\n    certificate-authority: {}\nusers:\n- name: ksm\n  user:\n    token: {}\ncontexts:\n- name: c\n  context: {{cluster: c, user: ksm}}\ncurrent-context: c\n",
            s.cluster.server(),
            s.cluster.dir().join("pki/ca.crt").display(),
            token.trim()
        ),
    )
    .unwrap();
    let ip = &s.cluster.ip;
    let port = crate::util::free_port_on(ip);
    let telemetry = crate::util::free_port_on(ip);
    let log = scratch.path().join("ksm.log");
    let child = Command::new(crate::kubeutil::kube_bin("kube-state-metrics"))
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args([
            "--host",
            ip,
            "--port",
            &port.to_string(),
            "--telemetry-host",
            ip,
            "--telemetry-port",
            &telemetry.to_string(),
            resources,
        ])
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::create(scratch.path().join("ksm.err")).unwrap())
        .spawn()
        .expect("start kube-state-metrics");
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _ksm = Kill(child);
    let url = format!("http://{ip}:{port}/metrics");
    let mut metrics = String::new();
    crate::kubeutil::wait_until("kube-state-metrics serves", Duration::from_secs(60), || {
        let out = output(Command::new("curl").args(["-sf", &url]));
        // Ready once the informers have synced: the node and workload families are there.
        if out.code == 0
            && out.stdout.contains("kube_node_info{")
            && out.stdout.contains("kube_deployment_status_replicas_available{")
        {
            metrics = out.stdout;
            Ok(())
        } else {
            Err(format!("curl {url}: {}", out.all()))
        }
    });
    assert_eq!(
        metrics.lines().filter(|l| l.starts_with("kube_node_info{")).count(),
        2,
        "one kube_node_info per kwok node"
    );
    assert!(
        metrics.contains(
            "kube_deployment_status_replicas_available{namespace=\"monitoring\",deployment=\"grafana\"} 1"
        ),
        "grafana's Deployment in kube-state-metrics"
    );
    let errors = std::fs::read_to_string(scratch.path().join("ksm.err")).unwrap_or_default()
        + &std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        !errors.to_lowercase().contains("forbidden"),
        "kube-state-metrics was refused a kind its RBAC should allow:\n{errors}"
    );
}

/// `config` (prometheus.yml as JSON) with every job's `kubernetes_sd_configs` replaced by a
/// `file_sd_configs` reading `targets` (a JSON target list), and how many jobs changed. For
/// Debian's Prometheus and promtool (2.42), which are built without Kubernetes discovery and
/// refuse the field: the other jobs (kube-state-metrics among them) and every relabelling stay
/// as rendered. Shared with the real-data test, which runs Debian's Prometheus server.
pub(crate) fn with_file_discovery(
    config: &serde_json::Value,
    targets: &Path,
) -> (serde_json::Value, usize) {
    let mut out = config.clone();
    let mut replaced = 0;
    for job in out["scrape_configs"].as_array_mut().unwrap() {
        let job = job.as_object_mut().unwrap();
        if job.remove("kubernetes_sd_configs").is_some() {
            job.insert(
                "file_sd_configs".into(),
                serde_json::json!([{ "files": [targets.to_str().unwrap()] }]),
            );
            replaced += 1;
        }
    }
    (out, replaced)
}
