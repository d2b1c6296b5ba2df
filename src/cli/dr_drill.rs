//! `slipway dr drill ENV`: restores a snapshot of the environment into a scratch etcd of local
//! processes and reports whether it is good, its RPO and the restore's RTO
//! ([`crate::etcd::drill`]). Exit 0 only when every check passed and the RPO is within
//! `--max-rpo`.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::engine::{StateArgs, parse_duration, runtime};
use super::println_out;
use crate::etcd::drill::{self, Options, Report};
use crate::etcd::snapshots;

#[derive(Args, Debug, Clone)]
pub struct DrillArgs {
    /// Environment directory (default: current directory).
    pub dir: Option<PathBuf>,
    /// The snapshot: `latest` or an id from `slipway etcd snapshots`.
    #[arg(long, default_value = "latest", value_name = "ID")]
    pub snapshot: String,
    /// Fail when the snapshot is older than this (e.g. 30m, 2h).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub max_rpo: Option<Duration>,
    /// Also start a scratch kube-apiserver on the restored data and count objects per kind.
    #[arg(long)]
    pub apiserver: bool,
    /// Directory of etcd and etcdutl (default: PATH).
    #[arg(long, env = "SLIPWAY_ETCD_BIN", value_name = "DIR")]
    pub etcd_bin: Option<PathBuf>,
    /// Directory of kube-apiserver (default: PATH).
    #[arg(long, env = "SLIPWAY_KUBE_BIN", value_name = "DIR")]
    pub kube_bin: Option<PathBuf>,
    /// Loopback address the scratch members listen on.
    #[arg(long, default_value = "127.0.0.1", value_name = "IP")]
    pub ip: String,
    /// Where the scratch directory is made (default: the system's temporary directory).
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
    /// Keep the scratch directory (the restored data and logs) for inspection.
    #[arg(long)]
    pub keep: bool,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub state: StateArgs,
}

impl DrillArgs {
    pub fn options(&self) -> Options {
        Options {
            etcd_bin: self.etcd_bin.clone().map(bin_dir),
            kube_bin: self.kube_bin.clone().map(bin_dir),
            ip: self.ip.clone(),
            work_dir: self.work_dir.clone().unwrap_or_else(std::env::temp_dir),
            apiserver: self.apiserver,
            max_rpo: self.max_rpo,
            keep: self.keep,
        }
    }
}

/// A directory, or a binary's path standing for its directory.
fn bin_dir(p: PathBuf) -> PathBuf {
    if p.is_file() { p.parent().map(PathBuf::from).unwrap_or(p) } else { p }
}

pub fn drill_cmd(args: DrillArgs) -> i32 {
    let dir = args.dir.clone().unwrap_or_else(|| PathBuf::from("."));
    let outs = match super::etcd::outputs(&dir, &args.state) {
        Ok(o) => o,
        Err(c) => return c,
    };
    let loc = match super::etcd::location(&outs) {
        Ok(l) => l,
        Err(c) => return c,
    };
    let opts = args.options();
    let result = runtime().block_on(async {
        let s3 = snapshots::s3_client().await?;
        drill::run(&s3, &loc, &args.snapshot, &opts).await
    });
    match result {
        Ok(report) => {
            if args.json {
                println_out(&serde_json::to_string_pretty(&report).unwrap_or_default());
            } else {
                println_out(&render(&report));
            }
            if report.success { 0 } else { 1 }
        }
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

/// The report for a terminal.
pub fn render(r: &Report) -> String {
    let mut out = vec![format!(
        "Drill of {} (member {}, taken {}, {} bytes)",
        r.snapshot, r.member, r.taken_at, r.size
    )];
    out.push(format!(
        "  RPO {}s{}",
        r.rpo_seconds,
        r.max_rpo_seconds.map(|m| format!(" (max {m}s)")).unwrap_or_default()
    ));
    if let Some(rto) = r.rto_seconds {
        out.push(format!("  RTO {rto:.2}s (download to a serving 3-member etcd)"));
    }
    if let Some(rev) = r.revision {
        out.push(format!("  revision {rev}, {} keys", r.total_keys.unwrap_or(0)));
    }
    for (step, secs) in &r.steps {
        out.push(format!("  {step:<10} {secs:.2}s"));
    }
    if !r.hashkv.is_empty() {
        let hs: Vec<String> =
            r.hashkv.iter().map(|(m, (h, rev))| format!("{m}={h}@{rev}")).collect();
        out.push(format!("  hashkv {}", hs.join(" ")));
    }
    if let Some(c) = &r.canary_found {
        out.push(format!("  canary {c} (expected {})", r.canary_expected));
    }
    for (kind, n) in &r.objects {
        out.push(format!("  {kind:<50} {n}"));
    }
    if let Some(d) = &r.scratch_dir {
        out.push(format!("  scratch kept in {d}"));
    }
    if r.success {
        out.push("Drill succeeded.".into());
    } else {
        for f in &r.failures {
            out.push(format!("  FAILED: {f}"));
        }
        out.push("Drill failed.".into());
    }
    out.join("\n")
}
