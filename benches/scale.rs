//! Scale: both benchmark shapes at 1,000 / 10,000 / 100,000 instances, through the release
//! binary, and the side-by-side with Terraform on resource-free configurations.
//!
//! Run: `cargo bench --bench scale`. Rewrites the `scale` section of BENCHMARKS.md (and the
//! `terraform` section when `SLIPWAY_TERRAFORM` names a Terraform binary). Figures are reported
//! against the targets of issue #18, never asserted.
//!
//! Shapes: *sparse* is `benches/synth.rs` (about 200 instances per tier module, key-level
//! references); *dense* is `benches/dense.rs` (a chain of modules of 200 instances, each
//! instance reading the previous module's output map, so each module depends on all of the
//! previous one). Per shape and size: `validate`, `graph --format json` (and the DAG's edge
//! count it prints), `plan --refresh=false` from an empty state, `apply` from nothing (local
//! providers only, `--parallelism 10`, local backend) and `plan --refresh=false` after it (a
//! no-op over N instances in state). Each process is measured with `wait4`: wall time, CPU
//! time (user + system) and peak RSS (`ru_maxrss`).
//!
//! Environment: `SLIPWAY_SCALE_SIZES` (default `1000,10000,100000`), `SLIPWAY_SCALE_RUNS`
//! (runs per measurement, median wall and max RSS reported; default 1), `SLIPWAY_BENCH_BIN`
//! (another binary), `SLIPWAY_TERRAFORM` (a Terraform binary) and `SLIPWAY_TF_SIZES`
//! (default: the same sizes).

mod dense;
mod synth;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_slipway");

fn bin() -> String {
    std::env::var("SLIPWAY_BENCH_BIN").unwrap_or_else(|_| BIN.to_string())
}

#[derive(Clone, Copy, Debug, Default)]
struct M {
    wall: Duration,
    cpu: Duration,
    /// Peak RSS in MB (10^6 bytes).
    rss: f64,
}

fn tv(t: libc::timeval) -> Duration {
    Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
}

/// Runs `program args` in `cwd` with stdout to `out` (or /dev/null); exit codes in `ok` pass.
fn measure_cmd(
    program: &str,
    args: &[&str],
    cwd: &Path,
    envs: &[(&str, &str)],
    out: Option<&Path>,
    ok: &[i32],
) -> M {
    let stdout = match out {
        Some(p) => Stdio::from(std::fs::File::create(p).expect("create output file")),
        None => Stdio::null(),
    };
    let t = Instant::now();
    #[allow(clippy::zombie_processes)] // reaped by wait4 below, which also gives its rusage
    let child = Command::new(program)
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {program}: {e}"));
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: rusage is plain data, filled by wait4 for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = t.elapsed();
    assert_eq!(rc, pid, "wait4 failed");
    let code = if libc::WIFEXITED(status) { libc::WEXITSTATUS(status) } else { -1 };
    if !ok.contains(&code) {
        let mut err = String::new();
        if let Some(mut e) = child.stderr {
            let _ = std::io::Read::read_to_string(&mut e, &mut err);
        }
        panic!("{program} {args:?} in {} exited {code}: {err}", cwd.display());
    }
    M {
        wall,
        cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
        rss: usage.ru_maxrss as f64 * 1024.0 / 1e6,
    }
}

fn runs() -> usize {
    std::env::var("SLIPWAY_SCALE_RUNS").ok().and_then(|s| s.parse().ok()).unwrap_or(1).max(1)
}

/// Median wall (and its CPU) and max RSS over [`runs`] runs of `f`.
fn repeat(mut f: impl FnMut() -> M) -> M {
    let mut v: Vec<M> = (0..runs()).map(|_| f()).collect();
    let rss = v.iter().map(|m| m.rss).fold(0.0, f64::max);
    v.sort_by_key(|m| m.wall);
    M { rss, ..v[v.len() / 2] }
}

fn sizes(var: &str, default: &str) -> Vec<usize> {
    std::env::var(var)
        .unwrap_or_else(|_| default.to_string())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect()
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Shape {
    Sparse,
    Dense,
}

impl Shape {
    fn name(self) -> &'static str {
        match self {
            Shape::Sparse => "sparse",
            Shape::Dense => "dense",
        }
    }
}

struct Row {
    shape: Shape,
    n: usize,
    edges: u64,
    validate: M,
    graph: M,
    plan: M,
    /// None above `SLIPWAY_SCALE_APPLY_MAX` instances.
    apply: Option<M>,
    replan: Option<M>,
}

/// The largest size that is applied (`SLIPWAY_SCALE_APPLY_MAX`, default: every size).
fn apply_max() -> usize {
    std::env::var("SLIPWAY_SCALE_APPLY_MAX").ok().and_then(|s| s.parse().ok()).unwrap_or(usize::MAX)
}

fn slipway_row(root: &Path, shape: Shape, n: usize) -> Row {
    let work = root.join(format!("{}-{n}", shape.name()));
    let env_dir = work.join("environments/bench");
    std::fs::create_dir_all(&env_dir).unwrap();
    match shape {
        Shape::Sparse => synth::write_environment(&env_dir, n, (n / 200).max(1)),
        Shape::Dense => dense::write_dense(&env_dir, dense::stages_for(n), dense::WIDTH),
    }
    let b = bin();
    let env = "environments/bench";
    let validate = repeat(|| measure_cmd(&b, &["validate", env], &work, &[], None, &[0]));
    let graph_out = work.join("graph.json");
    let graph = repeat(|| {
        measure_cmd(&b, &["graph", "--format", "json", env], &work, &[], Some(&graph_out), &[0])
    });
    // Read line by line (the output is pretty-printed, one field per line): parsing it whole
    // made this process hundreds of MB, and Linux reports a child's `ru_maxrss` as at least its
    // parent's peak at fork, which inflated every later measurement.
    let (mut addresses, mut barriers, mut edges) = (0usize, 0usize, 0u64);
    let file = std::fs::File::open(&graph_out).expect("graph output");
    for line in std::io::BufRead::lines(std::io::BufReader::new(file)) {
        let line = line.expect("read graph output");
        let line = line.trim();
        if line.starts_with("\"address\":") {
            addresses += 1;
        } else if line.starts_with("\"barrier\": true") {
            barriers += 1;
        } else if let Some(rest) = line.strip_prefix("\"edge_count\":") {
            edges = rest.trim().trim_end_matches(',').parse().expect("edge_count");
        }
    }
    assert_eq!(addresses - barriers, n, "{} {n}: instance count", shape.name());
    let _ = std::fs::remove_file(&graph_out);
    let plan_args = ["plan", env, "--refresh=false", "--detailed-exitcode"];
    let plan = repeat(|| {
        let _ = std::fs::remove_dir_all(work.join("state"));
        measure_cmd(&b, &plan_args, &work, &[], None, &[2])
    });
    let (apply, replan) = if n <= apply_max() {
        let apply = repeat(|| {
            let _ = std::fs::remove_dir_all(work.join("state"));
            measure_cmd(
                &b,
                &["apply", env, "-auto-approve", "--parallelism", "10"],
                &work,
                &[],
                None,
                &[0],
            )
        });
        let replan = repeat(|| measure_cmd(&b, &plan_args, &work, &[], None, &[0]));
        (Some(apply), Some(replan))
    } else {
        (None, None)
    };
    let _ = std::fs::remove_dir_all(&work);
    let row = Row { shape, n, edges, validate, graph, plan, apply, replan };
    eprintln!(
        "{} {n}: edges {edges}, validate {}, graph {}, plan {}, apply {}, no-op plan {}",
        shape.name(),
        cell(&validate),
        cell(&graph),
        cell(&plan),
        opt_cell(&apply),
        opt_cell(&replan)
    );
    row
}

fn sh(cmd: &str) -> String {
    Command::new("sh")
        .args(["-c", cmd])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn machine() -> String {
    format!(
        "{} CPUs (`nproc`),{}, {} RAM; load average at the end of the run: {}",
        sh("nproc"),
        sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"),
        sh("free -h | awk '/Mem:/ {print $2}'"),
        sh("cut -d' ' -f1-3 /proc/loadavg")
    )
}

fn cell(m: &M) -> String {
    format!("{:.2} s ({:.2}) / {:.0} MB", m.wall.as_secs_f64(), m.cpu.as_secs_f64(), m.rss)
}

fn opt_cell(m: &Option<M>) -> String {
    m.as_ref().map(cell).unwrap_or_else(|| "not run".into())
}

fn ratio(a: f64, b: f64) -> String {
    if a > 0.0 { format!("{:.1}×", b / a) } else { "–".into() }
}

fn report(rows: &[Row]) -> String {
    let mut s = String::from(
        "Each cell: wall time (CPU time, user + system) / peak RSS; MB = 10^6 bytes. \
         `plan` is `plan --refresh=false` from an empty state (every instance a create); \
         `no-op plan` the same after the apply; `apply` is from nothing, \
         `--parallelism 10`, local providers (random) and the local backend (journal fsynced \
         per group commit) on this machine's disk.\n\n\
         | shape | instances | DAG edges | validate | graph --format json | plan | apply | no-op plan |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r.shape.name(),
            r.n,
            r.edges,
            cell(&r.validate),
            cell(&r.graph),
            cell(&r.plan),
            opt_cell(&r.apply),
            opt_cell(&r.replan)
        ));
    }
    s.push_str(
        "\nGrowth per 10× instances (time is wall time; memory is peak RSS):\n\n\
         | shape | from → to | edges | validate time / mem | graph time / mem | plan time / mem | apply time / mem |\n\
         |---|---|---:|---:|---:|---:|---:|\n",
    );
    for a in rows {
        if let Some(b) = rows.iter().find(|b| b.shape == a.shape && b.n == a.n * 10) {
            let g = |x: &M, y: &M| {
                format!(
                    "{} / {}",
                    ratio(x.wall.as_secs_f64(), y.wall.as_secs_f64()),
                    ratio(x.rss, y.rss)
                )
            };
            let g_opt = |x: &Option<M>, y: &Option<M>| match (x, y) {
                (Some(x), Some(y)) => g(x, y),
                _ => "–".into(),
            };
            s.push_str(&format!(
                "| {} | {} → {} | {} | {} | {} | {} | {} |\n",
                a.shape.name(),
                a.n,
                b.n,
                ratio(a.edges as f64, b.edges as f64),
                g(&a.validate, &b.validate),
                g(&a.graph, &b.graph),
                g(&a.plan, &b.plan),
                g_opt(&a.apply, &b.apply)
            ));
        }
    }
    s.push_str("\nTargets of issue #18:\n\n| target | measured | met |\n|---|---:|---|\n");
    let yes = |ok: bool| if ok { "yes" } else { "**no**" };
    if let Some(d) = rows.iter().find(|r| r.shape == Shape::Dense && r.n == 10_000) {
        let not_run = M { wall: Duration::from_secs(u64::MAX / 4), ..M::default() };
        for (what, m, limit) in [
            ("dense 10,000: validate < 0.5 s", &d.validate, 0.5),
            ("dense 10,000: plan < 1 s", &d.plan, 1.0),
            ("dense 10,000: apply < 10 s", d.apply.as_ref().unwrap_or(&not_run), 10.0),
        ] {
            s.push_str(&format!(
                "| {what} | {:.2} s | {} |\n",
                m.wall.as_secs_f64(),
                yes(m.wall.as_secs_f64() < limit)
            ));
        }
        let max = [&d.validate, &d.graph, &d.plan]
            .into_iter()
            .chain(d.apply.as_ref())
            .chain(d.replan.as_ref())
            .map(|m| m.rss)
            .fold(0.0, f64::max);
        s.push_str(&format!(
            "| dense 10,000: every command < 300 MB | max {max:.0} MB | {} |\n",
            yes(max < 300.0)
        ));
    }
    for r in rows.iter().filter(|r| r.n == 100_000) {
        s.push_str(&format!(
            "| {} 100,000: plan < 5 s and < 1 GB | {:.2} s, {:.0} MB | {} |\n",
            r.shape.name(),
            r.plan.wall.as_secs_f64(),
            r.plan.rss,
            yes(r.plan.wall.as_secs_f64() < 5.0 && r.plan.rss < 1000.0)
        ));
    }
    for a in rows {
        if let Some(b) = rows.iter().find(|b| b.shape == a.shape && b.n == a.n * 10) {
            let mut pairs =
                vec![(&a.validate, &b.validate), (&a.graph, &b.graph), (&a.plan, &b.plan)];
            if let (Some(x), Some(y)) = (&a.apply, &b.apply) {
                pairs.push((x, y));
            }
            let worst = pairs
                .iter()
                .flat_map(|(x, y)| [y.wall.as_secs_f64() / x.wall.as_secs_f64(), y.rss / x.rss])
                .fold(0.0, f64::max);
            s.push_str(&format!(
                "| {} {} → {}: growth ≤ ~12× in time and memory | worst {worst:.1}× | {} |\n",
                a.shape.name(),
                a.n,
                b.n,
                yes(worst <= 12.5)
            ));
        }
    }
    s
}

/// Replaces the marked section of BENCHMARKS.md (appends it when absent).
fn update_section(name: &str, section: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("BENCHMARKS.md");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let start = format!("<!-- bench:{name}:start -->");
    let end = format!("<!-- bench:{name}:end -->\n");
    let new = match (text.find(&start), text.find(&end)) {
        (Some(a), Some(b)) if a < b => {
            format!("{}{}{}", &text[..a], section, &text[b + end.len()..])
        }
        _ => format!("{}\n\n{}", text.trim_end(), section),
    };
    std::fs::write(&path, new).expect("write BENCHMARKS.md");
}

fn header(title: &str, command: &str) -> String {
    format!(
        "## {title}\n\nCommand: `{command}`\n\n- Date: {}\n- slipway commit: `{}`\n- Machine: {}\n- Binary: `{}`\n\n",
        sh("date -u '+%Y-%m-%d %H:%M UTC'"),
        sh("git rev-parse --short HEAD"),
        machine(),
        bin()
    )
}

/// Terraform and slipway planning the same resource-free configuration.
fn terraform(root: &Path, tf: &str) -> String {
    let version = sh(&format!("{tf} version | head -1"));
    let mut s = String::from(
        "The resource-free configuration of each shape (`benches/dense.rs`, `write_plain`: only \
         `variable`, `locals`, `module` and `output` blocks; N/200 module calls of 200 map \
         entries each, chained for dense, independent for sparse), the same files for both tools \
         (`.tf` for Terraform, `.hcl` for slipway). Terraform: `terraform init -input=false` \
         once, then `terraform plan -refresh=false -input=false -lock=false` with \
         `TF_IN_AUTOMATION=1 CHECKPOINT_DISABLE=1`; slipway: `plan --refresh=false`. One run \
         each; wall (CPU) / peak RSS.\n\n",
    );
    s.push_str(&format!("Terraform: {version}\n\n"));
    s.push_str(
        "| shape | entries | Terraform plan | slipway plan | Terraform / slipway (wall) |\n|---|---:|---:|---:|---:|\n",
    );
    let tf_env = [("TF_IN_AUTOMATION", "1"), ("CHECKPOINT_DISABLE", "1")];
    for chained in [false, true] {
        for n in sizes("SLIPWAY_TF_SIZES", "1000,10000,100000") {
            let shape = if chained { "dense" } else { "sparse" };
            let stages = dense::stages_for(n);
            let tdir = root.join(format!("tf-{shape}-{n}"));
            dense::write_plain(&tdir, stages, dense::WIDTH, chained, "tf");
            let sdir = root.join(format!("sw-{shape}-{n}"));
            dense::write_plain(&sdir, stages, dense::WIDTH, chained, "hcl");
            measure_cmd(tf, &["init", "-input=false"], &tdir, &tf_env, None, &[0]);
            let t = measure_cmd(
                tf,
                &["plan", "-refresh=false", "-input=false", "-lock=false"],
                &tdir,
                &tf_env,
                None,
                &[0],
            );
            let w = measure_cmd(&bin(), &["plan", ".", "--refresh=false"], &sdir, &[], None, &[0]);
            eprintln!(
                "terraform {shape} {n}: terraform {:.2}s/{:.0}MB, slipway {:.2}s/{:.0}MB",
                t.wall.as_secs_f64(),
                t.rss,
                w.wall.as_secs_f64(),
                w.rss
            );
            s.push_str(&format!(
                "| {shape} | {} | {} | {} | {:.1}× |\n",
                stages * dense::WIDTH,
                cell(&t),
                cell(&w),
                t.wall.as_secs_f64() / w.wall.as_secs_f64()
            ));
            let _ = std::fs::remove_dir_all(&tdir);
            let _ = std::fs::remove_dir_all(&sdir);
        }
    }
    s
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is accepted.
    let tmp = tempfile::tempdir().expect("tempdir");
    let root: PathBuf = tmp.path().to_path_buf();
    if let Ok(tf) = std::env::var("SLIPWAY_TERRAFORM") {
        let body = terraform(&root, &tf);
        println!("{body}");
        update_section(
            "terraform",
            &format!(
                "<!-- bench:terraform:start -->\n{}{body}<!-- bench:terraform:end -->\n",
                header(
                    "Side by side with Terraform 1.0.3: plan of a resource-free configuration",
                    "SLIPWAY_TERRAFORM=… cargo bench --bench scale"
                )
            ),
        );
        if std::env::var("SLIPWAY_SCALE_SIZES").as_deref() == Ok("") {
            return;
        }
    }
    let mut rows = Vec::new();
    for shape in [Shape::Sparse, Shape::Dense] {
        for n in sizes("SLIPWAY_SCALE_SIZES", "1000,10000,100000") {
            rows.push(slipway_row(&root, shape, n));
        }
    }
    let body = report(&rows);
    println!("{body}");
    update_section(
        "scale",
        &format!(
            "<!-- bench:scale:start -->\n{}Runs per measurement: {} (median wall time, max RSS).\n\n{body}<!-- bench:scale:end -->\n",
            header(
                "Scale: sparse and dense shapes at 1,000 / 10,000 / 100,000 instances",
                "cargo bench --bench scale"
            ),
            runs()
        ),
    );
}
