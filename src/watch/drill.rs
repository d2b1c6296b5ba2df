//! Scheduled restore drills in `slipway watch --drill-interval D`: the leader runs
//! `dr drill` on the environment's latest snapshot every D (in the background: syncs go on)
//! and `/metrics` exports the last result.
//!
//! Invariants:
//! - At most one drill runs at a time; a drill still running when the next is due delays it.
//! - No metric is exported before the first drill finishes (absent, not a fake 0 that would
//!   page someone), and a drill that could not start (no state, no snapshot, S3 unreachable)
//!   counts as a failed drill with no RPO/RTO.

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::etcd::drill::Options;

/// `--drill-interval` and the drill's options (`--drill-max-rpo`, etcd binaries, scratch IP).
#[derive(Debug, Clone)]
pub struct DrillSchedule {
    pub interval: Duration,
    pub options: Options,
}

#[derive(Debug, Clone, Default)]
struct Last {
    success: bool,
    rpo_seconds: Option<i64>,
    rto_seconds: Option<f64>,
    timestamp: f64,
}

static LAST: Mutex<Option<Last>> = Mutex::new(None);
static RUNNING: AtomicBool = AtomicBool::new(false);

/// Starts a drill in the background unless one is running. `env_dir` is the synced checkout's
/// environment, `state_dir` the agent's state directory.
pub fn start(schedule: &DrillSchedule, env_dir: PathBuf, state_dir: PathBuf) {
    if RUNNING.swap(true, Ordering::SeqCst) {
        return;
    }
    let opts = schedule.options.clone();
    tokio::spawn(async move {
        let last = run_once(&opts, &env_dir, &state_dir).await;
        if let Ok(mut l) = LAST.lock() {
            *l = Some(last);
        }
        RUNNING.store(false, Ordering::SeqCst);
    });
}

async fn run_once(opts: &Options, env_dir: &std::path::Path, state_dir: &std::path::Path) -> Last {
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let failed = |why: String| {
        eprintln!("slipway watch: restore drill: {why}");
        Last { success: false, timestamp, ..Default::default() }
    };
    let env =
        crate::environment::Environment::load(env_dir, &[], crate::providers::builtin_registry());
    let sopts = crate::session::SessionOptions {
        state_dir: Some(state_dir.to_path_buf()),
        ..Default::default()
    };
    let backend = match crate::session::backend_for(&env, &sopts) {
        Ok(b) => b,
        Err(e) => return failed(format!("state backend: {e:?}")),
    };
    let state = match backend.read().await {
        Ok(Some(s)) => s,
        Ok(None) => return failed("the environment has no state yet".into()),
        Err(e) => return failed(e.to_string()),
    };
    let Some(loc) = state
        .outputs
        .get("etcd_snapshots")
        .and_then(|o| crate::etcd::snapshots::Location::from_output(&o.value))
    else {
        return failed("the state has no etcd_snapshots output".into());
    };
    let s3 = match crate::etcd::snapshots::s3_client().await {
        Ok(c) => c,
        Err(e) => return failed(e.to_string()),
    };
    match crate::etcd::drill::run(&s3, &loc, "latest", opts).await {
        Ok(r) => {
            eprintln!(
                "slipway watch: restore drill of {}: {} (RPO {}s, RTO {})",
                r.snapshot,
                if r.success { "ok" } else { "FAILED" },
                r.rpo_seconds,
                r.rto_seconds.map(|s| format!("{s:.1}s")).unwrap_or_else(|| "-".into())
            );
            for f in &r.failures {
                eprintln!("slipway watch: restore drill: {f}");
            }
            Last {
                success: r.success,
                rpo_seconds: Some(r.rpo_seconds),
                rto_seconds: r.rto_seconds,
                timestamp,
            }
        }
        Err(e) => failed(e.to_string()),
    }
}

/// The drill metrics in Prometheus text format (empty before the first drill).
pub fn render() -> String {
    let Some(l) = LAST.lock().ok().and_then(|l| l.clone()) else {
        return String::new();
    };
    let mut o = String::new();
    let mut metric = |name: &str, help: &str, v: String| {
        o.push_str(&format!("# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}\n"));
    };
    metric(
        "slipway_dr_drill_success",
        "1 when the last restore drill passed every check, else 0.",
        u8::from(l.success).to_string(),
    );
    if let Some(rpo) = l.rpo_seconds {
        metric(
            "slipway_dr_drill_rpo_seconds",
            "Age of the snapshot the last drill restored.",
            rpo.to_string(),
        );
    }
    if let Some(rto) = l.rto_seconds {
        metric(
            "slipway_dr_drill_rto_seconds",
            "Seconds from the start of the download to a serving restored etcd, last drill.",
            format!("{rto:.3}"),
        );
    }
    metric(
        "slipway_dr_drill_timestamp_seconds",
        "When the last drill started (Unix time).",
        format!("{:.0}", l.timestamp),
    );
    o
}
