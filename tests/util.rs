//! Helpers shared by every integration test: a scratch directory, the real binary run inside it
//! with a clean environment, and captured output; and the ports of the servers the tests start
//! (`free_port`: below the kernel's ephemeral range, never the same twice in one process).

#![allow(dead_code)] // Not every test module uses every helper.

use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Where the checked-in test data lives.
pub fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests")
}

/// A fresh temporary directory; removed when dropped.
pub struct TestDir {
    dir: tempfile::TempDir,
}

impl Default for TestDir {
    fn default() -> Self {
        Self::new()
    }
}

impl TestDir {
    pub fn new() -> TestDir {
        TestDir {
            dir: tempfile::Builder::new()
                .prefix("slipway-test-")
                .tempdir()
                .expect("create temp dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `path()/rel`.
    pub fn join(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Writes a file (creating parent directories).
    pub fn write(&self, rel: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> &TestDir {
        let p = self.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("create parent dir");
        }
        std::fs::write(&p, contents).expect("write file");
        self
    }

    pub fn read(&self, rel: impl AsRef<Path>) -> Vec<u8> {
        std::fs::read(self.join(rel)).expect("read file")
    }

    pub fn read_string(&self, rel: impl AsRef<Path>) -> String {
        String::from_utf8(self.read(rel)).expect("file is UTF-8")
    }

    /// Copies a directory's contents (recursively) into `rel`.
    pub fn copy_dir(&self, src: &Path, rel: impl AsRef<Path>) -> &TestDir {
        copy_dir(src, &self.join(rel));
        self
    }

    /// The binary, run in this directory.
    pub fn cmd(&self) -> Cmd {
        let mut c = Cmd::new();
        c.current_dir(self.path());
        c
    }
}

/// Copies `src` into `dst` recursively (`dst` is created).
pub fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).expect("create dir");
    for entry in std::fs::read_dir(src).expect("read dir") {
        let entry = entry.expect("dir entry");
        let to = dst.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &to);
        } else {
            std::fs::copy(entry.path(), &to).expect("copy file");
        }
    }
}

/// The outcome of one run of the binary.
#[derive(Debug)]
pub struct Run {
    /// Exit code; `None` when killed by a signal or by the timeout.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
    pub timed_out: bool,
    /// The command line, for failure messages.
    pub describe: String,
}

impl Run {
    /// Asserts the exit code, showing all output otherwise.
    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Run {
        assert_eq!(
            self.code,
            Some(code),
            "unexpected exit status of {}\n{}",
            self.describe,
            self.dump()
        );
        self
    }

    /// Asserts that the process neither panicked nor overflowed its stack.
    #[track_caller]
    pub fn assert_no_crash(&self) -> &Run {
        assert!(self.crash().is_none(), "{}\n{}", self.crash().unwrap_or_default(), self.dump());
        self
    }

    /// Why this run looks like a crash, if it does.
    pub fn crash(&self) -> Option<String> {
        if self.timed_out {
            return Some(format!("timed out after {:?}", self.elapsed));
        }
        if self.code.is_none() {
            return Some("killed by a signal".into());
        }
        for needle in ["panicked", "RUST_BACKTRACE", "overflow"] {
            if self.stderr.contains(needle) {
                return Some(format!("stderr contains {needle:?}"));
            }
        }
        None
    }

    /// stdout parsed as JSON.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!("stdout of {} is not JSON: {e}\n{}", self.describe, self.dump())
        })
    }

    /// The command, its exit, and its output cut to its head and tail: what a run was doing
    /// when it failed is at its end, and CI reports show the end of a log, so the exit status
    /// and the crash reason come last.
    pub fn dump(&self) -> String {
        format!(
            "--- {}\n--- stdout:\n{}\n--- stderr:\n{}\n--- exit: {:?}{}",
            self.describe,
            head_and_tail(&self.stdout, 1500, 3000),
            head_and_tail(&self.stderr, 1500, 3000),
            self.code,
            match self.crash() {
                Some(why) => format!(", crash: {why}"),
                None => String::new(),
            }
        )
    }
}

/// `s` when short; otherwise its first `head` and last `tail` bytes (on character boundaries)
/// with the number of bytes left out between them.
pub fn head_and_tail(s: &str, head: usize, tail: usize) -> String {
    if s.len() <= head + tail {
        return s.to_string();
    }
    let mut h = head;
    while !s.is_char_boundary(h) {
        h -= 1;
    }
    let mut t = s.len() - tail;
    while !s.is_char_boundary(t) {
        t += 1;
    }
    format!("{}\n[… {} bytes …]\n{}", &s[..h], t - h, &s[t..])
}

/// A command line for the `slipway` binary with a controlled environment: no colour, no
/// `SLIPWAY_*` variables inherited from whoever runs the tests.
pub struct Cmd {
    cmd: Command,
    args: Vec<String>,
    timeout: Duration,
}

impl Default for Cmd {
    fn default() -> Self {
        Self::new()
    }
}

/// The `slipway` binary under test: `SLIPWAY_TEST_BIN` when set, else the one Cargo built.
/// The target directory is shared between worktrees, and `debug/slipway` is one path that
/// another worktree's build may relink at any moment; a copy of one's own build, named here,
/// keeps a long test run on the binary it was built with.
pub fn slipway_bin() -> std::path::PathBuf {
    std::env::var_os("SLIPWAY_TEST_BIN")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_slipway").into())
}

impl Cmd {
    pub fn new() -> Cmd {
        let mut cmd = Command::new(slipway_bin());
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("SLIPWAY_") {
                cmd.env_remove(&k);
            }
        }
        cmd.env("NO_COLOR", "1").env_remove("RUST_BACKTRACE");
        Cmd { cmd, args: Vec::new(), timeout: Duration::from_secs(60) }
    }

    pub fn arg(&mut self, a: impl AsRef<OsStr>) -> &mut Cmd {
        self.args.push(a.as_ref().to_string_lossy().into_owned());
        self.cmd.arg(a);
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(&mut self, args: I) -> &mut Cmd {
        for a in args {
            self.arg(a);
        }
        self
    }

    pub fn env(&mut self, k: impl AsRef<OsStr>, v: impl AsRef<OsStr>) -> &mut Cmd {
        self.cmd.env(k, v);
        self
    }

    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Cmd {
        self.cmd.current_dir(dir);
        self
    }

    pub fn timeout(&mut self, t: Duration) -> &mut Cmd {
        self.timeout = t;
        self
    }

    /// Runs to completion (or the timeout, which kills it).
    pub fn run(&mut self) -> Run {
        let describe = format!("slipway {}", self.args.join(" "));
        let start = Instant::now();
        let mut child = self
            .cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn slipway");
        let mut out = child.stdout.take().expect("stdout");
        let mut err = child.stderr.take().expect("stderr");
        let out_t = std::thread::spawn(move || {
            let mut b = Vec::new();
            let _ = out.read_to_end(&mut b);
            b
        });
        let err_t = std::thread::spawn(move || {
            let mut b = Vec::new();
            let _ = err.read_to_end(&mut b);
            b
        });
        let mut timed_out = false;
        let status = loop {
            if let Some(s) = child.try_wait().expect("wait") {
                break s;
            }
            if start.elapsed() > self.timeout {
                timed_out = true;
                let _ = child.kill();
                break child.wait().expect("wait after kill");
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let stdout = String::from_utf8_lossy(&out_t.join().unwrap_or_default()).into_owned();
        let stderr = String::from_utf8_lossy(&err_t.join().unwrap_or_default()).into_owned();
        Run {
            code: if timed_out { None } else { status.code() },
            stdout,
            stderr,
            elapsed: start.elapsed(),
            timed_out,
            describe,
        }
    }
}

/// Runs `slipway ARGS` in `dir`.
pub fn slipway_in<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(dir: &Path, args: I) -> Run {
    Cmd::new().current_dir(dir).args(args).run()
}

/// Error diagnostics of a `--json` document.
pub fn errors(doc: &serde_json::Value) -> Vec<&serde_json::Value> {
    doc["diagnostics"]
        .as_array()
        .map(|a| a.iter().filter(|d| d["severity"] == "error").collect())
        .unwrap_or_default()
}

/// `summary` of every diagnostic, for failure messages.
pub fn summaries(doc: &serde_json::Value) -> Vec<String> {
    doc["diagnostics"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|d| {
                    let r = &d["range"]["start"];
                    format!(
                        "[{}] {}:{}:{} {}",
                        d["severity"].as_str().unwrap_or("?"),
                        d["range"]["filename"].as_str().unwrap_or("-"),
                        r["line"],
                        r["column"],
                        d["summary"].as_str().unwrap_or("")
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A small deterministic PRNG (xorshift64): kill moments and the like differ from one draw to
/// the next, but a failing test repeats exactly.
pub fn xorshift(mut seed: u64) -> impl FnMut() -> u64 {
    move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    }
}

/// Removes `<prefix><pid>` directories under `scratch` whose test process has exited: the
/// shared fixtures of earlier runs, which live in cargo's scratch directory named after their
/// process (statics are never dropped). Only where /proc tells.
pub fn remove_stale_dirs(scratch: &Path, prefix: &str) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(scratch) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(pid) = name.strip_prefix(prefix).and_then(|p| p.parse::<u32>().ok())
            && !Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Ports for the servers the tests start

/// The lowest port the tests hand out. Below it sit well-known and registered services.
const PORT_LOW: u16 = 20000;

/// How many random candidates `free_port` probes before it gives up.
const PORT_TRIES: usize = 500;

/// The ports handed out in this process, and the PRNG's state (0 until first seeded).
struct Picker {
    handed_out: std::collections::BTreeSet<u16>,
    state: u64,
}

static PICKER: std::sync::Mutex<Picker> =
    std::sync::Mutex::new(Picker { handed_out: std::collections::BTreeSet::new(), state: 0 });

/// The kernel's ephemeral range (net.ipv4.ip_local_port_range), where source ports of outgoing
/// connections come from; Linux's default where /proc does not tell.
pub fn ephemeral_range() -> std::ops::RangeInclusive<u16> {
    let read = || -> Option<(u16, u16)> {
        let s = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
        let mut it = s.split_whitespace().map(|w| w.parse().ok());
        Some((it.next()??, it.next()??))
    };
    let (low, high) = read().unwrap_or((32768, 60999));
    low..=high
}

/// Where `free_port` draws from: [20000, ephemeral low); above the ephemeral range where a
/// system starts that range too low to leave 1000 ports below it; [20000, 32768) where neither
/// side has room (then the race described at `free_port` is back, as it would be anywhere).
fn port_range() -> std::ops::RangeInclusive<u16> {
    let eph = ephemeral_range();
    if *eph.start() >= PORT_LOW + 1000 {
        PORT_LOW..=eph.start() - 1
    } else if *eph.end() <= u16::MAX - 1000 {
        eph.end() + 1..=u16::MAX
    } else {
        PORT_LOW..=32767
    }
}

/// A TCP port, for a server the test starts right after, that binds on every one of `ips`
/// right now, is not in `avoid`, and has not been handed out before in this process.
///
/// Never from bind(0): that returns a port of the ephemeral range, which the kernel may give,
/// between the probe's close and the server's bind, to an outgoing connection as its source
/// port (any client connecting to another server on the same address), and the server then
/// fails to bind. Seen in CI with kube-controller-manager; scripts/lib/free-port.py picks the
/// same way. Random below the ephemeral range (`port_range`), so that concurrent test processes
/// rarely meet, and remembered, so that two tests of this process never do. Panics when none of
/// `PORT_TRIES` candidates fits.
pub fn free_port(ips: &[&str], avoid: &[u16]) -> u16 {
    assert!(!ips.is_empty(), "free_port: no address to probe");
    let range = port_range();
    let (low, span) = (*range.start(), u64::from(range.end() - range.start()) + 1);
    let mut picker = PICKER.lock().unwrap_or_else(|e| e.into_inner());
    let Picker { handed_out, state } = &mut *picker;
    if *state == 0 {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        // Non-zero: xorshift stays at 0 forever.
        *state = (nanos ^ (u64::from(std::process::id()) << 32)) | 1;
    }
    // xorshift's output is its next state, so seeding it with the last output continues one
    // sequence across calls.
    let mut next = xorshift(*state);
    let mut last = *state;
    let port = pick_port(ips, avoid, handed_out, PORT_TRIES, || {
        last = next();
        low + (last % span) as u16
    });
    *state = last;
    port.unwrap_or_else(|| {
        panic!(
            "free_port: no port in {range:?} binds on all of {ips:?} after {PORT_TRIES} tries \
             (avoiding {avoid:?} and the {} ports handed out already)",
            handed_out.len()
        )
    })
}

/// `free_port` for one address.
pub fn free_port_on(ip: &str) -> u16 {
    free_port(&[ip], &[])
}

/// The first of `tries` candidates from `draw` that is neither in `avoid` nor in `handed_out`
/// and binds on every one of `ips`; added to `handed_out`.
fn pick_port(
    ips: &[&str],
    avoid: &[u16],
    handed_out: &mut std::collections::BTreeSet<u16>,
    tries: usize,
    mut draw: impl FnMut() -> u16,
) -> Option<u16> {
    for _ in 0..tries {
        let port = draw();
        if avoid.contains(&port) || handed_out.contains(&port) {
            continue;
        }
        if ips.iter().all(|ip| std::net::TcpListener::bind((*ip, port)).is_ok()) {
            handed_out.insert(port);
            return Some(port);
        }
    }
    None
}

#[test]
fn free_ports_are_below_the_ephemeral_range_distinct_and_bindable_everywhere() {
    let ips = ["127.0.0.1", "127.0.99.1", "127.0.99.2"];
    let eph = ephemeral_range();
    let first = free_port(&ips, &[]);
    let mut seen = std::collections::BTreeSet::from([first]);
    for _ in 0..40 {
        let port = free_port(&ips, &[first]);
        assert!(
            port_range().contains(&port) && !eph.contains(&port),
            "{port}: in the ephemeral range {eph:?}, or outside {:?}",
            port_range()
        );
        assert!(seen.insert(port), "{port} handed out twice");
        for ip in ips {
            if let Err(e) = std::net::TcpListener::bind((ip, port)) {
                panic!("{ip}:{port} does not bind: {e}");
            }
        }
    }
    // Also from other threads, at the same time: still never the same port twice.
    let threads: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(|| (0..10).map(|_| free_port_on("127.0.0.1")).collect::<Vec<u16>>())
        })
        .collect();
    for t in threads {
        for port in t.join().unwrap() {
            assert!(seen.insert(port), "{port} handed out twice");
        }
    }
}

#[test]
fn a_port_taken_on_one_address_avoided_or_handed_out_is_skipped() {
    let ips = ["127.0.98.1", "127.0.98.2"];
    // Four ports nobody else in this process gets.
    let [taken, avoided, handed, free] = [(); 4].map(|()| free_port(&ips, &[]));
    let _listener = std::net::TcpListener::bind((ips[1], taken)).unwrap();
    let mut handed_out = std::collections::BTreeSet::from([handed]);
    let mut cycle = [taken, avoided, handed, free].into_iter().cycle();
    let mut draw = || cycle.next().unwrap();
    let port = pick_port(&ips, &[avoided], &mut handed_out, 8, &mut draw);
    assert_eq!(port, Some(free));
    assert!(handed_out.contains(&free));
    // Now `free` is handed out too: no candidate fits, and none is returned after the tries.
    assert_eq!(pick_port(&ips, &[avoided], &mut handed_out, 8, &mut draw), None);
}
