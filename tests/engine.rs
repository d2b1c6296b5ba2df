//! End-to-end tests of plan/apply through the real binary, with the offline providers
//! (random, tls, time). Each test works in its own temporary repository.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

struct Repo {
    dir: tempfile::TempDir,
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    fn ok(self) -> Run {
        assert_eq!(
            self.code, 0,
            "expected success\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

fn bin() -> std::path::PathBuf {
    crate::util::slipway_bin()
}

impl Repo {
    fn new() -> Repo {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("environments/test")).unwrap();
        Repo { dir }
    }

    fn env_dir(&self) -> PathBuf {
        self.dir.path().join("environments/test")
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.env_dir().join(name), text).unwrap();
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin());
        c.args(args)
            .current_dir(self.dir.path())
            .env("NO_COLOR", "1")
            .env_remove("SLIPWAY_STATE_DIR");
        c
    }

    fn run(&self, args: &[&str]) -> Run {
        Run::from(self.cmd(args).stdin(Stdio::null()).output().unwrap())
    }

    fn state_file(&self) -> PathBuf {
        self.dir.path().join("state/test/state.json")
    }
}

const ENV: &str = "environments/test";

const BASIC: &str = r#"
variable "prefix" {
  type    = string
  default = "a"
}

variable "wait" {
  type    = string
  default = "1ms"
}

resource "random_id" "x" {
  for_each    = toset(["one", "two"])
  byte_length = 4
  prefix      = "${var.prefix}-${each.key}-"
}

resource "time_sleep" "pause" {
  create_duration = var.wait
}

resource "random_password" "secret" {
  length = 20
}

output "ids" {
  value = { for k, v in random_id.x : k => v.hex }
}

output "secret" {
  value     = random_password.secret.result
  sensitive = true
}
"#;

#[test]
fn apply_then_plan_has_no_changes() {
    let repo = Repo::new();
    repo.write("main.hcl", BASIC);
    let first = repo.run(&["plan", ENV, "--detailed-exitcode"]);
    assert_eq!(first.code, 2, "a fresh environment has changes: {}", first.stderr);
    assert!(
        first.stdout.contains("Plan: 4 to add, 0 to change, 0 to destroy."),
        "{}",
        first.stdout
    );
    let applied = repo.run(&["apply", ENV, "-auto-approve"]).ok();
    assert!(
        applied.stdout.contains("Apply complete! Resources: 4 added, 0 changed, 0 destroyed."),
        "{}",
        applied.stdout
    );
    let again = repo.run(&["plan", ENV, "--detailed-exitcode"]);
    assert_eq!(again.code, 0, "second plan must be empty:\n{}\n{}", again.stdout, again.stderr);
    assert!(again.stdout.contains("No changes."));
}

#[test]
fn a_changed_variable_plans_exactly_that_change() {
    let repo = Repo::new();
    repo.write("main.hcl", BASIC);
    repo.run(&["apply", ENV, "-auto-approve"]).ok();
    // prefix is force-new on random_id: both instances are replaced, nothing else moves.
    let p = repo.run(&["plan", ENV, "-var", "prefix=b", "--json"]).ok();
    let doc: serde_json::Value = serde_json::from_str(&p.stdout).unwrap();
    let changed: Vec<(String, String)> = doc["resource_changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] != "no-op")
        .map(|c| {
            (c["address"].as_str().unwrap().to_string(), c["action"].as_str().unwrap().to_string())
        })
        .collect();
    assert_eq!(
        changed,
        vec![
            ("random_id.x[\"one\"]".to_string(), "replace".to_string()),
            ("random_id.x[\"two\"]".to_string(), "replace".to_string())
        ]
    );
    for c in doc["resource_changes"].as_array().unwrap().iter().filter(|c| c["action"] == "replace")
    {
        assert_eq!(c["replace_paths"], serde_json::json!(["prefix"]));
    }
    // create_duration is updated in place.
    let p = repo.run(&["plan", ENV, "-var", "wait=2ms", "--json"]).ok();
    let doc: serde_json::Value = serde_json::from_str(&p.stdout).unwrap();
    let changed: Vec<_> = doc["resource_changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] != "no-op")
        .collect();
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0]["address"], "time_sleep.pause");
    assert_eq!(changed[0]["action"], "update");
    assert_eq!(
        doc["summary"],
        serde_json::json!({"add": 0, "change": 1, "destroy": 0, "has_changes": true})
    );
}

#[test]
fn secrets_never_appear_in_plan_apply_or_json() {
    let repo = Repo::new();
    repo.write("main.hcl", BASIC);
    let plan = repo.run(&["plan", ENV]).ok();
    let apply = repo.run(&["apply", ENV, "-auto-approve"]).ok();
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(repo.state_file()).unwrap()).unwrap();
    let secret = state["resources"]["random_password.secret"]["attributes"]["result"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(secret.len(), 20);
    let replan_json = repo.run(&["plan", ENV, "--json", "-var", "prefix=z"]).ok();
    let show = repo.run(&["show", ENV]).ok();
    let show_json = repo.run(&["show", ENV, "--json"]).ok();
    let outputs = repo.run(&["output", "--dir", ENV]).ok();
    for (what, text) in [
        ("plan", &plan.stdout),
        ("apply", &apply.stdout),
        ("apply stderr", &apply.stderr),
        ("plan --json", &replan_json.stdout),
        ("show", &show.stdout),
        ("show --json", &show_json.stdout),
        ("output", &outputs.stdout),
    ] {
        assert!(!text.contains(&secret), "the password leaked into {what}");
    }
    assert!(outputs.stdout.contains("secret = <sensitive>"));
}

#[test]
fn a_saved_plan_applies_and_goes_stale_after_another_apply() {
    let repo = Repo::new();
    repo.write("main.hcl", BASIC);
    repo.run(&["plan", ENV, "-out", "first.plan"]).ok();
    repo.run(&["plan", ENV, "-out", "second.plan"]).ok();
    let a = repo.run(&["apply", "first.plan"]).ok();
    assert!(a.stdout.contains("4 added"), "{}", a.stdout);
    let stale = repo.run(&["apply", "second.plan"]);
    assert_eq!(stale.code, 1);
    assert!(stale.stderr.contains("stale"), "{}", stale.stderr);
    // Nothing changed by the refused plan.
    repo.run(&["plan", ENV, "--detailed-exitcode"]).ok();
}

#[test]
fn a_saved_plan_is_refused_when_the_configuration_changed() {
    let repo = Repo::new();
    repo.write("main.hcl", BASIC);
    repo.run(&["plan", ENV, "-out", "p.plan"]).ok();
    repo.write("extra.hcl", "resource \"random_id\" \"y\" {\n  byte_length = 2\n}\n");
    let r = repo.run(&["apply", "p.plan"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("configuration changed"), "{}", r.stderr);
}

#[test]
fn apply_without_approval_and_without_a_terminal_is_refused() {
    let repo = Repo::new();
    repo.write("main.hcl", BASIC);
    let r = repo.run(&["apply", ENV]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("-auto-approve"), "{}", r.stderr);
    assert!(
        !repo.state_file().exists()
            || !std::fs::read_to_string(repo.state_file()).unwrap().contains("random_id")
    );
}

#[test]
fn a_second_concurrent_apply_fails_naming_the_lock_holder() {
    let repo = Repo::new();
    repo.write("main.hcl", BASIC);
    let first = repo
        .cmd(&["apply", ENV, "-auto-approve", "-var", "wait=3s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lock = repo.dir.path().join("state/test/state.lock");
    let t = Instant::now();
    while !lock.exists() && t.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(lock.exists(), "the first apply never took the lock");
    let second = repo.run(&["apply", ENV, "-auto-approve"]);
    assert_eq!(second.code, 1);
    assert!(second.stderr.contains("lock"), "{}", second.stderr);
    assert!(
        second.stderr.contains(&format!("{}", first.id())),
        "the error names the holder's pid: {}",
        second.stderr
    );
    let out = first.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Nothing lost: the first apply's work is all there.
    repo.run(&["plan", ENV, "--detailed-exitcode", "-var", "wait=3s"]).ok();
}

#[test]
fn a_lock_left_by_a_killed_run_is_taken_over_and_a_live_one_is_not() {
    let repo = Repo::new();
    repo.write("main.hcl", BASIC);
    let mut child = repo
        .cmd(&["apply", ENV, "-auto-approve", "-var", "wait=30s"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lock = repo.dir.path().join("state/test/state.lock");
    let t = Instant::now();
    while !lock.exists() && t.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // The holder is provably dead (its pid is gone from this host): the next run takes the
    // lock over without a manual step, loudly, naming the old holder.
    let info: serde_json::Value = serde_json::from_slice(&std::fs::read(&lock).unwrap()).unwrap();
    let id = info["id"].as_str().unwrap().to_string();
    let r = repo.run(&["plan", ENV]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("taking over the state lock")
            && r.stderr.contains(&id)
            && r.stderr.contains("no longer exists on this host"),
        "{}",
        r.stderr
    );
    assert!(!lock.exists(), "the plan released the lock it took");
    repo.run(&["apply", ENV, "-auto-approve"]).ok();
    repo.run(&["plan", ENV, "--detailed-exitcode"]).ok();

    // A live holder (this test process, on this host) is never taken over: refused, with the
    // force-unlock hint and the id.
    let mut live = info.clone();
    live["id"] = "live-holder".into();
    live["pid"] = std::process::id().into();
    live["start_time"] = serde_json::Value::Null;
    std::fs::write(&lock, serde_json::to_vec(&live).unwrap()).unwrap();
    let r = repo.run(&["plan", ENV]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("live-holder") && r.stderr.contains("force-unlock"), "{}", r.stderr);
    // Nor a pid reused by another process: recorded start time differs → dead, taken over.
    live["id"] = "reused-pid".into();
    live["start_time"] = 1.into();
    std::fs::write(&lock, serde_json::to_vec(&live).unwrap()).unwrap();
    let r = repo.run(&["plan", ENV]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("reused-pid") && r.stderr.contains("started later"), "{}", r.stderr);
}

/// Dozens of resources that take a little while each, so a kill lands mid-apply.
fn crash_config() -> String {
    let mut s = String::from(
        r#"
resource "tls_private_key" "ca" {
  algorithm = "ECDSA"
}

resource "tls_self_signed_cert" "ca" {
  private_key_pem       = tls_private_key.ca.private_key_pem
  validity_period_hours = 48
  is_ca_certificate     = true
  allowed_uses          = ["cert_signing", "digital_signature"]
  subject {
    common_name = "crash-ca"
  }
}
"#,
    );
    for i in 0..12 {
        s.push_str(&format!(
            r#"
resource "time_sleep" "s{i}" {{
  create_duration = "{ms}ms"
  triggers        = {{ after = random_id.r{i}.hex }}
}}

resource "random_id" "r{i}" {{
  byte_length = 4
}}

resource "tls_private_key" "k{i}" {{
  algorithm = "ED25519"
}}

resource "tls_cert_request" "c{i}" {{
  private_key_pem = tls_private_key.k{i}.private_key_pem
  dns_names       = ["node{i}.example.internal", time_sleep.s{i}.id]
  subject {{
    common_name = "node{i}"
  }}
}}

resource "tls_locally_signed_cert" "c{i}" {{
  cert_request_pem      = tls_cert_request.c{i}.cert_request_pem
  ca_private_key_pem    = tls_private_key.ca.private_key_pem
  ca_cert_pem           = tls_self_signed_cert.ca.cert_pem
  validity_period_hours = 24
  allowed_uses          = ["server_auth"]
}}
"#,
            ms = 50 + (i * 37) % 200
        ));
    }
    s
}

#[test]
fn sigkill_at_twenty_moments_then_apply_converges() {
    let repo = Repo::new();
    repo.write("main.hcl", &crash_config());
    let apply = || {
        repo.cmd(&["apply", ENV, "-auto-approve", "--parallelism", "3"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    // How long a whole apply takes here, so that kill moments spread over it.
    let t = Instant::now();
    assert!(apply().wait().unwrap().success());
    let full = t.elapsed();
    repo.run(&["destroy", ENV, "-auto-approve"]).ok();
    // A small deterministic PRNG: the kill moments differ but the test is reproducible.
    let mut next = crate::util::xorshift(0x5eed_1234);
    // Keep going until 20 kills have landed in the middle of an apply; an apply that wins the
    // race (the machine was fast) does not count, and the next delay is shorter.
    let mut kills_mid_apply = 0;
    let mut window = (full.as_millis() as u64 * 6 / 10).max(2);
    let mut attempts = 0;
    while kills_mid_apply < 20 {
        attempts += 1;
        assert!(
            attempts <= 80,
            "only {kills_mid_apply} of 20 kills landed during an apply in 80 attempts"
        );
        // Every other kill starts from nothing, the others from what the last kill left: kills
        // land early, late, and in resumed applies.
        if kills_mid_apply % 2 == 0 {
            repo.run(&["destroy", ENV, "-auto-approve"]).ok();
        }
        let delay = Duration::from_millis(next() % window);
        let mut child = apply();
        std::thread::sleep(delay);
        let finished = child.try_wait().unwrap().is_some();
        // SIGKILL: no chance to clean up.
        unsafe {
            libc::kill(child.id() as i32, libc::SIGKILL);
        }
        child.wait().unwrap();
        // Whatever the moment, the state is readable.
        let list = repo.run(&["state", "list", "--dir", ENV]);
        assert_eq!(
            list.code, 0,
            "attempt {attempts}: state unreadable after kill: {}",
            list.stderr
        );
        // No force-unlock: whatever lock the kill left, the next run takes it over.
        if finished {
            window = (window / 2).max(2);
        } else {
            kills_mid_apply += 1;
        }
    }
    let done = repo.run(&["apply", ENV, "-auto-approve"]).ok();
    // The last kill may have landed after the last change was saved: nothing left to do.
    assert!(
        done.stdout.contains("Apply complete!") || done.stdout.contains("No changes."),
        "{}",
        done.stdout
    );
    repo.run(&["plan", ENV, "--detailed-exitcode"]).ok();
    let list = repo.run(&["state", "list", "--dir", ENV]).ok();
    assert_eq!(list.stdout.lines().count(), 2 + 12 * 5, "{}", list.stdout);
}

#[test]
fn openssl_verifies_the_ca_to_leaf_chain_from_the_tls_provider() {
    let repo = Repo::new();
    repo.write(
        "main.hcl",
        r#"
resource "tls_private_key" "ca" {
  algorithm = "ECDSA"
}

resource "tls_self_signed_cert" "ca" {
  private_key_pem       = tls_private_key.ca.private_key_pem
  validity_period_hours = 87600
  is_ca_certificate     = true
  allowed_uses          = ["cert_signing", "digital_signature", "key_encipherment"]
  subject {
    common_name = "kubernetes"
  }
}

resource "tls_private_key" "apiserver" {
  algorithm = "RSA"
}

resource "tls_cert_request" "apiserver" {
  private_key_pem = tls_private_key.apiserver.private_key_pem
  dns_names       = ["kubernetes", "kubernetes.default", "kubernetes.default.svc"]
  ip_addresses    = ["10.96.0.1", "10.0.1.10"]
  subject {
    common_name = "kube-apiserver"
  }
}

resource "tls_locally_signed_cert" "apiserver" {
  cert_request_pem      = tls_cert_request.apiserver.cert_request_pem
  ca_private_key_pem    = tls_private_key.ca.private_key_pem
  ca_cert_pem           = tls_self_signed_cert.ca.cert_pem
  validity_period_hours = 8760
  allowed_uses          = ["digital_signature", "key_encipherment", "server_auth"]
}

output "ca" {
  value = tls_self_signed_cert.ca.cert_pem
}

output "leaf" {
  value = tls_locally_signed_cert.apiserver.cert_pem
}
"#,
    );
    repo.run(&["apply", ENV, "-auto-approve"]).ok();
    let ca = repo.run(&["output", "ca", "--dir", ENV]).ok().stdout;
    let leaf = repo.run(&["output", "leaf", "--dir", ENV]).ok().stdout;
    let dir = repo.dir.path();
    std::fs::write(dir.join("ca.pem"), ca).unwrap();
    std::fs::write(dir.join("leaf.pem"), leaf).unwrap();
    let verify = openssl(dir, &["verify", "-CAfile", "ca.pem", "leaf.pem"]);
    assert!(verify.contains("leaf.pem: OK"), "{verify}");
    let text = openssl(dir, &["x509", "-in", "leaf.pem", "-noout", "-text"]);
    for needle in [
        "DNS:kubernetes",
        "DNS:kubernetes.default.svc",
        "IP Address:10.96.0.1",
        "IP Address:10.0.1.10",
        "TLS Web Server Authentication",
        "CA:FALSE",
    ] {
        assert!(text.contains(needle), "missing {needle} in\n{text}");
    }
    let ca_text = openssl(dir, &["x509", "-in", "ca.pem", "-noout", "-text"]);
    assert!(ca_text.contains("CA:TRUE") && ca_text.contains("Certificate Sign"), "{ca_text}");
}

fn openssl(dir: &Path, args: &[&str]) -> String {
    let o = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl must be installed (apt-get install openssl)");
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn destroy_removes_everything_in_reverse_order() {
    let repo = Repo::new();
    repo.write("main.hcl", BASIC);
    repo.run(&["apply", ENV, "-auto-approve"]).ok();
    let d = repo.run(&["destroy", ENV, "-auto-approve"]).ok();
    assert!(
        d.stdout.contains("Destroy complete! Resources: 0 added, 0 changed, 4 destroyed."),
        "{}",
        d.stdout
    );
    let list = repo.run(&["state", "list", "--dir", ENV]).ok();
    assert_eq!(list.stdout.trim(), "");
}

#[test]
fn state_mv_rm_and_moved_blocks_follow_renames() {
    let repo = Repo::new();
    repo.write("main.hcl", "resource \"random_id\" \"a\" {\n  byte_length = 4\n}\n");
    repo.run(&["apply", ENV, "-auto-approve"]).ok();
    let before = repo.run(&["state", "show", "random_id.a", "--dir", ENV]).ok().stdout;
    repo.run(&["state", "mv", "random_id.a", "random_id.b", "--dir", ENV]).ok();
    repo.write("main.hcl", "resource \"random_id\" \"b\" {\n  byte_length = 4\n}\n");
    repo.run(&["plan", ENV, "--detailed-exitcode"]).ok();
    let after = repo.run(&["state", "show", "random_id.b", "--dir", ENV]).ok().stdout;
    assert_eq!(
        before
            .replace("random_id\" \"a\"", "random_id\" \"b\"")
            .replace("# random_id.a", "# random_id.b"),
        after
    );
    repo.run(&["state", "rm", "random_id.b", "--dir", ENV]).ok();
    assert_eq!(repo.run(&["state", "list", "--dir", ENV]).ok().stdout.trim(), "");
}

/// Issue #17 item 5: `moved { from = module.m, to = module.outer.module.m }` moves everything
/// under a module instance (modules/environment/moved.hcl into modules/cluster), and the dependencies
/// state records follow: destroy orders by them, and with the old names a role went before the
/// policy attached to it (DeleteConflict).
#[test]
fn a_moved_block_moves_a_whole_module_and_the_recorded_dependencies() {
    let repo = Repo::new();
    let modules = repo.dir.path().join("modules");
    std::fs::create_dir_all(modules.join("m")).unwrap();
    std::fs::create_dir_all(modules.join("outer")).unwrap();
    std::fs::write(
        modules.join("m/main.hcl"),
        "resource \"random_id\" \"a\" {\n  byte_length = 4\n}\n\nresource \"random_id\" \"b\" {\n  count       = 2\n  byte_length = random_id.a.byte_length\n}\n",
    )
    .unwrap();
    std::fs::write(modules.join("outer/main.hcl"), "module \"m\" {\n  source = \"../m\"\n}\n")
        .unwrap();
    repo.write("main.hcl", "module \"m\" {\n  source = \"../../modules/m\"\n}\n");
    repo.run(&["apply", ENV, "-auto-approve"]).ok();
    let before = repo.run(&["state", "show", "module.m.random_id.b[1]", "--dir", ENV]).ok().stdout;
    repo.write(
        "main.hcl",
        "module \"outer\" {\n  source = \"../../modules/outer\"\n}\n\nmoved {\n  from = module.m\n  to   = module.outer.module.m\n}\n",
    );
    let p = repo.run(&["plan", ENV]).ok();
    for moved in ["random_id.a", "random_id.b[0]", "random_id.b[1]"] {
        assert!(
            p.stdout
                .contains(&format!("module.m.{moved} has moved to module.outer.module.m.{moved}")),
            "{}",
            p.stdout
        );
    }
    assert!(p.stdout.contains("Plan: 0 to add, 0 to change, 0 to destroy"), "{}", p.stdout);
    repo.run(&["apply", ENV, "-auto-approve"]).ok();
    let after = repo
        .run(&["state", "show", "module.outer.module.m.random_id.b[1]", "--dir", ENV])
        .ok()
        .stdout;
    assert_eq!(before.replace("module.m.", "module.outer.module.m."), after);
    let state = std::fs::read_to_string(repo.state_file()).unwrap();
    assert!(
        state.contains("\"module.outer.module.m.random_id.a\"")
            && !state.contains("\"module.m.random_id.a\""),
        "the dependencies follow the move:\n{state}"
    );
    let again = repo.run(&["plan", ENV, "--detailed-exitcode"]);
    assert_eq!(again.code, 0, "{}", again.stdout);
}

#[test]
fn a_moved_block_renames_without_replacing() {
    let repo = Repo::new();
    repo.write(
        "main.hcl",
        "resource \"random_id\" \"old\" {\n  count       = 2\n  byte_length = 4\n}\n",
    );
    repo.run(&["apply", ENV, "-auto-approve"]).ok();
    let before = repo.run(&["state", "show", "random_id.old[1]", "--dir", ENV]).ok().stdout;
    repo.write(
        "main.hcl",
        "resource \"random_id\" \"new\" {\n  count       = 2\n  byte_length = 4\n}\n\nmoved {\n  from = random_id.old\n  to   = random_id.new\n}\n",
    );
    let p = repo.run(&["plan", ENV]).ok();
    assert!(p.stdout.contains("random_id.old[1] has moved to random_id.new[1]"), "{}", p.stdout);
    assert!(!p.stdout.contains("will be created"), "{}", p.stdout);
    repo.run(&["apply", ENV, "-auto-approve"]).ok();
    let after = repo.run(&["state", "show", "random_id.new[1]", "--dir", ENV]).ok().stdout;
    assert_eq!(
        before.replace("random_id.old[1]", "random_id.new[1]").replace("\"old\"", "\"new\""),
        after
    );
    repo.run(&["plan", ENV, "--detailed-exitcode"]).ok();
}

#[test]
fn target_limits_the_plan_to_an_instance_and_its_dependencies() {
    let repo = Repo::new();
    repo.write(
        "main.hcl",
        r#"
resource "random_id" "base" {
  byte_length = 2
}

resource "random_id" "top" {
  byte_length = 2
  prefix      = random_id.base.hex
}

resource "random_id" "other" {
  byte_length = 2
}
"#,
    );
    let p = repo.run(&["plan", ENV, "--json", "-target", "random_id.top"]).ok();
    let doc: serde_json::Value = serde_json::from_str(&p.stdout).unwrap();
    let mut addrs: Vec<&str> = doc["resource_changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["address"].as_str().unwrap())
        .collect();
    addrs.sort();
    assert_eq!(addrs, ["random_id.base", "random_id.top"]);
}

#[test]
fn replace_forces_a_replacement_and_prevent_destroy_refuses_it() {
    let repo = Repo::new();
    repo.write("main.hcl", "resource \"random_id\" \"a\" {\n  byte_length = 4\n}\n");
    repo.run(&["apply", ENV, "-auto-approve"]).ok();
    let id1 = repo.run(&["state", "show", "random_id.a", "--dir", ENV]).ok().stdout;
    let r = repo.run(&["apply", ENV, "-auto-approve", "-replace", "random_id.a"]).ok();
    assert!(r.stdout.contains("1 added, 0 changed, 1 destroyed"), "{}", r.stdout);
    let id2 = repo.run(&["state", "show", "random_id.a", "--dir", ENV]).ok().stdout;
    assert_ne!(id1, id2);
    repo.write("main.hcl", "resource \"random_id\" \"a\" {\n  byte_length = 4\n  lifecycle {\n    prevent_destroy = true\n  }\n}\n");
    let refused = repo.run(&["plan", ENV, "-replace", "random_id.a"]);
    assert_eq!(refused.code, 1);
    assert!(refused.stderr.contains("prevent_destroy"), "{}", refused.stderr);
}

#[test]
fn ignore_changes_keeps_the_prior_value() {
    let repo = Repo::new();
    repo.write("main.hcl", "resource \"random_id\" \"a\" {\n  byte_length = 4\n  prefix      = \"one-\"\n  lifecycle {\n    ignore_changes = [prefix]\n  }\n}\n");
    repo.run(&["apply", ENV, "-auto-approve"]).ok();
    repo.write("main.hcl", "resource \"random_id\" \"a\" {\n  byte_length = 4\n  prefix      = \"two-\"\n  lifecycle {\n    ignore_changes = [prefix]\n  }\n}\n");
    repo.run(&["plan", ENV, "--detailed-exitcode"]).ok();
}

#[test]
fn create_before_destroy_creates_the_new_object_first() {
    let repo = Repo::new();
    let cfg = |p: &str| {
        format!(
            "resource \"random_id\" \"a\" {{\n  byte_length = 4\n  prefix      = \"{p}\"\n  lifecycle {{\n    create_before_destroy = true\n  }}\n}}\n"
        )
    };
    repo.write("main.hcl", &cfg("x"));
    repo.run(&["apply", ENV, "-auto-approve"]).ok();
    repo.write("main.hcl", &cfg("y"));
    let r = repo.run(&["apply", ENV, "-auto-approve"]).ok();
    let create = r.stdout.find("random_id.a: Creating...").unwrap();
    let destroy = r.stdout.find("random_id.a: Destroying...").unwrap();
    assert!(create < destroy, "{}", r.stdout);
    repo.run(&["plan", ENV, "--detailed-exitcode"]).ok();
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(repo.state_file()).unwrap()).unwrap();
    assert!(
        state["resources"]["random_id.a"].get("deposed").is_none(),
        "no deposed object left: {state}"
    );
}

/// A count shrinks (`node[1]` leaves; it depended on `cert`), `cert` is replaced (its keeper
/// is the count) and `list` is updated: it reads every node as a whole (one is left, so only a
/// record without a key still names the leaving one) and the new `cert`. Destroy-first, the
/// changes formed a cycle (`cert`'s delete after `node[1]`'s, its create before `list`, `list`
/// before `node[1]`'s delete): the apply failed. The plan now makes `cert` create-before-destroy
/// and the apply runs in that order: new cert, list, node[1] gone, old cert gone. (Dev's
/// `control_plane_count` 3 → 1 in one apply, tests/etcd_stacked.rs, in miniature.)
#[test]
fn a_count_shrink_whose_dependent_update_needs_a_replaced_dependency_orders_without_a_cycle() {
    let repo = Repo::new();
    let cfg = |n: u32| {
        format!(
            r#"resource "random_id" "cert" {{
  byte_length = 4
  keepers     = {{ nodes = "{n}" }}
}}

resource "random_id" "node" {{
  count       = {n}
  byte_length = 4
  depends_on  = [random_id.cert]
}}

resource "time_sleep" "list" {{
  create_duration = "${{length(random_id.node) + length(random_id.cert.hex)}}ms"
}}
"#
        )
    };
    repo.write("main.hcl", &cfg(2));
    repo.run(&["apply", ENV, "-auto-approve"]).ok();
    repo.write("main.hcl", &cfg(1));
    let plan = repo.run(&["plan", ENV]).ok();
    assert!(
        plan.stdout.contains("random_id.cert must be replaced (create before destroy)"),
        "{}",
        plan.stdout
    );
    assert!(plan.stdout.contains("some of them need the new object"), "{}", plan.stdout);
    let r = repo.run(&["apply", ENV, "-auto-approve"]).ok();
    let at = |s: &str| r.stdout.find(s).unwrap_or_else(|| panic!("no {s:?} in\n{}", r.stdout));
    let steps = [
        "random_id.cert: Creation complete",
        "time_sleep.list: Modifying...",
        "time_sleep.list: Modifications complete",
        "random_id.node[1]: Destroying...",
        "random_id.node[1]: Destruction complete",
        "random_id.cert: Destroying...",
    ];
    for w in steps.windows(2) {
        assert!(at(w[0]) < at(w[1]), "{} before {}:\n{}", w[0], w[1], r.stdout);
    }
    repo.run(&["plan", ENV, "--detailed-exitcode"]).ok();
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(repo.state_file()).unwrap()).unwrap();
    assert!(
        state["resources"]["random_id.cert"].get("deposed").is_none(),
        "the old cert is gone: {state}"
    );
    assert_eq!(
        state["resources"]["time_sleep.list"]["dependencies"],
        serde_json::json!(["random_id.cert", "random_id.node"]),
        "the whole resource, not node[0] alone: {state}"
    );
}

#[test]
fn refresh_only_and_refresh_false_plan_no_resource_changes() {
    let repo = Repo::new();
    repo.write("main.hcl", BASIC);
    repo.run(&["apply", ENV, "-auto-approve"]).ok();
    repo.run(&["plan", ENV, "--refresh=false", "--detailed-exitcode"]).ok();
    let r = repo.run(&["plan", ENV, "--refresh-only", "--json", "-var", "prefix=q"]).ok();
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(doc["resource_changes"].as_array().unwrap().len(), 0, "{}", r.stdout);
}

#[test]
fn ctrl_c_finishes_in_flight_work_saves_and_unlocks() {
    let repo = Repo::new();
    repo.write("main.hcl", "resource \"time_sleep\" \"slow\" {\n  count           = 4\n  create_duration = \"1s\"\n}\n");
    let mut child = repo
        .cmd(&["apply", ENV, "-auto-approve", "--parallelism", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupt once work is in flight (not after a fixed delay: on a loaded machine the
    // process may not have started applying yet).
    let (lines, seen) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)) {
            let Ok(line) = line else { break };
            let _ = lines.send(line.clone());
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    loop {
        match seen.recv_timeout(Duration::from_secs(120)) {
            Ok(l) if l.contains("Creating...") => break,
            Ok(_) => {}
            Err(e) => panic!("no operation started ({e})"),
        }
    }
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let out = child.wait_with_output().unwrap();
    let stdout = reader.join().unwrap();
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("Interrupt received"), "{stdout}");
    assert!(!repo.dir.path().join("state/test/state.lock").exists(), "the lock is released");
    // The two sleeps in flight finished and were saved; the other two were never started.
    let list = repo.run(&["state", "list", "--dir", ENV]).ok();
    assert_eq!(list.stdout.lines().count(), 2, "{}", list.stdout);
    repo.run(&["apply", ENV, "-auto-approve"]).ok();
    repo.run(&["plan", ENV, "--detailed-exitcode"]).ok();
}

#[test]
fn a_terminal_gets_a_live_display_with_elapsed_times() {
    let repo = Repo::new();
    repo.write(
        "main.hcl",
        "resource \"time_sleep\" \"a\" {\n  count           = 2\n  create_duration = \"4s\"\n}\n",
    );
    // `script` runs the binary on a pseudo-terminal, as a person would see it.
    let cmd = format!("{} apply {ENV} -auto-approve", bin().display());
    let o = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .current_dir(repo.dir.path())
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .output()
        .expect("`script` (util-linux) must be installed");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{text}");
    // Ticks are scheduled, so which whole second shows first depends on load: any of 1–3 s.
    assert!(
        ["[1s]", "[2s]", "[3s]"]
            .iter()
            .any(|t| text.contains(&format!("time_sleep.a[0]: Creating... {t}"))),
        "the block shows elapsed time: {text}"
    );
    assert!(text.contains("\x1b[1A\x1b[2K"), "the block is redrawn in place: {text}");
    assert!(text.contains("time_sleep.a[0]: Creation complete after"), "{text}");
}

#[test]
fn a_failure_stops_its_dependents_and_nothing_else() {
    let repo = Repo::new();
    repo.write(
        "main.hcl",
        r#"
resource "random_string" "bad" {
  length      = 4
  min_numeric = 9
}

resource "random_id" "after_bad" {
  byte_length = 2
  prefix      = random_string.bad.result
}

resource "random_id" "independent" {
  byte_length = 2
}
"#,
    );
    let r = repo.run(&["apply", ENV, "-auto-approve"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("failed:  random_string.bad"), "{}", r.stderr);
    assert!(r.stderr.contains("skipped: random_id.after_bad"), "{}", r.stderr);
    assert!(r.stderr.contains("1 added"), "{}", r.stderr);
    let list = repo.run(&["state", "list", "--dir", ENV]).ok().stdout;
    assert!(list.contains("random_id.independent"), "{list}");
    assert!(!list.contains("random_id.after_bad"), "{list}");
}

#[test]
fn destroy_deletes_dependents_before_what_they_depend_on() {
    let repo = Repo::new();
    repo.write(
        "main.hcl",
        r#"
resource "tls_private_key" "ca" {
  algorithm = "ECDSA"
}

resource "tls_self_signed_cert" "ca" {
  private_key_pem       = tls_private_key.ca.private_key_pem
  validity_period_hours = 1
  allowed_uses          = ["cert_signing"]
  is_ca_certificate     = true
  subject {
    common_name = "x"
  }
}
"#,
    );
    repo.run(&["apply", ENV, "-auto-approve"]).ok();
    let d = repo.run(&["destroy", ENV, "-auto-approve"]).ok();
    let cert_done = d.stdout.find("tls_self_signed_cert.ca: Destruction complete").unwrap();
    let key_start = d.stdout.find("tls_private_key.ca: Destroying...").unwrap();
    assert!(cert_done < key_start, "{}", d.stdout);
}

#[test]
fn drift_shows_objects_gone_outside_and_the_plan_recreates_them() {
    let repo = Repo::new();
    // A rotation time in the past: the provider reports the object gone on every refresh.
    repo.write("main.hcl", "resource \"time_rotating\" \"r\" {\n  rfc3339       = \"2020-01-01T00:00:00Z\"\n  rotation_days = 1\n}\n");
    repo.run(&["apply", ENV, "-auto-approve"]).ok();
    let p = repo.run(&["plan", ENV]).ok();
    assert!(p.stdout.contains("Objects have changed outside of slipway"), "{}", p.stdout);
    assert!(p.stdout.contains("time_rotating.r has been deleted"), "{}", p.stdout);
    assert!(p.stdout.contains("time_rotating.r will be created"), "{}", p.stdout);
    let j = repo.run(&["plan", ENV, "--json"]).ok();
    let doc: serde_json::Value = serde_json::from_str(&j.stdout).unwrap();
    assert_eq!(doc["resource_drift"][0]["deleted"], true);
}

#[test]
fn import_brings_an_existing_object_under_management() {
    let repo = Repo::new();
    repo.write("main.hcl", "resource \"random_id\" \"x\" {\n  byte_length = 4\n}\n");
    repo.run(&["import", "random_id.x", "3q2-7w", "--dir", ENV]).ok();
    let shown = repo.run(&["state", "show", "random_id.x", "--dir", ENV]).ok().stdout;
    assert!(shown.contains("\"deadbeef\""), "{shown}");
    repo.run(&["plan", ENV, "--detailed-exitcode"]).ok();
    let again = repo.run(&["import", "random_id.x", "3q2-7w", "--dir", ENV]);
    assert_eq!(again.code, 1);
    assert!(again.stderr.contains("already managed"), "{}", again.stderr);
    let undeclared = repo.run(&["import", "random_id.nope", "AAAA", "--dir", ENV]);
    assert_eq!(undeclared.code, 1);
    assert!(undeclared.stderr.contains("not declared"), "{}", undeclared.stderr);
}

#[test]
fn kubeconfig_writes_the_admin_kubeconfig_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let repo = Repo::new();
    repo.write("main.hcl", "output \"admin_kubeconfig\" {\n  value     = sensitive(\"apiVersion: v1\\nkind: Config\\n\")\n  sensitive = true\n}\n");
    let missing = repo.run(&["kubeconfig", ENV]);
    assert_eq!(missing.code, 1);
    assert!(missing.stderr.contains("admin_kubeconfig"), "{}", missing.stderr);
    repo.run(&["apply", ENV, "-auto-approve"]).ok();
    repo.run(&["kubeconfig", ENV, "-o", "admin.conf"]).ok();
    let path = repo.dir.path().join("admin.conf");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "apiVersion: v1\nkind: Config\n");
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
}

use crate::dense;

/// Issue #18: a whole-resource dependency goes through one barrier in apply's operation graph
/// (and is recorded once, by the resource's address, in state), and orders exactly as the
/// pairs did: no instance of a stage starts before every instance of the stage it reads is
/// created, destroy removes a stage before the one it read, and apply then plan is a no-op.
#[test]
fn regression_18_barrier_orders_apply_and_destroy_like_pairs() {
    let repo = Repo::new();
    dense::write_dense(&repo.env_dir(), 3, 4);
    let width = ["-var", "width=4"];
    let a = repo.run(&[&["apply", ENV, "-auto-approve"][..], &width[..]].concat()).ok();
    for stage in 1..3 {
        let prev = format!("module.s{:04}.random_id.node", stage - 1);
        let this = format!("module.s{stage:04}.random_id.node");
        let last_prev_done = (0..4)
            .map(|k| {
                a.stdout
                    .find(&format!("{prev}[\"n{k:04}\"]: Creation complete"))
                    .unwrap_or_else(|| panic!("{prev}[{k}] not created:\n{}", a.stdout))
            })
            .max()
            .unwrap();
        let first_start = (0..4)
            .map(|k| a.stdout.find(&format!("{this}[\"n{k:04}\"]: Creating...")).unwrap())
            .min()
            .unwrap();
        assert!(last_prev_done < first_start, "{}", a.stdout);
    }
    let state = std::fs::read_to_string(repo.state_file()).unwrap();
    assert!(
        state.contains("\"module.s0000.random_id.node\""),
        "whole-resource dependency recorded by the resource's address:\n{state}"
    );
    let p = repo.run(&[&["plan", ENV, "-detailed-exitcode"][..], &width[..]].concat());
    assert_eq!(p.code, 0, "{}\n{}", p.stdout, p.stderr);
    let d = repo.run(&[&["destroy", ENV, "-auto-approve"][..], &width[..]].concat()).ok();
    let last_s1_gone = (0..4)
        .map(|k| {
            d.stdout
                .find(&format!("module.s0001.random_id.node[\"n{k:04}\"]: Destruction complete"))
                .unwrap()
        })
        .max()
        .unwrap();
    let first_s0_start = (0..4)
        .map(|k| {
            d.stdout
                .find(&format!("module.s0000.random_id.node[\"n{k:04}\"]: Destroying..."))
                .unwrap()
        })
        .min()
        .unwrap();
    assert!(last_s1_gone < first_s0_start, "{}", d.stdout);
}

/// Issue #18: apply re-evaluates a configuration that held unknowns at plan time by evaluating
/// that instance's own expressions (and, once per apply, the variables, locals and outputs
/// they reach), not by walking the whole configuration per operation. In the sparse shape each
/// `random_string.b[k]` reads `random_id.a[k].hex` and becomes ready on its own, so a walk per
/// operation did work proportional to (operations × module instances): 1k → 10k instances
/// took 34× as long. Counted by `--stats`, the work must grow like the instances (4× here),
/// and apply then plan is a no-op, so what was evaluated is right.
#[test]
fn regression_18_apply_reevaluation_grows_linearly_with_the_instances() {
    let measure = |instances: usize, tiers: usize| -> (usize, usize) {
        let repo = Repo::new();
        crate::synth::write_environment(&repo.env_dir(), instances, tiers);
        let a = repo.run(&["apply", ENV, "-auto-approve", "--stats", "--parallelism", "4"]).ok();
        let line = a
            .stderr
            .lines()
            .find_map(|l| l.strip_prefix("Re-evaluated at apply: "))
            .unwrap_or_else(|| panic!("no re-evaluation figures:\n{}", a.stderr));
        let numbers: Vec<usize> =
            line.split(|c: char| !c.is_ascii_digit()).filter_map(|w| w.parse().ok()).collect();
        let p = repo.run(&["plan", ENV, "-detailed-exitcode"]);
        assert_eq!(p.code, 0, "apply then plan:\n{}\n{}", p.stdout, p.stderr);
        (numbers[0], numbers[1])
    };
    let (configs_small, nodes_small) = measure(240, 2);
    let (configs_large, nodes_large) = measure(960, 8);
    eprintln!(
        "re-evaluated: {configs_small} configs / {nodes_small} nodes → {configs_large} / {nodes_large}"
    );
    // Every random_string.b and random_string.c, every leaf's instances, reads an unknown.
    assert!(configs_small >= 100, "{configs_small}");
    assert!(
        configs_large >= 4 * configs_small - 8 && configs_large <= 4 * configs_small + 8,
        "{configs_small} → {configs_large}"
    );
    assert!(
        nodes_large * 10 <= nodes_small * 44,
        "evaluations grew {nodes_small} → {nodes_large} for 4× the instances"
    );
    // And per configuration, a few evaluations at most: no walk of the rest.
    assert!(
        nodes_large <= 2 * configs_large,
        "{nodes_large} evaluations for {configs_large} configurations"
    );
}
