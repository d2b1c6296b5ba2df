//! Quorum-safe etcd membership (issue #16 item 1): the membership script `modules/etcd` renders
//! (`member_scripts`, templates/etcd-member.sh.tftpl) is run — the rendered bytes, with only its
//! paths relative, as tests/etcd.rs does with the config files — against real etcd 3.6 members
//! (`etcd`, `etcdctl` from `SLIPWAY_KUBE_BIN`) on 127.0.41.1–5, while a writer thread keeps
//! writing through `etcdctl`:
//!
//! - 3 → 5 → 3 members, two joins racing (etcd admits one learner at a time) and the reconcile
//!   removing the undeclared members one per run;
//! - one member replaced (killed, its data wiped, its script re-run): learner, promoted;
//! - a replacement refused while another voter is down (5 members) or quorum is lost (3);
//! - the script SIGKILLed once its learner was added, then re-run: it converges, no duplicate;
//! - shellcheck of every rendered script; the scripts and configs of members a–c do not change
//!   when the declared count goes from 3 to 5 (user-data stays, so no member is replaced).
//!
//! The declared member list is read from a local file (`SLIPWAY_ETCD_MEMBERS_FILE`, the script's
//! test-only override) rather than from S3 through moto: the S3 read is one `aws s3 cp`, and
//! what is under test is the membership logic against real etcd; the object and its IAM policy
//! are checked on the plan of environments/prod (tests/aws_prod.rs).
//!
//! "No quorum loss" is checked two ways, continuously while a change runs: a monitor thread asks
//! every member for `endpoint status` every 200 ms and records each round in which no answering
//! member knew a leader (there must be none), and the writer's failed puts are retried and
//! counted (at most a bounded few in a row, each a timeout or an unavailable endpoint). Every
//! acknowledged write must be readable at the end. The tests share fixed ports and addresses, so
//! they run one at a time (a lock).

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crate::etcd::{Run, etcdctl, run, wait_until};
use crate::etcdutil::{Member, Members, members_lab};

const ENV: &str = "environments/test";
const PKI_ETCD: &str = "/etc/kubernetes/pki/etcd";
const MEMBERS: [(&str, &str); 5] = [
    ("etcd-a", "127.0.41.1"),
    ("etcd-b", "127.0.41.2"),
    ("etcd-c", "127.0.41.3"),
    ("etcd-d", "127.0.41.4"),
    ("etcd-e", "127.0.41.5"),
];
const INSTALL: &str = "build etcd with `export SLIPWAY_KUBE_BIN=$(scripts/install-kube)`; \
                       install jq, flock and shellcheck (scripts/install-deps)";

// ---------------------------------------------------------------------------------------------
// The rendered modules

type Texts = BTreeMap<String, String>;

struct Fixture {
    client_port: u16,
    peer_port: u16,
    bundles: BTreeMap<String, Texts>,
    scripts3: Texts,
    scripts5: Texts,
    configs3: Texts,
    configs5: Texts,
    declared3: String,
    declared5: String,
    units: Texts,
}

fn slipway(root: &Path, args: &[&str]) -> Run {
    run(Command::new(crate::util::slipway_bin())
        .args(args)
        .current_dir(root)
        .env("NO_COLOR", "1")
        .env_remove("SLIPWAY_STATE_DIR"))
}

fn json_output<T: serde::de::DeserializeOwned>(root: &Path, name: &str) -> T {
    let json = slipway(root, &["output", name, "--json", "--dir", ENV])
        .ok(&format!("slipway output {name} --json"))
        .stdout;
    serde_json::from_str(&json).unwrap_or_else(|e| panic!("output {name}: {e}\n{json}"))
}

fn hcl_members(n: usize) -> String {
    let body: Vec<String> =
        MEMBERS[..n].iter().map(|(k, v)| format!("    {k} = \"{v}\"")).collect();
    format!("{{\n{}\n  }}", body.join("\n"))
}

/// The same cluster declared with 3 and with 5 members: the paths are relative (each member
/// runs in its own directory), everything else is the modules' defaults but short retry bounds.
fn environment(client_port: u16, peer_port: u16) -> String {
    let etcd = |label: &str, n: usize| {
        format!(
            r#"
module "{label}" {{
  source                = "../../modules/etcd"
  cluster_name          = "test"
  topology              = "external"
  members               = {members}
  client_port           = {client_port}
  peer_port             = {peer_port}
  listen_on_localhost   = false
  data_dir              = "data"
  pki_dir               = "pki"
  config_file           = "etcd.conf.yml"
  member_config_file    = "etcd.member.conf.yml"
  initial_cluster_token = "slipway-member-test"
  members_uri           = "s3://test-bucket/nodes/etcd-members.json"
  control_plane_cidrs   = ["127.0.41.100/32"]
  membership_retries = {{
    add_attempts       = 120
    promote_attempts   = 120
    delay_seconds      = 1
    reconcile_interval = "1min"
  }}
}}
"#,
            members = hcl_members(n)
        )
    };
    format!(
        r#"
module "pki" {{
  source                = "../../modules/pki"
  apiserver_lb_dns_name = "k8s-api.test.internal"
  control_plane_nodes   = {{ cp-a = "127.0.41.100" }}
  etcd_members          = {members}
}}
{etcd3}
{etcd5}
output "bundles" {{
  value     = module.pki.bundles
  sensitive = true
}}

output "scripts3" {{
  value = module.etcd3.member_scripts
}}

output "scripts5" {{
  value = module.etcd5.member_scripts
}}

output "configs3" {{
  value = module.etcd3.member_config_files
}}

output "configs5" {{
  value = module.etcd5.member_config_files
}}

output "declared3" {{
  value = module.etcd3.declared_members
}}

output "declared5" {{
  value = module.etcd5.declared_members
}}

output "units" {{
  value = module.etcd5.membership_units
}}
"#,
        members = hcl_members(5),
        etcd3 = etcd("etcd3", 3),
        etcd5 = etcd("etcd5", 5),
    )
}

/// A port free on all five addresses (and not in `avoid`).
fn free_port(avoid: &[u16]) -> u16 {
    crate::util::free_port(&MEMBERS.map(|(_, ip)| ip), avoid)
}

static FIXTURE: OnceLock<Fixture> = OnceLock::new();

fn fixture() -> &'static Fixture {
    FIXTURE.get_or_init(|| {
        let scratch = Path::new(env!("CARGO_TARGET_TMPDIR"));
        crate::util::remove_stale_dirs(scratch, "etcd-membership-");
        let root = scratch.join(format!("etcd-membership-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let modules = Path::new(env!("CARGO_MANIFEST_DIR")).join("modules");
        for module in ["pki", "etcd"] {
            crate::util::copy_dir(&modules.join(module), &root.join("modules").join(module));
        }
        let client_port = free_port(&[]);
        let peer_port = free_port(&[client_port]);
        std::fs::create_dir_all(root.join(ENV)).unwrap();
        std::fs::write(root.join(ENV).join("main.hcl"), environment(client_port, peer_port))
            .unwrap();
        slipway(&root, &["apply", ENV, "-auto-approve"]).ok("apply");
        Fixture {
            client_port,
            peer_port,
            bundles: json_output(&root, "bundles"),
            scripts3: json_output(&root, "scripts3"),
            scripts5: json_output(&root, "scripts5"),
            configs3: json_output(&root, "configs3"),
            configs5: json_output(&root, "configs5"),
            declared3: json_output(&root, "declared3"),
            declared5: json_output(&root, "declared5"),
            units: json_output(&root, "units"),
        }
    })
}

/// The tests share addresses and ports: one at a time. tests/etcd_stacked.rs takes the same
/// lock: two labs of real members, writers and monitors at once starve a small machine, and the
/// monitor's 1 s probes then time out.
pub(crate) fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

// ---------------------------------------------------------------------------------------------
// Members on the loopback

struct Lab {
    f: &'static Fixture,
    /// The processes, directories, script runs and etcdctl reads (tests/etcdutil.rs).
    m: Members,
}

members_lab!(Lab);

fn ip(name: &str) -> &'static str {
    MEMBERS.iter().find(|(n, _)| *n == name).unwrap().1
}

impl Lab {
    fn new() -> Lab {
        let f = fixture();
        // The healthcheck client's files, outside every member's directory (a replaced
        // member's directory is wiped while the writer runs).
        let client = ["ca.crt", "healthcheck-client.crt", "healthcheck-client.key"]
            .map(|file| (file, f.bundles["etcd-a"][&format!("{PKI_ETCD}/{file}")].as_str()));
        Lab { f, m: Members::new(client, INSTALL) }
    }

    fn client_url(&self, name: &str) -> String {
        format!("https://{}:{}", ip(name), self.f.client_port)
    }

    fn peer_url(&self, name: &str) -> String {
        format!("https://{}:{}", ip(name), self.f.peer_port)
    }

    fn all_endpoints(&self) -> Vec<String> {
        MEMBERS.iter().map(|(n, _)| self.client_url(n)).collect()
    }

    /// The declared list the scripts read: 3 or 5 members, as rendered.
    fn declare(&self, count: usize) {
        let json = if count == 3 { &self.f.declared3 } else { &self.f.declared5 };
        std::fs::write(&self.declared, json).unwrap();
    }

    /// What a new instance of the member has: its bundle's etcd files, the config and script
    /// from its user-data (rendered for the 5-member declaration: the same bytes as for 3).
    fn install(&self, name: &str) {
        let dir = self.dir(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("pki")).unwrap();
        for (path, pem) in &self.f.bundles[name] {
            let file = path
                .strip_prefix(&format!("{PKI_ETCD}/"))
                .unwrap_or_else(|| panic!("{name}: {path} is outside {PKI_ETCD}"));
            std::fs::write(dir.join("pki").join(file), pem).unwrap();
        }
        std::fs::write(dir.join("etcd.conf.yml"), &self.f.configs5[name]).unwrap();
        std::fs::write(dir.join("member.sh"), &self.f.scripts5[name]).unwrap();
    }

    /// `etcd --config-file etcd.member.conf.yml` as the unit's drop-in starts it.
    fn start(&mut self, name: &str) {
        self.spawn_etcd(name, &["--config-file", "etcd.member.conf.yml"]);
    }

    /// Kill, and lose the data volume and the root disk's config: a replaced instance.
    fn destroy(&mut self, name: &str) {
        self.kill(name);
        self.install(name);
    }

    /// A node's boot: prepare (before etcd), etcd, promote (after etcd).
    fn boot(&mut self, name: &str) -> (Run, Run) {
        let prepare = self.script(name, "prepare").ok(&format!("{name} prepare"));
        self.start(name);
        let promote = self.script(name, "promote").ok(&format!("{name} promote"));
        (prepare, promote)
    }

    /// A fresh cluster of `n` declared members: every prepare finds no peer and bootstraps.
    fn bootstrap(&mut self, n: usize) {
        self.declare(n);
        let names: Vec<&str> = MEMBERS[..n].iter().map(|(n, _)| *n).collect();
        for name in &names {
            self.install(name);
            let r = self.script(name, "prepare").ok(&format!("{name} first prepare"));
            assert!(r.stderr.contains("first bootstrap"), "{name}: {}", r.stderr);
        }
        for name in &names {
            self.start(name);
        }
        self.wait_voters(&names);
        for name in &names {
            let r = self.script(name, "promote").ok("promote of a voter");
            assert!(r.stderr.contains("is a voter"), "{}", r.stderr);
        }
    }

    /// Member list as (id, name, peer URL, learner), from any answering member.
    fn members(&self) -> Result<Vec<Member>, String> {
        self.m.members(&self.all_endpoints())
    }

    /// Waits until exactly `names` are the members, all started voters, all healthy.
    fn wait_voters(&mut self, names: &[&str]) {
        let voters: Vec<(&str, String, String)> =
            names.iter().map(|n| (*n, self.peer_url(n), self.client_url(n))).collect();
        let endpoints = self.all_endpoints();
        self.m.wait_voters(&voters, &endpoints);
    }

    /// The member currently leading, by name.
    fn leader(&self) -> String {
        let nodes: Vec<(&str, String)> =
            MEMBERS.iter().map(|(n, _)| (*n, self.client_url(n))).collect();
        self.m.leader(&nodes)
    }
}

// ---------------------------------------------------------------------------------------------
// The writer and the leader monitor

/// A writer and a leader monitor on a cluster (also used by tests/etcd_stacked.rs).
pub(crate) struct Load {
    stop: Arc<AtomicBool>,
    writer: std::thread::JoinHandle<Writes>,
    monitor: std::thread::JoinHandle<Rounds>,
}

#[derive(Debug, Default)]
pub(crate) struct Writes {
    pub(crate) acked: Vec<String>,
    pub(crate) failures: Vec<String>,
    pub(crate) max_in_a_row: usize,
}

#[derive(Debug, Default)]
pub(crate) struct Rounds {
    pub(crate) total: usize,
    pub(crate) without_leader: Vec<String>,
    /// Rounds in which no member answered within the probe's timeout (a starved machine): no
    /// evidence either way. A cluster without quorum still answers `endpoint status` (leader 0).
    pub(crate) unanswered: usize,
}

/// One line on a finished load: writes, failures, monitor rounds.
pub(crate) fn summary(writes: &Writes, rounds: &Rounds) -> String {
    format!(
        "{} writes, {} failed (max {} in a row), {} monitor rounds ({} unanswered)",
        writes.acked.len(),
        writes.failures.len(),
        writes.max_in_a_row,
        rounds.total,
        rounds.unanswered
    )
}

/// The healthcheck client's files etcdctl authenticates with: (flag, path).
pub(crate) type Tls = [(&'static str, PathBuf); 3];

impl Load {
    fn start(lab: &Lab) -> Load {
        Load::start_on(lab.all_endpoints(), lab.tls())
    }

    /// Starts the writer (puts through every endpoint) and the monitor (each endpoint's status).
    pub(crate) fn start_on(endpoints: Vec<String>, tls: Tls) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let (s, e, t) = (stop.clone(), endpoints.clone(), tls.clone());
        let writer = std::thread::spawn(move || {
            let tls: Vec<(&str, &Path)> = t.iter().map(|(k, p)| (*k, p.as_path())).collect();
            let mut w = Writes::default();
            let mut in_a_row = 0;
            let mut i = 0;
            while !s.load(Ordering::Relaxed) {
                let key = format!("/load/{i:06}");
                let r = etcdctl(&e, &tls, &["put", &key, &format!("v{i}")]);
                if r.code == 0 && r.stdout.trim() == "OK" {
                    w.acked.push(key);
                    i += 1;
                    in_a_row = 0;
                } else {
                    // Retried with the same key and value: a put is idempotent.
                    w.failures.push(r.all());
                    in_a_row += 1;
                    w.max_in_a_row = w.max_in_a_row.max(in_a_row);
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
            w
        });
        let s = stop.clone();
        let monitor = std::thread::spawn(move || {
            let mut rounds = Rounds::default();
            while !s.load(Ordering::Relaxed) {
                // Every member at once (a dead one costs the 1 s timeout, in parallel).
                let probes: Vec<_> = endpoints
                    .iter()
                    .map(|endpoint| {
                        let (endpoint, tls) = (endpoint.clone(), tls.clone());
                        std::thread::spawn(move || {
                            let tls: Vec<(&str, &Path)> =
                                tls.iter().map(|(k, p)| (*k, p.as_path())).collect();
                            let r = etcdctl(
                                std::slice::from_ref(&endpoint),
                                &tls,
                                &[
                                    "endpoint",
                                    "status",
                                    "-w",
                                    "json",
                                    "--dial-timeout=500ms",
                                    "--command-timeout=1s",
                                ],
                            );
                            serde_json::from_str::<serde_json::Value>(&r.stdout)
                                .ok()
                                .and_then(|v| v[0]["Status"]["leader"].as_u64())
                        })
                    })
                    .collect();
                let leaders: Vec<u64> =
                    probes.into_iter().filter_map(|p| p.join().unwrap()).collect();
                rounds.total += 1;
                if leaders.is_empty() {
                    rounds.unanswered += 1;
                } else if !leaders.iter().any(|l| *l != 0) {
                    rounds
                        .without_leader
                        .push(format!("{} answered, leaders {leaders:?}", leaders.len()));
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            rounds
        });
        Load { stop, writer, monitor }
    }

    /// Stops the load; asserts every round saw a leader, the writer never failed more than a
    /// few times in a row, and every acknowledged write is readable.
    fn finish(self, lab: &Lab, what: &str) -> (Writes, Rounds) {
        self.finish_on(&lab.all_endpoints(), &lab.tls(), what)
    }

    /// `finish` against any cluster: `endpoints` and `tls` read the writes back.
    pub(crate) fn finish_on(self, endpoints: &[String], tls: &Tls, what: &str) -> (Writes, Rounds) {
        // Some writes after the change, so a lost quorum at its end would show too.
        std::thread::sleep(Duration::from_secs(2));
        self.stop.store(true, Ordering::Relaxed);
        let writes = self.writer.join().unwrap();
        let rounds = self.monitor.join().unwrap();
        assert!(
            rounds.without_leader.is_empty() && rounds.total - rounds.unanswered >= 5,
            "{what}: rounds without a leader: {:?} of {} ({} unanswered)",
            rounds.without_leader,
            rounds.total,
            rounds.unanswered
        );
        assert!(writes.acked.len() > 20, "{what}: few writes: {writes:?}");
        assert!(
            writes.max_in_a_row <= 5,
            "{what}: the writer failed {} times in a row: {:?}",
            writes.max_in_a_row,
            writes.failures
        );
        for failure in &writes.failures {
            assert!(
                [
                    "deadline exceeded",
                    "Unavailable",
                    "unavailable",
                    "timed out",
                    "leader changed",
                    // The member that took the request was removed while it was in flight
                    // (etcd's ErrStopped): not acknowledged, so retried like the others.
                    "raft: stopped",
                    "server stopped",
                    // Dropped during a leader change or a removal: not acknowledged either.
                    "raft proposal dropped",
                ]
                .iter()
                .any(|retryable| failure.contains(retryable)),
                "{what}: a write failed for a non-retryable reason: {failure}"
            );
        }
        let tls: Vec<(&str, &Path)> = tls.iter().map(|(k, p)| (*k, p.as_path())).collect();
        // A linearizable read through a member that just joined can time out on a loaded
        // machine: retried (a timed-out read says nothing about the writes).
        let mut stdout = String::new();
        wait_until("read back the writes", Duration::from_secs(60), || {
            let r = etcdctl(endpoints, &tls, &["get", "/load/", "--prefix", "-w", "json"]);
            if r.code != 0 {
                return Err(r.all());
            }
            stdout = r.stdout;
            Ok(())
        });
        let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        let stored: std::collections::BTreeSet<String> = v["kvs"]
            .as_array()
            .map(|kvs| kvs.iter().map(|kv| decode_b64(kv["key"].as_str().unwrap())).collect())
            .unwrap_or_default();
        let lost: Vec<&String> = writes.acked.iter().filter(|k| !stored.contains(*k)).collect();
        assert!(lost.is_empty(), "{what}: {} acknowledged writes lost: {lost:?}", lost.len());
        (writes, rounds)
    }
}

/// etcdctl's JSON carries keys in base64.
fn decode_b64(s: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let mut buf = 0u32;
    let mut bits = 0;
    for c in s.bytes().filter(|c| *c != b'=') {
        let v = ALPHABET.iter().position(|a| *a == c).unwrap() as u32;
        buf = (buf << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
            buf &= (1 << bits) - 1;
        }
    }
    String::from_utf8(out).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Tests

#[test]
fn etcd_membership_scripts_pass_shellcheck_and_scaling_keeps_user_data() {
    let f = fixture();
    for (name, script) in &f.scripts5 {
        // Shellcheck of what the node runs.
        crate::etcdutil::assert_shellcheck(name, script, INSTALL);
        assert!(!script.contains("PRIVATE KEY"), "{name}");
        assert!(
            script.contains(&format!("NAME='{name}'"))
                && script.contains("MEMBERS_URI='s3://test-bucket/nodes/etcd-members.json'"),
            "{name}"
        );
    }
    // Scaling 3 → 5 rewrites the declared list only: members a-c get the same script and
    // config bytes (their user-data, force-new on EC2, does not change).
    for (name, _) in &MEMBERS[..3] {
        assert_eq!(f.scripts3[*name], f.scripts5[*name], "{name}: script");
        assert_eq!(f.configs3[*name], f.configs5[*name], "{name}: config");
        assert!(
            f.configs5[*name].contains(&format!(
                "\"initial-cluster\": \"{name}=https://{}:{}\"\n",
                ip(name),
                f.peer_port
            )),
            "{}",
            f.configs5[*name]
        );
    }
    assert_ne!(f.declared3, f.declared5);
    let declared: serde_json::Value = serde_json::from_str(&f.declared5).unwrap();
    assert_eq!(
        declared["members"]["etcd-e"]["peer_url"],
        format!("https://127.0.41.5:{}", f.peer_port)
    );
    assert_eq!(
        declared["members"]["etcd-e"]["client_url"],
        format!("https://127.0.41.5:{}", f.client_port)
    );
    assert_eq!(declared["members"].as_object().unwrap().len(), 5);
    // etcd starts only from the config prepare wrote, and only after prepare succeeded.
    let dropin = &f.units["/etc/systemd/system/etcd.service.d/10-slipway-member.conf"];
    assert!(
        dropin.contains("Requires=slipway-etcd-member.service")
            && dropin.contains(
                "\nExecStart=\nExecStart=/usr/local/bin/etcd --config-file etcd.member.conf.yml\n"
            ),
        "{dropin}"
    );
    let prepare = &f.units["/etc/systemd/system/slipway-etcd-member.service"];
    assert!(
        prepare.contains("Before=etcd.service")
            && prepare.contains("ExecStart=/usr/local/sbin/slipway-etcd-member prepare"),
        "{prepare}"
    );
}

#[test]
fn etcd_membership_3_to_5_to_3_under_writes_keeps_quorum() {
    let _serial = serial();
    let mut lab = Lab::new();
    lab.bootstrap(3);
    let load = Load::start(&lab);

    // 3 → 5: d and e boot together; etcd admits one learner at a time, so one of them waits.
    lab.declare(5);
    lab.install("etcd-d");
    lab.install("etcd-e");
    let (done, finished) = std::sync::mpsc::channel();
    for name in ["etcd-d", "etcd-e"] {
        let mut cmd = lab.script_cmd(name, "prepare");
        let done = done.clone();
        std::thread::spawn(move || done.send((name, run(&mut cmd))).unwrap());
    }
    // Start each member's etcd as soon as its prepare returns, then promote it (its units'
    // order); the other prepare meanwhile waits for this learner's promotion.
    let mut prepares = BTreeMap::new();
    for _ in 0..2 {
        let (name, r) = finished.recv().unwrap();
        let r = r.ok(&format!("{name} prepare"));
        prepares.insert(name, r.stderr.clone());
        lab.start(name);
        lab.script(name, "promote").ok(&format!("{name} promote"));
    }
    lab.wait_voters(&["etcd-a", "etcd-b", "etcd-c", "etcd-d", "etcd-e"]);
    for (name, log) in &prepares {
        assert!(
            // (After a timed-out add the retry finds the learner already listed.)
            (log.contains("added as learner") || log.contains("already in place"))
                && log.contains("initial-cluster-state existing"),
            "{name}: {log}"
        );
    }
    let waited = prepares.values().any(|log| log.contains("too many learner members"));

    // 5 → 3: the declared list shrinks; each member's reconcile timer fires, only the leader
    // acts, one removal per run.
    lab.declare(3);
    let mut removals = 0;
    wait_until("reconcile down to 3", Duration::from_secs(120), || {
        for (name, _) in MEMBERS {
            let r = lab.script(name, "reconcile");
            removals += r.stderr.matches("removed undeclared member").count();
        }
        let members = lab.members()?;
        if members.len() == 3 { Ok(()) } else { Err(format!("{members:?}")) }
    });
    assert_eq!(removals, 2, "one removal per undeclared member");
    lab.kill("etcd-d");
    lab.kill("etcd-e");
    lab.wait_voters(&["etcd-a", "etcd-b", "etcd-c"]);
    let (writes, rounds) = load.finish(&lab, "3 → 5 → 3");
    eprintln!("3→5→3: {}, a learner waited: {waited}", summary(&writes, &rounds));
}

#[test]
fn etcd_membership_replaced_member_rejoins_as_learner_under_writes() {
    let _serial = serial();
    let mut lab = Lab::new();
    lab.bootstrap(3);
    let before = lab.members().unwrap();
    let load = Load::start(&lab);

    // A follower's instance dies with its volume; the replacement has the same name and IP.
    let leader = lab.leader();
    let victim = ["etcd-a", "etcd-b", "etcd-c"].into_iter().find(|n| *n != leader).unwrap();
    let old_id = before.iter().find(|m| m.1 == victim).unwrap().0.clone();
    lab.destroy(victim);
    let (prepare, promote) = lab.boot(victim);
    assert!(
        prepare.stderr.contains(&format!("removing stale voter {old_id}")),
        "{}",
        prepare.stderr
    );
    assert!(prepare.stderr.contains("added as learner"), "{}", prepare.stderr);
    assert!(promote.stderr.contains("promoted"), "{}", promote.stderr);
    lab.wait_voters(&["etcd-a", "etcd-b", "etcd-c"]);
    let after = lab.members().unwrap();
    let new_id = &after.iter().find(|m| m.1 == victim).unwrap().0;
    assert_ne!(new_id, &old_id, "the replacement is a new member");
    load.finish(&lab, "replace one member");
}

#[test]
fn etcd_membership_replacement_refused_while_another_voter_is_down() {
    let _serial = serial();
    let mut lab = Lab::new();
    lab.bootstrap(5);
    let before = lab.members().unwrap();
    // b is down (not replaced); c's instance is replaced. The cluster keeps quorum (3 of 5), but
    // removing stale c would leave 3 healthy of 4 voters with b down: one more failure from loss.
    lab.kill("etcd-b");
    lab.destroy("etcd-c");
    let r = lab.script("etcd-c", "prepare");
    assert_ne!(r.code, 0, "replacement accepted: {}", r.all());
    assert!(
        r.stderr.contains("refusing to replace stale voter") && r.stderr.contains("etcd-b"),
        "{}",
        r.stderr
    );
    assert!(!lab.dir("etcd-c").join("etcd.member.conf.yml").exists());
    let unchanged = lab.members().unwrap();
    assert_eq!(unchanged, before, "membership changed by a refused replacement");

    // b back: the same script now replaces c.
    lab.start("etcd-b");
    let b = vec![lab.client_url("etcd-b")];
    wait_until("etcd-b healthy", Duration::from_secs(60), || {
        let r = lab.ctl(&b, &["endpoint", "health"]);
        if r.code == 0 { Ok(()) } else { Err(r.all()) }
    });
    let (prepare, _) = lab.boot("etcd-c");
    assert!(prepare.stderr.contains("removing stale voter"), "{}", prepare.stderr);
    lab.wait_voters(&["etcd-a", "etcd-b", "etcd-c", "etcd-d", "etcd-e"]);
}

#[test]
fn etcd_membership_refuses_to_join_a_cluster_without_quorum() {
    let _serial = serial();
    let mut lab = Lab::new();
    lab.bootstrap(3);
    let before = lab.members().unwrap();
    lab.kill("etcd-b");
    lab.destroy("etcd-c");
    // a alone answers, without a leader: neither a bootstrap nor a join is safe.
    let r = lab.script("etcd-c", "prepare");
    assert_ne!(r.code, 0, "prepare went on: {}", r.all());
    assert!(r.stderr.contains("quorum is lost"), "unclear refusal: {}", r.stderr);
    assert!(!lab.dir("etcd-c").join("etcd.member.conf.yml").exists());
    lab.start("etcd-b");
    wait_until("a and b back", Duration::from_secs(60), || {
        let m = lab.members()?;
        if m == before { Ok(()) } else { Err(format!("{m:?}")) }
    });
}

#[test]
fn etcd_membership_sigkill_between_add_and_promote_then_rerun_converges() {
    let _serial = serial();
    let mut lab = Lab::new();
    lab.bootstrap(3);
    lab.destroy("etcd-c");
    let c_peer = lab.peer_url("etcd-c");

    // prepare in its own process group; SIGKILL it (and its etcdctl) once the learner is listed.
    let mut script = lab
        .script_cmd("etcd-c", "prepare")
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pgid = script.id() as i32;
    let mut still_running = false;
    wait_until("learner etcd-c added", Duration::from_secs(60), || {
        let members = lab.members()?;
        if members.iter().any(|m| m.2 == c_peer && m.3) {
            still_running = script.try_wait().unwrap().is_none();
            // SAFETY: kill(2) on the process group this test started.
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
            Ok(())
        } else {
            Err(format!("{members:?}"))
        }
    });
    let _ = script.wait();
    let members = lab.members().unwrap();
    assert_eq!(members.len(), 3, "{members:?}");
    assert!(
        members.iter().any(|m| m.2 == c_peer && m.3 && m.1.is_empty()),
        "c is an unstarted learner: {members:?}"
    );

    // The re-run recognises its learner: no second add, no duplicate; then etcd, promote.
    let (prepare, promote) = lab.boot("etcd-c");
    assert!(
        prepare.stderr.contains("already added (an earlier run)")
            && !prepare.stderr.contains("added as learner"),
        "{}",
        prepare.stderr
    );
    assert!(promote.stderr.contains("promoted"), "{}", promote.stderr);
    lab.wait_voters(&["etcd-a", "etcd-b", "etcd-c"]);
    let members = lab.members().unwrap();
    assert_eq!(members.iter().filter(|m| m.2 == c_peer).count(), 1, "{members:?}");
    // Re-running every step once more changes nothing.
    lab.script("etcd-c", "prepare").ok("prepare with data");
    lab.script("etcd-c", "promote").ok("promote of a voter");
    assert_eq!(lab.members().unwrap().len(), 3);
    eprintln!("sigkill: the script was still running when killed: {still_running}");
}
