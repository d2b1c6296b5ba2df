//! The operations a command is made of — open a session, plan, check a saved plan, apply, finish
//! in sync — written once for the two callers: the command line ([`crate::cli::engine`]) and
//! the GitOps agent ([`crate::watch`]).
//!
//! **Invariants:**
//! - Nothing here prints or logs: every operation returns data (a session, a plan with its
//!   diagnostics, a staleness reason, an apply report). The command line renders it; the agent
//!   logs it through `tracing`. Apply's progress goes to the [`Progress`] the caller passes.
//! - A command loads its environment once: [`open`] loads it and hands it to the session. The
//!   sources needed to render a configuration error found while opening (a backend block, a
//!   provider's configuration) are copied from that same load, never read again, so an error
//!   points into exactly the files that were loaded.
//! - A saved plan is applied only if [`check_saved`] accepts it: the configuration digest is the
//!   one it was made with and the state's lineage and serial have not moved.
//! - [`apply`] and [`finish_in_sync`] take the session and end it, so a caller never has one
//!   left to forget: `apply` always closes it (journal compacted, lock released; what finished
//!   is journaled whether or not everything did), `finish_in_sync` closes it, or abandons it
//!   (lock released, journal kept) when a write failed.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::apply::{self, ApplyContext, ApplyError, ApplyReport, Progress};
use crate::backend::BackendError;
use crate::config::vars::CliVar;
use crate::diag::{Diagnostic, Diagnostics, Sources};
use crate::environment::Environment;
use crate::plan::{self, Plan, PlanOptions, file::SavedPlan};
use crate::provider::ProviderRegistry;
use crate::session::{Session, SessionError, SessionOptions};
use crate::state::journal::JournalOp;

/// Why a session could not be opened.
#[derive(Debug)]
pub enum OpenError {
    /// Configuration errors (and the warnings found with them), with the sources they point into.
    Config {
        diagnostics: Diagnostics,
        sources: Sources,
    },
    /// The backend refused: the state is locked, unreadable, or cannot be decrypted.
    Backend(BackendError),
    Other(String),
}

impl OpenError {
    /// The error as plain text (no colour), diagnostics with their `file:line:col` snippets.
    pub fn render_plain(&self) -> String {
        match self {
            OpenError::Config { diagnostics, sources } => {
                crate::diag::render_terminal(diagnostics, sources, false)
            }
            OpenError::Backend(e) => e.to_string(),
            OpenError::Other(m) => m.clone(),
        }
    }
}

/// A copy of the loaded sources (the texts are shared, not re-read): the session takes the
/// environment, and an error found while opening it must still be rendered.
fn copy_sources(sources: &Sources) -> Sources {
    let mut copy = Sources::default();
    for (_, f) in sources.files() {
        // Added in the same order, so every `FileId` (and span) of the original stays valid.
        copy.add(&f.path, f.text.clone());
    }
    copy
}

/// Loads the environment in `dir` (once) and opens a session on it: lock, state, providers.
pub async fn open(
    dir: &Path,
    vars: &[CliVar],
    opts: &SessionOptions,
) -> Result<Session, OpenError> {
    let env = Environment::load(dir, vars, crate::providers::builtin_registry());
    if env.diagnostics.has_errors() {
        return Err(OpenError::Config { diagnostics: env.diagnostics, sources: env.sources });
    }
    let sources = copy_sources(&env.sources);
    Session::open(env, opts).await.map_err(|e| match e {
        SessionError::Config(diagnostics) => OpenError::Config { diagnostics, sources },
        SessionError::Backend(e) => OpenError::Backend(e),
        SessionError::Other(m) => OpenError::Other(m),
    })
}

/// A plan and the warnings found making it.
pub struct Planned {
    pub plan: Plan,
    pub warnings: Diagnostics,
}

/// Refreshes (unless `options` says not to) and plans within an open session. `Err` holds the
/// diagnostics, errors among them; render them with `s.env.sources`.
pub async fn plan(s: &Session, options: PlanOptions) -> Result<Planned, Diagnostics> {
    let state = s.state.state().clone();
    let (refreshed, drift) = if options.refresh || options.refresh_only {
        plan::refresh(&state, &s.registry).await?
    } else {
        (state, Vec::new())
    };
    let handle = tokio::runtime::Handle::current();
    let env = s.env.clone();
    // Planning evaluates expressions synchronously, some of which call providers through the
    // runtime: off the async worker.
    let (plan, diags) =
        tokio::task::block_in_place(|| plan::plan(&env, refreshed, drift, options, handle));
    match plan {
        Some(mut plan) if !diags.has_errors() => {
            // Ordered here, not in `apply`: a replacement made create-before-destroy shows in
            // the plan, and changes that cannot be ordered fail the plan, not the apply.
            let refreshed = &plan.refreshed;
            match apply::order_replacements(&mut plan.changes, refreshed) {
                apply::Ordering::Ordered(_) => Ok(Planned { plan, warnings: diags }),
                apply::Ordering::Cycle(steps) => {
                    let mut diags = diags;
                    diags.push(
                        Diagnostic::error(format!(
                            "the changes cannot be ordered, each waits for the next: {} → (the first)",
                            steps.join(" → ")
                        ))
                        .hint("a create_before_destroy resource whose dependents must go first, or a depends_on that contradicts the references: remove one of them, or make the change in two applies"),
                    );
                    Err(diags)
                }
            }
        }
        _ => Err(diags),
    }
}

/// `plan` as a saved plan of this session's environment (`plan -out`, a held plan).
pub fn to_saved(s: &Session, plan: Plan, vars: Vec<CliVar>) -> SavedPlan {
    SavedPlan {
        format: plan::file::FORMAT.into(),
        environment_dir: s.env.dir.clone(),
        vars,
        config_digest: s.env.config_digest(),
        plan,
    }
}

/// Why a saved plan may not be applied.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum Stale {
    #[error("the configuration changed since the plan was made")]
    ConfigChanged,
    /// The state moved on (another lineage, or a newer serial): the reason.
    #[error("{0}")]
    StateMoved(String),
}

/// The saved plan's plan, if it may be applied in session `s` exactly as saved.
pub fn check_saved(saved: SavedPlan, s: &Session) -> Result<Plan, Stale> {
    if saved.config_digest != s.env.config_digest() {
        return Err(Stale::ConfigChanged);
    }
    saved.plan.check_fresh(s.state.state()).map_err(Stale::StateMoved)?;
    Ok(saved.plan)
}

/// A write that failed while ending a session.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    #[error("recording the commit: {0}")]
    RecordCommit(BackendError),
    #[error("saving state: {0}")]
    State(BackendError),
}

/// Nothing to change: persists what refresh found (so the state matches what exists), records
/// `commit` as applied if given, and closes the session.
pub async fn finish_in_sync(
    mut s: Session,
    plan: &Plan,
    commit: Option<&str>,
) -> Result<(), SaveError> {
    let mut r =
        apply::persist_refresh(&mut s.state, &plan.refreshed).await.map_err(SaveError::State);
    if r.is_ok()
        && let Some(c) = commit
        && s.state.state().applied_commit.as_deref() != Some(c)
    {
        r = record_commit(&mut s, c).await;
    }
    match r {
        Ok(()) => s.close().await.map_err(SaveError::State),
        Err(e) => {
            s.abandon().await;
            Err(e)
        }
    }
}

async fn record_commit(s: &mut Session, commit: &str) -> Result<(), SaveError> {
    s.state
        .apply(JournalOp::SetAppliedCommit { commit: Some(commit.to_string()) })
        .await
        .map_err(SaveError::RecordCommit)
}

/// How to apply.
pub struct ApplySettings {
    pub parallelism: usize,
    pub progress: Arc<dyn Progress>,
    /// How often operations still running are reported.
    pub tick: Duration,
    /// Recorded in state as `applied_commit` after a complete apply (the agent's commit).
    pub commit: Option<String>,
}

/// What an apply did.
pub struct Applied {
    pub report: Result<ApplyReport, ApplyError>,
    /// Recording the commit or saving the state afterwards, when that failed.
    pub saved: Result<(), SaveError>,
    /// The session's environment and providers, for the caller's report (where a failed
    /// resource is declared; `--stats`).
    pub env: Arc<Environment>,
    pub registry: ProviderRegistry,
    pub elapsed: Duration,
}

impl Applied {
    /// Every change made, the commit recorded, the state saved.
    pub fn ok(&self) -> bool {
        self.report.as_ref().is_ok_and(ApplyReport::ok) && self.saved.is_ok()
    }
}

/// Applies `plan` in session `s` and ends the session (see the module's invariants).
pub async fn apply(mut s: Session, plan: &Plan, settings: ApplySettings) -> Applied {
    let started = std::time::Instant::now();
    let ctx = ApplyContext {
        env: s.env.clone(),
        registry: s.registry.clone(),
        parallelism: settings.parallelism,
        progress: settings.progress,
        tick: settings.tick,
        deferred: Arc::new(apply::DeferredProviders::new(s.deferred.iter().cloned())),
    };
    let report = apply::apply(plan, &mut s.state, &ctx).await;
    let mut saved = Ok(());
    if let (Ok(r), Some(c)) = (&report, &settings.commit)
        && r.ok()
    {
        saved = record_commit(&mut s, c).await;
    }
    // Closed even after a failed operation: what finished is in the journal either way, and
    // compacting it is what a successful close adds.
    if let Err(e) = s.close().await {
        saved = Err(SaveError::State(e));
    }
    Applied { report, saved, env: ctx.env, registry: ctx.registry, elapsed: started.elapsed() }
}
