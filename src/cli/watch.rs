//! `slipway watch` (the GitOps agent, [`crate::watch`]) and `slipway approve`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::engine::parse_duration;
use super::println_out;
use crate::watch::leader::LeaderOptions;
use crate::watch::{OnDrift, Policy, WatchOptions, held::PlansDir};

/// `slipway watch` arguments.
#[derive(Args, Debug)]
pub struct WatchArgs {
    /// Git URL of the repository to follow (git://, ssh://, user@host:repo, file://).
    #[arg(long, value_name = "URL")]
    pub repo: String,
    /// Branch to follow.
    #[arg(long, default_value = "main")]
    pub branch: String,
    /// Environment directory inside the repository, e.g. environments/prod.
    #[arg(long, value_name = "PATH")]
    pub path: String,
    /// When to apply without approval.
    #[arg(long, value_enum, default_value_t = Policy::Safe)]
    pub policy: Policy,
    /// What to do about drift: correct it (under the policy) or only report it.
    #[arg(long, value_enum, default_value_t = OnDrift::Report)]
    pub on_drift: OnDrift,
    /// Polling interval (0: webhooks only).
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub interval: Duration,
    /// Drift check interval (0: never).
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    pub drift_interval: Duration,
    /// Serve webhooks, approvals, /healthz and /metrics on this address.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// File holding the webhook secret (HMAC key and bearer token); also SLIPWAY_WEBHOOK_SECRET.
    #[arg(long, value_name = "FILE")]
    pub webhook_secret_file: Option<PathBuf>,
    /// Largest webhook body accepted, in bytes (larger: 413).
    #[arg(long, default_value_t = 1 << 20)]
    pub max_body_bytes: usize,
    /// The agent's working directory: Git mirror and checkouts.
    #[arg(long, default_value = ".slipway-watch", value_name = "DIR")]
    pub work_dir: PathBuf,
    /// Held plans, shared with `slipway approve` (default: WORK/plans).
    #[arg(long, env = "SLIPWAY_PLANS_DIR", value_name = "DIR")]
    pub plans_dir: Option<PathBuf>,
    /// State directory of the local backend (default: WORK/state).
    #[arg(long, env = "SLIPWAY_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// How long to wait for the state lock held by someone else before retrying later.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub lock_timeout: Duration,
    /// After a failed apply (or plan) of a commit, wait this long before trying it again;
    /// each further failure doubles the wait. A new commit is tried at once.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub backoff: Duration,
    /// The longest wait between attempts of a failing commit.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub max_backoff: Duration,
    /// Operations in flight at once.
    #[arg(long, default_value_t = 10)]
    pub parallelism: usize,
    /// Run as one of several replicas: only the holder of a coordination.k8s.io/v1 Lease
    /// fetches, plans and applies. Identity: POD_NAME, else hostname_pid.
    #[arg(long)]
    pub leader_elect: bool,
    /// Name of the Lease used for leader election.
    #[arg(long, default_value = "slipway-agent", value_name = "NAME")]
    pub lease_name: String,
    /// Namespace of the Lease (default: POD_NAMESPACE, else `default`).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default", value_name = "NS")]
    pub lease_namespace: String,
    /// How long followers wait, after the Lease last changed, before taking it over.
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    pub lease_duration: Duration,
    /// A leader that has not renewed the Lease for this long stops starting work.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub renew_deadline: Duration,
    /// How often every agent tries to acquire or renew the Lease.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub retry_period: Duration,
    /// Kubeconfig for leader election (default: KUBECONFIG, ~/.kube/config, or in-cluster).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Run a restore drill (`slipway dr drill`) of the latest snapshot this often (0: never);
    /// results on /metrics as slipway_dr_drill_*.
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    pub drill_interval: Duration,
    /// A drill fails when the latest snapshot is older than this.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub drill_max_rpo: Option<Duration>,
    /// Directory of etcd and etcdutl for the drills (default: PATH).
    #[arg(long, env = "SLIPWAY_ETCD_BIN", value_name = "DIR")]
    pub drill_etcd_bin: Option<PathBuf>,
    /// Loopback address of the drills' scratch etcd.
    #[arg(long, default_value = "127.0.0.1", value_name = "IP")]
    pub drill_ip: String,
}

pub fn watch_cmd(a: WatchArgs) -> i32 {
    let secret = match (&a.webhook_secret_file, std::env::var("SLIPWAY_WEBHOOK_SECRET")) {
        (Some(f), _) => match std::fs::read_to_string(f) {
            Ok(s) => Some(s.trim().as_bytes().to_vec()),
            Err(e) => {
                eprintln!("error: cannot read {}: {e}", f.display());
                return 1;
            }
        },
        (None, Ok(s)) if !s.is_empty() => Some(s.into_bytes()),
        _ => None,
    };
    if a.listen.is_some() && secret.is_none() {
        eprintln!(
            "warning: no webhook secret (--webhook-secret-file or SLIPWAY_WEBHOOK_SECRET): webhooks and HTTP approvals will be refused"
        );
    }
    let leader = a.leader_elect.then(|| LeaderOptions {
        lease_name: a.lease_name.clone(),
        lease_namespace: a.lease_namespace.clone(),
        identity: crate::watch::leader::default_identity(),
        lease_duration: a.lease_duration,
        renew_deadline: a.renew_deadline,
        retry_period: a.retry_period,
        kubeconfig: a.kubeconfig.clone(),
    });
    if let Some(l) = &leader
        && let Err(e) = l.check()
    {
        eprintln!("error: {e}");
        return 1;
    }
    let drill = (a.drill_interval > Duration::ZERO).then(|| crate::watch::drill::DrillSchedule {
        interval: a.drill_interval,
        options: crate::etcd::drill::Options {
            etcd_bin: a.drill_etcd_bin.clone(),
            kube_bin: None,
            ip: a.drill_ip.clone(),
            work_dir: a.work_dir.join("drills"),
            apiserver: false,
            max_rpo: a.drill_max_rpo,
            keep: false,
        },
    });
    let plans_dir = a.plans_dir.unwrap_or_else(|| a.work_dir.join("plans"));
    let state_dir = a.state_dir.unwrap_or_else(|| a.work_dir.join("state"));
    crate::watch::run(WatchOptions {
        repo: a.repo,
        branch: a.branch,
        path: a.path,
        policy: a.policy,
        on_drift: a.on_drift,
        interval: a.interval,
        drift_interval: a.drift_interval,
        listen: a.listen,
        secret,
        plans_dir,
        state_dir,
        work_dir: a.work_dir,
        lock_timeout: a.lock_timeout,
        parallelism: a.parallelism,
        max_body: a.max_body_bytes,
        leader,
        drill,
        backoff: a.backoff,
        max_backoff: a.max_backoff.max(a.backoff),
    })
}

/// `slipway approve ID`: marks a held plan approved; the agent applies it.
pub fn approve_cmd(id: &str, plans_dir: Option<PathBuf>, list: bool) -> i32 {
    let dir = plans_dir.unwrap_or_else(|| PathBuf::from(".slipway-watch/plans"));
    let plans = PlansDir::new(&dir);
    if list {
        for h in plans.list() {
            println_out(&format!(
                "{}  commit {}  {}  {} ({})",
                h.id,
                &h.commit[..h.commit.len().min(12)],
                h.created,
                h.summary,
                h.reason
            ));
        }
        return 0;
    }
    match plans.approve(id) {
        Ok(h) => {
            println_out(&format!(
                "Approved plan {} (commit {}: {}). The agent applies it at its next turn, unless the state or configuration moved on.",
                h.id, h.commit, h.summary
            ));
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}
