//! `slipway dr rebuild ENV`: brings a cluster whose nodes are gone back from Git and an etcd
//! snapshot, in one command.
//!
//! Steps, each timed and reported: (1) the configuration — the environment as it is, or as
//! committed at `--commit REF` (exported from the repository into a scratch directory; state
//! stays where the environment's own is); (2) the snapshot — `latest` or an id, under the
//! environment's `etcd_snapshots` output ({bucket, prefix}), with its SHA-256 from the object's
//! metadata; (3) refresh and plan with `etcd_restore` = {bucket, key, sha256} and every node
//! instance and etcd data volume replaced (or created, where they are gone); (4) approval
//! unless `-auto-approve`; (5) apply. Every new etcd member then restores that one snapshot on
//! boot (modules/node-bootstrap's restore script, `--bump-revision`/`--mark-compacted`).
//!
//! **Invariants:** the plan is refused — nothing applied — if it would replace or delete a
//! private key or a self-signed certificate (`tls_private_key`, `tls_self_signed_cert`: the CAs
//! and the service-account key, so tokens stay valid); certificates that name new addresses are
//! re-issued by the normal plan. The restore variable is written to
//! `<env>/etcd-restore.vars.hcl` (unless `--commit` is used: then it is printed) so that later
//! plans keep it: it is part of the members' user-data, and removing it would replace them.
//! A member whose cluster is already healthy ignores it.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;

use super::engine::{StateArgs, confirm, make_plan, open, runtime};
use super::progress::line_printer;
use super::{Ui, VarArgs, println_out};
use crate::addr::ResourceInstanceAddr;
use crate::apply::{self, ApplyContext};
use crate::config::vars::CliVar;
use crate::plan::{Action, PlanOptions, render};

/// `dr rebuild` arguments.
#[derive(Args, Debug, Clone)]
pub struct RebuildArgs {
    /// Environment directory.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// `latest`, a key under the environment's snapshot prefix
    /// (`daily/20261201T000000Z-etcd-a.db`), or `s3://bucket/key`.
    #[arg(long, default_value = "latest", value_name = "ID")]
    pub snapshot: String,
    /// Rebuild from the configuration committed at this ref (branch, tag or commit) of the
    /// environment's Git repository.
    #[arg(long, value_name = "REF")]
    pub commit: Option<String>,
    #[arg(long)]
    pub auto_approve: bool,
    #[arg(long, default_value_t = 10)]
    pub parallelism: usize,
    #[command(flatten)]
    pub vars: VarArgs,
    #[command(flatten)]
    pub state: StateArgs,
}

/// A resolved snapshot object.
#[derive(Clone, Debug, PartialEq)]
pub struct SnapshotRef {
    pub bucket: String,
    pub key: String,
    pub sha256: String,
    pub size: i64,
}

/// The report: each step and how long it took.
struct Steps(Vec<(String, Duration)>);

impl Steps {
    fn done(&mut self, what: impl Into<String>, since: Instant) {
        let what = what.into();
        let d = since.elapsed();
        eprintln!("dr rebuild: {what} ({:.1}s)", d.as_secs_f64());
        self.0.push((what, d));
    }

    fn print(&self) {
        println_out("\nRebuild steps:");
        for (what, d) in &self.0 {
            println_out(&format!("  {:>8.1}s  {what}", d.as_secs_f64()));
        }
        let total: Duration = self.0.iter().map(|(_, d)| *d).sum();
        println_out(&format!("  {:>8.1}s  total", total.as_secs_f64()));
    }
}

pub fn run(a: &RebuildArgs, raw: &[OsString], ui: &Ui) -> i32 {
    match runtime().block_on(rebuild(a, raw, ui)) {
        Ok(code) => code,
        Err(m) => {
            eprintln!("error: {m}");
            1
        }
    }
}

async fn rebuild(a: &RebuildArgs, raw: &[OsString], ui: &Ui) -> Result<i32, String> {
    let mut steps = Steps(Vec::new());
    let orig = std::fs::canonicalize(&a.dir).map_err(|e| format!("{}: {e}", a.dir.display()))?;

    // 1. The configuration.
    let t = Instant::now();
    let mut scratch = Scratch(None);
    let dir = configuration_dir(&orig, a.commit.as_deref(), &mut scratch)?;
    // State stays the environment's own, wherever the configuration was checked out.
    let mut state = a.state.clone();
    if state.state_dir.is_none() && std::env::var_os("SLIPWAY_STATE_DIR").is_none() {
        state.state_dir = Some(crate::session::default_state_dir(&orig));
    }
    steps.done(
        match &a.commit {
            Some(r) => format!("configuration checked out at {r}"),
            None => "configuration loaded".into(),
        },
        t,
    );

    // 2. The snapshot, from where the state says snapshots live.
    let t = Instant::now();
    let mut cli_vars = a.vars.in_order(raw);
    let st = read_state(&dir, &cli_vars, &state, ui).await?;
    let st = st.ok_or("the environment has no state: rebuild needs the state of the cluster it rebuilds (recover it first with `slipway state recover`)")?;
    let snap = resolve_snapshot(&st, &a.snapshot).await?;
    steps.done(
        format!(
            "snapshot s3://{}/{} ({} bytes, sha256 {})",
            snap.bucket, snap.key, snap.size, snap.sha256
        ),
        t,
    );
    let restore_value = format!(
        "{{ bucket = \"{}\", key = \"{}\", sha256 = \"{}\" }}",
        snap.bucket, snap.key, snap.sha256
    );
    cli_vars.push(CliVar::Assign(format!("etcd_restore={restore_value}")));

    // 3. Refresh and plan: every node instance and etcd data volume new.
    let t = Instant::now();
    let s = open(&dir, &cli_vars, &state, "dr rebuild", ui)
        .await
        .map_err(|_| "opening the environment failed".to_string())?;
    let plan = match plan_rebuild(&s, &orig, ui).await {
        Ok(p) => p,
        Err(m) => {
            s.abandon().await;
            return Err(m);
        }
    };
    let (add, change, destroy) = plan.counts();
    steps.done(
        format!("refresh and plan: {add} to add, {change} to change, {destroy} to destroy"),
        t,
    );

    // 4. Approval.
    if !a.auto_approve {
        let t = Instant::now();
        if let Err(m) = confirm(ui, "dr rebuild") {
            s.abandon().await;
            return Err(m);
        }
        steps.done("approved", t);
    }

    // 5. Apply.
    let t = Instant::now();
    let report = apply_rebuild(s, &plan, a.parallelism).await?;
    steps.done(
        format!(
            "apply: {} added, {} changed, {} destroyed",
            report.added, report.changed, report.destroyed
        ),
        t,
    );

    // The variable stays set for later plans (see the module docs).
    keep_restore_variable(&orig, a.commit.is_some(), &restore_value)?;
    steps.print();
    println_out(
        "\nThe members restore the snapshot as they boot; the control plane and the workers join \
         as their bootstrap runs. Follow with `slipway etcd snapshots` and the cluster's /readyz.",
    );
    Ok(0)
}

/// The environment's state, read from its backend without the lock (the rebuild takes the
/// lock when it plans).
async fn read_state(
    dir: &Path,
    cli_vars: &[CliVar],
    state: &StateArgs,
    ui: &Ui,
) -> Result<Option<crate::state::State>, String> {
    let env =
        crate::environment::Environment::load(dir, cli_vars, crate::providers::builtin_registry());
    if env.diagnostics.has_errors() {
        ui.diagnostics(&env.diagnostics, &env.sources);
        return Err("the configuration has errors".into());
    }
    let opts =
        crate::session::SessionOptions { state_dir: state.state_dir.clone(), ..Default::default() };
    let backend = crate::session::backend_for(&env, &opts)
        .map_err(|_| "the environment's backend cannot be opened".to_string())?;
    backend.read().await.map_err(|e| e.to_string())
}

/// The rebuild's plan: every node instance and etcd data volume replaced, shown; refused if
/// it would replace a key or CA the cluster's certificates and tokens depend on.
async fn plan_rebuild(
    s: &crate::session::Session,
    orig: &Path,
    ui: &Ui,
) -> Result<crate::plan::Plan, String> {
    if !s.env.config.root().variables.contains_key("etcd_restore") {
        return Err(format!(
            "{} declares no `etcd_restore` variable: its etcd members cannot be restored (see modules/environment/variables.hcl, which environments/* extend, and modules/cluster)",
            orig.display()
        ));
    }
    let replace: Vec<ResourceInstanceAddr> = s
        .state
        .state()
        .resources
        .iter()
        .filter(|(_, r)| r.rtype == "aws_instance" || r.rtype == "aws_ebs_volume")
        .map(|(a, _)| a.clone())
        .collect();
    let options = PlanOptions { refresh: true, replace, ..Default::default() };
    let plan =
        make_plan(s, options, ui).await.map_err(|_| "planning the rebuild failed".to_string())?;
    render::write_human(&plan, ui.colour, &mut super::print_out);
    let kept_keys: Vec<String> = plan
        .changes
        .iter()
        .filter(|c| {
            matches!(c.rtype.as_str(), "tls_private_key" | "tls_self_signed_cert")
                && matches!(c.action, Action::Replace | Action::Delete)
        })
        .map(|c| c.addr.to_string())
        .collect();
    if !kept_keys.is_empty() {
        return Err(format!(
            "the rebuild plan would replace keys or CAs the cluster's certificates and tokens \
             depend on: {}; refusing (a rebuild keeps the CAs and the service-account key)",
            kept_keys.join(", ")
        ));
    }
    Ok(plan)
}

/// Applies the rebuild's plan and saves state; an incomplete apply is an error (what finished
/// is in state, so running the command again resumes).
async fn apply_rebuild(
    mut s: crate::session::Session,
    plan: &crate::plan::Plan,
    parallelism: usize,
) -> Result<apply::ApplyReport, String> {
    let deferred = Arc::new(apply::DeferredProviders::new(s.deferred.iter().cloned()));
    let ctx = ApplyContext {
        env: s.env.clone(),
        registry: s.registry.clone(),
        parallelism,
        progress: line_printer(),
        tick: Duration::from_secs(10),
        deferred,
    };
    let result = apply::apply(plan, &mut s.state, &ctx).await;
    let closed = s.close().await;
    let report = result.map_err(|e| e.to_string())?;
    closed.map_err(|e| format!("saving state: {e}"))?;
    if !report.ok() {
        for (addr, m) in &report.failed {
            eprintln!("  failed:  {addr}: {m}");
        }
        return Err(format!(
            "the rebuild's apply did not complete ({} failed, {} not attempted); what finished is in state: run it again",
            report.failed.len(),
            report.skipped.len()
        ));
    }
    Ok(report)
}

/// Where the configuration is read from: the environment itself, or its tree at `commit`
/// checked out into a scratch directory (removed when the command ends).
fn configuration_dir(
    orig: &Path,
    commit: Option<&str>,
    scratch: &mut Scratch,
) -> Result<PathBuf, String> {
    Ok(match commit {
        None => orig.to_path_buf(),
        Some(reference) => {
            let path = std::env::temp_dir().join(format!(
                "slipway-dr-rebuild-{}-{}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos())
            ));
            scratch.0 = Some(path.clone());
            let (root, commit) = checkout(orig, reference, &path)?;
            let rel = orig.strip_prefix(&root).map_err(|e| e.to_string())?;
            eprintln!("dr rebuild: configuration of commit {commit} ({reference})");
            path.join("tree").join(rel)
        }
    })
}

/// Writes `etcd_restore` where later plans read it (`etcd-restore.vars.hcl` beside the
/// configuration), or says what to keep when the configuration came from a commit.
fn keep_restore_variable(
    orig: &Path,
    from_commit: bool,
    restore_value: &str,
) -> Result<(), String> {
    let line = format!(
        "# Written by `slipway dr rebuild`: the snapshot its etcd members restored from. Keep it\n# while these members live (it is part of their user-data); a member whose cluster is\n# healthy ignores it.\netcd_restore = {restore_value}\n"
    );
    if !from_commit {
        let file = orig.join("etcd-restore.vars.hcl");
        std::fs::write(&file, line).map_err(|e| format!("{}: {e}", file.display()))?;
        println_out(&format!(
            "\nWrote {} (commit it): later plans keep etcd_restore set.",
            file.display()
        ));
    } else {
        println_out(&format!(
            "\nKeep etcd_restore set for later plans (e.g. in {}/etcd-restore.vars.hcl):\n{line}",
            orig.display()
        ));
    }
    Ok(())
}

/// A scratch directory removed when the command ends.
struct Scratch(Option<PathBuf>);

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Some(p) = &self.0 {
            let _ = std::fs::remove_dir_all(p);
        }
    }
}

/// Exports `reference` of the repository holding `env_dir` into `scratch/tree`; returns the
/// repository's work tree and the commit id.
fn checkout(env_dir: &Path, reference: &str, scratch: &Path) -> Result<(PathBuf, String), String> {
    let repo = gix::discover(env_dir)
        .map_err(|e| format!("{}: not in a Git repository ({e})", env_dir.display()))?;
    let root = repo.workdir().ok_or("the environment's repository has no work tree")?.to_path_buf();
    let root = std::fs::canonicalize(&root).map_err(|e| e.to_string())?;
    let mut id = None;
    for candidate in
        [format!("refs/heads/{reference}"), format!("refs/tags/{reference}"), reference.to_string()]
    {
        if let Ok(mut r) = repo.find_reference(candidate.as_str())
            && let Ok(target) = r.peel_to_id()
        {
            id = Some(target.detach());
            break;
        }
    }
    if id.is_none()
        && let Ok(Some(found)) = crate::git::find_commit(repo.git_dir(), reference)
    {
        id = gix::ObjectId::from_hex(found.as_bytes()).ok();
    }
    let id = id.ok_or_else(|| {
        format!("--commit {reference}: no branch, tag or full commit id of that name")
    })?;
    let commit = repo
        .find_object(id)
        .map_err(|e| e.to_string())?
        .peel_to_commit()
        .map_err(|e| format!("--commit {reference}: {e}"))?
        .id
        .to_string();
    crate::git::export_tree(repo.git_dir(), &commit, &scratch.join("tree"))
        .map_err(|e| e.to_string())?;
    Ok((root, commit))
}

/// The snapshot to restore, through the snapshot reader (`crate::etcd::snapshots`, the layout
/// `etcd snapshot` and the nodes write): `latest`, an id (`<class>/<file>`, a key or a file
/// name) under the `etcd_snapshots` output's location, or `s3://bucket/key` anywhere. Its
/// SHA-256 comes from the object's `sha256` metadata; one without it is refused.
async fn resolve_snapshot(st: &crate::state::State, id: &str) -> Result<SnapshotRef, String> {
    use crate::etcd::snapshots;
    let s3 = snapshots::s3_client().await.map_err(|e| e.to_string())?;
    let snap = if let Some(rest) = id.strip_prefix("s3://") {
        let (bucket, key) = rest
            .split_once('/')
            .ok_or_else(|| format!("--snapshot {id}: expected s3://bucket/key"))?;
        let head = s3
            .head_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| format!("{id}: {}", aws_sdk_s3::error::DisplayErrorContext(&e)))?;
        let meta = snapshots::Metadata::from_s3(head.metadata().unwrap_or(&Default::default()));
        (bucket.to_string(), key.to_string(), meta.sha256, head.content_length().unwrap_or(0))
    } else {
        let out = st.outputs.get("etcd_snapshots").ok_or(
            "the state has no `etcd_snapshots` output ({bucket, prefix}): apply the environment \
             with snapshots configured, or pass --snapshot s3://bucket/key",
        )?;
        let loc = snapshots::Location::from_output(&out.value)
            .ok_or("the `etcd_snapshots` output is not {bucket, prefix}")?;
        let found = snapshots::resolve(&s3, &loc, id).await.map_err(|e| e.to_string())?;
        let sha = found.metadata.map(|m| m.sha256).unwrap_or_default();
        (loc.bucket, found.key, sha, found.size)
    };
    let (bucket, key, sha256, size) = snap;
    let sha256 = sha256.to_ascii_lowercase();
    if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!(
            "s3://{bucket}/{key} has no sha256 metadata: not a snapshot slipway can verify"
        ));
    }
    Ok(SnapshotRef { bucket, key, sha256, size })
}
