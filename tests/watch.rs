//! `slipway watch` end to end: a real Git remote (`git daemon` on 127.0.0.1), the real binary as
//! the agent, the offline providers (random, tls, time) as the infrastructure.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::gitutil::{GitDaemon, Repo, git, http, wait_for};
use crate::util::free_port_on;
use crate::util::{Cmd, TestDir};

const ENV: &str = "environments/test";
const SECRET: &str = "test-webhook-secret";
const LONG: Duration = Duration::from_secs(90);

/// The agent as a child process; killed when dropped.
struct Agent {
    child: Child,
    log: PathBuf,
    pub addr: Option<SocketAddr>,
}

impl Agent {
    fn start(t: &TestDir, url: &str, extra: &[&str], listen: bool) -> Agent {
        let n = std::fs::read_dir(t.path()).map(|d| d.count()).unwrap_or(0);
        let log = t.join(format!("agent-{n}.log"));
        let mut cmd = Command::new(crate::util::slipway_bin());
        cmd.current_dir(t.path())
            .args(["watch", "--repo", url, "--branch", "main", "--path", ENV])
            .args(["--work-dir", "agent", "--state-dir", "state"])
            .args(extra)
            .env("NO_COLOR", "1")
            .env("SLIPWAY_WEBHOOK_SECRET", SECRET)
            .env_remove("SLIPWAY_STATE_DIR")
            .env_remove("SLIPWAY_PLANS_DIR")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(log.with_extension("err")).unwrap());
        let mut addr = None;
        if listen {
            let a: SocketAddr = format!("127.0.0.1:{}", free_port_on("127.0.0.1")).parse().unwrap();
            cmd.args(["--listen", &a.to_string()]);
            addr = Some(a);
        }
        let agent = Agent { child: cmd.spawn().expect("spawn slipway watch"), log, addr };
        if let Some(a) = addr {
            wait_for("the agent's /healthz", LONG, || {
                std::net::TcpStream::connect(a).is_ok()
                    && http(a, "GET", "/healthz", &[], b"").0 == 200
            });
        }
        agent
    }

    fn log(&self) -> String {
        let out = std::fs::read_to_string(&self.log).unwrap_or_default();
        let err = std::fs::read_to_string(self.log.with_extension("err")).unwrap_or_default();
        format!("{out}\n--- stderr:\n{err}")
    }

    fn metrics(&self) -> String {
        http(self.addr.expect("listening agent"), "GET", "/metrics", &[], b"").1
    }

    /// The value of one metric line (`name{labels}`), as text.
    fn metric(&self, name: &str) -> Option<String> {
        let m = self.metrics();
        m.lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
            .map(|l| l[name.len() + 1..].to_string())
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The agent's state snapshot (written when each of its runs ends).
fn state(t: &TestDir) -> serde_json::Value {
    std::fs::read(t.join("state/test/state.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(serde_json::Value::Null)
}

fn applied(t: &TestDir) -> Option<String> {
    state(t)["applied_commit"].as_str().map(str::to_string)
}

fn addresses(t: &TestDir) -> Vec<String> {
    state(t)["resources"].as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default()
}

#[track_caller]
fn wait_applied(t: &TestDir, agent: &Agent, commit: &str) {
    let start = std::time::Instant::now();
    while applied(t).as_deref() != Some(commit) {
        assert!(
            start.elapsed() < LONG,
            "commit {commit} not applied; state: {}\nagent log:\n{}",
            state(t),
            agent.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn random_ids(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("resource \"random_id\" \"{n}\" {{\n  byte_length = 4\n}}\n"))
        .collect()
}

fn setup(t: &TestDir, names: &[&str]) -> (Repo, GitDaemon, String) {
    let repo = Repo::new(&t.join("git"));
    repo.write(&format!("{ENV}/main.hcl"), &random_ids(names));
    repo.commit_push("first");
    let daemon = GitDaemon::start(&t.join("git"));
    let url = daemon.url("origin.git");
    (repo, daemon, url)
}

/// Held plan ids, through `slipway approve --list`.
fn held(t: &TestDir) -> Vec<String> {
    let r = t.cmd().args(["approve", "--list", "--plans-dir", "agent/plans"]).run();
    r.assert_code(0);
    r.stdout.lines().filter_map(|l| l.split_whitespace().next()).map(str::to_string).collect()
}

#[test]
fn push_applies_a_destroy_is_held_until_approved_and_a_revert_rolls_back() {
    let t = TestDir::new();
    let (repo, _daemon, url) = setup(&t, &["a", "b"]);
    let c1 = repo.head();
    let agent = Agent::start(&t, &url, &["--policy", "safe", "--interval", "200ms"], false);
    wait_applied(&t, &agent, &c1);
    assert_eq!(addresses(&t), ["random_id.a", "random_id.b"]);
    let b_id = state(&t)["resources"]["random_id.b"]["id"].clone();
    assert!(b_id.is_string(), "{}", state(&t));

    // A push that only adds is applied under `safe`.
    repo.write(&format!("{ENV}/main.hcl"), &random_ids(&["a", "b", "c"]));
    let c2 = repo.commit_push("add c");
    wait_applied(&t, &agent, &c2);
    assert_eq!(addresses(&t), ["random_id.a", "random_id.b", "random_id.c"]);

    // A push that destroys is held: nothing changes until it is approved.
    repo.write(&format!("{ENV}/main.hcl"), &random_ids(&["a", "c"]));
    let c3 = repo.commit_push("drop b");
    wait_for("a held plan", LONG, || !held(&t).is_empty());
    let ids = held(&t);
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert!(ids[0].starts_with(&c3[..12]), "{ids:?} for {c3}");
    assert_eq!(applied(&t).as_deref(), Some(c2.as_str()));
    assert!(addresses(&t).contains(&"random_id.b".to_string()));

    let bad = t.cmd().args(["approve", "nope", "--plans-dir", "agent/plans"]).run();
    bad.assert_code(1);
    assert!(bad.stderr.contains(&ids[0]), "{}", bad.stderr);

    t.cmd().args(["approve", &ids[0], "--plans-dir", "agent/plans"]).run().assert_code(0);
    wait_applied(&t, &agent, &c3);
    assert_eq!(addresses(&t), ["random_id.a", "random_id.c"]);
    wait_for("the held plan to be gone", LONG, || held(&t).is_empty());

    // Reverting the destroy brings b back (a new object: the old one was destroyed).
    git(&repo.work, &["revert", "--no-edit", "HEAD"]);
    git(&repo.work, &["push", "-q", "origin", "main"]);
    let c4 = repo.head();
    wait_applied(&t, &agent, &c4);
    assert_eq!(addresses(&t), ["random_id.a", "random_id.b", "random_id.c"]);
    assert_ne!(state(&t)["resources"]["random_id.b"]["id"], b_id);
}

fn sign(body: &[u8]) -> String {
    let mut m = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    m.update(body);
    format!("sha256={}", hex::encode(m.finalize().into_bytes()))
}

#[test]
fn webhooks_trigger_syncs_and_forged_replayed_or_oversized_requests_change_nothing() {
    let t = TestDir::new();
    let (repo, _daemon, url) = setup(&t, &["a"]);
    let c1 = repo.head();
    // No polling: after the start-up sync, only webhooks make the agent fetch.
    let agent = Agent::start(
        &t,
        &url,
        &["--policy", "auto", "--interval", "0", "--max-body-bytes", "4096"],
        true,
    );
    let addr = agent.addr.unwrap();
    wait_applied(&t, &agent, &c1);
    repo.write(&format!("{ENV}/main.hcl"), &random_ids(&["a", "b"]));
    let c2 = repo.commit_push("add b");
    let serial = state(&t)["serial"].clone();
    let body = br#"{"ref":"refs/heads/main"}"#;

    // Forged: wrong secret, no signature, signature of another body.
    let forged = {
        let mut m = Hmac::<Sha256>::new_from_slice(b"not-the-secret").unwrap();
        m.update(body);
        format!("sha256={}", hex::encode(m.finalize().into_bytes()))
    };
    for sig in [Some(forged.as_str()), None, Some(&*sign(b"{}"))] {
        let mut h = vec![("X-GitHub-Delivery", "d-forged"), ("X-GitHub-Event", "push")];
        if let Some(s) = sig {
            h.push(("X-Hub-Signature-256", s));
        }
        let (code, _) = http(addr, "POST", "/webhook/github", &h, body);
        assert_eq!(code, 401);
    }
    let (code, _) = http(addr, "POST", "/webhook", &[("Authorization", "Bearer wrong")], b"");
    assert_eq!(code, 401);
    // Oversized, even when correctly signed.
    let big = vec![b' '; 8192];
    let big_sig = sign(&big);
    let (code, _) = http(
        addr,
        "POST",
        "/webhook/github",
        &[("X-GitHub-Delivery", "d-big"), ("X-Hub-Signature-256", big_sig.as_str())],
        &big,
    );
    assert_eq!(code, 413);
    assert_eq!(
        agent.metric("slipway_watch_webhook_requests_total{result=\"unauthorized\"}").as_deref(),
        Some("4")
    );
    // Nothing happened: for two seconds, the state stays at c1 and its serial.
    let until = std::time::Instant::now() + Duration::from_secs(2);
    while std::time::Instant::now() < until {
        assert_eq!(state(&t)["serial"], serial, "{}", agent.log());
        assert_eq!(applied(&t).as_deref(), Some(c1.as_str()));
        std::thread::sleep(Duration::from_millis(100));
    }

    // A correctly signed push hook: applied.
    let sig = sign(body);
    let headers = [
        ("X-GitHub-Delivery", "d-1"),
        ("X-GitHub-Event", "push"),
        ("X-Hub-Signature-256", sig.as_str()),
    ];
    let (code, text) = http(addr, "POST", "/webhook/github", &headers, body);
    assert_eq!(code, 202, "{text}");
    wait_applied(&t, &agent, &c2);
    assert_eq!(addresses(&t), ["random_id.a", "random_id.b"]);

    // The same delivery again: refused as a replay.
    let (code, _) = http(addr, "POST", "/webhook/github", &headers, body);
    assert_eq!(code, 409);
    assert_eq!(
        agent.metric("slipway_watch_webhook_requests_total{result=\"replayed\"}").as_deref(),
        Some("1")
    );

    // The generic token endpoint triggers a sync too.
    repo.write(&format!("{ENV}/main.hcl"), &random_ids(&["a", "b", "c"]));
    let c3 = repo.commit_push("add c");
    let bearer = format!("Bearer {SECRET}");
    let (code, _) = http(addr, "POST", "/webhook", &[("Authorization", bearer.as_str())], b"");
    assert_eq!(code, 202);
    wait_applied(&t, &agent, &c3);
    // Metrics follow the state (the agent updates them after closing its session).
    let synced = format!("slipway_watch_last_sync_info{{commit=\"{c3}\"}} 1");
    wait_for("metrics of the last sync", LONG, || agent.metrics().contains(&synced));
    let m = agent.metrics();
    assert!(m.contains(&format!("slipway_watch_last_sync_info{{commit=\"{c3}\"}} 1")), "{m}");
    assert!(m.contains("slipway_watch_applies_total{result=\"success\"} 3"), "{m}");
    assert!(m.contains("slipway_watch_last_apply_success 1"), "{m}");
    assert!(m.contains("slipway_watch_held_plans 0"), "{m}");
}

#[test]
fn manual_policy_holds_every_plan_and_http_approval_needs_the_secret() {
    let t = TestDir::new();
    let (repo, _daemon, url) = setup(&t, &["a"]);
    let agent = Agent::start(&t, &url, &["--policy", "manual", "--interval", "200ms"], true);
    let addr = agent.addr.unwrap();
    wait_for("a held plan", LONG, || held(&t).len() == 1);
    let id = held(&t).remove(0);
    assert!(id.starts_with(&repo.head()[..12]));
    assert_eq!(agent.metric("slipway_watch_held_plans").as_deref(), Some("1"));
    assert_eq!(addresses(&t), Vec::<String>::new());

    let path = format!("/approve/{id}");
    let (code, _) = http(addr, "POST", &path, &[("Authorization", "Bearer wrong")], b"");
    assert_eq!(code, 401);
    let (code, _) = http(addr, "POST", &path, &[], b"");
    assert_eq!(code, 401);
    let bearer = format!("Bearer {SECRET}");
    let (code, _) =
        http(addr, "POST", "/approve/..%2Fstate", &[("Authorization", bearer.as_str())], b"");
    assert_eq!(code, 404);
    assert!(addresses(&t).is_empty(), "{}", agent.log());

    let (code, text) = http(addr, "POST", &path, &[("Authorization", bearer.as_str())], b"");
    assert_eq!(code, 202, "{text}");
    wait_applied(&t, &agent, &repo.head());
    assert_eq!(addresses(&t), ["random_id.a"]);
}

/// A time_rotating whose rotation falls a few seconds after it is applied: the provider then
/// reports it gone — drift made by time, not by editing state.
fn rotating(seconds_left: i64) -> String {
    let base = time::OffsetDateTime::now_utc() - time::Duration::seconds(60 - seconds_left);
    let base = base
        .replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    format!(
        "resource \"time_rotating\" \"r\" {{\n  rfc3339          = \"{base}\"\n  rotation_minutes = 1\n}}\n\n{}",
        random_ids(&["a"])
    )
}

fn drift_agent(on_drift: &str) -> (TestDir, Agent, GitDaemon) {
    let t = TestDir::new();
    let repo = Repo::new(&t.join("git"));
    repo.write(&format!("{ENV}/main.hcl"), &rotating(8));
    let c1 = repo.commit_push("rotating");
    let daemon = GitDaemon::start(&t.join("git"));
    let agent = Agent::start(
        &t,
        &daemon.url("origin.git"),
        &[
            "--policy",
            "safe",
            "--interval",
            "500ms",
            "--drift-interval",
            "500ms",
            "--on-drift",
            on_drift,
        ],
        true,
    );
    wait_applied(&t, &agent, &c1);
    assert_eq!(addresses(&t), ["random_id.a", "time_rotating.r"]);
    (t, agent, daemon)
}

#[test]
fn drift_is_reported_without_changing_state_under_on_drift_report() {
    let (t, agent, _d) = drift_agent("report");
    let before = state(&t);
    wait_for("drift to be reported", LONG, || {
        agent.metric("slipway_watch_drift_resources").as_deref() == Some("1")
    });
    assert!(
        agent.log().contains("drift: time_rotating.r deleted outside slipway"),
        "{}",
        agent.log()
    );
    // Reported only: state and the apply count stay as they were.
    let after = state(&t);
    assert_eq!(after["serial"], before["serial"]);
    assert_eq!(after["resources"]["time_rotating.r"], before["resources"]["time_rotating.r"]);
    assert_eq!(
        agent.metric("slipway_watch_applies_total{result=\"success\"}").as_deref(),
        Some("1")
    );
}

#[test]
fn drift_is_corrected_under_on_drift_correct() {
    let (t, agent, _d) = drift_agent("correct");
    let applies = || {
        agent
            .metric("slipway_watch_applies_total{result=\"success\"}")
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    wait_for("drift to be corrected by an apply", LONG, || applies() >= 2);
    let log = agent.log();
    assert!(log.contains("drift: time_rotating.r deleted outside slipway"), "{log}");
    assert!(log.contains("correcting drift"), "{log}");
    // Made again by the correction; the random id, which did not drift, was left alone.
    assert!(log.matches("time_rotating.r: Creation complete").count() >= 2, "{log}");
    assert_eq!(log.matches("random_id.a: Creation complete").count(), 1, "{log}");
    assert!(addresses(&t).contains(&"time_rotating.r".to_string()));
}

/// Resources that take a while each, so a SIGKILL lands mid-apply.
fn slow_config() -> String {
    let mut s = String::new();
    for i in 0..10 {
        s.push_str(&format!(
            "resource \"random_id\" \"r{i}\" {{\n  byte_length = 4\n}}\n\nresource \"time_sleep\" \"s{i}\" {{\n  create_duration = \"300ms\"\n  triggers        = {{ after = random_id.r{i}.hex }}\n}}\n\n"
        ));
    }
    s
}

#[test]
fn agent_killed_mid_apply_resumes_on_restart_and_converges() {
    let t = TestDir::new();
    let repo = Repo::new(&t.join("git"));
    repo.write(&format!("{ENV}/main.hcl"), &slow_config());
    let c1 = repo.commit_push("slow");
    let daemon = GitDaemon::start(&t.join("git"));
    let url = daemon.url("origin.git");
    let args = ["--policy", "safe", "--interval", "300ms", "--parallelism", "1"];
    let mut agent = Agent::start(&t, &url, &args, false);
    // Kill once some, not all, operations are done.
    wait_for("the apply to be under way", LONG, || {
        agent.log().matches("Creation complete").count() >= 4
    });
    agent.kill();
    assert_ne!(applied(&t).as_deref(), Some(c1.as_str()), "the kill came too late");

    let agent = Agent::start(&t, &url, &args, false);
    wait_applied(&t, &agent, &c1);
    assert!(agent.log().contains("taking over the state lock"), "{}", agent.log());
    let addrs = addresses(&t);
    assert_eq!(addrs.len(), 20, "{addrs:?}");
    let st = state(&t);
    for (a, r) in st["resources"].as_object().unwrap() {
        assert_eq!(r["status"], "ready", "{a}: {r}");
    }
    // Converged: a plan of the applied checkout has nothing to do. The agent still runs and
    // checks for drift every 300 ms under the state lock, so this plan waits its turn.
    let env_dir = t.join("agent/checkouts").join(&c1).join(ENV);
    let r = Cmd::new()
        .current_dir(t.path())
        .args([
            "plan",
            env_dir.to_str().unwrap(),
            "--state-dir",
            "state",
            "--lock-timeout",
            "60s",
            "--detailed-exitcode",
        ])
        .run();
    r.assert_code(0);
    assert!(r.stdout.contains("No changes"), "{}", r.stdout);
}

#[test]
fn agent_waits_for_a_lock_held_by_someone_else_then_applies_once_it_is_released() {
    let t = TestDir::new();
    let (repo, _daemon, url) = setup(&t, &["a"]);
    // Another live holder (this test process) on this host: never stale, never broken.
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let lock = serde_json::json!({
        "id": "held-by-the-test",
        "operation": "apply",
        "who": "someone@elsewhere",
        "host": host.trim(),
        "pid": std::process::id(),
        "created": "2026-01-01T00:00:00Z",
        "version": "0.1.0",
    });
    t.write("state/test/state.lock", lock.to_string());
    let args = ["--policy", "auto", "--interval", "200ms", "--lock-timeout", "500ms"];
    let agent = Agent::start(&t, &url, &args, false);
    wait_for("the agent to report the lock twice", LONG, || {
        agent.log().matches("is locked by someone@elsewhere").count() >= 2
    });
    assert!(agent.log().contains("waiting for it"), "{}", agent.log());
    assert!(applied(&t).is_none(), "{}", state(&t));
    assert!(t.join("state/test/state.lock").exists(), "the agent broke a live lock");
    std::fs::remove_file(t.join("state/test/state.lock")).unwrap();
    wait_applied(&t, &agent, &repo.head());
    assert_eq!(addresses(&t), ["random_id.a"]);
}

#[test]
fn an_approved_plan_made_stale_by_a_state_change_is_planned_again_not_applied() {
    let t = TestDir::new();
    let (repo, _daemon, url) = setup(&t, &["a"]);
    let c1 = repo.head();
    let agent = Agent::start(&t, &url, &["--policy", "manual", "--interval", "200ms"], false);
    wait_for("a held plan", LONG, || held(&t).len() == 1);
    let first = held(&t).remove(0);
    t.cmd().args(["approve", &first, "--plans-dir", "agent/plans"]).run().assert_code(0);
    wait_applied(&t, &agent, &c1);

    repo.write(&format!("{ENV}/main.hcl"), &random_ids(&["a", "b"]));
    let c2 = repo.commit_push("add b");
    wait_for("a held plan for c2", LONG, || held(&t).iter().any(|id| id.starts_with(&c2[..12])));
    let stale = held(&t).remove(0);
    // Someone changes the state behind the held plan's back.
    let env_dir = format!("agent/checkouts/{c1}/{ENV}");
    t.cmd()
        .args(["state", "rm", "random_id.a", "--dir", &env_dir, "--state-dir", "state"])
        .run()
        .assert_code(0);
    t.cmd().args(["approve", &stale, "--plans-dir", "agent/plans"]).run().assert_code(0);
    // The agent refuses the stale plan and holds a new one (another serial, another id).
    wait_for("a fresh held plan", LONG, || {
        let ids = held(&t);
        ids.len() == 1 && ids[0] != stale
    });
    assert!(agent.log().contains(&format!("plan {stale} is stale")), "{}", agent.log());
    assert_eq!(applied(&t).as_deref(), Some(c1.as_str()));
    assert_eq!(addresses(&t), Vec::<String>::new());
    let fresh = held(&t).remove(0);
    t.cmd().args(["approve", &fresh, "--plans-dir", "agent/plans"]).run().assert_code(0);
    wait_applied(&t, &agent, &c2);
    assert_eq!(addresses(&t), ["random_id.a", "random_id.b"]);
}

/// Lines of `log` that contain `needle`, in order.
fn lines_with<'a>(log: &'a str, needle: &str) -> Vec<&'a str> {
    log.lines().filter(|l| l.contains(needle)).collect()
}

/// The position of the first line of `log` containing `needle`, for order assertions.
#[track_caller]
fn line_of(log: &str, needle: &str) -> usize {
    log.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in:\n{log}"))
}

#[test]
fn a_failing_apply_is_retried_with_doubling_delays_and_a_fix_is_applied_without_waiting() {
    let t = TestDir::new();
    let repo = Repo::new(&t.join("git"));
    // Plans fine, fails when applied: the key generator refuses the size.
    let broken = format!(
        "{}resource \"tls_private_key\" \"k\" {{\n  algorithm = \"RSA\"\n  rsa_bits  = 1000\n}}\n",
        random_ids(&["a"])
    );
    repo.write(&format!("{ENV}/main.hcl"), &broken);
    let c1 = repo.commit_push("a key of a size nobody makes");
    let daemon = GitDaemon::start(&t.join("git"));
    let args = [
        "--policy",
        "auto",
        "--interval",
        "200ms",
        "--backoff",
        "4s",
        "--max-backoff",
        "60s",
        "--log-format",
        "json",
    ];
    let agent = Agent::start(&t, &daemon.url("origin.git"), &args, true);
    let s1 = &c1[..12];
    wait_for("the third failed attempt", LONG, || {
        agent.log().contains(&format!("commit {s1}: attempt 3 failed"))
    });
    // With `--log-format json` every event is a JSON object, the backoff in its fields.
    let err = std::fs::read_to_string(agent.log.with_extension("err")).unwrap();
    let events: Vec<serde_json::Value> = err
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let delays: Vec<(u64, f64)> = events
        .iter()
        .filter(|e| e["fields"]["attempt"].is_u64())
        .map(|e| {
            let f = &e["fields"];
            assert_eq!(f["commit"].as_str(), Some(c1.as_str()), "{e}");
            (f["attempt"].as_u64().unwrap(), f["next_attempt_seconds"].as_f64().unwrap())
        })
        .collect();
    assert_eq!(delays, [(1, 4.0), (2, 8.0), (3, 16.0)], "{err}");
    let log = agent.log();
    // Each attempt's delay doubles (4s, 8s, 16s), and the commit was applied once per attempt
    // — not at each of the polls (every 200ms) in between.
    let failed = lines_with(&log, &format!("commit {s1}: attempt "));
    let failed: Vec<&str> = failed.into_iter().filter(|l| l.contains("failed")).collect();
    assert_eq!(failed.len(), 3, "{log}");
    for (line, (n, delay)) in failed.iter().zip([(1, "4.0"), (2, "8.0"), (3, "16.0")]) {
        assert!(
            line.contains(&format!("attempt {n} failed; next attempt in {delay}s")),
            "{line}\n{log}"
        );
    }
    assert_eq!(log.matches(&format!("commit {s1}: applying")).count(), 3, "{log}");
    assert!(log.contains("rsa_bits must be 2048, 3072 or 4096"), "{log}");
    // The retries came from the backoff running out, in order.
    let a2 = line_of(&log, &format!("commit {s1}: attempt 2 after 4.0s"));
    let a3 = line_of(&log, &format!("commit {s1}: attempt 3 after 8.0s"));
    assert!(a2 < a3, "{log}");
    assert_eq!(agent.metric("slipway_watch_consecutive_failures").as_deref(), Some("3"));
    assert_eq!(agent.metric("slipway_watch_next_attempt_seconds").as_deref(), Some("16"));
    assert_eq!(
        agent.metric("slipway_watch_applies_total{result=\"failure\"}").as_deref(),
        Some("3")
    );
    assert_eq!(applied(&t), None);

    // The fix is a new commit: applied at the next poll, while the broken one still waits
    // out its 16s (a margin for a loaded machine: the test's own reads and push come first).
    repo.write(&format!("{ENV}/main.hcl"), &random_ids(&["a"]));
    let c2 = repo.commit_push("drop the key");
    wait_applied(&t, &agent, &c2);
    let log = agent.log();
    assert!(
        !log.contains(&format!("commit {s1}: attempt 4")),
        "the broken commit was tried again before the fix:\n{log}"
    );
    assert!(
        line_of(&log, &format!("new commit {}", &c2[..12]))
            > line_of(&log, &format!("commit {s1}: attempt 3 failed")),
        "{log}"
    );
    assert_eq!(addresses(&t), ["random_id.a"]);
    // A success clears the backoff (the metrics follow the state write, so wait for them).
    wait_for("the backoff to be cleared", LONG, || {
        agent.metric("slipway_watch_consecutive_failures").as_deref() == Some("0")
            && agent.metric("slipway_watch_next_attempt_seconds").as_deref() == Some("0")
    });
}

#[test]
fn an_approval_is_acted_on_as_an_event_without_a_poll() {
    let t = TestDir::new();
    let (repo, _daemon, url) = setup(&t, &["a"]);
    let c1 = repo.head();
    // No polling: after the sync at start, only events (webhooks, approvals) wake the agent.
    let agent = Agent::start(&t, &url, &["--policy", "manual", "--interval", "0"], true);
    wait_for("a held plan", LONG, || held(&t).len() == 1);
    let id = held(&t).remove(0);
    assert_eq!(agent.metric("slipway_watch_syncs_total{result=\"ok\"}").as_deref(), Some("1"));
    t.cmd().args(["approve", &id, "--plans-dir", "agent/plans"]).run().assert_code(0);
    wait_applied(&t, &agent, &c1);
    assert_eq!(addresses(&t), ["random_id.a"]);
    // Logged once the session is closed, just after the state (and `applied_commit`) is saved.
    let done = format!("commit {}: applied", &c1[..12]);
    wait_for("the apply to be logged", LONG, || agent.log().contains(&done));
    let log = agent.log();
    // The approval arrived as an event, then was acted on; no other sync happened.
    let received = line_of(&log, &format!("approval of plan {id} received"));
    let approved = line_of(&log, &format!("plan {id} approved"));
    let done = line_of(&log, &done);
    assert!(received < approved && approved < done, "{log}");
    assert_eq!(log.matches(&format!("new commit {}", &c1[..12])).count(), 1, "{log}");
    assert_eq!(agent.metric("slipway_watch_syncs_total{result=\"ok\"}").as_deref(), Some("1"));
    assert_eq!(agent.metric("slipway_watch_held_plans").as_deref(), Some("0"));
}
