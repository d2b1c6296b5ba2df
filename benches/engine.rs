//! `cargo bench --bench engine`: `validate` and graph construction on synthetic environments.
//!
//! For each size it generates an environment (see `synth.rs`), checks once that it validates
//! cleanly and walks to exactly the requested number of instances, then measures:
//!
//! - in process: `Environment::load` (which includes `StaticGraph::build`), `StaticGraph::build`
//!   alone (re-run on the loaded configuration, to show its share of load), the walk with
//!   unknown computed values, and `WalkOutput::dag()`; median of [`RUNS`];
//! - end to end: the release binary's `validate` and `graph --format json`, wall time (median of
//!   [`RUNS`]) and peak RSS of the child (`ru_maxrss` from `wait4`, max over the runs).
//!
//! The results are printed and written to BENCHMARKS.md between the `bench:validate-graph`
//! markers. Targets are reported, never asserted.
//!
//! Environment variables:
//! - `SLIPWAY_BENCH_SIZES=1000,5000`: other sizes; BENCHMARKS.md is then left alone.
//! - `SLIPWAY_BENCH_BIN=path`: run another slipway binary end to end (e.g. a build from before a
//!   change); BENCHMARKS.md is then left alone.
//! - `SLIPWAY_SYNTH_DIR=dir` (with `SLIPWAY_SYNTH_INSTANCES=n`): only write an environment there
//!   and exit (for profiling the binary by hand).

mod synth;

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use slipway::diag::{self, Diagnostics};
use slipway::environment::Environment;
use slipway::graph::StaticGraph;
use slipway::graph::walk::UnknownComputed;

const RUNS: usize = 5;
const DEFAULT_SIZES: [usize; 2] = [1_000, 10_000];
/// Target at 10,000 instances: validate and graph each under this wall time…
const TARGET_SECONDS: f64 = 0.5;
/// …and under this peak RSS.
const TARGET_MB: f64 = 200.0;
const TARGET_INSTANCES: usize = 10_000;
const START: &str = "<!-- bench:validate-graph:start -->";
const END: &str = "<!-- bench:validate-graph:end -->";
const BIN: &str = env!("CARGO_BIN_EXE_slipway");

/// The binary under test: this build's, or `SLIPWAY_BENCH_BIN` (to compare builds).
fn bin() -> String {
    std::env::var("SLIPWAY_BENCH_BIN").unwrap_or_else(|_| BIN.to_string())
}

/// Tier module instances for a size: about 200 resource instances per tier.
fn modules_for(instances: usize) -> usize {
    (instances / 200).max(1)
}

struct InProcess {
    /// CPU time of this thread over load + walk + dag() (median).
    cpu: Duration,
    load: Duration,
    static_graph: Duration,
    walk: Duration,
    dag: Duration,
}

struct EndToEnd {
    wall: Duration,
    /// User + system CPU time of the child (median): less sensitive than wall time to other
    /// work on the machine.
    cpu: Duration,
    /// Peak resident set of the child, in bytes (max over the runs).
    max_rss: u64,
}

struct Row {
    instances: usize,
    modules: usize,
    nodes: usize,
    edges: usize,
    inproc: InProcess,
    validate: EndToEnd,
    graph: EndToEnd,
}

fn main() {
    if let Ok(dir) = std::env::var("SLIPWAY_SYNTH_DIR") {
        let n = std::env::var("SLIPWAY_SYNTH_INSTANCES")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(TARGET_INSTANCES);
        synth::write_environment(Path::new(&dir), n, modules_for(n));
        println!("wrote {n} instances to {dir}");
        return;
    }
    let custom = std::env::var("SLIPWAY_BENCH_SIZES").ok();
    let sizes: Vec<usize> = match &custom {
        Some(s) => s
            .split(',')
            .map(|n| n.trim().replace('_', "").parse().expect("SLIPWAY_BENCH_SIZES: numbers"))
            .collect(),
        None => DEFAULT_SIZES.to_vec(),
    };
    let mut rows = Vec::new();
    for &n in &sizes {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path().join("synth");
        let modules = modules_for(n);
        synth::write_environment(&dir, n, modules);
        let (nodes, edges) = check(&dir, n);
        eprintln!("{n} instances: checked, measuring…");
        let inproc = in_process(&dir);
        let validate = end_to_end(&dir, &["validate"]);
        let graph = end_to_end(&dir, &["graph", "--format", "json"]);
        rows.push(Row { instances: n, modules, nodes, edges, inproc, validate, graph });
    }
    let report = report(&rows);
    println!("{report}");
    if custom.is_none() && std::env::var_os("SLIPWAY_BENCH_BIN").is_none() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("BENCHMARKS.md");
        write_section(&path, &report);
        eprintln!("wrote {}", path.display());
    }
}

fn render(diags: &Diagnostics, env: &Environment) -> String {
    diag::render_terminal(diags, &env.sources, false)
}

/// The environment is valid and walks to exactly `n` instances; the binary agrees, and the
/// generated files are formatted.
/// Returns the DAG's node and edge counts.
fn check(dir: &Path, n: usize) -> (usize, usize) {
    let env = Environment::load(dir, &[], slipway::providers::builtin_registry());
    assert!(env.diagnostics.is_empty(), "load diagnostics:\n{}", render(&env.diagnostics, &env));
    let out = env.walk(&UnknownComputed);
    assert!(out.diagnostics.is_empty(), "walk diagnostics:\n{}", render(&out.diagnostics, &env));
    assert_eq!(out.instances.len(), n, "instance count");
    for ty in ["random_id", "random_string", "time_static"] {
        assert!(out.instances.keys().any(|a| a.resource.rtype == ty), "no {ty} instance");
    }
    let dag = out.dag();
    // Instances, then one barrier per resource whose dependents wait for all of it.
    assert_eq!(dag.node_count(), n + out.direct_deps().barriers.len());
    assert!(petgraph::algo::toposort(&dag, None).is_ok(), "instance graph has a cycle");
    // Cross-references became instance-level edges: each random_string.b depends on its own
    // random_id.a, not on all of them.
    let b = out
        .instances
        .values()
        .find(|i| i.addr.resource.rtype == "random_string" && i.addr.resource.name == "b")
        .expect("a random_string.b instance");
    assert_eq!(
        b.depends_on
            .iter()
            .filter_map(|d| match d {
                slipway::graph::walk::DepRef::Instance(i) => Some(&out.instances[*i as usize].addr),
                slipway::graph::walk::DepRef::Resource(_) => None,
            })
            .filter(|d| d.resource.name == "a" && d.resource.module == b.addr.resource.module)
            .count(),
        1,
        "{} should depend on exactly one random_id.a instance",
        b.addr
    );
    for args in [&["validate"][..], &["graph", "--format", "json"][..], &["fmt", "--check"][..]] {
        let o = Command::new(bin()).args(args).arg(dir).output().expect("run slipway");
        assert!(
            o.status.success(),
            "slipway {args:?} failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            o.stderr.is_empty(),
            "slipway {args:?} wrote diagnostics: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    (dag.node_count(), dag.edge_count())
}

/// CPU time consumed by the calling thread so far.
fn thread_cpu() -> Duration {
    // SAFETY: an all-zero timespec is valid; clock_gettime only writes it.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: ts is valid for writes; CLOCK_THREAD_CPUTIME_ID exists on Linux.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(r, 0, "clock_gettime: {}", std::io::Error::last_os_error());
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn in_process(dir: &Path) -> InProcess {
    let (mut load, mut sg, mut walk, mut dag) = (vec![], vec![], vec![], vec![]);
    let mut cpu = vec![];
    for _ in 0..RUNS {
        let mut cpu_spent = Duration::ZERO;
        let c = thread_cpu();
        let t = Instant::now();
        let env = Environment::load(dir, &[], slipway::providers::builtin_registry());
        load.push(t.elapsed());
        cpu_spent += thread_cpu() - c;

        let mut diags = Diagnostics::default();
        let t = Instant::now();
        let g = StaticGraph::build(&env.config, &mut diags);
        sg.push(t.elapsed());
        std::hint::black_box(g);

        let c = thread_cpu();
        let t = Instant::now();
        let out = env.walk(&UnknownComputed);
        walk.push(t.elapsed());

        let t = Instant::now();
        let d = out.dag();
        dag.push(t.elapsed());
        cpu_spent += thread_cpu() - c;
        cpu.push(cpu_spent);
        std::hint::black_box(d);
    }
    InProcess {
        cpu: median(cpu),
        load: median(load),
        static_graph: median(sg),
        walk: median(walk),
        dag: median(dag),
    }
}

/// Runs the binary [`RUNS`] times; wall time from spawn to reap, peak RSS from `wait4`.
fn end_to_end(dir: &Path, args: &[&str]) -> EndToEnd {
    let mut walls = Vec::new();
    let mut cpus = Vec::new();
    let mut max_rss = 0u64;
    for _ in 0..RUNS {
        let t = Instant::now();
        let child = Command::new(bin())
            .args(args)
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn slipway");
        let pid = child.id() as libc::pid_t;
        let mut status = 0;
        // SAFETY: an all-zero rusage is a valid value for wait4 to overwrite.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: pid is our own child, not yet reaped (std only reaps on wait/try_wait, which
        // are never called on `child`); status and usage are valid for writes.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        let wall = t.elapsed();
        assert_eq!(r, pid, "wait4: {}", std::io::Error::last_os_error());
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "slipway {args:?} failed (status {status})"
        );
        drop(child);
        walls.push(wall);
        let tv = |t: libc::timeval| {
            Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
        };
        cpus.push(tv(usage.ru_utime) + tv(usage.ru_stime));
        // Linux reports ru_maxrss in KiB.
        max_rss = max_rss.max(usage.ru_maxrss as u64 * 1024);
    }
    EndToEnd { wall: median(walls), cpu: median(cpus), max_rss }
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}

fn mb(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / 1e6)
}

fn cmd_out(program: &str, args: &[&str], cwd: &Path) -> Option<String> {
    let o = Command::new(program).args(args).current_dir(cwd).output().ok()?;
    o.status.success().then(|| String::from_utf8_lossy(&o.stdout).trim().to_string())
}

fn proc_field(file: &str, key: &str) -> Option<String> {
    std::fs::read_to_string(file).ok()?.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == key).then(|| v.trim().to_string())
    })
}

fn machine() -> String {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let nproc = cmd_out("nproc", &[], manifest).unwrap_or_else(|| "?".into());
    let cpu = proc_field("/proc/cpuinfo", "model name").unwrap_or_else(|| "unknown".into());
    let mem = proc_field("/proc/meminfo", "MemTotal")
        .and_then(|v| v.trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kib| format!("{:.1} GiB", kib / (1024.0 * 1024.0)))
        .unwrap_or_else(|| "unknown".into());
    let commit = cmd_out("git", &["rev-parse", "--short", "HEAD"], manifest)
        .unwrap_or_else(|| "unknown".into());
    let dirty = cmd_out("git", &["status", "--porcelain", "--", "src"], manifest)
        .is_some_and(|s| !s.is_empty());
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".into());
    let date = cmd_out("date", &["-u", "+%Y-%m-%d %H:%M UTC"], manifest)
        .unwrap_or_else(|| "unknown".into());
    format!(
        "- Date: {date}\n- slipway commit: `{commit}`{}\n- Machine: {nproc} CPUs (`nproc`), {cpu}, {mem} RAM; load average at the end of the run: {load}\n- Binary: `slipway` built by `cargo bench` (bench profile: release with `debug = \"line-tables-only\"`)\n",
        if dirty { " (with uncommitted changes in src/)" } else { "" },
    )
}

fn report(rows: &[Row]) -> String {
    let mut s = String::new();
    s.push_str("## validate and graph at scale\n\n");
    s.push_str("Command: `cargo bench --bench engine`\n\n");
    s.push_str(&machine());
    s.push_str(
        "\nEnvironment: generated by `benches/synth.rs` (random_id, random_string, time_static; \
         for_each over generated maps, count, root → tier (for_each) → leaf (for_each) modules, \
         sibling modules consuming module outputs, key-level cross-references, depends_on), \
         about 200 instances per tier module instance. The check before timing asserts no \
         diagnostics, the exact instance count, an acyclic DAG, and exit 0 without output on stderr \
         from `validate`, `graph` and `fmt --check`.\n\n",
    );
    let _ = writeln!(
        s,
        "In process, median of {RUNS} runs (ms). `load` includes `StaticGraph::build`; \
         `static graph` is that step alone, re-run on the loaded configuration. `CPU` is the thread's \
         CPU time over load + walk + dag() (median), which other work on the machine inflates \
         less than wall time.\n"
    );
    s.push_str(
        "| instances | tiers | DAG edges | load | static graph | walk | dag() | total | CPU |\n",
    );
    s.push_str("|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for r in rows {
        let i = &r.inproc;
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.instances,
            r.modules,
            r.edges,
            ms(i.load),
            ms(i.static_graph),
            ms(i.walk),
            ms(i.dag),
            ms(i.load + i.walk + i.dag),
            ms(i.cpu)
        );
    }
    let _ = writeln!(
        s,
        "\nEnd to end, the release binary with stdout/stderr to /dev/null: wall time and CPU \
         time (user + system) median of {RUNS} runs, peak RSS (`ru_maxrss` from `wait4`) max of \
         {RUNS} runs; MB = 10^6 bytes.\n"
    );
    s.push_str("| instances | command | wall (ms) | CPU (ms) | peak RSS (MB) |\n");
    s.push_str("|---:|---|---:|---:|---:|\n");
    for r in rows {
        for (what, e) in [("validate", &r.validate), ("graph --format json", &r.graph)] {
            let _ = writeln!(
                s,
                "| {} | `{what}` | {} | {} | {} |",
                r.instances,
                ms(e.wall),
                ms(e.cpu),
                mb(e.max_rss)
            );
        }
    }
    debug_assert!(rows.iter().all(|r| r.nodes == r.instances));
    let _ = writeln!(
        s,
        "\nTargets at {TARGET_INSTANCES} instances (reported, not asserted): each command under \
         {TARGET_SECONDS} s and under {TARGET_MB:.0} MB peak RSS.\n"
    );
    match rows.iter().find(|r| r.instances == TARGET_INSTANCES) {
        None => s.push_str("(not measured in this run)\n"),
        Some(r) => {
            s.push_str("| target | measured | result |\n|---|---:|---|\n");
            let mb_limit = TARGET_MB * 1e6;
            for (what, e) in [("validate", &r.validate), ("graph --format json", &r.graph)] {
                let secs = e.wall.as_secs_f64();
                let _ = writeln!(
                    s,
                    "| {what} < {TARGET_SECONDS} s (wall) | {:.3} s (CPU {:.3} s) | {} |",
                    secs,
                    e.cpu.as_secs_f64(),
                    pass(secs < TARGET_SECONDS)
                );
                let _ = writeln!(
                    s,
                    "| {what} < {TARGET_MB:.0} MB | {:.1} MB | {} |",
                    e.max_rss as f64 / 1e6,
                    pass((e.max_rss as f64) < mb_limit)
                );
            }
        }
    }
    s
}

fn pass(ok: bool) -> &'static str {
    if ok { "pass" } else { "**FAIL**" }
}

/// Replaces the marked section of `path`, keeping everything else; creates the file if missing.
fn write_section(path: &Path, body: &str) {
    let section = format!("{START}\n{body}{END}");
    let text = std::fs::read_to_string(path).unwrap_or_else(|_| {
        "# Benchmarks\n\nMeasured figures for slipway. Each section is rewritten by the command \
         it names; edit outside the markers only.\n"
            .to_string()
    });
    let new = match (text.find(START), text.find(END)) {
        (Some(a), Some(b)) if a < b => {
            format!("{}{section}{}", &text[..a], &text[b + END.len()..])
        }
        _ => format!("{}\n{section}\n", text.trim_end_matches('\n').to_string() + "\n"),
    };
    std::fs::write(path, new).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}
