//! The observability stack's queries on real data: `modules/observability` is applied by
//! slipway into a real control plane (`scripts/local-cluster`: etcd, kube-apiserver,
//! controller-manager, scheduler, kwok nodes), then
//! - the real `kube-state-metrics` (built by `scripts/install-kube`) runs against that API server
//!   with the module's own ServiceAccount token (so its RBAC is what is tested), over a cluster
//!   holding Deployments (one scaled beyond capacity), a failing Job, a Job that cannot start, a
//!   crash-looping pod, ReplicationControllers (one that cannot place its pod) and kwok nodes;
//! - the real Prometheus server (Debian's) runs the scrape configuration and the rule files the
//!   module put in its ConfigMaps. They are rewritten only where the cluster differs from a real
//!   one: service discovery becomes static targets at the processes' loopback addresses (kwok
//!   serves each node's cAdvisor series at its own path, over http, scripts/kwok), the service
//!   account token and CA are files here rather than mounted, Alertmanager and the jobs that
//!   have nothing to scrape here (kubelet's own metrics, node-exporter, the agent) are left out,
//!   and etcd, which `local-cluster` runs without TLS, is scraped over http
//!   (`scripts/lib/rewrite-prometheus.py`, which `scripts/local-prometheus` and the demo use too).
//!
//! Every dashboard panel's query is then run through Prometheus's HTTP API: those for the seed
//! items must return series (and the right values: the node count is the kwok nodes, the
//! failed Job and the short Deployment and ReplicationController are named), and every alert
//! expression for the seed items returns exactly the objects in trouble.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value as Json, json};

use crate::kubeutil::{LocalCluster, Proc, kube_bin, output, wait_until};
use crate::observability_rules::{alerts, concrete, module_dir, panels, prom_tool};
use crate::util::free_port_on;
use crate::util::{Cmd, TestDir, copy_dir};

/// The workloads the dashboards and alerts must see. Nodes have 8 CPUs each (local-cluster).
const WORKLOADS: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Namespace
metadata: {name: batch}
---
apiVersion: v1
kind: Namespace
metadata: {name: legacy}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata:
      labels: {app: web}
      annotations: {kwok.x-k8s.io/usage-cpu: 250m, kwok.x-k8s.io/usage-memory: 64Mi}
    spec:
      containers:
        - name: web
          image: nginx:1.27
          resources: {requests: {cpu: 100m, memory: 32Mi}}
---
# Scaled beyond capacity: 3 replicas of 5 CPUs on two 8-CPU nodes, one stays Pending.
apiVersion: apps/v1
kind: Deployment
metadata: {name: big, namespace: shop}
spec:
  replicas: 3
  selector: {matchLabels: {app: big}}
  template:
    metadata: {labels: {app: big}}
    spec:
      containers:
        - name: big
          image: nginx:1.27
          resources: {requests: {cpu: "5", memory: 128Mi}}
---
apiVersion: batch/v1
kind: Job
metadata: {name: report, namespace: batch}
spec:
  backoffLimit: 0
  template:
    metadata:
      labels: {pod-container-running-failed.stage.kwok.x-k8s.io: "true"}
    spec:
      restartPolicy: Never
      containers: [{name: report, image: busybox:1.36}]
---
# A Job whose pod can never be placed: active, never complete.
apiVersion: batch/v1
kind: Job
metadata: {name: stuck, namespace: batch}
spec:
  template:
    spec:
      restartPolicy: Never
      nodeSelector: {disktype: none}
      containers: [{name: stuck, image: busybox:1.36}]
---
apiVersion: v1
kind: Pod
metadata:
  name: crashy
  namespace: shop
  labels: {pod-crashloop.stage.kwok.x-k8s.io: "true"}
spec:
  containers: [{name: crashy, image: busybox:1.36}]
---
apiVersion: v1
kind: ReplicationController
metadata: {name: frontend, namespace: legacy}
spec:
  replicas: 2
  selector: {app: frontend}
  template:
    metadata: {labels: {app: frontend}}
    spec:
      containers: [{name: frontend, image: nginx:1.27, resources: {requests: {cpu: 50m}}}]
---
apiVersion: v1
kind: ReplicationController
metadata: {name: pinned, namespace: legacy}
spec:
  replicas: 1
  selector: {app: pinned}
  template:
    metadata: {labels: {app: pinned}}
    spec:
      nodeSelector: {disktype: none}
      containers: [{name: pinned, image: nginx:1.27}]
"#;

/// One query through Prometheus's HTTP API: the result vector (panics on an API error, which
/// is how an expression that does not parse shows).
fn query(base: &str, expr: &str) -> Vec<Json> {
    let out = output(Command::new("curl").args([
        "-sS",
        "--fail-with-body",
        "--data-urlencode",
        &format!("query={expr}"),
        &format!("{base}/api/v1/query"),
    ]));
    assert_eq!(out.code, 0, "query {expr}: {}", out.all());
    let doc: Json = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(doc["status"], "success", "query {expr}: {doc}");
    doc["data"]["result"].as_array().cloned().unwrap_or_default()
}

fn label_values(result: &[Json], label: &str) -> BTreeSet<String> {
    result.iter().filter_map(|s| s["metric"][label].as_str().map(str::to_string)).collect()
}

fn scalar(result: &[Json]) -> f64 {
    assert_eq!(result.len(), 1, "one series expected: {result:?}");
    result[0]["value"][1].as_str().unwrap().parse().unwrap()
}

/// A service account's token, from the real TokenRequest API.
fn token(cluster: &LocalCluster, sa: &str) -> String {
    cluster
        .kubectl(&["create", "token", sa, "-n", "monitoring", "--duration=2h"])
        .ok(&format!("token for {sa}"))
        .stdout
        .trim()
        .to_string()
}

#[test]
fn every_seed_panel_and_alert_returns_real_data_from_kube_state_metrics_and_prometheus() {
    const IP: &str = "127.0.0.91";
    let nodes = 2;
    let cluster = LocalCluster::start(IP, nodes);
    let work = TestDir::new();
    // local-cluster's etcd has no TLS: any PEMs fill the module's etcd client Secret.
    let pki = cluster.dir().join("pki");
    let expiry_soon = time_in_days(20);
    work.write(
        "env/main.hcl",
        format!(
            r#"provider "kubernetes" {{
  config_path = "{kubeconfig}"
}}

module "observability" {{
  source              = "../modules/observability"
  cluster_name        = "local"
  declared_node_count = 3
  control_plane_ips   = ["{IP}"]
  etcd_member_ips     = ["{IP}"]
  etcd_client = {{
    cert_pem    = file("{pki}/admin.crt")
    key_pem     = file("{pki}/admin.key")
    ca_cert_pem = file("{pki}/ca.crt")
  }}
  certificate_expiry = {{
    apiserver = "{expiry_soon}"
    ca        = "{expiry_far}"
  }}
}}
"#,
            kubeconfig = cluster.kubeconfig.display(),
            pki = pki.display(),
            expiry_far = time_in_days(3650),
        ),
    );
    copy_dir(&module_dir(), &work.join("modules/observability"));
    let apply = Cmd::new()
        .current_dir(work.path())
        .args(["apply", "env", "-auto-approve"])
        .timeout(Duration::from_secs(600))
        .run();
    apply.assert_code(0);

    work.write("workloads.yaml", WORKLOADS);
    cluster
        .kubectl(&["apply", "-f", &work.join("workloads.yaml").to_string_lossy()])
        .ok("kubectl apply the workloads");

    // What the module deployed: the scrape configuration and the rule files Prometheus mounts.
    let cm = |name: &str| -> Json {
        let out =
            cluster.kubectl(&["get", "configmap", name, "-n", "monitoring", "-o", "json"]).ok(name);
        serde_json::from_str::<Json>(&out.stdout).unwrap()["data"].clone()
    };
    let config = cm("prometheus-config")["prometheus.yml"]
        .as_str()
        .expect("prometheus.yml in ConfigMap prometheus-config")
        .to_string();
    let rules = cm("prometheus-rules");
    let rules = rules.as_object().expect("rule files in ConfigMap prometheus-rules");
    for (file, text) in rules {
        work.write(format!("rules/{file}"), text.as_str().unwrap());
    }
    assert!(rules.len() >= 8, "the module's rule files and its generated one: {:?}", rules.keys());

    // kube-state-metrics with the module's ServiceAccount: its ClusterRole must let it list all.
    let ca = pki.join("ca.crt");
    work.write(
        "ksm.kubeconfig",
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {{server: \"{}\", certificate-authority: \"{}\"}}\nusers:\n- name: ksm\n  user: {{token: \"{}\"}}\ncontexts:\n- name: c\n  context: {{cluster: c, user: ksm}}\ncurrent-context: c\n",
            cluster.server(),
            ca.display(),
            token(&cluster, "kube-state-metrics")
        ),
    );
    let (ksm_port, ksm_telemetry) = (free_port_on(IP), free_port_on(IP));
    let mut ksm = Proc::spawn(
        Command::new(kube_bin("kube-state-metrics")).args([
            "--kubeconfig",
            &work.join("ksm.kubeconfig").to_string_lossy(),
            "--host",
            IP,
            "--port",
            &ksm_port.to_string(),
            "--telemetry-host",
            IP,
            "--telemetry-port",
            &ksm_telemetry.to_string(),
        ]),
        work.join("kube-state-metrics.log"),
    );

    // Prometheus with the module's configuration, rewritten for this machine.
    work.write("prometheus.token", token(&cluster, "prometheus"));
    let prom_port = free_port_on(IP);
    let kwok = format!("{IP}:{}", cluster.port("kwok_port"));
    let statics = |addr: String| json!([{ "targets": [addr] }]);
    let cadvisor: Vec<Json> = (1..=nodes)
        .map(|i| {
            json!({ "targets": [kwok], "labels": {
                "__metrics_path__": format!("/metrics/nodes/kwok-node-{i}/metrics/cadvisor"),
                "node": format!("kwok-node-{i}") } })
        })
        .collect();
    let spec = json!({
        "token": work.join("prometheus.token"),
        "ca": ca,
        "rules": work.join("rules"),
        "targets": {
            "apiserver": { "static": statics(format!("{IP}:{}", cluster.port("api_port"))) },
            "kube-controller-manager": { "static": statics(format!("{IP}:{}", cluster.port("kcm_port"))) },
            "kube-scheduler": { "static": statics(format!("{IP}:{}", cluster.port("sched_port"))) },
            "etcd": { "static": statics(format!("{IP}:{}", cluster.port("etcd_port"))), "scheme": "http" },
            "kube-state-metrics": { "static": statics(format!("{IP}:{ksm_port}")) },
            "cadvisor": { "static": cadvisor, "scheme": "http" },
            "prometheus": { "static": statics(format!("{IP}:{prom_port}")) },
        }
    });
    work.write("module-prometheus.yml", &config);
    let rewritten = output(
        Command::new("python3")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/lib/rewrite-prometheus.py"))
            .arg(work.join("module-prometheus.yml"))
            .arg(spec.to_string()),
    )
    .ok("rewrite prometheus.yml");
    work.write("prometheus.yml", &rewritten.stdout);
    let jobs: Vec<&str> = spec["targets"].as_object().unwrap().keys().map(String::as_str).collect();
    for job in &jobs {
        assert!(
            rewritten.stdout.contains(&format!("job_name: {job}")),
            "the module's configuration has no job {job}:\n{config}"
        );
    }
    let mut prometheus = Proc::spawn(
        prom_tool("prometheus").args([
            "--config.file",
            &work.join("prometheus.yml").to_string_lossy(),
            "--storage.tsdb.path",
            &work.join("tsdb").to_string_lossy(),
            "--web.listen-address",
            &format!("{IP}:{prom_port}"),
        ]),
        work.join("prometheus.log"),
    );
    let base = format!("http://{IP}:{prom_port}");
    // One target per job, and one cAdvisor target per node.
    let targets = jobs.len() - 1 + nodes;

    // Every target up (a failure shows Prometheus's own reason: RBAC, TLS, address).
    wait_until("every scrape target up", Duration::from_secs(180), || {
        ksm.alive()?;
        prometheus.alive()?;
        let out = output(Command::new("curl").args(["-sS", &format!("{base}/api/v1/targets")]));
        let doc: Json =
            serde_json::from_str(&out.stdout).map_err(|e| format!("{e}: {}", out.all()))?;
        let active = doc["data"]["activeTargets"].as_array().cloned().unwrap_or_default();
        let up: BTreeSet<String> = active
            .iter()
            .filter(|t| t["health"] == "up")
            .map(|t| t["labels"]["job"].as_str().unwrap().to_string())
            .collect();
        let down: Vec<String> = active
            .iter()
            .filter(|t| t["health"] != "up")
            .map(|t| format!("{} {}: {}", t["labels"]["job"], t["scrapeUrl"], t["lastError"]))
            .collect();
        if active.len() == targets && down.is_empty() {
            Ok(())
        } else {
            Err(format!("up: {up:?}; not up: {down:?}"))
        }
    });
    // Rates and the recording rules need two scrapes and an evaluation after them.
    wait_until("rates of cAdvisor series recorded", Duration::from_secs(240), || {
        let r =
            query(&base, r#"namespace:container_network_receive_bytes:rate5m{namespace="shop"}"#);
        let c = query(&base, r#"namespace:container_cpu_usage_seconds:rate5m{namespace="shop"}"#);
        // Every target scraped at least twice (rates over any job have two samples).
        let twice = query(&base, "count_over_time(up[10m]) >= 2");
        if !r.is_empty() && !c.is_empty() && scalar(&r) > 0.0 && twice.len() == targets {
            Ok(())
        } else {
            Err(format!("receive {r:?}, cpu {c:?}, scraped twice {}", twice.len()))
        }
    });
    wait_until("kube-state-metrics sees every workload", Duration::from_secs(60), || {
        let failed =
            label_values(&query(&base, r#"kube_job_failed{condition="true"} == 1"#), "job_name");
        let crash = query(
            &base,
            r#"kube_pod_container_status_waiting_reason{reason="CrashLoopBackOff"} == 1"#,
        );
        if failed.contains("report") && !crash.is_empty() {
            Ok(())
        } else {
            Err(format!("failed jobs {failed:?}, crash-looping {crash:?}"))
        }
    });

    // The rule files loaded and evaluate without error.
    let out = output(Command::new("curl").args(["-sS", &format!("{base}/api/v1/rules")]));
    let doc: Json = serde_json::from_str(&out.stdout).unwrap();
    let groups = doc["data"]["groups"].as_array().unwrap();
    let loaded: usize = groups.iter().map(|g| g["rules"].as_array().unwrap().len()).sum();
    assert!(loaded >= alerts().len(), "{loaded} rules loaded:\n{doc}");
    for g in groups {
        for r in g["rules"].as_array().unwrap() {
            assert_eq!(
                r["health"], "ok",
                "rule {} does not evaluate: {}",
                r["name"], r["lastError"]
            );
        }
    }

    // Requested CPU as the API server has it (the module's own pods request some too).
    let requested_cpu = requested_cpu(&cluster);
    // kube-state-metrics and Prometheus converge within a scrape or two of each change: the
    // checks are retried until they hold (or the last failure is reported, with the cluster).
    let mut last = String::new();
    for _ in 0..30 {
        match check_panels_and_alerts(&base, nodes, requested_cpu) {
            Ok(()) => return,
            Err(e) => last = e,
        }
        std::thread::sleep(Duration::from_secs(3));
    }
    let state = cluster
        .kubectl(&["get", "deployments,replicationcontrollers,jobs,pods,nodes", "-A", "-o", "wide"])
        .all();
    panic!("{last}\n--- the cluster ---\n{state}");
}

/// Returns an error (the message) from the enclosing function when `cond` is false.
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        let holds: bool = $cond;
        if !holds {
            return Err(format!($($msg)+));
        }
    };
}

/// The sum of every container's CPU request, from `kubectl get pods -A -o json`.
fn requested_cpu(cluster: &LocalCluster) -> f64 {
    let out = cluster.kubectl(&["get", "pods", "-A", "-o", "json"]).ok("pods");
    let doc: Json = serde_json::from_str(&out.stdout).unwrap();
    let cores = |q: &str| match q.strip_suffix('m') {
        Some(milli) => milli.parse::<f64>().unwrap() / 1000.0,
        None => q.parse::<f64>().unwrap(),
    };
    doc["items"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["spec"]["containers"].as_array().unwrap())
        .filter_map(|c| c["resources"]["requests"]["cpu"].as_str())
        .map(cores)
        .sum()
}

/// Every dashboard panel's query runs and the seed panels return the expected series; the seed
/// items' alert expressions return exactly the objects in trouble.
fn check_panels_and_alerts(base: &str, nodes: usize, requested_cpu: f64) -> Result<(), String> {
    let seed_dashboards = ["cluster.json", "namespaces.json", "control-plane.json"];
    let may_be_empty = [
        // Restart counters are constant here (kwok restarts nothing), so increases are 0.
        "Container restarts (1h)",
        // Nothing runs the slipway agent in this test.
        "Agent leader",
        "Drifted resources",
        "Last apply succeeded",
    ];
    let mut results: BTreeMap<String, Vec<Vec<Json>>> = BTreeMap::new();
    for (dashboard, title, exprs) in panels() {
        let r: Vec<Vec<Json>> = exprs.iter().map(|e| query(base, &concrete(e))).collect();
        if seed_dashboards.contains(&dashboard.as_str()) && !may_be_empty.contains(&title.as_str())
        {
            for (e, series) in exprs.iter().zip(&r) {
                ensure!(!series.is_empty(), "{dashboard} / {title}: no data for {e}");
            }
        }
        results.insert(title, r);
    }
    let panel = |title: &str| -> &Vec<Json> { &results[title][0] };
    let one = |title: &str| -> Result<f64, String> {
        let r = panel(title);
        ensure!(r.len() == 1, "{title}: one series expected: {r:?}");
        Ok(scalar(r))
    };
    ensure!(one("Nodes")? == nodes as f64, "count(kube_node_info) is not the kwok nodes");
    ensure!(one("Nodes declared")? == 3.0, "declared nodes");
    ensure!(one("Nodes not Ready")? == 0.0, "nodes not ready");
    ensure!(panel("Node conditions").len() == nodes, "node conditions");
    let phases = label_values(panel("Pods by phase"), "phase");
    ensure!(
        ["Running", "Pending", "Failed"].iter().all(|p| phases.contains(*p)),
        "pods by phase: {phases:?}"
    );
    let named = |title: &str, label: &str, want: &[&str]| -> Result<(), String> {
        let got = label_values(panel(title), label);
        ensure!(got == set(want), "{title}: {got:?}, expected {want:?}");
        Ok(())
    };
    named("Jobs failed", "job_name", &["report"])?;
    named("Deployments missing replicas", "deployment", &["big"])?;
    ensure!(one("Deployments missing replicas")? == 1.0, "big misses one replica");
    named("ReplicationControllers missing replicas", "replicationcontroller", &["pinned"])?;
    named("Crash-looping containers", "pod", &["crashy"])?;
    ensure!(
        label_values(panel("Jobs not completed"), "job_name").contains("stuck"),
        "jobs not completed: {:?}",
        panel("Jobs not completed")
    );
    ensure!(
        label_values(panel("Pods not ready"), "pod").contains("crashy"),
        "pods not ready: {:?}",
        panel("Pods not ready")
    );
    let restarts = query(base, r#"kube_pod_container_status_restarts_total{pod="crashy"}"#);
    ensure!(scalar(&restarts) == 5.0, "crashy's restarts: {restarts:?}");
    let cpu = &results["CPU: used vs requested vs allocatable"];
    ensure!(scalar(&cpu[2]) == 16.0, "allocatable CPU of two 8-CPU nodes: {cpu:?}");
    ensure!(
        (scalar(&cpu[1]) - requested_cpu).abs() < 1e-6,
        "requested CPU {cpu:?}, the API server says {requested_cpu}"
    );
    ensure!(scalar(&cpu[0]) > 0.0, "used CPU {cpu:?}");
    for title in ["Network receive by namespace", "Network transmit by namespace"] {
        let by_ns = panel(title);
        ensure!(label_values(by_ns, "namespace").contains("shop"), "{title}: {by_ns:?}");
    }
    let up: BTreeMap<String, String> = panel("Targets up")
        .iter()
        .map(|s| {
            (
                s["metric"]["job"].as_str().unwrap().to_string(),
                s["value"][1].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for job in
        ["apiserver", "kube-controller-manager", "kube-scheduler", "etcd", "kube-state-metrics"]
    {
        ensure!(up.get(job).map(String::as_str) == Some("1"), "targets up: {up:?}");
    }
    ensure!(one("etcd members with a leader")? == 1.0, "etcd leader");
    let days: BTreeMap<String, f64> = panel("Days until certificate expiry")
        .iter()
        .map(|s| {
            (
                s["metric"]["certificate"].as_str().unwrap().to_string(),
                s["value"][1].as_str().unwrap().parse().unwrap(),
            )
        })
        .collect();
    ensure!(
        days.get("apiserver").is_some_and(|d| (d - 20.0).abs() < 0.1)
            && days.get("ca").is_some_and(|d| *d > 3000.0),
        "days until expiry: {days:?}"
    );

    // The seed items' alert expressions on this data: exactly the objects in trouble.
    let expect: &[(&str, &str, &[&str])] = &[
        ("KubePodCrashLooping", "pod", &["crashy"]),
        ("KubePodRestartingOften", "pod", &[]),
        ("KubeJobFailed", "job_name", &["report"]),
        ("KubeJobNotCompleted", "job_name", &[]),
        ("KubeDeploymentReplicasMismatch", "deployment", &["big"]),
        ("KubeReplicationControllerReplicasMismatch", "replicationcontroller", &["pinned"]),
        ("KubeNodeNotReady", "node", &[]),
        ("ClusterMemoryRequestsNearCapacity", "", &[]),
        ("ClusterCPUUsageHigh", "", &[]),
        ("ClusterMemoryUsageHigh", "", &[]),
        ("NamespaceNetworkErrors", "namespace", &[]),
        ("NamespaceNetworkTrafficSpike", "namespace", &[]),
        ("KubeAPIServerDown", "", &[]),
        ("KubeControllerManagerDown", "", &[]),
        ("KubeSchedulerDown", "", &[]),
        ("KubeStateMetricsDown", "", &[]),
        ("EtcdNoLeader", "instance", &[]),
        ("EtcdMemberDown", "instance", &[]),
        ("SlipwayCertificateExpiringSoon", "certificate", &["apiserver"]),
        ("SlipwayCertificateExpiryCritical", "certificate", &[]),
    ];
    let all = alerts();
    for (alert, label, objects) in expect {
        let r = query(base, &all[*alert]);
        ensure!(
            label_values(&r, label) == set(objects) && r.len() == objects.len(),
            "{alert}: {r:?}, expected {objects:?}"
        );
    }
    // Two nodes where three are declared.
    let below = query(base, &all["KubeNodeCountBelowDeclared"]);
    ensure!(below.len() == 1 && scalar(&below) == 2.0, "node count alert: {below:?}");
    // The CPU-requests alert fires exactly when the API server's numbers say it should.
    let cpu_alert = query(base, &all["ClusterCPURequestsNearCapacity"]);
    let should_fire = requested_cpu / 16.0 > 0.9;
    ensure!(
        cpu_alert.len() == usize::from(should_fire)
            && (!should_fire || (scalar(&cpu_alert) - requested_cpu / 16.0).abs() < 1e-6),
        "CPU requests alert: {cpu_alert:?} ({requested_cpu} of 16 requested)"
    );
    ensure!(
        query(base, &all["KubePodNotReady"]).iter().any(|s| s["metric"]["pod"] == "crashy"),
        "crashy is not ready"
    );
    // Every other alert expression at least runs.
    for (name, expr) in &all {
        if !expect.iter().any(|(a, _, _)| a == name) {
            query(base, expr);
        }
    }
    Ok(())
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// RFC 3339 for now + `days`.
fn time_in_days(days: i64) -> String {
    let out = output(Command::new("date").args([
        "-u",
        "-d",
        &format!("+{days} days"),
        "+%Y-%m-%dT%H:%M:%SZ",
    ]))
    .ok("date");
    out.stdout.trim().to_string()
}
