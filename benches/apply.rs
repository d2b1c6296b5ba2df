//! Plan and apply at 10,000 instances, through the release binary.
//!
//! Run: `cargo bench --bench apply`. Prints a table and rewrites the `plan-apply` section of
//! BENCHMARKS.md. Figures are reported against the targets, never asserted.
//!
//! Measured:
//! - apply of N random_id resources from nothing, with state durable after every change
//!   (journal + group commit), and the state files' size afterwards;
//! - plan with `--refresh=false` over those N instances (the full diff, no provider calls);
//! - plan with refresh (one batched read per type);
//! - peak RSS of each, from the child's rusage.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const N: usize = 10_000;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_slipway")
}

/// Runs the binary, returning wall time and peak RSS in MiB.
fn measure(dir: &Path, args: &[&str]) -> (Duration, f64) {
    let t = Instant::now();
    #[allow(clippy::zombie_processes)] // reaped by wait4 below, which also gives its rusage
    let child = Command::new(bin())
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn slipway");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: rusage is plain data, filled by wait4 for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let elapsed = t.elapsed();
    assert_eq!(rc, pid, "wait4 failed");
    assert!(
        libc::WIFEXITED(status) && [0, 2].contains(&libc::WEXITSTATUS(status)),
        "slipway {args:?} failed (status {status})"
    );
    (elapsed, usage.ru_maxrss as f64 / 1024.0)
}

fn median(mut v: Vec<(Duration, f64)>) -> (Duration, f64) {
    v.sort_by_key(|x| x.0);
    let rss = v.iter().map(|x| x.1).fold(0.0, f64::max);
    (v[v.len() / 2].0, rss)
}

fn sh(cmd: &str) -> String {
    Command::new("sh")
        .args(["-c", cmd])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn main() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("environments/bench")).unwrap();
    std::fs::write(
        dir.join("environments/bench/main.hcl"),
        format!("resource \"random_id\" \"r\" {{\n  for_each    = toset([for i in range({N}) : format(\"n%05d\", i)])\n  byte_length = 8\n}}\n"),
    )
    .unwrap();
    let env = "environments/bench";

    let mut applies = Vec::new();
    for _ in 0..3 {
        let _ = std::fs::remove_dir_all(dir.join("state"));
        applies.push(measure(dir, &["apply", env, "-auto-approve", "--parallelism", "10"]));
    }
    let apply = median(applies);
    let state_bytes =
        std::fs::metadata(dir.join("state/bench/state.json")).map(|m| m.len()).unwrap_or(0);
    let plan_norefresh = median(
        (0..5)
            .map(|_| measure(dir, &["plan", env, "--refresh=false", "--detailed-exitcode"]))
            .collect(),
    );
    let plan_refresh =
        median((0..5).map(|_| measure(dir, &["plan", env, "--detailed-exitcode"])).collect());

    let rows = [
        (
            format!("apply, {N} random_id from nothing (median of 3)"),
            apply,
            "< 10 s",
            apply.0 < Duration::from_secs(10),
        ),
        (
            format!("plan --refresh=false, {N} instances (median of 5)"),
            plan_norefresh,
            "< 1 s and < 300 MiB",
            plan_norefresh.0 < Duration::from_secs(1) && plan_norefresh.1 < 300.0,
        ),
        (format!("plan with refresh, {N} instances (median of 5)"), plan_refresh, "—", true),
    ];
    let mut table = String::from(
        "| measurement | wall time | peak RSS | target | met |\n|---|---|---|---|---|\n",
    );
    for (name, (t, rss), target, met) in &rows {
        table.push_str(&format!(
            "| {name} | {:.2} s | {rss:.0} MiB | {target} | {} |\n",
            t.as_secs_f64(),
            if *target == "—" {
                "—"
            } else if *met {
                "yes"
            } else {
                "**no**"
            }
        ));
    }
    table.push_str(&format!(
        "\nState after the apply: `state.json` {:.1} MiB.\n",
        state_bytes as f64 / (1 << 20) as f64
    ));
    println!("{table}");

    let machine = format!(
        "{} cores ({}), {} memory, load average {} at the end",
        sh("nproc"),
        sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"),
        sh("free -h | awk '/Mem:/ {print $2}'"),
        sh("cut -d' ' -f1-3 /proc/loadavg")
    );
    let section = format!(
        "<!-- bench:plan-apply:start -->\n## Plan and apply at {N} instances\n\nCommand: `cargo bench --bench apply` (release binary, local backend on this machine's disk).\nMeasured {} on {machine}, commit `{}`.\n\n{table}<!-- bench:plan-apply:end -->\n",
        sh("date -u +%Y-%m-%d"),
        sh("git rev-parse --short HEAD")
    );
    update_section("BENCHMARKS.md", "plan-apply", &section);
}

/// Replaces the marked section of BENCHMARKS.md (appends it when absent).
fn update_section(path: &str, name: &str, section: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|_| "# Benchmarks\n\nFigures from commands anyone can re-run; each section names its command and machine.\n\n".into());
    let start = format!("<!-- bench:{name}:start -->");
    let end = format!("<!-- bench:{name}:end -->\n");
    let new = match (text.find(&start), text.find(&end)) {
        (Some(a), Some(b)) if a < b => {
            format!("{}{}{}", &text[..a], section, &text[b + end.len()..])
        }
        _ => format!("{}\n{}", text.trim_end(), "\n".to_string() + section),
    };
    std::fs::write(&path, new).expect("write BENCHMARKS.md");
}
