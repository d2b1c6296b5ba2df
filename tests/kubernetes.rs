//! The `kubernetes` provider through the real binary against a real kube-apiserver
//! (`LocalCluster`: etcd, apiserver, controller-manager, scheduler, kwok nodes on loopback).
//! Each test has its own cluster on its own 127.0.0.5x address, so they run in parallel.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use crate::kubeutil::{LocalCluster, Out};
use crate::util::{Cmd, Run};

const ENV: &str = "environments/test";

/// A repository with one environment, applied against one cluster.
struct Stack {
    repo: tempfile::TempDir,
    cluster: LocalCluster,
}

impl Stack {
    fn new(ip: &str) -> Stack {
        let cluster = LocalCluster::start(ip, 1);
        let repo = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(repo.path().join(ENV)).unwrap();
        Stack { repo, cluster }
    }

    /// Writes the configuration: a provider block for the cluster plus `body`.
    fn config(&self, body: &str) {
        let text = format!(
            "provider \"kubernetes\" {{\n  config_path = \"{}\"\n}}\n\n{body}",
            self.cluster.kubeconfig.display()
        );
        std::fs::write(self.repo.path().join(ENV).join("main.hcl"), text).unwrap();
    }

    /// The configuration with the provider configured by attributes (Terraform's names)
    /// instead of a kubeconfig: the cluster's CA, and the admin client certificate and key.
    fn config_by_attributes(&self, body: &str) {
        let pki = self.cluster.dir().join("pki");
        let text = format!(
            "provider \"kubernetes\" {{\n  host = \"{}\"\n  cluster_ca_certificate = file(\"{}\")\n  client_certificate = file(\"{}\")\n  client_key = file(\"{}\")\n}}\n\n{body}",
            self.cluster.server(),
            pki.join("ca.crt").display(),
            pki.join("admin.crt").display(),
            pki.join("admin.key").display(),
        );
        std::fs::write(self.repo.path().join(ENV).join("main.hcl"), text).unwrap();
    }

    fn cmd(&self, args: &[&str]) -> Cmd {
        let mut c = Cmd::new();
        c.current_dir(self.repo.path())
            .args(args)
            // Longer than a manifest's default readiness wait (300 s): a stuck apply then ends with
            // slipway's own message naming what it waited for, not with this kill.
            .timeout(Duration::from_secs(600));
        c
    }

    fn slipway(&self, args: &[&str]) -> Run {
        let r = self.cmd(args).run();
        r.assert_no_crash();
        r
    }

    fn kubectl(&self, args: &[&str]) -> Out {
        self.cluster.kubectl(args)
    }

    fn state(&self) -> String {
        std::fs::read_to_string(self.repo.path().join("state/test/state.json")).unwrap_or_default()
    }

    fn path(&self) -> &Path {
        self.repo.path()
    }
}

/// One count of `--stats` output (0 when absent).
fn stat(stats: &str, op: &str) -> u64 {
    stats
        .lines()
        .find_map(|l| {
            let mut it = l.split_whitespace();
            (it.next() == Some(op)).then(|| it.next()?.parse().ok())?
        })
        .unwrap_or(0)
}

fn index_of(text: &str, needle: &str) -> usize {
    text.find(needle).unwrap_or_else(|| panic!("{needle:?} not in output:\n{text}"))
}

/// Asserts that `first` appears in `text` before `then` (apply and destroy order).
fn assert_before(text: &str, first: &str, then: &str) {
    assert!(index_of(text, first) < index_of(text, then), "{first:?} not before {then:?}:\n{text}");
}

const CRD: &str = r#"
resource "kubernetes_manifest" "crd" {
  manifest = {
    apiVersion = "apiextensions.k8s.io/v1"
    kind       = "CustomResourceDefinition"
    metadata   = { name = "widgets.example.com" }
    spec = {
      group = "example.com"
      names = { kind = "Widget", plural = "widgets", singular = "widget", listKind = "WidgetList" }
      scope = "Namespaced"
      versions = [{
        name    = "v1"
        served  = true
        storage = true
        schema = {
          openAPIV3Schema = {
            type = "object"
            properties = {
              spec = {
                type       = "object"
                properties = { size = { type = "integer" }, color = { type = "string" } }
              }
            }
          }
        }
      }]
    }
  }
}
"#;

const LIFECYCLE: &str = r#"
resource "kubernetes_manifest" "ns" {
  manifest = {
    apiVersion = "v1"
    kind       = "Namespace"
    metadata   = { name = "demo" }
  }
}

resource "kubernetes_manifest" "widget" {
  manifest = {
    apiVersion = "example.com/v1"
    kind       = "Widget"
    metadata   = { name = "w1", namespace = "demo" }
    spec       = { size = 3, color = "blue" }
  }
}

resource "kubernetes_manifest" "settings" {
  manifest = {
    apiVersion = "v1"
    kind       = "ConfigMap"
    metadata   = { name = "settings", namespace = "demo", labels = { tier = "web" } }
    data       = { mode = "fast", level = "3" }
  }
}

resource "kubernetes_manifest" "password" {
  manifest = {
    apiVersion = "v1"
    kind       = "Secret"
    metadata   = { name = "db", namespace = "demo" }
    stringData = { password = "hunter2-very-secret" }
  }
}

resource "kubernetes_manifest" "web" {
  timeout = "150s"
  manifest = {
    apiVersion = "apps/v1"
    kind       = "Deployment"
    metadata   = { name = "web", namespace = "demo" }
    spec = {
      replicas = 2
      selector = { matchLabels = { app = "web" } }
      template = {
        metadata = { labels = { app = "web" } }
        # The API server stores cpu 0.5 as 500m: not a difference (dry-run check).
        spec = { containers = [{
          name      = "web"
          image     = "registry.example/web:1"
          resources = { limits = { cpu = "0.5", memory = "64Mi" } }
        }] }
      }
    }
  }
}
"#;

/// The whole life of a stack: a CRD and a custom resource of it, a namespace, a Secret and a
/// Deployment that becomes Available, in one apply; an empty second plan; drift by kubectl
/// (edit and delete) planned and repaired; refresh by LIST per kind; destroy in order.
#[test]
fn kubernetes_manifest_applies_crd_and_workloads_in_one_run_repairs_drift_and_destroys_in_order() {
    let s = Stack::new("127.0.0.50");
    s.config(&format!("{CRD}{LIFECYCLE}"));

    let plan = s.slipway(&["plan", ENV, "--detailed-exitcode"]);
    plan.assert_code(2);
    assert!(!plan.stdout.contains("hunter2-very-secret"), "secret in plan:\n{}", plan.stdout);

    let apply = s.slipway(&["apply", ENV, "-auto-approve"]);
    apply.assert_code(0);
    let all = format!("{}{}", apply.stdout, apply.stderr);
    assert!(!all.contains("hunter2-very-secret"), "secret in output:\n{all}");
    // Implicit edges: the custom resource after its CRD, namespaced objects after the namespace.
    assert_before(
        &all,
        "kubernetes_manifest.crd: Creation complete",
        "kubernetes_manifest.widget: Creating...",
    );
    assert_before(
        &all,
        "kubernetes_manifest.ns: Creation complete",
        "kubernetes_manifest.settings: Creating...",
    );

    // What the cluster holds: labelled, the Deployment Available (apply waited for it).
    let w = s.kubectl(&["get", "widget", "w1", "-n", "demo", "-o", "json"]).ok("get widget");
    let w: serde_json::Value = serde_json::from_str(&w.stdout).unwrap();
    assert_eq!(w["spec"]["size"], 3);
    assert_eq!(w["metadata"]["labels"]["app.kubernetes.io/managed-by"], "slipway");
    assert!(w["metadata"]["labels"]["slipway.dev/stack"].is_string(), "{w}");
    let d = s
        .kubectl(&[
            "get",
            "deployment",
            "web",
            "-n",
            "demo",
            "-o",
            r#"jsonpath={.status.conditions[?(@.type=="Available")].status}"#,
        ])
        .ok("get deployment");
    assert_eq!(d.stdout.trim(), "True");
    let fm = s
        .kubectl(&[
            "get",
            "configmap",
            "settings",
            "-n",
            "demo",
            "--show-managed-fields",
            "-o",
            "json",
        ])
        .ok("get configmap");
    assert!(fm.stdout.contains("\"manager\": \"slipway\""), "{}", fm.stdout);
    assert!(!s.state().is_empty());

    // Second plan: nothing to do, although the API server defaulted many fields and the
    // controllers wrote status.
    let again = s.slipway(&["plan", ENV, "--detailed-exitcode", "--stats"]);
    again.assert_code(0);
    // Refresh is O(kinds): one LIST per (kind, namespace), never a GET per object.
    let stats = format!("{}{}", again.stdout, again.stderr);
    assert!(stats.contains("kubernetes:List"), "no call stats:\n{stats}");
    assert!(!stats.contains("kubernetes:Get"), "a GET during refresh:\n{stats}");
    // 6 (kind, namespace) pairs: CRD, Namespace (cluster-scoped); Widget, ConfigMap, Secret,
    // Deployment in demo.
    assert_eq!(stat(&stats, "kubernetes:List"), 6, "{stats}");
    // What the server stored at apply is in state (`object`): the Deployment's cpu "0.5",
    // stored as "500m", needs no dry run to be told from drift.
    assert_eq!(stat(&stats, "kubernetes:DryRunApply"), 0, "{stats}");

    // Drift: a field slipway owns edited, an object deleted.
    s.kubectl(&[
        "patch",
        "configmap",
        "settings",
        "-n",
        "demo",
        "--type=merge",
        "-p",
        r#"{"data":{"mode":"slow"}}"#,
    ])
    .ok("kubectl patch");
    s.kubectl(&["delete", "widget", "w1", "-n", "demo"]).ok("kubectl delete");
    let drift = s.slipway(&["plan", ENV, "--detailed-exitcode"]);
    drift.assert_code(2);
    assert!(drift.stdout.contains("kubernetes_manifest.settings"), "{}", drift.stdout);
    assert!(drift.stdout.contains("kubernetes_manifest.widget"), "{}", drift.stdout);
    assert!(drift.stdout.contains("slow"), "{}", drift.stdout);
    assert!(!drift.stdout.contains("kubernetes_manifest.web"), "{}", drift.stdout);
    s.slipway(&["apply", ENV, "-auto-approve"]).assert_code(0);
    let cm = s
        .kubectl(&["get", "configmap", "settings", "-n", "demo", "-o", "jsonpath={.data.mode}"])
        .ok("get configmap");
    assert_eq!(cm.stdout.trim(), "fast");
    s.kubectl(&["get", "widget", "w1", "-n", "demo"]).ok("widget recreated");
    s.slipway(&["plan", ENV, "--detailed-exitcode"]).assert_code(0);

    // A change of configuration is planned through a server-side dry run: `object` shows
    // what the API server would store (cpu "0.25" is stored as "250m", which only the server
    // knows), and a change the API server refuses fails the plan, located, before anything
    // is applied.
    let changed = LIFECYCLE.replace(r#"cpu = "0.5""#, r#"cpu = "0.25""#);
    assert_ne!(changed, LIFECYCLE);
    s.config(&format!("{CRD}{changed}"));
    let p = s.slipway(&["plan", ENV, "--detailed-exitcode", "--stats"]);
    p.assert_code(2);
    let out = format!("{}{}", p.stdout, p.stderr);
    assert!(out.contains("kubernetes_manifest.web"), "{out}");
    assert!(out.contains("250m"), "the plan did not show the server's form:\n{out}");
    assert!(!out.contains("kubernetes_manifest.settings"), "{out}");
    assert_eq!(stat(&out, "kubernetes:DryRunApply"), 1, "{out}");
    s.slipway(&["apply", ENV, "-auto-approve"]).assert_code(0);
    s.slipway(&["plan", ENV, "--detailed-exitcode"]).assert_code(0);
    let refused = changed.replace(
        r#"data       = { mode = "fast", level = "3" }"#,
        "data       = { mode = \"fast\", level = \"3\" }\n    datta      = { x = \"1\" }",
    );
    assert_ne!(refused, changed);
    s.config(&format!("{CRD}{refused}"));
    let before = s.state();
    let p = s.slipway(&["plan", ENV]);
    p.assert_code(1);
    assert!(
        p.stderr.contains("datta") && p.stderr.contains("dry run") && p.stderr.contains("main.hcl"),
        "{}",
        p.stderr
    );
    assert_eq!(s.state(), before, "a refused plan changed state");
    s.config(&format!("{CRD}{changed}"));

    // Destroy: the custom resource before its CRD, namespaced objects before the namespace.
    let destroy = s.slipway(&["destroy", ENV, "-auto-approve"]);
    destroy.assert_code(0);
    let out = format!("{}{}", destroy.stdout, destroy.stderr);
    assert_before(
        &out,
        "kubernetes_manifest.widget: Destruction complete",
        "kubernetes_manifest.crd: Destroying...",
    );
    assert_before(
        &out,
        "kubernetes_manifest.settings: Destruction complete",
        "kubernetes_manifest.ns: Destroying...",
    );
    let gone = s.kubectl(&["get", "crd", "widgets.example.com"]);
    assert_ne!(gone.code, 0, "CRD still there: {}", gone.stdout);
    let gone = s.kubectl(&["get", "namespace", "demo", "-o", "jsonpath={.status.phase}"]);
    assert!(gone.code != 0, "namespace still there: {}", gone.stdout);
}

/// Bad input gets a located diagnostic and leaves state as it was; a Deployment that never
/// becomes ready fails with an error naming it and the condition it is stuck on.
#[test]
fn kubernetes_bad_manifests_are_located_diagnostics_and_never_ready_times_out_naming_it() {
    let s = Stack::new("127.0.0.51");
    let good = r#"
resource "kubernetes_manifest" "ok" {
  manifest = {
    apiVersion = "v1"
    kind       = "ConfigMap"
    metadata   = { name = "ok", namespace = "default" }
    data       = { a = "1" }
  }
}
"#;
    s.config(good);
    s.slipway(&["apply", ENV, "-auto-approve"]).assert_code(0);
    let before = s.state();

    // Missing apiVersion: refused at plan, at the resource, no cluster change.
    s.config(&format!(
        "{good}\nresource \"kubernetes_manifest\" \"noversion\" {{\n  manifest = {{\n    kind = \"ConfigMap\"\n    metadata = {{ name = \"x\" }}\n  }}\n}}\n"
    ));
    let r = s.slipway(&["plan", ENV]);
    r.assert_code(1);
    let all = format!("{}{}", r.stdout, r.stderr);
    assert!(all.contains("apiVersion"), "{all}");
    assert!(all.contains("main.hcl"), "not located: {all}");

    // Unknown kind: the API server serves no such kind; the error names it, with a hint.
    s.config(&format!(
        "{good}\nresource \"kubernetes_manifest\" \"typo\" {{\n  manifest = {{\n    apiVersion = \"v1\"\n    kind = \"ConfigMapp\"\n    metadata = {{ name = \"x\", namespace = \"default\" }}\n  }}\n}}\n"
    ));
    let r = s.slipway(&["apply", ENV, "-auto-approve"]);
    r.assert_code(1);
    let all = format!("{}{}", r.stdout, r.stderr);
    assert!(all.contains("ConfigMapp") && all.contains("did you mean \"ConfigMap\""), "{all}");
    assert!(all.contains("kubernetes_manifest.typo"), "{all}");
    assert!(all.contains("declared at") && all.contains("main.hcl:"), "not located: {all}");

    // A field the API server rejects (strict validation): found by the plan's dry run, so
    // the apply stops before changing anything, at the resource's line.
    s.config(&format!(
        "{good}\nresource \"kubernetes_manifest\" \"bad\" {{\n  manifest = {{\n    apiVersion = \"v1\"\n    kind = \"ConfigMap\"\n    metadata = {{ name = \"bad\", namespace = \"default\" }}\n    datta = {{ a = \"1\" }}\n  }}\n}}\n"
    ));
    let r = s.slipway(&["apply", ENV, "-auto-approve"]);
    r.assert_code(1);
    let all = format!("{}{}", r.stdout, r.stderr);
    assert!(all.contains("datta") && all.contains("rejected"), "{all}");
    assert!(all.contains("dry run"), "not found at plan: {all}");
    assert!(all.contains("main.hcl:15:1"), "not located: {all}");
    assert!(!all.contains("Creating..."), "{all}");

    // A field another manager owns: a conflict, reported; taken over only on request.
    let theirs = s.path().join("theirs.yaml");
    std::fs::write(
        &theirs,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: shared, namespace: default}\ndata: {owner: them}\n",
    )
    .unwrap();
    s.kubectl(&["apply", "--server-side", "-f", theirs.to_str().unwrap()])
        .ok("kubectl apply --server-side");
    let shared = |force: bool| {
        format!(
            "{good}\nresource \"kubernetes_manifest\" \"shared\" {{\n  force_conflicts = {force}\n  manifest = {{\n    apiVersion = \"v1\"\n    kind = \"ConfigMap\"\n    metadata = {{ name = \"shared\", namespace = \"default\" }}\n    data = {{ owner = \"us\" }}\n  }}\n}}\n"
        )
    };
    s.config(&shared(false));
    let r = s.slipway(&["apply", ENV, "-auto-approve"]);
    r.assert_code(1);
    let all = format!("{}{}", r.stdout, r.stderr);
    assert!(all.contains("conflict") && all.contains("force_conflicts"), "{all}");
    let owner = s.kubectl(&["get", "configmap", "shared", "-o", "jsonpath={.data.owner}"]);
    assert_eq!(owner.stdout.trim(), "them");
    s.config(&shared(true));
    s.slipway(&["apply", ENV, "-auto-approve"]).assert_code(0);
    let owner = s.kubectl(&["get", "configmap", "shared", "-o", "jsonpath={.data.owner}"]);
    assert_eq!(owner.stdout.trim(), "us");
    s.config(good);
    s.slipway(&["apply", ENV, "-auto-approve"]).assert_code(0);

    // State intact: the good object is still there and planned as no change.
    s.config(good);
    s.slipway(&["plan", ENV, "--detailed-exitcode"]).assert_code(0);
    // The same, with the provider configured by attributes rather than a kubeconfig.
    s.config_by_attributes(good);
    s.slipway(&["plan", ENV, "--detailed-exitcode"]).assert_code(0);
    assert!(s.state().contains("\"ok\""), "state lost the object:\n{before}");

    // Never ready: kwok fails the pods of this template; Available never becomes True.
    s.config(&format!(
        r#"{good}
resource "kubernetes_manifest" "broken" {{
  timeout = "20s"
  manifest = {{
    apiVersion = "apps/v1"
    kind       = "Deployment"
    metadata   = {{ name = "broken", namespace = "default" }}
    spec = {{
      replicas = 1
      # kwok fails the container ~1 s after it first runs Ready; 10 s of readiness are needed
      # before the pod counts as available, so the Deployment never does.
      minReadySeconds = 10
      selector = {{ matchLabels = {{ app = "broken" }} }}
      template = {{
        metadata = {{ labels = {{ app = "broken", "pod-container-running-failed.stage.kwok.x-k8s.io" = "true" }} }}
        spec     = {{ containers = [{{ name = "c", image = "registry.example/never:1" }}] }}
      }}
    }}
  }}
}}
"#
    ));
    let r = s.slipway(&["apply", ENV, "-auto-approve"]);
    r.assert_code(1);
    let all = format!("{}{}", r.stdout, r.stderr);
    assert!(
        all.contains("Deployment default/broken")
            && all.contains("did not become ready within 20s"),
        "{all}"
    );
    // The condition it is stuck on is named: Available, or an earlier step of the rollout
    // when the controllers are slow (a loaded machine).
    assert!(
        all.contains("still waiting for")
            && ["Available", "updatedReplicas", "availableReplicas"]
                .iter()
                .any(|c| all.contains(c)),
        "{all}"
    );
}

/// SIGKILL in the middle of an apply, then apply again: it converges with no duplicate objects
/// (server-side apply is idempotent; objects are found by name and stack label).
#[test]
fn kubernetes_apply_killed_midway_converges_without_duplicates() {
    let s = Stack::new("127.0.0.52");
    let mut body = String::new();
    for i in 0..20 {
        body.push_str(&format!(
            "resource \"kubernetes_manifest\" \"cm{i}\" {{\n  manifest = {{\n    apiVersion = \"v1\"\n    kind = \"ConfigMap\"\n    metadata = {{ name = \"cm{i}\", namespace = \"default\" }}\n    data = {{ i = \"{i}\" }}\n  }}\n}}\n"
        ));
    }
    s.config(&body);
    let bin = crate::util::slipway_bin();
    let managed = || -> Vec<String> {
        s.kubectl(&[
            "get",
            "configmaps",
            "-n",
            "default",
            "-l",
            "app.kubernetes.io/managed-by=slipway",
            "-o",
            "name",
        ])
        .ok("list")
        .stdout
        .lines()
        .map(str::to_string)
        .collect()
    };
    // Killed right after the 5th, then the 3rd, object of a run is created (read from the
    // progress lines), so each kill provably lands mid-apply: some objects exist, not all.
    for after in [5usize, 3] {
        let mut child = std::process::Command::new(&bin)
            .args(["apply", ENV, "-auto-approve", "--parallelism", "1"])
            .current_dir(s.path())
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut created = 0;
        for line in std::io::BufRead::lines(out) {
            if line.unwrap().contains("Creation complete") {
                created += 1;
                if created == after {
                    break;
                }
            }
        }
        assert_eq!(created, after, "the apply ended before the kill");
        unsafe {
            libc::kill(child.id() as i32, libc::SIGKILL);
        }
        child.wait().unwrap();
        let now = managed().len();
        assert!(now > 0 && now < 20, "{now} objects: the kill was not mid-apply");
        // No force-unlock: the next run takes over the lock the kill left.
    }
    s.slipway(&["apply", ENV, "-auto-approve"]).assert_code(0);
    s.slipway(&["plan", ENV, "--detailed-exitcode"]).assert_code(0);
    let mut names = managed();
    names.sort();
    let before = names.len();
    names.dedup();
    assert_eq!(before, names.len());
    assert_eq!(names.len(), 20, "{names:?}");

    // Multi-document YAML through data.kubernetes_yaml_documents and for_each: stable
    // addresses keyed kind/namespace/name. The Namespace and its ConfigMap come from one
    // computed map, and still the ConfigMap is created after its Namespace and destroyed
    // before it (the plan orders planned values, not only literal manifests).
    let yaml = "apiVersion: v1\nkind: Namespace\nmetadata: {name: fromyaml}\n---\n\
                apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: fromyaml}\ndata: {k: v}\n";
    std::fs::write(s.path().join(ENV).join("objects.yaml"), yaml).unwrap();
    s.config(&format!(
        "{body}\ndata \"kubernetes_yaml_documents\" \"docs\" {{\n  content = file(\"${{path.module}}/objects.yaml\")\n}}\n\n\
         resource \"kubernetes_manifest\" \"doc\" {{\n  for_each = data.kubernetes_yaml_documents.docs.documents\n  manifest = each.value\n}}\n"
    ));
    let applied = s.slipway(&["apply", ENV, "-auto-approve"]);
    applied.assert_code(0);
    assert!(
        applied.stdout.contains("kubernetes_manifest.doc[\"ConfigMap/fromyaml/c\"]")
            && applied.stdout.contains("kubernetes_manifest.doc[\"Namespace/fromyaml\"]"),
        "{}",
        applied.stdout
    );
    let cm = s.kubectl(&["get", "configmap", "c", "-n", "fromyaml", "-o", "jsonpath={.data.k}"]);
    assert_eq!(cm.stdout.trim(), "v");
    assert_before(
        &applied.stdout,
        "kubernetes_manifest.doc[\"Namespace/fromyaml\"]: Creation complete",
        "kubernetes_manifest.doc[\"ConfigMap/fromyaml/c\"]: Creating...",
    );
    s.slipway(&["plan", ENV, "--detailed-exitcode"]).assert_code(0);
    let destroyed = s.slipway(&["destroy", ENV, "-auto-approve"]);
    destroyed.assert_code(0);
    assert_before(
        &destroyed.stdout,
        "kubernetes_manifest.doc[\"ConfigMap/fromyaml/c\"]: Destruction complete",
        "kubernetes_manifest.doc[\"Namespace/fromyaml\"]: Destroying...",
    );
}

/// The provider configured from values this very apply creates (Terraform's kubernetes
/// provider cannot: it needs the cluster at plan time). The admin credentials are a key and
/// a certificate that slipway's `tls` resources make, signed by the cluster's CA: the plan
/// contacts no cluster and shows the objects as creates; apply configures the provider right
/// after the certificate exists; destroy removes the objects before the certificate. Then the
/// same cluster through a service-account `token`, and `tls_server_name` shown to be used.
#[test]
fn kubernetes_provider_configured_from_resources_of_the_same_apply() {
    // A provider block that refers to its own provider's resources is a located error.
    let own = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(own.path().join(ENV)).unwrap();
    std::fs::write(
        own.path().join(ENV).join("main.hcl"),
        "provider \"kubernetes\" {\n  host = kubernetes_manifest.a.manifest.metadata.name\n}\n\n\
         resource \"kubernetes_manifest\" \"a\" {\n  manifest = {\n    apiVersion = \"v1\"\n    kind = \"ConfigMap\"\n    metadata = { name = \"a\" }\n  }\n}\n",
    )
    .unwrap();
    let mut c = Cmd::new();
    c.current_dir(own.path()).args(["validate", ENV]);
    let r = c.run();
    r.assert_code(1);
    assert!(
        r.stderr.contains("one of its own resources") && r.stderr.contains("main.hcl:1:"),
        "{}",
        r.stderr
    );

    let s = Stack::new("127.0.0.53");
    let pki = s.cluster.dir().join("pki");
    let provider = format!(
        "provider \"kubernetes\" {{\n  host = \"{}\"\n  cluster_ca_certificate = file(\"{ca}\")\n  client_certificate = tls_locally_signed_cert.admin.cert_pem\n  client_key = tls_private_key.admin.private_key_pem\n}}\n",
        s.cluster.server(),
        ca = pki.join("ca.crt").display(),
    );
    let body = format!(
        r#"
resource "tls_private_key" "admin" {{
  algorithm = "ECDSA"
}}

resource "tls_cert_request" "admin" {{
  private_key_pem = tls_private_key.admin.private_key_pem
  subject {{
    common_name  = "slipway-admin"
    organization = "system:masters"
  }}
}}

resource "tls_locally_signed_cert" "admin" {{
  cert_request_pem      = tls_cert_request.admin.cert_request_pem
  ca_private_key_pem    = file("{key}")
  ca_cert_pem           = file("{ca}")
  validity_period_hours = 2
  allowed_uses          = ["client_auth", "digital_signature"]
}}

resource "kubernetes_manifest" "ns" {{
  manifest = {{
    apiVersion = "v1"
    kind       = "Namespace"
    metadata   = {{ name = "late" }}
  }}
}}

resource "kubernetes_manifest" "cm" {{
  manifest = {{
    apiVersion = "v1"
    kind       = "ConfigMap"
    metadata   = {{ name = "settings", namespace = "late" }}
    data       = {{ made = "by the same apply as its credentials" }}
  }}
}}
"#,
        key = pki.join("ca.key").display(),
        ca = pki.join("ca.crt").display(),
    );
    let main = s.path().join(ENV).join("main.hcl");
    std::fs::write(&main, format!("{provider}\n{body}")).unwrap();

    // Plan: the objects are creates, no cluster is contacted, and the user is told why.
    let plan = s.slipway(&["plan", ENV, "--stats"]);
    plan.assert_code(0);
    let all = format!("{}{}", plan.stdout, plan.stderr);
    assert!(all.contains("kubernetes_manifest.cm"), "{all}");
    assert!(all.contains("5 to add"), "{all}");
    assert!(
        all.contains("known only after apply") && all.contains("main.hcl:1:"),
        "no located note on the deferred provider:\n{all}"
    );
    for op in ["Readyz", "Discovery", "List", "Get", "DryRunApply"] {
        assert_eq!(
            stat(&all, &format!("kubernetes:{op}")),
            0,
            "the plan contacted the cluster ({op}):\n{all}"
        );
    }

    // Apply: the certificate first, then the provider is configured, then the objects.
    let applied = s.slipway(&["apply", ENV, "-auto-approve"]);
    applied.assert_code(0);
    let out = format!("{}{}", applied.stdout, applied.stderr);
    assert_before(
        &out,
        "tls_locally_signed_cert.admin: Creation complete",
        "provider \"kubernetes\" configured",
    );
    assert_before(
        &out,
        "provider \"kubernetes\" configured",
        "kubernetes_manifest.ns: Creating...",
    );
    let got = s
        .kubectl(&["get", "configmap", "settings", "-n", "late", "-o", "jsonpath={.data.made}"])
        .ok("get configmap");
    assert_eq!(got.stdout, "by the same apply as its credentials");

    // Second plan: the provider is configured from state now, refreshes, and finds nothing.
    let again = s.slipway(&["plan", ENV, "--detailed-exitcode", "--stats"]);
    again.assert_code(0);
    let stats = format!("{}{}", again.stdout, again.stderr);
    assert!(stat(&stats, "kubernetes:List") >= 1, "{stats}");
    assert!(!stats.contains("known only after apply"), "{stats}");

    // A bearer token (a service account bound to cluster-admin), and `tls_server_name`:
    // with a name the serving certificate lacks, the TLS handshake must fail.
    s.kubectl(&["create", "serviceaccount", "deployer", "-n", "default"]).ok("create sa");
    s.kubectl(&[
        "create",
        "clusterrolebinding",
        "deployer",
        "--clusterrole=cluster-admin",
        "--serviceaccount=default:deployer",
    ])
    .ok("bind sa");
    let token = s
        .kubectl(&["create", "token", "deployer", "-n", "default", "--duration=1h"])
        .ok("token")
        .stdout
        .trim()
        .to_string();
    let by_token = |server_name: &str| {
        format!(
            "provider \"kubernetes\" {{\n  host = \"{}\"\n  cluster_ca_certificate = file(\"{}\")\n  token = \"{token}\"\n  tls_server_name = \"{server_name}\"\n}}\n",
            s.cluster.server(),
            pki.join("ca.crt").display(),
        )
    };
    std::fs::write(&main, format!("{}\n{body}", by_token("kubernetes"))).unwrap();
    let r = s.slipway(&["plan", ENV, "--detailed-exitcode", "--stats"]);
    r.assert_code(0);
    assert!(stat(&format!("{}{}", r.stdout, r.stderr), "kubernetes:List") >= 1);
    std::fs::write(&main, format!("{}\n{body}", by_token("not-in-the-certificate"))).unwrap();
    let r = s.slipway(&["plan", ENV]);
    r.assert_code(1);
    // Refused at once, not after the bounded wait for a server that is still starting.
    assert!(
        r.stderr.contains("refuses this client") && r.stderr.contains("certificate"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains(&token), "the token leaked into an error:\n{}", r.stderr);
    std::fs::write(&main, format!("{provider}\n{body}")).unwrap();

    // Destroy: the objects go before the certificate their provider was configured with.
    let destroyed = s.slipway(&["destroy", ENV, "-auto-approve"]);
    destroyed.assert_code(0);
    let out = format!("{}{}", destroyed.stdout, destroyed.stderr);
    assert_before(
        &out,
        "kubernetes_manifest.cm: Destruction complete",
        "tls_locally_signed_cert.admin: Destroying...",
    );
    let gone = s.kubectl(&["get", "namespace", "late", "-o", "name"]);
    assert!(
        gone.code != 0 || gone.stdout.trim().is_empty() || gone.stdout.contains("Terminating"),
        "{}",
        gone.stdout
    );
}
