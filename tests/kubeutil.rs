//! The real Kubernetes components for the tests: where `scripts/install-kube` put them, a
//! control plane of our own on loopback (`scripts/local-cluster`, torn down on drop, logs kept
//! when a test fails), and the checks every test module shares (`kubeadm config validate`).
//!
//! The binaries are found through `SLIPWAY_KUBE_BIN`, which `scripts/test` sets from
//! `scripts/install-kube`. Without it these helpers fail the test with that hint: a test that
//! needs a missing component fails, it never passes silently.

#![allow(dead_code)] // Not every test module uses every helper.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The Kubernetes release `scripts/install-kube` builds, and that the environments declare.
pub const KUBE_VERSION: &str = "1.35.4";
/// The etcd release it builds, and that etcd nodes install.
pub const ETCD_VERSION: &str = "3.6.14";

/// The directory of the real binaries (`kube-apiserver`, `kubeadm`, `kubectl`, `etcd`, …).
pub fn kube_bin_dir() -> PathBuf {
    let dir = std::env::var_os("SLIPWAY_KUBE_BIN").map(PathBuf::from).unwrap_or_else(|| {
        panic!(
            "SLIPWAY_KUBE_BIN is not set: these tests run the real Kubernetes components; \
             build them with `export SLIPWAY_KUBE_BIN=$(scripts/install-kube)` (scripts/test does)"
        )
    });
    assert!(
        dir.join("kube-apiserver").is_file(),
        "SLIPWAY_KUBE_BIN={} holds no kube-apiserver: run scripts/install-kube",
        dir.display()
    );
    dir
}

/// The path of one real binary.
pub fn kube_bin(name: &str) -> PathBuf {
    let path = kube_bin_dir().join(name);
    assert!(path.is_file(), "{} is missing: run scripts/install-kube", path.display());
    path
}

/// A finished process.
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn ok(self, what: &str) -> Out {
        assert_eq!(
            self.code, 0,
            "{what} failed (exit {})\nstdout:\n{}\nstderr:\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }

    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

pub fn output(cmd: &mut Command) -> Out {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {:?}: {e}", cmd.get_program()));
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `kubeadm config validate --config FILE` on `yaml` (a kubeadm configuration, documents
/// separated by `---`). Returns kubeadm's verdict; the caller asserts.
pub fn kubeadm_validate(yaml: &str, scratch: &Path) -> Out {
    std::fs::create_dir_all(scratch).unwrap();
    let file = scratch.join(format!(
        "kubeadm-{}-{}.yaml",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
    ));
    std::fs::write(&file, yaml).unwrap();
    let out = output(
        Command::new(kube_bin("kubeadm")).args(["config", "validate", "--config"]).arg(&file),
    );
    let _ = std::fs::remove_file(&file);
    out
}

/// Asserts that the real kubeadm accepts `yaml`, with the token placeholder the node replaces
/// replaced by `token` first (kubeadm rightly refuses the placeholder itself).
pub fn assert_kubeadm_accepts(what: &str, yaml: &str, token: &str, scratch: &Path) {
    assert!(
        regex_like_token(token),
        "{what}: {token:?} is not a kubeadm token [a-z0-9]{{6}}.[a-z0-9]{{16}}"
    );
    let rendered = yaml.replace("SLIPWAY_BOOTSTRAP_TOKEN", token);
    let out = kubeadm_validate(&rendered, scratch);
    assert_eq!(
        out.code,
        0,
        "{what}: the real kubeadm ({KUBE_VERSION}) refuses the rendered configuration:\n{}\n--- configuration ---\n{rendered}",
        out.all()
    );
    // kubeadm prints warnings for deprecated or unknown fields but still exits 0: treat any
    // warning as a failure too, so that a field kubeadm ignores is noticed.
    let warnings: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| is_klog_warning(l) || l.to_lowercase().contains("unknown field"))
        .collect();
    assert!(
        warnings.is_empty(),
        "{what}: kubeadm warns about the rendered configuration:\n{}",
        warnings.join("\n")
    );
}

/// A klog warning line: `W` then MMDD then a space (`W1201 14:00:00.000000 …`).
fn is_klog_warning(line: &str) -> bool {
    let b = line.as_bytes();
    b.len() > 5 && b[0] == b'W' && b[1..5].iter().all(u8::is_ascii_digit) && b[5] == b' '
}

fn regex_like_token(t: &str) -> bool {
    let Some((id, secret)) = t.split_once('.') else {
        return false;
    };
    let ok = |s: &str, n: usize| {
        s.len() == n && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    ok(id, 6) && ok(secret, 16)
}

/// Kills `pid` once this test process has exited: for processes owned by a static fixture,
/// which Rust never drops. A tiny watcher shell polls this process's pid once a second.
pub fn kill_when_gone(pid: u32) {
    let script = format!(
        "while kill -0 {me} 2>/dev/null; do sleep 1; done; kill -9 {pid} 2>/dev/null",
        me = std::process::id()
    );
    let _ = Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
}

/// Polls `check` until it succeeds or `timeout` passes (then panics with the last error).
pub fn wait_until(what: &str, timeout: Duration, mut check: impl FnMut() -> Result<(), String>) {
    let start = Instant::now();
    loop {
        match check() {
            Ok(()) => return,
            Err(e) if start.elapsed() > timeout => panic!("{what}: not after {timeout:?}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(250)),
        }
    }
}

/// `kubectl` (the one built from source, not a distribution's dispatcher) with arguments.
pub fn kubectl(args: &[&str]) -> Out {
    output(Command::new(kube_bin("kubectl")).args(args))
}

/// A control plane of our own, started by `scripts/local-cluster up` in a directory of its own
/// on one loopback address; stopped on drop. When the test panicked, the directory (logs,
/// certificates) is kept and its path printed.
pub struct LocalCluster {
    dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
    pub ip: String,
}

impl LocalCluster {
    /// Starts a cluster with `nodes` kwok nodes on `ip` (a 127.0.0.x address).
    pub fn start(ip: &str, nodes: usize) -> LocalCluster {
        let dir = tempfile::Builder::new().prefix("slipway-cluster-").tempdir().unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/local-cluster");
        let out = output(
            Command::new(&script)
                .args(["up", "--ip", ip, "--nodes", &nodes.to_string(), "--dir"])
                .arg(dir.path())
                .env("SLIPWAY_KUBE_BIN", kube_bin_dir()),
        );
        if out.code != 0 {
            let logs = read_logs(dir.path());
            let kept = dir.keep();
            panic!(
                "scripts/local-cluster up failed (kept {}):\n{}\n{logs}",
                kept.display(),
                out.all()
            );
        }
        let kubeconfig = PathBuf::from(out.stdout.trim());
        assert!(kubeconfig.is_file(), "no kubeconfig at {}", kubeconfig.display());
        LocalCluster { dir, kubeconfig, ip: ip.to_string() }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `kubectl --kubeconfig <admin> ARGS`.
    pub fn kubectl(&self, args: &[&str]) -> Out {
        let mut full = vec!["--kubeconfig", self.kubeconfig.to_str().unwrap()];
        full.extend_from_slice(args);
        kubectl(&full)
    }

    /// The apiserver's URL.
    pub fn server(&self) -> String {
        format!("https://{}:{}", self.ip, self.port("api_port"))
    }

    /// A port `scripts/local-cluster` wrote to `cluster.env` (`api_port`, `etcd_port`,
    /// `kcm_port`, `sched_port`, `kwok_port`).
    pub fn port(&self, key: &str) -> u16 {
        let env = std::fs::read_to_string(self.dir().join("cluster.env")).unwrap();
        let prefix = format!("{key}=");
        env.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("{key} in cluster.env"))
            .parse()
            .unwrap()
    }
}

fn read_logs(dir: &Path) -> String {
    let mut all = String::new();
    if let Ok(entries) = std::fs::read_dir(dir.join("logs")) {
        for e in entries.flatten() {
            let text = std::fs::read_to_string(e.path()).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(30).collect();
            all.push_str(&format!("--- {} (last lines)\n", e.path().display()));
            for l in tail.into_iter().rev() {
                all.push_str(l);
                all.push('\n');
            }
        }
    }
    all
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // What the cluster was doing when the test failed, while it still runs: workloads
            // that are not ready and the latest events say what an apply was waiting for.
            for args in [
                &["get", "nodes,deployments,statefulsets", "-A", "--request-timeout=10s"][..],
                &[
                    "get",
                    "events",
                    "-A",
                    "--field-selector=type=Warning",
                    "--sort-by=.lastTimestamp",
                    "--request-timeout=10s",
                ][..],
            ] {
                let out = self.kubectl(args);
                let text = out.all();
                let lines: Vec<&str> = text.lines().collect();
                eprintln!(
                    "--- kubectl {} (last lines)\n{}",
                    args.join(" "),
                    lines[lines.len().saturating_sub(15)..].join("\n")
                );
            }
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/local-cluster");
        let _ = Command::new(script)
            .args(["down", "--dir"])
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .output();
        if std::thread::panicking() {
            let path = self.dir.path().to_path_buf();
            eprintln!("local cluster kept for inspection: {} (logs/)", path.display());
            // Keep the directory: replace it with an empty temp dir that is dropped instead.
            let kept = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
            let _ = kept.keep();
        }
    }
}

/// A process a test starts beside the cluster (kube-state-metrics, Prometheus, Flux's
/// controllers, a web server), its output in `log`; killed when dropped, the end of its log
/// printed when the test panicked.
pub struct Proc {
    child: Child,
    log: PathBuf,
}

impl Proc {
    pub fn spawn(cmd: &mut Command, log: PathBuf) -> Proc {
        let out = std::fs::File::create(&log).unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {:?}: {e}", cmd.get_program()));
        Proc { child, log }
    }

    /// `Ok` while it runs; its exit status and log once it has exited.
    pub fn alive(&mut self) -> Result<(), String> {
        match self.child.try_wait().unwrap() {
            None => Ok(()),
            Some(status) => {
                Err(format!("{} exited ({status}):\n{}", self.log.display(), self.tail()))
            }
        }
    }

    /// The last lines of its log.
    pub fn tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(25)..].join("\n")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- {} (last lines)\n{}", self.log.display(), self.tail());
        }
    }
}
