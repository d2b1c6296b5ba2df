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
pub mod reconcile;
pub mod status;
mod sync;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::ValueEnum;
use tokio::sync::mpsc;

use crate::apply::{Lines, Progress};
use crate::backend::BackendError;
use crate::ops::{self, OpenError};
use crate::plan::{self, Plan, PlanOptions};
use crate::session::{Session, SessionOptions};
use held::{HeldPlan, PlansDir};
use http::Trigger;
use reconcile::{Action, ReconcileError, Retry, RetryPolicy};
pub use status::Status;

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
    /// The delay before a failed commit is tried again; doubled at each further failure.
    pub backoff: Duration,
    /// The longest such delay.
    pub max_backoff: Duration,
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
/// failed, in the words the command line prints.
fn log_progress() -> Arc<dyn Progress> {
    Arc::new(Lines(|failed: bool, line: &str| {
        if failed {
            tracing::error!("{line}");
        } else {
            tracing::info!("{line}");
        }
    }))
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
    /// The commit that failed last, and when it is tried again ([`reconcile::error_policy`]).
    retry: Option<Retry>,
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

/// How often the plans directory is looked at for approvals made by `slipway approve`.
const APPROVAL_SCAN: Duration = Duration::from_millis(250);

/// When an approval whose session could not be opened is tried again.
const APPROVAL_RETRY: Duration = Duration::from_secs(1);

/// How often a loop with leader election looks at its leadership (the elector flips it without
/// an event).
const LEADERSHIP_CHECK: Duration = Duration::from_millis(200);

/// Serves the webhook, the status pages and `/metrics` on `addr`, in the background; a
/// webhook or an approval becomes a trigger on `tx`.
async fn start_http(
    addr: std::net::SocketAddr,
    opts: &WatchOptions,
    status: Arc<Mutex<Status>>,
    tx: mpsc::Sender<Trigger>,
) -> Result<(), String> {
    let state = Arc::new(http::HttpState::new(
        opts.secret.clone(),
        opts.branch.clone(),
        status,
        PlansDir::new(&opts.plans_dir),
        tx,
    ));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let app = http::router(state, opts.max_body);
    log(&format!(
        "listening on http://{}",
        listener.local_addr().map(|a| a.to_string()).unwrap_or_default()
    ));
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            eprintln!("error: HTTP server: {e}");
        }
    });
    Ok(())
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
    let status =
        Arc::new(Mutex::new(Status { leadership: leadership.clone(), ..Default::default() }));
    let (tx, mut rx) = mpsc::channel::<Trigger>(64);
    if let Some(addr) = opts.listen
        && let Err(e) = start_http(addr, &opts, status.clone(), tx.clone()).await
    {
        eprintln!("error: {e}");
        return 1;
    }
    // Approvals by `slipway approve` become events on the same channel as the HTTP ones.
    tokio::spawn(held::watch_approvals(opts.plans_dir.clone(), tx.clone(), APPROVAL_SCAN));
    drop(tx);
    let mut agent = Agent {
        mirror: opts.work_dir.join("repos").join(crate::git::repo_dir_name(&opts.repo)),
        plans: PlansDir::new(&opts.plans_dir),
        opts,
        status,
        synced: None,
        retry: None,
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
    run_loop(&mut agent, &mut rx, &mut term).await;
    log("stopping");
    // Release the Lease so that a follower takes over at its next retry.
    let _ = stop_tx.send(true);
    if let Some(task) = election {
        let _ = task.await;
    }
    0
}

/// The reconcile loop: reconciles on a trigger (start, poll, webhook, a retry whose backoff ran
/// out), acts on approval events, checks drift and starts drills on their timers, until
/// SIGINT/SIGTERM.
async fn run_loop(
    agent: &mut Agent,
    rx: &mut mpsc::Receiver<Trigger>,
    term: &mut tokio::signal::unix::Signal,
) {
    // Sync at once on start (a restart after a crash resumes here): the first turn as leader
    // (at once without election) sets `sync_due`. Not before, or a starting follower would
    // relay a trigger nobody sent.
    let mut sync_due = false;
    let mut next_poll = Instant::now() + agent.opts.interval;
    let mut next_drift = Instant::now() + agent.opts.drift_interval;
    let mut next_drill = Instant::now();
    let mut was_leading = false;
    // Approvals received while following: acted on, if still there, once leading.
    let mut approvals_due = false;
    let mut approved: Vec<String> = Vec::new();
    loop {
        let leading = agent.leading();
        if leading && !was_leading {
            // A new leader knows nothing of what others applied meanwhile: sync at once, and
            // plan the head even if this agent had planned it before.
            agent.synced = None;
            agent.retry = None;
            sync_due = true;
            // Approvals recorded before this agent led (or before it started) were events
            // for someone else: look at the directory once.
            approvals_due = true;
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
            approved.clear();
        } else {
            sync_due |= agent.leadership.as_ref().is_some_and(|l| l.take_sync_request());
            // A failing commit's backoff ran out: reconcile it again (through a fetch, so a
            // newer head is taken instead if there is one).
            sync_due |= agent.retry.as_ref().is_some_and(|r| Instant::now() >= r.at);
            if sync_due || (polling && Instant::now() >= next_poll) {
                sync_due = false;
                agent.sync().await;
                next_poll = Instant::now() + agent.opts.interval;
            }
            if approvals_due {
                approvals_due = false;
                approved.extend(agent.plans.approved());
            }
            approved = agent.approvals(std::mem::take(&mut approved)).await;
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
        // Sleep until the next timer (poll, retry, drift check, drill) or an event: a webhook,
        // an approval, a signal.
        let wake = agent.next_wake(
            polling.then_some(next_poll),
            next_drift,
            next_drill,
            !approved.is_empty(),
        );
        let mut take = |t: Trigger, sync_due: &mut bool| match t {
            Trigger::Sync => *sync_due = true,
            Trigger::Approved(id) => {
                log(&format!("approval of plan {id} received"));
                approved.push(id);
            }
        };
        tokio::select! {
            t = rx.recv() => {
                if let Some(t) = t {
                    take(t, &mut sync_due);
                }
                while let Ok(more) = rx.try_recv() {
                    take(more, &mut sync_due);
                }
            }
            _ = tokio::time::sleep_until(wake.into()) => {}
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
        }
    }
}

impl Agent {
    /// When the loop next has something to do on its own: the earliest of its timers (poll,
    /// a failing commit's retry, drift check, drill), or sooner to look at leadership or
    /// retry an approval whose session could not be opened; an hour at most.
    fn next_wake(
        &self,
        next_poll: Option<Instant>,
        next_drift: Instant,
        next_drill: Instant,
        approvals_pending: bool,
    ) -> Instant {
        let now = Instant::now();
        let mut wake = now + Duration::from_secs(3600);
        if let Some(p) = next_poll {
            wake = wake.min(p);
        }
        if let Some(r) = &self.retry {
            wake = wake.min(r.at);
        }
        if self.opts.drift_interval > Duration::ZERO {
            wake = wake.min(next_drift);
        }
        if self.opts.drill.is_some() {
            wake = wake.min(next_drill);
        }
        if self.leadership.is_some() {
            wake = wake.min(now + LEADERSHIP_CHECK);
        }
        if approvals_pending {
            wake = wake.min(now + APPROVAL_RETRY);
        }
        wake
    }

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

    fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            initial: self.opts.backoff,
            max: self.opts.max_backoff,
            poll: self.opts.interval,
        }
    }

    /// A reconcile of `commit` failed: the error policy sets when it is tried again.
    fn failed(&mut self, commit: &str, e: &ReconcileError) {
        let retry = Retry::after_failure(
            self.retry.as_ref(),
            commit,
            e,
            &self.retry_policy(),
            Instant::now(),
        );
        log(&format!("commit {}: {e}", short(commit)));
        tracing::warn!(
            commit = %commit,
            attempt = retry.attempts,
            next_attempt_seconds = retry.delay.as_secs_f64(),
            "commit {}: attempt {} failed; next attempt in {:.1}s",
            short(commit),
            retry.attempts,
            retry.delay.as_secs_f64()
        );
        if let Ok(mut st) = self.status.lock() {
            st.consecutive_failures = retry.attempts;
            st.next_attempt_seconds = retry.delay.as_secs_f64();
        }
        self.retry = Some(retry);
    }

    /// A reconcile succeeded: the backoff is over.
    fn succeeded(&mut self) {
        self.retry = None;
        if let Ok(mut st) = self.status.lock() {
            st.consecutive_failures = 0;
            st.next_attempt_seconds = 0.0;
        }
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

    /// Acts on each approval received; returns those to try again later (the session could
    /// not be opened).
    async fn approvals(&mut self, ids: Vec<String>) -> Vec<String> {
        let mut pending = Vec::new();
        for id in ids {
            if !self.approval(&id).await {
                pending.push(id);
            }
        }
        pending
    }

    /// Acts on the approval of held plan `id`: applies it exactly as saved, or drops it when
    /// stale (then the head is planned again). An approval of a plan no longer held (applied,
    /// superseded, or delivered twice) is nothing to do. False: the session could not be
    /// opened; try again later.
    async fn approval(&mut self, id: &str) -> bool {
        let Some(h) = self.plans.get(id) else {
            return true;
        };
        if !self.plans.is_approved(id) {
            return true;
        }
        let saved = match plan::file::read(&self.plans.plan_path(id)) {
            Ok(s) => s,
            Err(e) => {
                log(&format!("held plan {id}: {e}; dropped"));
                self.plans.remove(id);
                return true;
            }
        };
        log(&format!("plan {id} approved"));
        let env_dir = saved.environment_dir.clone();
        let s = match self.open(&env_dir, "watch apply").await {
            Ok(s) => s,
            Err(e) => {
                log(&format!("plan {id}: {e}"));
                return false;
            }
        };
        let p = match ops::check_saved(saved, &s) {
            Ok(p) => p,
            Err(why) => {
                s.abandon().await;
                log(&format!("plan {id} is stale ({why}); planning again"));
                self.plans.remove(id);
                self.synced = None;
                return true;
            }
        };
        self.plans.remove(id);
        match self.apply_in(s, &p, &h.commit).await {
            Ok(Outcome::Done) => {
                self.synced = Some((h.commit.clone(), env_dir));
                self.succeeded();
            }
            Ok(Outcome::NotLeader) => self.synced = None,
            Err(e) => {
                // Planned again once the error policy's delay for this commit has passed.
                self.synced = None;
                self.failed(&h.commit, &e);
            }
        }
        true
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
        let options = PlanOptions { refresh: true, refresh_only: true, ..Default::default() };
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
            log(&format!("correcting drift: planning commit {} again", short(&commit)));
            if let Err(e) = self.plan_and_apply(&commit, &env_dir).await {
                log(&format!("drift correction failed: {e}"));
            }
        }
    }
}

/// What planning and applying a commit came to.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// Applied, found in sync, or held.
    Done,
    /// The fence closed before the work started: nothing was done.
    NotLeader,
}
