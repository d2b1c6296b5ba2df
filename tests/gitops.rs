//! `modules/gitops` (Flux bootstrapped by slipway) through the real binary against a real
//! kube-apiserver (`LocalCluster`), at two levels:
//!
//! 1. The module's objects are accepted by the real API server: the vendored CRDs become
//!    Established and validate the GitRepository and Kustomization, the controllers' Deployments
//!    become Available under kwok, a second plan is empty, a branch or path change is planned
//!    as an in-place update of the cluster object, and the deploy key's private half is never
//!    printed.
//! 2. Flux itself: source-controller and kustomize-controller built from the Go module proxy
//!    (`scripts/install-flux`, found through `SLIPWAY_FLUX_BIN`) run out of cluster against the
//!    same API server and sync a Git repository served over HTTP on loopback (lighttpd + `git
//!    http-backend`): a pushed manifest appears in the cluster, a pushed change changes it, a
//!    removed one is pruned, and slipway still plans nothing (Flux writes only status).
//!
//! Each test has its own cluster on its own 127.0.0.7x address.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use base64::Engine;

use crate::gitutil::{Repo, git};
use crate::kubeutil::{LocalCluster, Out, Proc, wait_until};
use crate::util::{Cmd, Run, copy_dir, free_port_on};

const ENV: &str = "environments/test";

/// The CRDs `scripts/vendor-flux v2.9.5` vendors (config/crd/bases of each controller).
const CRDS: [&str; 11] = [
    "buckets.source.toolkit.fluxcd.io",
    "externalartifacts.source.toolkit.fluxcd.io",
    "gitrepositories.source.toolkit.fluxcd.io",
    "helmcharts.source.toolkit.fluxcd.io",
    "helmrepositories.source.toolkit.fluxcd.io",
    "ocirepositories.source.toolkit.fluxcd.io",
    "kustomizations.kustomize.toolkit.fluxcd.io",
    "helmreleases.helm.toolkit.fluxcd.io",
    "alerts.notification.toolkit.fluxcd.io",
    "providers.notification.toolkit.fluxcd.io",
    "receivers.notification.toolkit.fluxcd.io",
];

const CONTROLLERS: [&str; 4] =
    ["source-controller", "kustomize-controller", "helm-controller", "notification-controller"];

/// A repository holding `modules/gitops` and one environment calling it, applied against one
/// cluster.
struct Stack {
    repo: tempfile::TempDir,
    cluster: LocalCluster,
}

impl Stack {
    fn new(ip: &str) -> Stack {
        let cluster = LocalCluster::start(ip, 1);
        let repo = tempfile::tempdir().unwrap();
        copy_dir(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("modules/gitops"),
            &repo.path().join("modules/gitops"),
        );
        std::fs::create_dir_all(repo.path().join(ENV)).unwrap();
        Stack { repo, cluster }
    }

    /// The environment: the provider for the cluster and the module with `args` (HCL lines).
    fn config(&self, args: &str) {
        let text = format!(
            "provider \"kubernetes\" {{\n  config_path = \"{}\"\n}}\n\n\
             module \"gitops\" {{\n  source = \"../../modules/gitops\"\n{args}}}\n\n\
             output \"deploy_key\" {{\n  value = module.gitops.deploy_key_public\n}}\n",
            self.cluster.kubeconfig.display()
        );
        std::fs::write(self.repo.path().join(ENV).join("main.hcl"), text).unwrap();
    }

    fn slipway(&self, args: &[&str]) -> Run {
        let r = Cmd::new()
            .current_dir(self.repo.path())
            .args(args)
            // Longer than a manifest's default readiness wait (300 s): a stuck apply then ends with
            // slipway's own message naming what it waited for, not with this kill.
            .timeout(Duration::from_secs(600))
            .run();
        r.assert_no_crash();
        r
    }

    fn kubectl(&self, args: &[&str]) -> Out {
        self.cluster.kubectl(args)
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut full = args.to_vec();
        full.extend(["-o", "json"]);
        let out = self.kubectl(&full).ok("kubectl get");
        serde_json::from_str(&out.stdout).unwrap()
    }

    fn state(&self) -> String {
        std::fs::read_to_string(self.repo.path().join("state/test/state.json")).unwrap_or_default()
    }
}

fn all(r: &Run) -> String {
    format!("{}{}", r.stdout, r.stderr)
}

fn condition(obj: &serde_json::Value, ty: &str) -> String {
    obj["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == ty))
        .and_then(|c| c["status"].as_str())
        .unwrap_or("")
        .to_string()
}

/// The lines of a PEM body (base64 between the BEGIN and END lines): what a leak would show.
fn pem_body_lines(pem: &str) -> Vec<String> {
    pem.lines()
        .filter(|l| !l.starts_with("-----") && !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

const SSH_ARGS: &str = "  url         = \"ssh://git@git.example/org/fleet.git\"\n  path        = \"./environments/test/apps\"\n  known_hosts = \"git.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\"\n";

/// Level 1: one apply installs Flux's CRDs, controllers, credentials and sync objects into a
/// real API server; everything is accepted, the controllers are Available, a second plan is
/// empty, a branch change and a path change are in-place updates of the GitRepository and the
/// Kustomization, a version change one of the controllers, and the deploy key's private half
/// appears in no output.
#[test]
fn gitops_module_bootstraps_flux_into_a_real_apiserver_and_plans_branch_path_version_changes_in_place()
 {
    let s = Stack::new("127.0.0.72");
    s.config(&format!("{SSH_ARGS}  branch      = \"main\"\n"));
    let mut outputs = Vec::new();

    let plan = s.slipway(&["plan", ENV, "--detailed-exitcode"]);
    plan.assert_code(2);
    outputs.push(all(&plan));

    let apply = s.slipway(&["apply", ENV, "-auto-approve"]);
    apply.assert_code(0);
    outputs.push(all(&apply));
    // The custom resources after their CRDs, in the same run.
    let out = all(&apply);
    let crd_done = out
        .find("kubernetes_manifest.crd[\"CustomResourceDefinition/gitrepositories.source.toolkit.fluxcd.io\"]: Creation complete")
        .unwrap_or_else(|| panic!("GitRepository CRD not created:\n{out}"));
    let repo_start = out
        .find("kubernetes_manifest.git_repository: Creating...")
        .unwrap_or_else(|| panic!("GitRepository not created:\n{out}"));
    assert!(crd_done < repo_start, "{out}");

    // Every CRD Established, labelled as Flux's.
    for crd in CRDS {
        let c = s.json(&["get", "crd", crd]);
        assert_eq!(condition(&c, "Established"), "True", "{crd}: {c}");
        assert_eq!(c["metadata"]["labels"]["app.kubernetes.io/part-of"], "flux");
    }
    // The controllers Available (kwok runs their pods), with the release's images.
    for d in CONTROLLERS {
        let dep = s.json(&["get", "deployment", d, "-n", "flux-system"]);
        assert_eq!(condition(&dep, "Available"), "True", "{d}: {dep}");
        let image = dep["spec"]["template"]["spec"]["containers"][0]["image"].as_str().unwrap();
        assert!(image.starts_with(&format!("ghcr.io/fluxcd/{d}:v")), "{image}");
        assert_eq!(dep["spec"]["template"]["spec"]["serviceAccountName"], d, "{dep}");
    }
    assert_eq!(
        s.json(&["get", "deployment", "source-controller", "-n", "flux-system"])["spec"]["template"]
            ["spec"]["containers"][0]["image"],
        "ghcr.io/fluxcd/source-controller:v1.9.5"
    );
    // The sync objects as the CRD schema stored them.
    let repo = s.json(&["get", "gitrepository", "flux-system", "-n", "flux-system"]);
    assert_eq!(repo["spec"]["url"], "ssh://git@git.example/org/fleet.git");
    assert_eq!(repo["spec"]["ref"]["branch"], "main");
    assert_eq!(repo["spec"]["secretRef"]["name"], "flux-system");
    let ks = s.json(&["get", "kustomization", "flux-system", "-n", "flux-system"]);
    assert_eq!(ks["spec"]["path"], "./environments/test/apps");
    assert_eq!(ks["spec"]["sourceRef"]["kind"], "GitRepository");
    assert_eq!(ks["spec"]["prune"], true);
    // ... and the schema is really enforced: a GitRepository with an ftp URL is refused.
    let bad = s.repo.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata: {name: bad, namespace: flux-system}\nspec: {interval: 1m, url: \"ftp://x/y\"}\n",
    )
    .unwrap();
    let refused = s.kubectl(&["apply", "--server-side", "-f", bad.to_str().unwrap()]);
    assert_ne!(refused.code, 0, "{}", refused.all());
    assert!(refused.all().contains("spec.url"), "{}", refused.all());

    // The deploy key: the Secret holds it for source-controller; the output is its public half
    // in OpenSSH format; the private half is in no output.
    let secret = s.json(&["get", "secret", "flux-system", "-n", "flux-system"]);
    let field = |k: &str| {
        let b64 = secret["data"][k].as_str().unwrap_or_else(|| panic!("{k}"));
        String::from_utf8(base64::engine::general_purpose::STANDARD.decode(b64).unwrap()).unwrap()
    };
    let private = field("identity");
    assert!(private.contains("PRIVATE KEY"), "identity is not a PEM key");
    let public = field("identity.pub");
    assert!(public.starts_with("ssh-ed25519 "), "{public}");
    assert!(field("known_hosts").starts_with("git.example ssh-ed25519 "));
    let output = s.slipway(&["output", "deploy_key", "--dir", ENV]);
    output.assert_code(0);
    assert_eq!(output.stdout.trim(), public.trim());
    outputs.push(all(&output));

    let again = s.slipway(&["plan", ENV, "--detailed-exitcode"]);
    outputs.push(all(&again));
    again.assert_code(0);

    // A branch change: an in-place update of the GitRepository, nothing else.
    s.config(&format!("{SSH_ARGS}  branch      = \"release\"\n"));
    let branch = s.slipway(&["plan", ENV, "--detailed-exitcode"]);
    outputs.push(all(&branch));
    branch.assert_code(2);
    assert!(
        branch
            .stdout
            .contains("module.gitops.kubernetes_manifest.git_repository will be updated in-place"),
        "{}",
        branch.stdout
    );
    assert!(branch.stdout.contains("branch = \"main\" -> \"release\""), "{}", branch.stdout);
    assert!(
        branch.stdout.contains("Plan: 0 to add, 1 to change, 0 to destroy."),
        "{}",
        branch.stdout
    );
    let applied = s.slipway(&["apply", ENV, "-auto-approve"]);
    outputs.push(all(&applied));
    applied.assert_code(0);
    let repo = s.json(&["get", "gitrepository", "flux-system", "-n", "flux-system"]);
    assert_eq!(repo["spec"]["ref"]["branch"], "release");

    // A path change: an in-place update of the Kustomization.
    let moved = SSH_ARGS.replace("./environments/test/apps", "./environments/test/apps-v2");
    s.config(&format!("{moved}  branch      = \"release\"\n"));
    let path = s.slipway(&["plan", ENV, "--detailed-exitcode"]);
    outputs.push(all(&path));
    path.assert_code(2);
    assert!(
        path.stdout
            .contains("module.gitops.kubernetes_manifest.kustomization will be updated in-place"),
        "{}",
        path.stdout
    );
    assert!(path.stdout.contains("Plan: 0 to add, 1 to change, 0 to destroy."), "{}", path.stdout);
    let applied = s.slipway(&["apply", ENV, "-auto-approve"]);
    outputs.push(all(&applied));
    applied.assert_code(0);
    let ks = s.json(&["get", "kustomization", "flux-system", "-n", "flux-system"]);
    assert_eq!(ks["spec"]["path"], "./environments/test/apps-v2");
    let last = s.slipway(&["plan", ENV, "--detailed-exitcode"]);
    outputs.push(all(&last));
    last.assert_code(0);

    // A version change: the controllers' images are updated in place, nothing is replaced.
    // (A release vendored beside the real one, differing only in source-controller's version.)
    let vendor = s.repo.path().join("modules/gitops/vendor");
    copy_dir(&vendor.join("v2.9.5"), &vendor.join("v2.9.6"));
    let versions = vendor.join("v2.9.6/versions.json");
    let text = std::fs::read_to_string(&versions).unwrap();
    assert!(text.contains("\"source-controller\": \"v1.9.5\""), "{text}");
    std::fs::write(&versions, text.replace("v1.9.5\"", "v1.9.6\"")).unwrap();
    s.config(&format!("{moved}  branch      = \"release\"\n  flux_version = \"v2.9.6\"\n"));
    let bump = s.slipway(&["plan", ENV, "--detailed-exitcode"]);
    outputs.push(all(&bump));
    bump.assert_code(2);
    assert!(
        bump.stdout.contains(
            "module.gitops.kubernetes_manifest.deployment[\"source-controller\"] will be updated in-place"
        ),
        "{}",
        bump.stdout
    );
    assert!(
        bump.stdout
            .contains("\"ghcr.io/fluxcd/source-controller:v1.9.5\" -> \"ghcr.io/fluxcd/source-controller:v1.9.6\""),
        "{}",
        bump.stdout
    );
    assert!(
        bump.stdout.contains("0 to add,") && bump.stdout.contains(", 0 to destroy."),
        "{}",
        bump.stdout
    );

    // No output ever carried the private key (the state does, as it must, marked sensitive).
    let body = pem_body_lines(&private);
    assert!(!body.is_empty());
    for out in &outputs {
        assert!(!out.contains("PRIVATE KEY"), "a private key printed:\n{out}");
        for line in &body {
            assert!(!out.contains(line.as_str()), "private key text printed:\n{out}");
        }
    }
    assert!(s.state().contains(&body[0]), "the key is kept in state");
}

// --- level 2 -------------------------------------------------------------------------------------

/// Where `scripts/install-flux` put source-controller and kustomize-controller.
fn flux_bin(name: &str) -> PathBuf {
    let dir = std::env::var_os("SLIPWAY_FLUX_BIN").map(PathBuf::from).unwrap_or_else(|| {
        panic!(
            "SLIPWAY_FLUX_BIN is not set: this test runs Flux's controllers built from the Go \
                 module proxy; build them with `export SLIPWAY_FLUX_BIN=$(scripts/install-flux)` \
                 (scripts/test does)"
        )
    });
    let path = dir.join(name);
    assert!(path.is_file(), "{} is missing: run scripts/install-flux", path.display());
    path
}

/// Smart HTTP without TLS on `ip`: lighttpd running `git http-backend` for the repositories
/// under `base` (source-controller takes http:// URLs; TLS is tests/git_sources.rs's subject).
fn serve_git_http(base: &Path, ip: &str, scratch: &Path) -> (Proc, String) {
    let backend = Path::new(&git(base, &["--exec-path"])).join("git-http-backend");
    let port = free_port_on(ip);
    let conf = scratch.join("lighttpd.conf");
    std::fs::write(
        &conf,
        format!(
            r#"server.document-root = "{base}"
server.bind = "{ip}"
server.port = {port}
server.errorlog = "{scratch}/lighttpd-error.log"
server.modules = ("mod_alias", "mod_setenv", "mod_cgi")
alias.url = ("/git" => "{backend}")
$HTTP["url"] =~ "^/git" {{
  cgi.assign = ("" => "")
  setenv.add-environment = ("GIT_PROJECT_ROOT" => "{base}", "GIT_HTTP_EXPORT_ALL" => "")
}}
"#,
            base = base.display(),
            scratch = scratch.display(),
            backend = backend.display()
        ),
    )
    .unwrap();
    let lighttpd = ["/usr/sbin/lighttpd", "/usr/local/sbin/lighttpd"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .unwrap_or("lighttpd");
    let proc = Proc::spawn(
        Command::new(lighttpd).arg("-D").arg("-f").arg(&conf),
        scratch.join("lighttpd.log"),
    );
    wait_until("lighttpd to listen", Duration::from_secs(20), || {
        TcpStream::connect((ip, port)).map(|_| ()).map_err(|e| e.to_string())
    });
    (proc, format!("http://{ip}:{port}/git/origin.git"))
}

fn configmap(greeting: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: hello\n  namespace: default\ndata:\n  greeting: {greeting}\n"
    )
}

/// A chart in the same repository, and a HelmRelease of it in the apps path: helm-controller
/// asks source-controller for the chart (a HelmChart of the GitRepository), then installs it.
const CHART: &str = "apiVersion: v2\nname: hello\nversion: 0.1.0\n";
const CHART_CONFIGMAP: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-chart\ndata:\n  replicas: \"{{ .Values.replicas }}\"\n";
const HELM_RELEASE: &str = "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: hello\n  namespace: default\nspec:\n  interval: 10m\n  chart:\n    spec:\n      chart: ./charts/hello\n      sourceRef:\n        kind: GitRepository\n        name: flux-system\n        namespace: flux-system\n  values:\n    replicas: 2\n";

/// Level 2: Flux's own controllers, built from the Go module proxy, run out of cluster against
/// the API server the module bootstrapped and sync a repository served over HTTP on loopback:
/// plain manifests (created, changed, pruned) and a HelmRelease whose chart helm-controller
/// installs.
#[test]
fn flux_controllers_built_from_the_proxy_sync_pushed_manifests_into_the_cluster() {
    let source_controller = flux_bin("source-controller");
    let kustomize_controller = flux_bin("kustomize-controller");
    let helm_controller = flux_bin("helm-controller");
    let ip = "127.0.0.74";
    let s = Stack::new(ip);
    let scratch = s.repo.path().join("scratch");
    std::fs::create_dir_all(&scratch).unwrap();

    let git_root = scratch.join("git");
    let repo = Repo::new(&git_root);
    repo.write("apps/hello.yaml", &configmap("hello-v1"));
    let first = repo.commit_push("hello v1");
    let (_http, url) = serve_git_http(&git_root, ip, &scratch);

    s.config(&format!(
        "  url           = \"{url}\"\n  path          = \"./apps\"\n  interval      = \"2s\"\n  sync_interval = \"2s\"\n"
    ));
    s.slipway(&["apply", ENV, "-auto-approve"]).assert_code(0);

    // The controllers as their Deployments run them, but out of cluster: the admin kubeconfig,
    // every listener on this test's loopback address, leader election off.
    let storage = scratch.join("storage");
    std::fs::create_dir_all(&storage).unwrap();
    let storage_addr = format!("{ip}:{}", free_port_on(ip));
    let kube = |cmd: &mut Command| {
        cmd.env("KUBECONFIG", &s.cluster.kubeconfig)
            .env("RUNTIME_NAMESPACE", "flux-system")
            .env("HOME", &scratch)
            .env("TMPDIR", &scratch);
    };
    let mut sc = Command::new(&source_controller);
    kube(&mut sc);
    sc.args([
        "--watch-all-namespaces",
        "--log-level=debug",
        "--log-encoding=json",
        &format!("--storage-path={}", storage.display()),
        &format!("--storage-addr={storage_addr}"),
        &format!("--storage-adv-addr={storage_addr}"),
        &format!("--metrics-addr={ip}:{}", free_port_on(ip)),
        &format!("--health-addr={ip}:{}", free_port_on(ip)),
        "--enable-leader-election=false",
    ]);
    let sc = Proc::spawn(&mut sc, scratch.join("source-controller.log"));
    let mut kc = Command::new(&kustomize_controller);
    kube(&mut kc);
    kc.args([
        "--watch-all-namespaces",
        "--log-level=debug",
        "--log-encoding=json",
        &format!("--metrics-addr={ip}:{}", free_port_on(ip)),
        &format!("--health-addr={ip}:{}", free_port_on(ip)),
        "--enable-leader-election=false",
    ]);
    let kc = Proc::spawn(&mut kc, scratch.join("kustomize-controller.log"));
    let mut hc = Command::new(&helm_controller);
    kube(&mut hc);
    hc.args([
        "--watch-all-namespaces",
        "--log-level=debug",
        "--log-encoding=json",
        &format!("--metrics-addr={ip}:{}", free_port_on(ip)),
        &format!("--health-addr={ip}:{}", free_port_on(ip)),
        "--enable-leader-election=false",
    ]);
    let hc = Proc::spawn(&mut hc, scratch.join("helm-controller.log"));

    let greeting = || {
        s.kubectl(&[
            "get",
            "configmap",
            "hello",
            "-n",
            "default",
            "-o",
            "jsonpath={.data.greeting}",
        ])
    };
    let wait = |what: &str, check: &dyn Fn() -> Result<(), String>| {
        let procs = || format!("{}\n{}\n{}", sc.tail(), kc.tail(), hc.tail());
        let start = std::time::Instant::now();
        loop {
            match check() {
                Ok(()) => return,
                Err(e) if start.elapsed() > Duration::from_secs(180) => {
                    panic!("{what}: not after 180 s: {e}\n{}", procs())
                }
                Err(_) => std::thread::sleep(Duration::from_millis(500)),
            }
        }
    };

    // The first commit reaches the cluster through source-controller's artifact.
    wait("ConfigMap hello from the first commit", &|| {
        let g = greeting();
        (g.stdout.trim() == "hello-v1").then_some(()).ok_or(g.all())
    });
    let gr = s.json(&["get", "gitrepository", "flux-system", "-n", "flux-system"]);
    assert_eq!(condition(&gr, "Ready"), "True", "{gr}");
    assert_eq!(gr["status"]["artifact"]["revision"], format!("main@sha1:{first}"));
    let cm = s.json(&["get", "configmap", "hello", "-n", "default"]);
    assert_eq!(cm["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/name"], "flux-system");

    // A pushed change changes it; a HelmRelease in the apps path is applied and installed.
    repo.write("apps/hello.yaml", &configmap("hello-v2"));
    repo.write("apps/release.yaml", HELM_RELEASE);
    repo.write("charts/hello/Chart.yaml", CHART);
    repo.write("charts/hello/templates/configmap.yaml", CHART_CONFIGMAP);
    let second = repo.commit_push("hello v2 and a HelmRelease");
    wait("ConfigMap hello changed by the second commit", &|| {
        let g = greeting();
        (g.stdout.trim() == "hello-v2").then_some(()).ok_or(g.all())
    });
    wait("the HelmRelease's chart installed by helm-controller", &|| {
        let h = s.kubectl(&[
            "get",
            "configmap",
            "hello-chart",
            "-n",
            "default",
            "-o",
            "jsonpath={.data.replicas}",
        ]);
        (h.stdout.trim() == "2").then_some(()).ok_or(h.all())
    });
    let hr = s.json(&["get", "helmrelease", "hello", "-n", "default"]);
    assert_eq!(condition(&hr, "Ready"), "True", "{hr}");
    assert_eq!(hr["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/name"], "flux-system");
    wait("Kustomization at the second commit", &|| {
        let k = s.json(&["get", "kustomization", "flux-system", "-n", "flux-system"]);
        let want = format!("main@sha1:{second}");
        (k["status"]["lastAppliedRevision"] == want.as_str())
            .then_some(())
            .ok_or(k["status"].to_string())
    });

    // A removed manifest is pruned.
    repo.remove("apps/hello.yaml");
    repo.commit_push("remove hello");
    wait("ConfigMap hello pruned", &|| {
        let g = greeting();
        (g.code != 0 && g.stderr.contains("NotFound")).then_some(()).ok_or(g.all())
    });

    // Every flag the module's Deployments pass is a real flag of the controller built from the
    // same release (notification-controller's module is refused by the proxy: not built).
    for (name, bin) in [
        ("source-controller", &source_controller),
        ("kustomize-controller", &kustomize_controller),
        ("helm-controller", &helm_controller),
    ] {
        let help = crate::kubeutil::output(Command::new(bin).arg("--help"));
        let dep = s.json(&["get", "deployment", name, "-n", "flux-system"]);
        let args = dep["spec"]["template"]["spec"]["containers"][0]["args"].as_array().unwrap();
        assert!(args.len() >= 4, "{dep}");
        for a in args {
            let flag = a.as_str().unwrap().split('=').next().unwrap();
            assert!(
                help.all().contains(&format!("{flag} ")),
                "{name}: {flag} is not a flag of {}:\n{}",
                bin.display(),
                help.all()
            );
        }
    }

    // Flux wrote only status: slipway sees no drift in what it owns.
    s.slipway(&["plan", ENV, "--detailed-exitcode"]).assert_code(0);
}
