//! `slipway watch`: the GitOps agent.
//!
//! It follows one branch of a Git remote and one environment directory in it. On a new commit
//! (polling, or a webhook) it fetches, exports the commit into `WORK/checkouts/<commit>`, plans
//! against the state, and applies when the policy allows:
//!
//! - `auto`: every plan;
//! - `safe`: plans that neither delete nor replace; the others are held;
//! - `manual`: no plan; all are held.
//!
//! A held plan is a saved plan in the plans directory ([`held`]), applied once approved
//! (`slipway approve ID` or `POST /approve/ID`) — exactly, or not at all if the state or the
//! configuration moved on (then the agent plans again). On an interval it also makes a
//! refresh-only plan: drift is reported (log and metrics) and, with `--on-drift correct`,
//! corrected by a normal plan of the current commit under the same policy.
//!
//! **Invariants:**
//! - Every plan and apply runs in a session holding the state lock, so two agents (or an agent
//!   and a person) never apply at once; a busy lock is reported and retried at the next trigger.
//! - The commit applied is journaled in state (`applied_commit`) after a successful apply; a
//!   crash before that leaves a plan that resumes the interrupted operations (the engine adopts
//!   what an interrupted create made) and then records the commit.
//! - Only the branch head the agent fetched itself is ever applied: webhook bodies are triggers,
//!   never instructions. A `git revert` is just a new head, so it rolls back by a normal apply.
//! - A lock whose holder is provably dead (a killed agent or run) is taken over; any
//!   other lock is waited for, never broken.
//! - With `--leader-elect` ([`leader`]), only the agent holding the Lease fetches, plans and
//!   applies; the fence ([`leader::Leadership::is_leader`]) is checked before each of them.

pub mod drill;
pub mod held;
pub mod http;
pub mod leader;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::ValueEnum;
use tokio::sync::mpsc;

use crate::addr::ResourceInstanceAddr;
use crate::apply::{self, ApplyContext, OpKind, Progress};
use crate::backend::BackendError;
use crate::environment::Environment;
use crate::plan::{self, Action, Plan, PlanOptions, file::SavedPlan};
use crate::provider::ProviderRegistry;
use crate::session::{Session, SessionError, SessionOptions};
use crate::state::journal::JournalOp;
use held::{HeldPlan, PlansDir};
use http::Trigger;

/// When a plan may be applied without approval.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Policy {
    /// Apply every plan.
    Auto,
    /// Apply unless the plan deletes or replaces something; hold otherwise.
    Safe,
    /// Hold every plan until approved.
    Manual,
}

/// What to do about drift found by the periodic refresh-only plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OnDrift {
    /// Plan the current commit again and apply it under the policy.
    Correct,
    /// Only report it (log and metrics).
    Report,
}

/// Everything the agent needs to run.
#[derive(Clone, Debug)]
pub struct WatchOptions {
    pub repo: String,
    pub branch: String,
    /// The environment directory, relative to the repository root.
    pub path: String,
    pub policy: Policy,
    pub on_drift: OnDrift,
    /// Polling interval; zero: webhooks only.
    pub interval: Duration,
    /// Drift check interval; zero: never.
    pub drift_interval: Duration,
    pub listen: Option<std::net::SocketAddr>,
    pub secret: Option<Vec<u8>>,
    pub work_dir: PathBuf,
    pub plans_dir: PathBuf,
    pub state_dir: PathBuf,
    pub lock_timeout: Duration,
    pub parallelism: usize,
    pub max_body: usize,
    /// Leader election on a Lease; `None`: this agent always acts.
    pub leader: Option<leader::LeaderOptions>,
    /// Scheduled restore drills (`--drill-interval`); `None`: none.
    pub drill: Option<drill::DrillSchedule>,
}

/// What `/metrics` shows.
#[derive(Debug, Default)]
pub struct Status {
    pub last_sync_commit: Option<String>,
    pub last_sync_unix: f64,
    pub syncs_total: u64,
    pub sync_errors_total: u64,
    pub last_apply_ok: Option<bool>,
    pub last_apply_seconds: f64,
    pub last_apply_commit: Option<String>,
    pub applies_ok: u64,
    pub applies_failed: u64,
    pub drift_resources: usize,
    pub drift_checks_total: u64,
    pub webhooks: BTreeMap<&'static str, u64>,
    /// Set with `--leader-elect`.
    pub leadership: Option<Arc<leader::Leadership>>,
}

fn escape_label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Status {
    /// The Prometheus text exposition.
    pub fn render(&self, held: usize) -> String {
        let mut o = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, lines: Vec<(String, String)>| {
            o.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
            for (labels, v) in lines {
                o.push_str(&format!("{name}{labels} {v}\n"));
            }
        };
        let commit = self.last_sync_commit.as_deref().unwrap_or("");
        metric(
            "slipway_watch_last_sync_info",
            "gauge",
            "The commit of the last successful sync (label), always 1.",
            vec![(
                format!("{{commit=\"{}\"}}", escape_label(commit)),
                "1".into(),
            )],
        );
        metric(
            "slipway_watch_last_sync_timestamp_seconds",
            "gauge",
            "When the last successful sync finished (Unix time).",
            vec![(String::new(), format!("{}", self.last_sync_unix))],
        );
        metric(
            "slipway_watch_syncs_total",
            "counter",
            "Syncs attempted, by result.",
            vec![
                ("{result=\"ok\"}".into(), self.syncs_total.to_string()),
                (
                    "{result=\"error\"}".into(),
                    self.sync_errors_total.to_string(),
                ),
            ],
        );
        metric(
            "slipway_watch_last_apply_success",
            "gauge",
            "1 if the last apply succeeded, 0 if it failed, -1 before the first apply.",
            vec![(
                String::new(),
                match self.last_apply_ok {
                    Some(true) => "1",
                    Some(false) => "0",
                    None => "-1",
                }
                .into(),
            )],
        );
        metric(
            "slipway_watch_last_apply_duration_seconds",
            "gauge",
            "Duration of the last apply.",
            vec![(String::new(), format!("{:.3}", self.last_apply_seconds))],
        );
        metric(
            "slipway_watch_applies_total",
            "counter",
            "Applies, by result.",
            vec![
                ("{result=\"success\"}".into(), self.applies_ok.to_string()),
                (
                    "{result=\"failure\"}".into(),
                    self.applies_failed.to_string(),
                ),
            ],
        );
        metric(
            "slipway_watch_drift_resources",
            "gauge",
            "Resource instances that drifted, at the last drift check.",
            vec![(String::new(), self.drift_resources.to_string())],
        );
        metric(
            "slipway_watch_drift_checks_total",
            "counter",
            "Drift checks made.",
            vec![(String::new(), self.drift_checks_total.to_string())],
        );
        metric(
            "slipway_watch_held_plans",
            "gauge",
            "Plans waiting for approval.",
            vec![(String::new(), held.to_string())],
        );
        let hooks: Vec<(String, String)> = [
            "accepted",
            "ignored",
            "rejected",
            "replayed",
            "unauthorized",
        ]
        .iter()
        .map(|r| {
            (
                format!("{{result=\"{r}\"}}"),
                self.webhooks.get(r).copied().unwrap_or(0).to_string(),
            )
        })
        .collect();
        metric(
            "slipway_watch_webhook_requests_total",
            "counter",
            "Webhook requests, by result (oversized bodies are refused before counting).",
            hooks,
        );
        // Without election the agent is alone and always acts: it counts as the leader.
        let (leading, transitions) = match &self.leadership {
            Some(l) => (l.is_leader(), l.transitions()),
            None => (true, 0),
        };
        metric(
            "slipway_watch_leader",
            "gauge",
            "1 while this agent holds the Lease and acts (always 1 without --leader-elect), else 0.",
            vec![(String::new(), u8::from(leading).to_string())],
        );
        metric(
            "slipway_watch_leader_transitions_total",
            "counter",
            "Changes of the Lease holder this agent has seen (its own acquisitions and losses included).",
            vec![(String::new(), transitions.to_string())],
        );
        o.push_str(&drill::render());
        o
    }
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// The agent's events go through `tracing` (so `--log-format json` covers them), never to
/// stdout: a daemon's output is its log.
fn log(msg: &str) {
    tracing::info!("{msg}");
}

/// Apply's progress as log events: one per operation started, still running, finished or
/// failed, with the same words the command line prints.
struct LogProgress;

impl Progress for LogProgress {
    fn started(&self, addr: &ResourceInstanceAddr, op: OpKind) {
        tracing::info!("{addr}: {}", op.progressive().0);
    }
    fn still_running(&self, addr: &ResourceInstanceAddr, op: OpKind, elapsed: Duration) {
        tracing::info!(
            "{addr}: Still {}... [{}s elapsed]",
            op.ongoing(),
            elapsed.as_secs()
        );
    }
    fn finished(
        &self,
        addr: &ResourceInstanceAddr,
        op: OpKind,
        elapsed: Duration,
        id: Option<&str>,
    ) {
        let id = id.map(|i| format!(" [id={i}]")).unwrap_or_default();
        tracing::info!(
            "{addr}: {} after {}s{id}",
            op.progressive().1,
            elapsed.as_secs()
        );
    }
    fn failed(&self, addr: &ResourceInstanceAddr, _op: OpKind, message: &str) {
        tracing::error!("{addr}: failed: {message}");
    }
    fn notice(&self, message: &str) {
        tracing::info!("{message}");
    }
}

fn short(commit: &str) -> &str {
    &commit[..commit.len().min(12)]
}

/// The reconcile loop's own state.
struct Agent {
    opts: WatchOptions,
    status: Arc<Mutex<Status>>,
    plans: PlansDir,
    mirror: PathBuf,
    /// The head last planned (applied, found in sync, or held), with its environment directory.
    synced: Option<(String, PathBuf)>,
    /// With `--leader-elect`: the fence checked before any work starts.
    leadership: Option<Arc<leader::Leadership>>,
}

/// Runs the agent until SIGINT/SIGTERM. Returns the process exit code.
pub fn run(opts: WatchOptions) -> i32 {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .thread_stack_size(64 << 20)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return 1;
        }
    };
    rt.block_on(run_async(opts))
}

async fn run_async(opts: WatchOptions) -> i32 {
    if let Err(e) = crate::git::check_url(&opts.repo) {
        eprintln!("error: {e}");
        return 1;
    }
    for d in [&opts.work_dir, &opts.plans_dir, &opts.state_dir] {
        if let Err(e) = std::fs::create_dir_all(d) {
            eprintln!("error: cannot create {}: {e}", d.display());
            return 1;
        }
    }
    // The election starts first: `/metrics` shows leadership from the first scrape.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut election = None;
    let leadership = match opts.leader.clone() {
        Some(lo) => match leader::Elector::connect(lo).await {
            Ok(e) => {
                let l = e.leadership();
                election = Some(tokio::spawn(e.run(stop_rx)));
                Some(l)
            }
            Err(e) => {
                eprintln!("error: {e}");
                return 1;
            }
        },
        None => None,
    };
    let status = Arc::new(Mutex::new(Status {
        leadership: leadership.clone(),
        ..Default::default()
    }));
    let (tx, mut rx) = mpsc::channel::<Trigger>(64);
    if let Some(addr) = opts.listen {
        let state = Arc::new(http::HttpState::new(
            opts.secret.clone(),
            opts.branch.clone(),
            status.clone(),
            PlansDir::new(&opts.plans_dir),
            tx.clone(),
        ));
        let listener = match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("error: cannot listen on {addr}: {e}");
                return 1;
            }
        };
        let app = http::router(state, opts.max_body);
        log(&format!(
            "listening on http://{}",
            listener
                .local_addr()
                .map(|a| a.to_string())
                .unwrap_or_default()
        ));
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("error: HTTP server: {e}");
            }
        });
    }
    let mut agent = Agent {
        mirror: opts
            .work_dir
            .join("repos")
            .join(crate::git::repo_dir_name(&opts.repo)),
        plans: PlansDir::new(&opts.plans_dir),
        opts,
        status,
        synced: None,
        leadership,
    };
    log(&format!(
        "following {} branch {} path {} (policy {:?}, drift {:?})",
        agent.opts.repo, agent.opts.branch, agent.opts.path, agent.opts.policy, agent.opts.on_drift
    ));
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    // Sync at once on start (a restart after a crash resumes here): the first turn as leader
    // (at once without election) sets `sync_due`. Not before, or a starting follower would
    // relay a trigger nobody sent.
    let mut sync_due = false;
    let mut next_poll = Instant::now() + agent.opts.interval;
    let mut next_drift = Instant::now() + agent.opts.drift_interval;
    let mut next_drill = Instant::now();
    let mut was_leading = false;
    loop {
        let leading = agent.leading();
        if leading && !was_leading {
            // A new leader knows nothing of what others applied meanwhile: sync at once, and
            // plan the head even if this agent had planned it before.
            agent.synced = None;
            sync_due = true;
        }
        was_leading = leading;
        let polling = agent.opts.interval > Duration::ZERO;
        if !leading {
            // A follower does no work: it passes a trigger on to the leader (through the
            // Lease); the sync a new leader makes at once covers the rest.
            if sync_due && let Some(l) = &agent.leadership {
                l.relay_sync();
            }
            sync_due = false;
        } else {
            sync_due |= agent
                .leadership
                .as_ref()
                .is_some_and(|l| l.take_sync_request());
            if sync_due || (polling && Instant::now() >= next_poll) {
                sync_due = false;
                agent.sync().await;
                next_poll = Instant::now() + agent.opts.interval;
            }
            agent.approvals().await;
            if agent.opts.drift_interval > Duration::ZERO && Instant::now() >= next_drift {
                agent.drift_check().await;
                next_drift = Instant::now() + agent.opts.drift_interval;
            }
            // Restore drills (src/watch/drill.rs) once the environment has been synced.
            if let (Some(d), Some((_, env_dir))) = (&agent.opts.drill, &agent.synced)
                && Instant::now() >= next_drill
            {
                drill::start(d, env_dir.clone(), agent.opts.state_dir.clone());
                next_drill = Instant::now() + d.interval;
            }
        }
        // Wake for a trigger, else look again shortly (approvals by `slipway approve`, timers).
        tokio::select! {
            t = rx.recv() => {
                sync_due |= t == Some(Trigger::Sync);
                while let Ok(more) = rx.try_recv() {
                    sync_due |= more == Trigger::Sync;
                }
            }
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
        }
    }
    log("stopping");
    // Release the Lease so that a follower takes over at its next retry.
    let _ = stop_tx.send(true);
    if let Some(task) = election {
        let _ = task.await;
    }
    0
}

/// What a reconcile did.
enum Outcome {
    InSync,
    Applied,
    Held,
    Failed(String),
    /// The fence closed before the work started: nothing was done.
    NotLeader,
}

impl Agent {
    /// Whether this agent may start work now (always, without leader election).
    fn leading(&self) -> bool {
        self.leadership.as_ref().is_none_or(|l| l.is_leader())
    }

    /// The fence, checked right before a plan or an apply starts: false (and logged) when the
    /// lease was not renewed within the renew deadline, e.g. after the process was paused.
    fn fence(&self, what: &str) -> bool {
        if self.leading() {
            return true;
        }
        let since = self
            .leadership
            .as_ref()
            .and_then(|l| l.since_renewal())
            .map(|d| format!("{:.1}s ago", d.as_secs_f64()))
            .unwrap_or_else(|| "never".into());
        tracing::warn!(
            last_renewal = %since,
            "leader election: not the leader any more; not starting the {what}"
        );
        false
    }

    fn record_sync(&self, commit: &str, ok: bool) {
        if let Ok(mut s) = self.status.lock() {
            if ok {
                s.syncs_total += 1;
                s.last_sync_commit = Some(commit.to_string());
                s.last_sync_unix = unix_now();
            } else {
                s.sync_errors_total += 1;
            }
        }
    }

    /// Fetches the branch; on a new head, exports it and reconciles.
    async fn sync(&mut self) {
        if !self.fence("fetch") {
            return;
        }
        let (mirror, url, branch) = (
            self.mirror.clone(),
            self.opts.repo.clone(),
            self.opts.branch.clone(),
        );
        let fetched = tokio::task::spawn_blocking(move || -> Result<String, String> {
            let refs = crate::git::fetch(&mirror, &url).map_err(|e| e.to_string())?;
            refs.get(&format!("refs/heads/{branch}"))
                .cloned()
                .ok_or_else(|| format!("{url} has no branch `{branch}`"))
        })
        .await
        .unwrap_or_else(|e| Err(e.to_string()));
        let head = match fetched {
            Ok(h) => h,
            Err(e) => {
                log(&format!("fetch failed: {e}"));
                self.record_sync("", false);
                return;
            }
        };
        if self.synced.as_ref().is_some_and(|(c, _)| *c == head) {
            return;
        }
        let env_dir = match self.checkout(&head).await {
            Ok(d) => d,
            Err(e) => {
                log(&format!("checkout of {} failed: {e}", short(&head)));
                self.record_sync(&head, false);
                return;
            }
        };
        log(&format!("new commit {}", short(&head)));
        match self.reconcile(&head, &env_dir).await {
            Outcome::Failed(e) => {
                log(&format!("commit {}: {e}", short(&head)));
                self.record_sync(&head, false);
            }
            // Not synced: whoever leads plans it.
            Outcome::NotLeader => {}
            _ => {
                self.synced = Some((head.clone(), env_dir));
                self.record_sync(&head, true);
            }
        }
    }

    /// `WORK/checkouts/<commit>/<path>`, exported once per commit.
    async fn checkout(&self, commit: &str) -> Result<PathBuf, String> {
        let root = self.opts.work_dir.join("checkouts").join(commit);
        if !root.is_dir() {
            let (mirror, c, r) = (self.mirror.clone(), commit.to_string(), root.clone());
            tokio::task::spawn_blocking(move || crate::git::export_tree(&mirror, &c, &r))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
        }
        let env_dir = root.join(&self.opts.path);
        if !env_dir.is_dir() {
            return Err(format!(
                "commit {} has no directory `{}`",
                short(commit),
                self.opts.path
            ));
        }
        Ok(env_dir)
    }

    /// Opens a session on the environment. A lock whose holder is provably dead (a killed
    /// agent or run) is taken over by the backend; any other lock is waited for
    /// (`--lock-timeout`), then reported.
    async fn open(&self, env_dir: &Path, operation: &str) -> Result<Session, String> {
        // First look without waiting, so that the wait is logged when there is one.
        let mut timeout = Duration::ZERO;
        loop {
            let env = Environment::load(env_dir, &[], crate::providers::builtin_registry());
            if env.diagnostics.has_errors() {
                return Err(crate::diag::render_terminal(
                    &env.diagnostics,
                    &env.sources,
                    false,
                ));
            }
            let opts = SessionOptions {
                state_dir: Some(self.opts.state_dir.clone()),
                lock_timeout: timeout,
                operation: operation.into(),
            };
            let e = match Session::open(env, &opts).await {
                Ok(s) => return Ok(s),
                Err(e) => e,
            };
            match e {
                SessionError::Backend(BackendError::Locked { .. })
                    if timeout.is_zero() && !self.opts.lock_timeout.is_zero() =>
                {
                    log("the state is locked; waiting for it");
                    timeout = self.opts.lock_timeout;
                }
                SessionError::Config(d) => {
                    let env = Environment::load(env_dir, &[], ProviderRegistry::default());
                    return Err(crate::diag::render_terminal(&d, &env.sources, false));
                }
                SessionError::Backend(e) => return Err(e.to_string()),
                SessionError::Other(m) => return Err(m),
            }
        }
    }

    async fn make_plan(s: &Session, options: PlanOptions) -> Result<Plan, String> {
        let state = s.state.state().clone();
        let (refreshed, drift) = plan::refresh(&state, &s.registry)
            .await
            .map_err(|d| crate::diag::render_terminal(&d, &s.env.sources, false))?;
        let handle = tokio::runtime::Handle::current();
        let env = s.env.clone();
        let (plan, diags) =
            tokio::task::block_in_place(|| plan::plan(&env, refreshed, drift, options, handle));
        if diags.has_errors() || plan.is_none() {
            return Err(crate::diag::render_terminal(&diags, &s.env.sources, false));
        }
        plan.ok_or_else(|| "no plan".into())
    }

    /// Plans `commit` and applies or holds the plan per policy.
    async fn reconcile(&mut self, commit: &str, env_dir: &Path) -> Outcome {
        // Before taking the state lock (a follower never holds it), and again after: waiting
        // for the lock can outlast the fence.
        if !self.fence("plan") {
            return Outcome::NotLeader;
        }
        let mut s = match self.open(env_dir, "watch plan").await {
            Ok(s) => s,
            Err(e) => return Outcome::Failed(e),
        };
        if !self.fence("plan") {
            s.abandon().await;
            return Outcome::NotLeader;
        }
        let options = PlanOptions {
            refresh: true,
            ..Default::default()
        };
        let p = match Self::make_plan(&s, options).await {
            Ok(p) => p,
            Err(e) => {
                s.abandon().await;
                return Outcome::Failed(e);
            }
        };
        if !p.has_changes() {
            let mut r = apply::persist_refresh(&mut s.state, &p.refreshed).await;
            if r.is_ok() && s.state.state().applied_commit.as_deref() != Some(commit) {
                r = s
                    .state
                    .apply(JournalOp::SetAppliedCommit {
                        commit: Some(commit.to_string()),
                    })
                    .await;
            }
            return match r.and(s.close().await) {
                Ok(()) => {
                    self.drop_held_except(None);
                    log(&format!(
                        "commit {}: in sync, nothing to change",
                        short(commit)
                    ));
                    Outcome::InSync
                }
                Err(e) => Outcome::Failed(format!("saving state: {e}")),
            };
        }
        let destructive: Vec<String> = p
            .changes
            .iter()
            .filter(|c| matches!(c.action, Action::Delete | Action::Replace))
            .map(|c| format!("{} {}", c.action.symbol(), c.addr))
            .collect();
        let hold_reason = match self.opts.policy {
            Policy::Auto => None,
            Policy::Safe if destructive.is_empty() => None,
            Policy::Safe => Some(format!("deletes or replaces: {}", destructive.join(", "))),
            Policy::Manual => Some("policy manual".to_string()),
        };
        if let Some(reason) = hold_reason {
            let id = format!("{}-{}", short(commit), p.serial);
            let (add, change, destroy) = p.counts();
            let meta = HeldPlan {
                id: id.clone(),
                commit: commit.to_string(),
                created: now_rfc3339(),
                summary: format!("Plan: {add} to add, {change} to change, {destroy} to destroy."),
                reason,
            };
            let saved = SavedPlan {
                format: plan::file::FORMAT.into(),
                environment_dir: s.env.dir.clone(),
                vars: Vec::new(),
                config_digest: s.env.config_digest(),
                plan: p,
            };
            s.abandon().await;
            if let Err(e) = self.plans.hold(&meta, &saved) {
                return Outcome::Failed(format!("saving held plan: {e}"));
            }
            self.drop_held_except(Some(&id));
            log(&format!(
                "commit {}: plan {id} held ({}; {}); approve with: slipway approve {id}",
                short(commit),
                meta.summary,
                meta.reason
            ));
            return Outcome::Held;
        }
        self.apply_in(s, &p, commit).await
    }

    /// Applies `p` in the open session `s`, then records `commit`.
    async fn apply_in(&mut self, mut s: Session, p: &Plan, commit: &str) -> Outcome {
        let started = Instant::now();
        let ctx = ApplyContext {
            env: s.env.clone(),
            registry: s.registry.clone(),
            parallelism: self.opts.parallelism,
            progress: Arc::new(LogProgress),
            tick: Duration::from_secs(10),
            deferred: Arc::new(crate::apply::DeferredProviders::new(
                s.deferred.iter().cloned(),
            )),
        };
        if !self.fence("apply") {
            s.abandon().await;
            return Outcome::NotLeader;
        }
        let (add, change, destroy) = p.counts();
        log(&format!(
            "commit {}: applying ({add} to add, {change} to change, {destroy} to destroy)",
            short(commit)
        ));
        let result = apply::apply(p, &mut s.state, &ctx).await;
        let mut outcome = match &result {
            Ok(r) if r.ok() => Outcome::Applied,
            Ok(r) => Outcome::Failed(format!(
                "apply incomplete: {} failed, {} not attempted: {}",
                r.failed.len(),
                r.skipped.len(),
                r.failed
                    .iter()
                    .map(|(a, m)| format!("{a}: {m}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            )),
            Err(e) => Outcome::Failed(e.to_string()),
        };
        if matches!(outcome, Outcome::Applied)
            && let Err(e) = s
                .state
                .apply(JournalOp::SetAppliedCommit {
                    commit: Some(commit.to_string()),
                })
                .await
        {
            outcome = Outcome::Failed(format!("recording the commit: {e}"));
        }
        if let Err(e) = s.close().await {
            outcome = Outcome::Failed(format!("saving state: {e}"));
        }
        let ok = matches!(outcome, Outcome::Applied);
        if let Ok(mut st) = self.status.lock() {
            st.last_apply_ok = Some(ok);
            st.last_apply_seconds = started.elapsed().as_secs_f64();
            if ok {
                st.applies_ok += 1;
                st.last_apply_commit = Some(commit.to_string());
            } else {
                st.applies_failed += 1;
            }
        }
        if ok {
            self.drop_held_except(None);
            log(&format!(
                "commit {}: applied in {:.2}s",
                short(commit),
                started.elapsed().as_secs_f64()
            ));
        }
        outcome
    }

    /// Removes held plans other than `keep`: a newer plan supersedes them.
    fn drop_held_except(&self, keep: Option<&str>) {
        for h in self.plans.list() {
            if Some(h.id.as_str()) != keep {
                log(&format!("held plan {} superseded", h.id));
                self.plans.remove(&h.id);
            }
        }
    }

    /// Applies approved held plans, exactly as saved, or drops them when stale.
    async fn approvals(&mut self) {
        for h in self.plans.list() {
            if !self.plans.is_approved(&h.id) {
                continue;
            }
            let saved = match plan::file::read(&self.plans.plan_path(&h.id)) {
                Ok(s) => s,
                Err(e) => {
                    log(&format!("held plan {}: {e}; dropped", h.id));
                    self.plans.remove(&h.id);
                    continue;
                }
            };
            log(&format!("plan {} approved", h.id));
            let s = match self.open(&saved.environment_dir, "watch apply").await {
                Ok(s) => s,
                Err(e) => {
                    log(&format!("plan {}: {e}", h.id));
                    continue;
                }
            };
            let stale = if saved.config_digest != s.env.config_digest() {
                Some("the configuration changed since the plan was made".to_string())
            } else {
                saved.plan.check_fresh(s.state.state()).err()
            };
            if let Some(why) = stale {
                s.abandon().await;
                log(&format!("plan {} is stale ({why}); planning again", h.id));
                self.plans.remove(&h.id);
                self.synced = None;
                continue;
            }
            self.plans.remove(&h.id);
            let env_dir = saved.environment_dir.clone();
            if let Outcome::Applied = self.apply_in(s, &saved.plan, &h.commit).await {
                self.synced = Some((h.commit.clone(), env_dir));
            } else {
                // Plan again at the next sync.
                self.synced = None;
            }
        }
    }

    /// A refresh-only plan: reports drift; with `--on-drift correct`, reconciles again.
    async fn drift_check(&mut self) {
        let Some((commit, env_dir)) = self.synced.clone() else {
            return;
        };
        if !self.fence("drift check") {
            return;
        }
        let s = match self.open(&env_dir, "watch drift").await {
            Ok(s) => s,
            Err(e) => {
                log(&format!("drift check: {e}"));
                return;
            }
        };
        let options = PlanOptions {
            refresh: true,
            refresh_only: true,
            ..Default::default()
        };
        let p = Self::make_plan(&s, options).await;
        s.abandon().await;
        let p = match p {
            Ok(p) => p,
            Err(e) => {
                log(&format!("drift check: {e}"));
                return;
            }
        };
        if let Ok(mut st) = self.status.lock() {
            st.drift_checks_total += 1;
            st.drift_resources = p.drift.len();
        }
        if p.drift.is_empty() {
            return;
        }
        for d in &p.drift {
            let what = if d.after.is_none() {
                "deleted outside slipway"
            } else {
                "changed outside slipway"
            };
            log(&format!("drift: {} {what}", d.addr));
        }
        if self.opts.on_drift == OnDrift::Correct {
            log(&format!(
                "correcting drift: planning commit {} again",
                short(&commit)
            ));
            if let Outcome::Failed(e) = self.reconcile(&commit, &env_dir).await {
                log(&format!("drift correction failed: {e}"));
            }
        }
    }
}
