//! The commands that plan and apply: plan, apply, destroy (and what they share with the other
//! commands: opening a session, confirming, the runtime). The ones that only read or edit
//! state are in `state_cmds.rs`.

use std::ffi::OsString;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use super::progress::{TtyProgress, line_printer};
use super::{Ui, VarArgs, println_out};
use crate::addr::ResourceInstanceAddr;
use crate::apply;
use crate::diag::Sources;
use crate::ops::{self, ApplySettings, OpenError, Stale};
use crate::plan::{self, Plan, PlanOptions, render};
use crate::provider::ProviderRegistry;
use crate::session::{Session, SessionError, SessionOptions};
use crate::value::{Value, render_hcl};

/// Where state lives and how long to wait for its lock.
#[derive(Args, Debug, Clone, Default)]
pub struct StateArgs {
    /// State directory of the local backend (default: state/ at the repository root).
    #[arg(long, env = "SLIPWAY_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// How long to wait for the state lock (e.g. 30s, 2m); 0 fails at once.
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    pub lock_timeout: Duration,
}

/// What to plan.
#[derive(Args, Debug, Clone, Default)]
pub struct PlanArgs {
    /// Read what exists before planning (`--refresh=false` to skip).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub refresh: bool,
    /// Only bring state in line with what exists; change nothing.
    #[arg(long)]
    pub refresh_only: bool,
    /// Limit the plan to these instances and what they depend on (repeatable).
    #[arg(long, value_name = "ADDRESS")]
    pub target: Vec<String>,
    /// Force replacement of an instance (repeatable).
    #[arg(long, value_name = "ADDRESS")]
    pub replace: Vec<String>,
    /// Print the calls made to cloud APIs, per operation, on stderr.
    #[arg(long)]
    pub stats: bool,
}

/// `--stats`: calls per provider operation, then the total.
fn print_stats(registry: &ProviderRegistry) {
    let mut total = 0;
    let mut lines = Vec::new();
    for name in registry.names() {
        if let Some(p) = registry.get(name) {
            for (op, n) in p.call_stats() {
                total += n;
                lines.push(format!("  {op:<50} {n:>6}"));
            }
        }
    }
    eprintln!("API calls (every attempt, retries included):");
    for l in lines {
        eprintln!("{l}");
    }
    eprintln!("  {:<50} {total:>6}", "total");
}

/// Where the resource of a failed operation is declared (`main.hcl:12:1`), so that an error a
/// provider found only at apply time still points at the configuration.
fn declared_at(
    env: &crate::environment::Environment,
    addr: &crate::addr::ResourceInstanceAddr,
) -> Option<String> {
    let path: Vec<&str> = addr.resource.module.0.iter().map(|(n, _)| n.as_str()).collect();
    let module = env
        .config
        .modules
        .iter()
        .find(|m| m.path.iter().map(String::as_str).eq(path.iter().copied()))?;
    let r = module
        .resources
        .values()
        .find(|r| r.rtype == addr.resource.rtype && r.name == addr.resource.name)?;
    Some(env.sources.location(&r.span))
}

pub(super) fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) =
        s.split_at(s.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(s.len()));
    let n: f64 = num.parse().map_err(|_| format!("`{s}` is not a duration (e.g. 30s, 2m)"))?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("unknown unit in `{s}` (use ms, s, m or h)")),
    };
    if !(0.0..=86_400.0).contains(&secs) {
        return Err(format!("`{s}` is out of range"));
    }
    Ok(Duration::from_secs_f64(secs))
}

pub(super) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        // Apply evaluates expressions on worker threads (block_in_place); give them room.
        .thread_stack_size(64 << 20)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

pub(super) fn parse_addrs(list: &[String]) -> Result<Vec<ResourceInstanceAddr>, String> {
    list.iter().map(|s| ResourceInstanceAddr::parse(s).map_err(|e| e.to_string())).collect()
}

/// Reports a session error; returns the exit code.
pub(super) fn session_error(e: SessionError, sources: Option<&Sources>, ui: &Ui) -> i32 {
    match e {
        SessionError::Config(d) => match sources {
            Some(s) => ui.diagnostics(&d, s),
            None => d.iter().for_each(|d| eprintln!("error: {d}")),
        },
        SessionError::Backend(e) => eprintln!("error: {e}"),
        SessionError::Other(m) => eprintln!("error: {m}"),
    }
    1
}

/// Opens a session through [`ops::open`] (the environment loaded once), rendering what stops it
/// and the warnings of loading and of configuring providers (a provider deferred to apply).
pub(super) async fn open(
    dir: &Path,
    cli_vars: &[crate::config::vars::CliVar],
    state: &StateArgs,
    operation: &str,
    ui: &Ui,
) -> Result<Session, i32> {
    let opts = SessionOptions {
        state_dir: state.state_dir.clone(),
        lock_timeout: state.lock_timeout,
        operation: operation.into(),
    };
    match ops::open(dir, cli_vars, &opts).await {
        Ok(s) => {
            ui.diagnostics(&s.warnings, &s.env.sources);
            Ok(s)
        }
        Err(OpenError::Config { diagnostics, sources }) => {
            ui.diagnostics(&diagnostics, &sources);
            Err(1)
        }
        Err(OpenError::Backend(e)) => Err(session_error(SessionError::Backend(e), None, ui)),
        Err(OpenError::Other(m)) => Err(session_error(SessionError::Other(m), None, ui)),
    }
}

/// Refreshes and plans within an open session ([`ops::plan`]), rendering its diagnostics.
pub(super) async fn make_plan(s: &Session, options: PlanOptions, ui: &Ui) -> Result<Plan, i32> {
    match ops::plan(s, options).await {
        Ok(p) => {
            ui.diagnostics(&p.warnings, &s.env.sources);
            Ok(p.plan)
        }
        Err(d) => {
            ui.diagnostics(&d, &s.env.sources);
            Err(1)
        }
    }
}

#[allow(clippy::too_many_arguments)]
pub fn plan_cmd(
    dir: &Path,
    vars: &VarArgs,
    raw: &[OsString],
    pa: &PlanArgs,
    destroy: bool,
    json: bool,
    out: Option<&Path>,
    detailed: bool,
    state: &StateArgs,
    ui: &Ui,
) -> i32 {
    let (targets, replace) = match (parse_addrs(&pa.target), parse_addrs(&pa.replace)) {
        (Ok(t), Ok(r)) => (t, r),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    let cli_vars = vars.in_order(raw);
    runtime().block_on(async {
        let s = match open(dir, &cli_vars, state, "plan", ui).await {
            Ok(s) => s,
            Err(code) => return code,
        };
        let options = PlanOptions { refresh: pa.refresh, refresh_only: pa.refresh_only, destroy, targets, replace };
        let result = make_plan(&s, options, ui).await;
        let code = match result {
            Err(code) => code,
            Ok(p) => {
                let sources = &s.env.config.git_sources;
                if json {
                    let mut doc = render::json(&p);
                    if let Some(o) = doc.as_object_mut().filter(|_| !sources.is_empty()) {
                        o.insert("module_sources".into(), serde_json::json!(sources));
                    }
                    println_out(&serde_json::to_string_pretty(&doc).unwrap_or_default());
                } else {
                    for (src, commit) in sources {
                        println_out(&format!("Module source {src} at commit {commit}"));
                    }
                    render::write_human(&p, ui.colour, &mut super::print_out);
                }
                if pa.stats {
                    print_stats(&s.registry);
                }
                let mut code = if detailed && p.has_changes() { 2 } else { 0 };
                if let Some(out) = out {
                    let saved = ops::to_saved(&s, p, cli_vars.clone());
                    match plan::file::write(out, &saved) {
                        Ok(()) => {
                            if !json {
                                println_out(&format!("\nSaved the plan to {}. Apply exactly it with: slipway apply {}", out.display(), out.display()));
                            }
                        }
                        Err(e) => {
                            eprintln!("error: writing plan {}: {e}", out.display());
                            code = 1;
                        }
                    }
                }
                code
            }
        };
        s.abandon().await;
        code
    })
}

pub(super) fn confirm(ui: &Ui, what: &str) -> Result<(), String> {
    let _ = ui;
    if !std::io::stdin().is_terminal() {
        return Err(format!(
            "{what} needs approval, and there is no terminal to ask on: pass -auto-approve, or apply a saved plan"
        ));
    }
    print!(
        "\nDo you want to perform these actions?\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: "
    );
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).map_err(|e| e.to_string())?;
    if line.trim() == "yes" { Ok(()) } else { Err(format!("{what} cancelled.")) }
}

pub struct ApplyArgs<'a> {
    pub target: Option<&'a Path>,
    pub vars: &'a VarArgs,
    pub plan_args: &'a PlanArgs,
    pub destroy: bool,
    pub auto_approve: bool,
    pub parallelism: usize,
    pub state: &'a StateArgs,
}

pub fn apply_cmd(a: ApplyArgs<'_>, raw: &[OsString], ui: &Ui) -> i32 {
    let target = a.target.map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
    let saved = if target.is_file() {
        match plan::file::read(&target) {
            Ok(s) => Some(s),
            Err(e) => {
                eprintln!("error: {e}");
                return 1;
            }
        }
    } else {
        None
    };
    let (dir, cli_vars) = match &saved {
        Some(s) => (s.environment_dir.clone(), s.vars.clone()),
        None => (target.clone(), a.vars.in_order(raw)),
    };
    let (targets, replace) =
        match (parse_addrs(&a.plan_args.target), parse_addrs(&a.plan_args.replace)) {
            (Ok(t), Ok(r)) => (t, r),
            (Err(e), _) | (_, Err(e)) => {
                eprintln!("error: {e}");
                return 1;
            }
        };
    let operation = if a.destroy { "destroy" } else { "apply" };
    runtime().block_on(async {
        let s = match open(&dir, &cli_vars, a.state, operation, ui).await {
            Ok(s) => s,
            Err(code) => return code,
        };
        let plan = match saved {
            Some(saved) => match ops::check_saved(saved, &s) {
                Ok(p) => p,
                Err(stale) => {
                    match stale {
                        Stale::ConfigChanged => eprintln!("error: the configuration changed since this plan was made; make a new plan"),
                        Stale::StateMoved(e) => eprintln!("error: saved plan is stale: {e}"),
                    }
                    s.abandon().await;
                    return 1;
                }
            },
            None => {
                let options = PlanOptions { refresh: a.plan_args.refresh, refresh_only: a.plan_args.refresh_only, destroy: a.destroy, targets, replace };
                let p = match make_plan(&s, options, ui).await {
                    Ok(p) => p,
                    Err(code) => {
                        s.abandon().await;
                        return code;
                    }
                };
                render::write_human(&p, ui.colour, &mut super::print_out);
                if !p.has_changes() {
                    return match ops::finish_in_sync(s, &p, None).await {
                        Ok(()) => 0,
                        Err(e) => {
                            eprintln!("error: {e}");
                            1
                        }
                    };
                }
                if !a.auto_approve
                    && let Err(m) = confirm(ui, operation) {
                        eprintln!("error: {m}");
                        s.abandon().await;
                        return 1;
                    }
                p
            }
        };
        let tty = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        let (progress, tick): (Arc<dyn apply::Progress>, Duration) =
            if tty { (Arc::new(TtyProgress::new()), Duration::from_secs(1)) } else { (line_printer(), Duration::from_secs(10)) };
        let applied = ops::apply(s, &plan, ApplySettings { parallelism: a.parallelism, progress, tick, commit: None }).await;
        let code = match &applied.report {
            Err(e) => {
                eprintln!("error: {e}");
                1
            }
            Ok(report) => report_applied(report, &applied, a.destroy, a.plan_args.stats),
        };
        match applied.saved {
            Ok(()) => code,
            Err(e) => {
                eprintln!("error: {e}");
                1
            }
        }
    })
}

/// Prints what an apply did (and with `stats`, what it cost): the summary line, each failed
/// instance with where it is declared, each one skipped, and the outputs. 0 when all succeeded.
fn report_applied(
    report: &apply::ApplyReport,
    applied: &ops::Applied,
    destroy: bool,
    stats: bool,
) -> i32 {
    if report.ok() {
        println_out(&format!(
            "\n{} complete! Resources: {} added, {} changed, {} destroyed.",
            if destroy { "Destroy" } else { "Apply" },
            report.added,
            report.changed,
            report.destroyed
        ));
    } else {
        eprintln!(
            "\n{} incomplete. Resources: {} added, {} changed, {} destroyed; {} failed, {} not attempted.",
            if destroy { "Destroy" } else { "Apply" },
            report.added,
            report.changed,
            report.destroyed,
            report.failed.len(),
            report.skipped.len()
        );
        for (addr, m) in &report.failed {
            eprintln!("  failed:  {addr}: {m}");
            if let Some(at) = declared_at(&applied.env, addr) {
                eprintln!("           declared at {at}");
            }
        }
        for (addr, why) in &report.skipped {
            eprintln!("  skipped: {addr} ({why})");
        }
        if report.interrupted {
            eprintln!("Interrupted: what finished is saved in state; run apply again to continue.");
        }
    }
    print_outputs(&report.outputs);
    if stats {
        print_stats(&applied.registry);
        let (wall, cp) = (report.wall.as_secs_f64(), report.critical_path.as_secs_f64());
        eprintln!(
            "Apply time: {wall:.2}s wall; critical path {cp:.2}s ({:.2}x)",
            if cp > 0.0 { wall / cp } else { 1.0 }
        );
        eprintln!(
            "Re-evaluated at apply: {} configurations, {} variables/locals/outputs/module calls/resource values",
            report.reevaluated, report.reevaluation_nodes
        );
    }
    if report.ok() { 0 } else { 1 }
}

fn print_outputs(outputs: &std::collections::BTreeMap<String, (Value, bool)>) {
    if outputs.is_empty() {
        return;
    }
    println_out("\nOutputs:\n");
    for (name, (v, sensitive)) in outputs {
        let shown = if *sensitive || v.contains_sensitive() {
            "<sensitive>".to_string()
        } else {
            render_hcl(v)
        };
        println_out(&format!("{name} = {shown}"));
    }
}
