//! `slipway watch --leader-elect` end to end: two real agents (the binary) electing a leader on a
//! `coordination.k8s.io/v1` Lease in a real API server (`LocalCluster`), one real Git repository
//! (`file://`), the offline `random` provider as the infrastructure and one shared local state
//! directory (its lock is the second fence). And `modules/slipway-agent` applied into a cluster.
//! Each test has its own cluster on its own 127.0.0.6x address.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::gitutil::{Repo, http};
use crate::kubeutil::LocalCluster;
use crate::util::free_port_on;
use crate::util::{Cmd, TestDir};

const ENV: &str = "environments/test";
const SECRET: &str = "leader-test-webhook-secret";
const LEASE: &str = "agents";
/// Generous: a bound against hanging, not a performance assertion.
const LONG: Duration = Duration::from_secs(120);

/// One `slipway watch --leader-elect` process; SIGKILLed when dropped.
struct Agent {
    name: String,
    child: Child,
    log: PathBuf,
    addr: std::net::SocketAddr,
}

impl Agent {
    /// Starts agent `name` (its pod name, so the Lease holder) with its own work directory
    /// and the shared state directory.
    fn start(t: &TestDir, c: &LocalCluster, url: &str, name: &str, extra: &[&str]) -> Agent {
        let log = t.join(format!("{name}.log"));
        let addr: std::net::SocketAddr =
            format!("{}:{}", c.ip, free_port_on(&c.ip)).parse().unwrap();
        let mut cmd = Command::new(crate::util::slipway_bin());
        cmd.current_dir(t.path())
            .args(["watch", "--repo", url, "--branch", "main", "--path", ENV])
            .args(["--work-dir", name, "--state-dir", "state", "--policy", "auto"])
            .args(["--listen", &addr.to_string(), "--leader-elect"])
            .args(["--lease-name", LEASE, "--lease-namespace", "default"])
            // Loose enough that a loaded machine (a 2-core CI runner building next door) does
            // not miss renewals and flip leadership where the test expects none.
            .args(["--lease-duration", "8s", "--renew-deadline", "5s"])
            .args(["--retry-period", "1s", "--lock-timeout", "1s"])
            .arg("--kubeconfig")
            .arg(&c.kubeconfig)
            .args(extra)
            .env("POD_NAME", name)
            .env("NO_COLOR", "1")
            .env("SLIPWAY_WEBHOOK_SECRET", SECRET)
            .env_remove("SLIPWAY_LOG")
            .env_remove("KUBECONFIG")
            .env_remove("POD_NAMESPACE")
            .env_remove("SLIPWAY_STATE_DIR")
            .env_remove("SLIPWAY_PLANS_DIR")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(log.with_extension("err")).unwrap());
        let agent = Agent {
            name: name.to_string(),
            child: cmd.spawn().expect("spawn slipway watch"),
            log,
            addr,
        };
        wait(&format!("{name}'s /healthz"), || {
            std::net::TcpStream::connect(addr).is_ok()
                && http(addr, "GET", "/healthz", &[], b"").0 == 200
        });
        agent
    }

    fn log(&self) -> String {
        let out = std::fs::read_to_string(&self.log).unwrap_or_default();
        let err = std::fs::read_to_string(self.log.with_extension("err")).unwrap_or_default();
        format!("{out}\n--- stderr:\n{err}")
    }

    /// The value of metric `name` (no labels), as text.
    fn metric(&self, name: &str) -> Option<String> {
        let m = http(self.addr, "GET", "/metrics", &[], b"").1;
        m.lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
            .map(|l| l[name.len() + 1..].to_string())
    }

    fn signal(&self, sig: &str) {
        let st = Command::new("kill").args([sig, &self.child.id().to_string()]).status().unwrap();
        assert!(st.success(), "kill {sig} {}", self.child.id());
    }

    fn kill(&mut self) {
        // A stopped process dies of SIGKILL too.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// How many times this agent started applying `commit`.
    fn applies_of(&self, commit: &str) -> usize {
        self.log().matches(&format!("commit {}: applying", &commit[..12])).count()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Every agent's log, for assertion messages.
fn logs(agents: &[&Agent]) -> String {
    agents.iter().map(|a| format!("=== {}:\n{}", a.name, a.log())).collect::<Vec<_>>().join("\n")
}

#[track_caller]
fn wait(what: &str, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < LONG, "{what}: not after {LONG:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn state(t: &TestDir) -> serde_json::Value {
    std::fs::read(t.join("state/test/state.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(serde_json::Value::Null)
}

fn applied(t: &TestDir) -> Option<String> {
    state(t)["applied_commit"].as_str().map(str::to_string)
}

#[track_caller]
fn wait_applied(t: &TestDir, agents: &[&Agent], commit: &str) {
    let start = Instant::now();
    while applied(t).as_deref() != Some(commit) {
        if start.elapsed() > LONG {
            panic!("commit {commit} not applied; state: {}\n{}", state(t), logs(agents));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn random_ids(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("resource \"random_id\" \"{n}\" {{\n  byte_length = 4\n}}\n"))
        .collect()
}

/// The Lease as the API server has it.
fn lease(c: &LocalCluster) -> serde_json::Value {
    let out = c.kubectl(&["get", "lease", LEASE, "-n", "default", "-o", "json"]);
    if out.code != 0 {
        return serde_json::Value::Null;
    }
    serde_json::from_str(&out.stdout).unwrap_or(serde_json::Value::Null)
}

fn holder(c: &LocalCluster) -> String {
    lease(c)["spec"]["holderIdentity"].as_str().unwrap_or("").to_string()
}

fn setup(t: &TestDir) -> (Repo, String) {
    let repo = Repo::new(&t.join("git"));
    repo.write(&format!("{ENV}/main.hcl"), &random_ids(&["a"]));
    repo.commit_push("first");
    let url = format!("file://{}", repo.origin.display());
    (repo, url)
}

#[test]
fn two_agents_apply_each_commit_once_and_the_follower_takes_over_when_the_leader_is_killed() {
    let c = LocalCluster::start("127.0.0.60", 1);
    let t = TestDir::new();
    let (repo, url) = setup(&t);
    let poll = ["--interval", "300ms"];
    let a = Agent::start(&t, &c, &url, "agent-a", &poll);
    let b = Agent::start(&t, &c, &url, "agent-b", &poll);
    let mut commits = vec![repo.head()];
    wait_applied(&t, &[&a, &b], &commits[0]);
    for (i, names) in [vec!["a", "b"], vec!["a", "b", "c"]].iter().enumerate() {
        repo.write(&format!("{ENV}/main.hcl"), &random_ids(names));
        commits.push(repo.commit_push(&format!("change {i}")));
        wait_applied(&t, &[&a, &b], commits.last().unwrap());
    }
    let lead = holder(&c);
    let (mut leader, follower) = if lead == "agent-a" { (a, b) } else { (b, a) };
    assert_eq!(leader.name, lead, "{}", lease(&c));
    // Each commit applied exactly once, by the leader.
    for commit in &commits {
        assert_eq!(leader.applies_of(commit), 1, "{}", logs(&[&leader, &follower]));
        assert_eq!(follower.applies_of(commit), 0, "{}", logs(&[&leader, &follower]));
    }
    // The follower said whom it follows once, not at every retry.
    let follows = format!("following; {lead} leads");
    assert_eq!(follower.log().matches(&follows).count(), 1, "{}", follower.log());
    assert!(!follower.log().contains("new commit"), "{}", follower.log());
    assert_eq!(leader.metric("slipway_watch_leader").as_deref(), Some("1"));
    assert_eq!(follower.metric("slipway_watch_leader").as_deref(), Some("0"));
    let transitions_before = lease(&c)["spec"]["leaseTransitions"].as_i64().unwrap_or(0);

    // The leader dies without releasing the Lease; the next commit is the follower's.
    leader.kill();
    repo.write(&format!("{ENV}/main.hcl"), &random_ids(&["a", "c"]));
    let after = repo.commit_push("after the kill");
    wait_applied(&t, &[&follower], &after);
    assert_eq!(holder(&c), follower.name, "{}", lease(&c));
    assert_eq!(
        lease(&c)["spec"]["leaseTransitions"].as_i64(),
        Some(transitions_before + 1),
        "{}",
        lease(&c)
    );
    assert_eq!(follower.applies_of(&after), 1, "{}", follower.log());
    assert_eq!(leader.applies_of(&after), 0);
    assert_eq!(follower.metric("slipway_watch_leader").as_deref(), Some("1"));
    let keys: Vec<String> =
        state(&t)["resources"].as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default();
    assert_eq!(keys, ["random_id.a", "random_id.c"]);

    // A graceful stop releases the Lease at once: the holder becomes empty.
    follower.signal("-TERM");
    wait("the Lease released on SIGTERM", || holder(&c).is_empty());
    assert!(follower.log().contains("released the lease"), "{}", follower.log());
}

#[test]
fn a_paused_leader_does_not_apply_after_it_resumes_and_becomes_a_follower() {
    let c = LocalCluster::start("127.0.0.61", 1);
    let t = TestDir::new();
    let (repo, url) = setup(&t);
    // A polls; B syncs only when it becomes leader and on webhooks, so that a commit pushed
    // after B's takeover waits, unapplied, while A resumes: only A's fence keeps A from it.
    let a = Agent::start(&t, &c, &url, "agent-a", &["--interval", "300ms"]);
    let c1 = repo.head();
    wait_applied(&t, &[&a], &c1);
    assert_eq!(holder(&c), "agent-a", "{}", a.log());
    let b = Agent::start(&t, &c, &url, "agent-b", &["--interval", "0"]);
    wait("B to follow A", || b.log().contains("following; agent-a leads"));

    a.signal("-STOP");
    repo.write(&format!("{ENV}/main.hcl"), &random_ids(&["a", "b"]));
    let c2 = repo.commit_push("while A is paused");
    wait_applied(&t, &[&a, &b], &c2);
    assert_eq!(holder(&c), "agent-b", "{}", lease(&c));
    assert_eq!(b.applies_of(&c2), 1, "{}", logs(&[&a, &b]));

    repo.write(&format!("{ENV}/main.hcl"), &random_ids(&["a", "b", "c"]));
    let c3 = repo.commit_push("before A resumes");
    let serial = state(&t)["serial"].clone();
    a.signal("-CONT");
    wait("A to follow B", || a.log().contains("following; agent-b leads"));
    // A had several polls' worth of time (300ms each): it planned and applied nothing.
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        assert_eq!(state(&t)["serial"], serial, "{}", logs(&[&a, &b]));
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(applied(&t).as_deref(), Some(c2.as_str()));
    let log_a = logs(&[&a, &b]);
    assert_eq!(a.applies_of(&c2), 0, "{log_a}");
    assert_eq!(a.applies_of(&c3), 0, "{log_a}");
    assert_eq!(a.applies_of(&c1), 1, "{log_a}");
    assert!(!a.log().contains("held"), "{log_a}");
    // Had SIGSTOP landed between its last fence check and a fetch, A fetched c3 on resuming;
    // then the fence stopped it before the plan.
    if a.log().contains(&format!("new commit {}", &c3[..12])) {
        assert!(a.log().contains("not starting the plan"), "{log_a}");
    }
    assert_eq!(a.metric("slipway_watch_leader").as_deref(), Some("0"), "{log_a}");
    assert_eq!(
        a.metric("slipway_watch_leader_transitions_total").as_deref(),
        Some("2"),
        "A saw itself acquire, then B: {log_a}"
    );
    assert_eq!(holder(&c), "agent-b", "{log_a}");

    // A webhook that reaches the follower (a Service balances over every replica) is relayed
    // through the Lease: the leader, which does not poll, applies c3.
    let bearer = format!("Bearer {SECRET}");
    let (code, _) = http(a.addr, "POST", "/webhook", &[("Authorization", bearer.as_str())], b"");
    assert_eq!(code, 202);
    wait_applied(&t, &[&a, &b], &c3);
    assert_eq!(b.applies_of(&c3), 1, "{}", logs(&[&a, &b]));
    assert_eq!(a.applies_of(&c3), 0, "{}", logs(&[&a, &b]));
    assert!(a.log().contains("trigger relayed to the leader"), "{}", a.log());
    assert!(
        lease(&c)["metadata"]["annotations"]["slipway.dev/sync-requested"]
            .as_str()
            .is_some_and(|v| v.ends_with(" agent-a")),
        "{}",
        lease(&c)
    );
}

/// `kubernetes-validate --strict` against the Kubernetes 1.35 schemas, on JSON files.
fn validate(files: &[PathBuf]) -> crate::kubeutil::Out {
    crate::kubeutil::output(
        Command::new("kubernetes-validate")
            .args(["--strict", "--no-warn", "-k", "1.35.0"])
            .args(files),
    )
}

fn module_config(c: &LocalCluster, secret: &str) -> String {
    format!(
        r#"provider "kubernetes" {{
  config_path = "{}"
}}

module "agent" {{
  source         = "../../modules/slipway-agent"
  repo           = "ssh://git@git.example/infrastructure.git"
  path           = "environments/prod"
  webhook_secret = "{secret}"
  env            = {{ AWS_REGION = "eu-west-1" }}
}}

output "manifests" {{
  value = module.agent.manifests
}}

output "lease_name" {{
  value = module.agent.lease_name
}}
"#,
        c.kubeconfig.display()
    )
}

/// The module applies into a real API server (Deployment Available, second plan empty, the
/// secret never printed); its manifests pass the 1.35 schemas strictly; every flag it passes
/// is a real `slipway watch` flag; the Role lets the agent touch its own Lease only.
///
/// The manifests come from the module's `manifests` output (what slipway sends), not from the
/// objects read back: the API server drops or defaults fields, which would hide a mistake.
/// The webhook Secret is not in that output (it would carry the secret); it is read back.
#[test]
fn agent_module_applies_validates_strictly_and_uses_real_flags() {
    let c = LocalCluster::start("127.0.0.62", 2);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    crate::util::copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("modules/slipway-agent"),
        &root.join("modules/slipway-agent"),
    );
    let secret = "module-test-secret-3f9a1c";
    std::fs::create_dir_all(root.join(ENV)).unwrap();
    std::fs::write(root.join(ENV).join("main.hcl"), module_config(&c, secret)).unwrap();
    let run = |args: &[&str]| {
        let r = Cmd::new().current_dir(root).args(args).timeout(Duration::from_secs(400)).run();
        r.assert_no_crash();
        r
    };
    let plan = run(&["plan", ENV, "--detailed-exitcode"]);
    plan.assert_code(2);
    assert!(!plan.stdout.contains(secret), "{}", plan.stdout);
    let apply = run(&["apply", ENV, "-auto-approve"]);
    apply.assert_code(0);
    assert!(!format!("{}{}", apply.stdout, apply.stderr).contains(secret), "secret printed");
    let available = c
        .kubectl(&[
            "get",
            "deployment",
            "slipway-agent",
            "-n",
            "slipway",
            "-o",
            r#"jsonpath={.status.conditions[?(@.type=="Available")].status} {.status.readyReplicas}"#,
        ])
        .ok("get deployment");
    assert_eq!(available.stdout.trim(), "True 2");
    run(&["plan", ENV, "--detailed-exitcode"]).assert_code(0);

    // Schemas: every object as sent, and the Secret as stored.
    let out = run(&["output", "--json", "--dir", ENV]);
    out.assert_code(0);
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(doc["lease_name"]["value"], "slipway-agent");
    let manifests = doc["manifests"]["value"].as_array().unwrap().clone();
    let kinds: Vec<&str> = manifests.iter().map(|m| m["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "Namespace",
            "ServiceAccount",
            "Role",
            "RoleBinding",
            "Deployment",
            "Service",
            "PodDisruptionBudget"
        ]
    );
    let scratch = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (i, m) in manifests.iter().enumerate() {
        let f = scratch.path().join(format!("{i}.json"));
        std::fs::write(&f, serde_json::to_string_pretty(m).unwrap()).unwrap();
        files.push(f);
    }
    let stored = c
        .kubectl(&["get", "secret", "slipway-agent-webhook", "-n", "slipway", "-o", "json"])
        .ok("get secret");
    let f = scratch.path().join("secret.json");
    std::fs::write(&f, &stored.stdout).unwrap();
    files.push(f);
    let v = validate(&files);
    assert_eq!(v.code, 0, "{}", v.all());
    // The validator does reject a wrong manifest (an unknown field under --strict).
    let mut bad = manifests[4].clone();
    bad["spec"]["template"]["spec"]["containers"][0]["readinessProbes"] =
        bad["spec"]["template"]["spec"]["containers"][0]["readinessProbe"].clone();
    let f = scratch.path().join("bad.json");
    std::fs::write(&f, bad.to_string()).unwrap();
    assert_ne!(validate(&[f]).code, 0);

    // Every flag the Deployment passes exists.
    let deployment = &manifests[4];
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    let help = Cmd::new().args(["watch", "--help"]).run();
    help.assert_code(0);
    let args: Vec<&str> =
        container["args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    assert_eq!(args[0], "watch");
    let flags: Vec<&str> = args[1..]
        .iter()
        .map(|a| a.strip_prefix("--").expect("a flag").split('=').next().unwrap())
        .collect();
    assert!(flags.contains(&"leader-elect"), "{flags:?}");
    assert!(flags.len() >= 12, "{flags:?}");
    for f in flags {
        assert!(help.stdout.contains(&format!("--{f}")), "--{f} is not a watch flag");
    }
    assert_eq!(deployment["spec"]["replicas"], 2);
    assert_eq!(deployment["spec"]["strategy"]["type"], "RollingUpdate");

    // The scrape target: label and port name the observability stack selects on.
    let svc = c
        .kubectl(&["get", "service", "slipway-agent", "-n", "slipway", "-o", "json"])
        .ok("get service");
    let svc: serde_json::Value = serde_json::from_str(&svc.stdout).unwrap();
    assert_eq!(svc["metadata"]["labels"]["app.kubernetes.io/name"], "slipway-agent");
    assert_eq!(svc["spec"]["ports"][0]["name"], "http");

    // RBAC: its own Lease, and nothing else.
    let sa = "system:serviceaccount:slipway:slipway-agent";
    let can = |args: &[&str]| {
        let mut full = vec!["auth", "can-i"];
        full.extend_from_slice(args);
        full.extend_from_slice(&["-n", "slipway", "--as", sa]);
        c.kubectl(&full).stdout.trim().to_string()
    };
    assert_eq!(can(&["update", "leases.coordination.k8s.io/slipway-agent"]), "yes");
    assert_eq!(can(&["get", "leases.coordination.k8s.io/slipway-agent"]), "yes");
    assert_eq!(can(&["create", "leases.coordination.k8s.io"]), "yes");
    assert_eq!(can(&["update", "leases.coordination.k8s.io/other"]), "no");
    assert_eq!(can(&["get", "secrets"]), "no");
    assert_eq!(can(&["delete", "leases.coordination.k8s.io/slipway-agent"]), "no");
}
