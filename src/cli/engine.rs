//! Commands that work on state: plan, apply, destroy, show, output, state, import, force-unlock.

use crate::eval::types::{Shape, shape_of, type_json};
use crate::graph::ModuleShapes;
use std::ffi::OsString;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Subcommand};

use super::progress::{TtyProgress, line_printer};
use super::{Ui, VarArgs, println_out};
use crate::addr::ResourceInstanceAddr;
use crate::apply;
use crate::backend::BackendError;
use crate::diag::Sources;
use crate::environment::Environment;
use crate::ops::{self, ApplySettings, OpenError, Stale};
use crate::plan::{self, Plan, PlanOptions, render};
use crate::provider::ProviderRegistry;
use crate::session::{Session, SessionError, SessionOptions};
use crate::state::journal::JournalOp;
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
    let path: Vec<&str> = addr
        .resource
        .module
        .0
        .iter()
        .map(|(n, _)| n.as_str())
        .collect();
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

#[derive(Subcommand, Debug)]
pub enum StateCommand {
    /// List the instances in state.
    List {
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        #[command(flatten)]
        state: StateArgs,
    },
    /// Show one instance's attributes (sensitive values masked).
    Show {
        address: String,
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        #[command(flatten)]
        state: StateArgs,
    },
    /// Forget instances without destroying them.
    Rm {
        #[arg(required = true)]
        addresses: Vec<String>,
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        #[command(flatten)]
        state: StateArgs,
    },
    /// Move the state into this environment's configured backend (`--from` names where it is
    /// now), or, without `--from`, re-write it in place through the configured encryption
    /// (encrypt plaintext state; finish a key rotation). Lineage and serial are kept; the source
    /// is never written. See README "Remote state and encryption".
    Migrate {
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// Where the state is now: `local`, `local=DIR` (a state directory), or
        /// `s3://BUCKET/KEY[?region=R&endpoint=URL&dynamodb_table=T]`.
        #[arg(long, value_name = "BACKEND")]
        from: Option<String>,
        /// The source's passphrase, from this environment variable (default: the configured
        /// keys; plaintext sources are read too).
        #[arg(long, value_name = "VAR")]
        from_passphrase_env: Option<String>,
        /// The source's raw 256-bit key, from this environment variable.
        #[arg(long, value_name = "VAR")]
        from_key_env: Option<String>,
        /// The source's raw 256-bit key, from this file.
        #[arg(long, value_name = "FILE")]
        from_key_file: Option<PathBuf>,
        #[command(flatten)]
        state: StateArgs,
    },
    /// Rebuild a lost state from the cloud: every object tagged with the environment's
    /// `slipway:stack` goes back to its `slipway:address`; what cannot be recovered is listed
    /// with what the next plan will do.
    Recover(Box<super::recover::RecoverArgs>),
    /// Rename an instance in state.
    Mv {
        from: String,
        to: String,
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        #[command(flatten)]
        state: StateArgs,
    },
}

pub(super) fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s.split_at(
        s.find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(s.len()),
    );
    let n: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration (e.g. 30s, 2m)"))?;
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

fn parse_addrs(list: &[String]) -> Result<Vec<ResourceInstanceAddr>, String> {
    list.iter()
        .map(|s| ResourceInstanceAddr::parse(s).map_err(|e| e.to_string()))
        .collect()
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
        Err(OpenError::Config {
            diagnostics,
            sources,
        }) => {
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
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    if line.trim() == "yes" {
        Ok(())
    } else {
        Err(format!("{what} cancelled."))
    }
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
    let target = a
        .target
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
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
    let (targets, replace) = match (
        parse_addrs(&a.plan_args.target),
        parse_addrs(&a.plan_args.replace),
    ) {
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
            Ok(report) => {
                if report.ok() {
                    println_out(&format!(
                        "\n{} complete! Resources: {} added, {} changed, {} destroyed.",
                        if a.destroy { "Destroy" } else { "Apply" },
                        report.added,
                        report.changed,
                        report.destroyed
                    ));
                } else {
                    eprintln!(
                        "\n{} incomplete. Resources: {} added, {} changed, {} destroyed; {} failed, {} not attempted.",
                        if a.destroy { "Destroy" } else { "Apply" },
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
                if a.plan_args.stats {
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

/// The backend of an environment, without taking its lock.
fn unlocked_backend(
    dir: &Path,
    state: &StateArgs,
) -> Result<(Environment, Arc<dyn crate::backend::Backend>), i32> {
    let env = Environment::load(dir, &[], crate::providers::builtin_registry());
    let opts = SessionOptions {
        state_dir: state.state_dir.clone(),
        ..Default::default()
    };
    match crate::session::backend_for(&env, &opts) {
        Ok(b) => Ok((env, b)),
        Err(e) => Err(session_error(e, Some(&env.sources), &Ui { colour: false })),
    }
}

/// [`read_state`] with variable values from the command line (for `console`).
pub(super) fn read_state_with_vars(
    dir: &Path,
    cli_vars: &[crate::config::vars::CliVar],
    state: &StateArgs,
) -> Result<(Environment, Option<crate::state::State>), i32> {
    let env = Environment::load(dir, cli_vars, crate::providers::builtin_registry());
    if env.diagnostics.has_errors() {
        // The caller reports them; reading state needs a valid backend block.
        return Ok((env, None));
    }
    let opts = SessionOptions {
        state_dir: state.state_dir.clone(),
        ..Default::default()
    };
    let backend = match crate::session::backend_for(&env, &opts) {
        Ok(b) => b,
        Err(e) => return Err(session_error(e, Some(&env.sources), &Ui { colour: false })),
    };
    match runtime().block_on(async { backend.read().await }) {
        Ok(s) => Ok((env, s)),
        Err(e) => {
            eprintln!("error: {e}");
            Err(1)
        }
    }
}

/// Read-only access to state (no lock taken, as Terraform's output and show).
pub(super) fn read_state(
    dir: &Path,
    state: &StateArgs,
) -> Result<(Environment, Option<crate::state::State>), i32> {
    let (env, backend) = unlocked_backend(dir, state)?;
    let st = runtime().block_on(async { backend.read().await });
    match st {
        Ok(s) => Ok((env, s)),
        Err(e) => {
            eprintln!("error: {e}");
            Err(1)
        }
    }
}

pub fn output_cmd(dir: &Path, name: Option<&str>, json: bool, state: &StateArgs) -> i32 {
    let (env, st) = match read_state(dir, state) {
        Ok(x) => x,
        Err(c) => return c,
    };
    let outputs = st.map(|s| s.outputs).unwrap_or_default();
    match name {
        Some(n) => match outputs.get(n) {
            Some(o) => {
                // Asked for by name: shown, as Terraform does (it is the user's explicit request).
                if json {
                    println_out(&serde_json::to_string_pretty(&o.value).unwrap_or_default());
                } else {
                    match &o.value {
                        serde_json::Value::String(s) => println_out(s),
                        other => println_out(&render_hcl(&Value::from_json(other))),
                    }
                }
                0
            }
            None => {
                eprintln!("error: no output named \"{n}\"");
                1
            }
        },
        None => {
            if json {
                let root = env.config.root();
                let doc: serde_json::Map<String, serde_json::Value> = outputs
                    .iter()
                    .map(|(k, o)| {
                        // The type as `terraform output -json` reports it, inferred from the
                        // output's expression and value (see eval::types), shown even when
                        // the value is sensitive, as Terraform does.
                        let shape = root.outputs.get(k).map_or(Shape::Dyn, |decl| {
                            shape_of(&decl.expr.expr, &ModuleShapes(root), 0)
                        });
                        let ty = type_json(&Value::from_json(&o.value), &shape);
                        let value = if o.sensitive {
                            serde_json::Value::Null
                        } else {
                            o.value.clone()
                        };
                        let doc = serde_json::json!({ "sensitive": o.sensitive, "type": ty, "value": value });
                        (k.clone(), doc)
                    })
                    .collect();
                println_out(&serde_json::to_string_pretty(&doc).unwrap_or_default());
            } else {
                for (k, o) in &outputs {
                    let shown = if o.sensitive {
                        "<sensitive>".to_string()
                    } else {
                        render_hcl(&Value::from_json(&o.value))
                    };
                    println_out(&format!("{k} = {shown}"));
                }
            }
            0
        }
    }
}

pub fn show_cmd(path: &Path, json: bool, state: &StateArgs, ui: &Ui) -> i32 {
    if path.is_file() {
        return match plan::file::read(path) {
            Ok(saved) => {
                if json {
                    println_out(
                        &serde_json::to_string_pretty(&render::json(&saved.plan))
                            .unwrap_or_default(),
                    );
                } else {
                    render::write_human(&saved.plan, ui.colour, &mut super::print_out);
                }
                0
            }
            Err(e) => {
                eprintln!("error: {e}");
                1
            }
        };
    }
    let (_, st) = match read_state(path, state) {
        Ok(x) => x,
        Err(c) => return c,
    };
    let Some(st) = st else {
        println_out("No state.");
        return 0;
    };
    if json {
        let resources: Vec<_> = st
            .resources
            .iter()
            .map(|(a, r)| {
                let v = r.value();
                let mut j = v.to_json();
                for p in v.sensitive_paths() {
                    mask_json(&mut j, &p);
                }
                serde_json::json!({ "address": a.to_string(), "type": r.rtype, "provider": r.provider, "status": r.status, "values": j })
            })
            .collect();
        println_out(&serde_json::to_string_pretty(&serde_json::json!({ "lineage": st.lineage, "serial": st.serial, "resources": resources })).unwrap_or_default());
    } else {
        for (a, r) in &st.resources {
            println_out(&format!(
                "# {a}:\nresource \"{}\" \"{}\" {}\n",
                r.rtype,
                a.resource.name,
                render_hcl(&r.value())
            ));
        }
    }
    0
}

fn mask_json(j: &mut serde_json::Value, path: &[crate::value::PathStep]) {
    use crate::value::PathStep;
    let Some((first, rest)) = path.split_first() else {
        *j = serde_json::Value::String("(sensitive value)".into());
        return;
    };
    let next = match (j, first) {
        (serde_json::Value::Object(m), PathStep::Key(k)) => m.get_mut(k),
        (serde_json::Value::Array(a), PathStep::Index(i)) => a.get_mut(*i),
        _ => None,
    };
    if let Some(n) = next {
        mask_json(n, rest);
    }
}

/// `state list|show|rm|mv`.
pub fn state_cmd(cmd: StateCommand, raw: &[OsString], ui: &Ui) -> i32 {
    match cmd {
        StateCommand::Recover(a) => super::recover::run(&a, raw, ui),
        StateCommand::Migrate {
            dir,
            from,
            from_passphrase_env,
            from_key_env,
            from_key_file,
            state,
        } => super::state_migrate::run(
            &dir,
            from.as_deref(),
            super::state_migrate::SourceKey {
                passphrase_env: from_passphrase_env,
                key_env: from_key_env,
                key_file: from_key_file,
            },
            &state,
            ui,
            runtime(),
        ),
        StateCommand::List { dir, state } => match read_state(&dir, &state) {
            Ok((_, st)) => {
                for a in st
                    .map(|s| s.resources.into_keys().collect::<Vec<_>>())
                    .unwrap_or_default()
                {
                    println_out(&a.to_string());
                }
                0
            }
            Err(c) => c,
        },
        StateCommand::Show {
            address,
            dir,
            state,
        } => {
            let addr = match ResourceInstanceAddr::parse(&address) {
                Ok(a) => a,
                Err(e) => {
                    eprintln!("error: {e}");
                    return 1;
                }
            };
            match read_state(&dir, &state) {
                Ok((_, st)) => match st.and_then(|s| s.resources.get(&addr).cloned()) {
                    Some(r) => {
                        println_out(&format!(
                            "# {addr}:\nresource \"{}\" \"{}\" {}",
                            r.rtype,
                            addr.resource.name,
                            render_hcl(&r.value())
                        ));
                        0
                    }
                    None => {
                        eprintln!("error: {addr} is not in state");
                        1
                    }
                },
                Err(c) => c,
            }
        }
        StateCommand::Rm {
            addresses,
            dir,
            state,
        } => {
            let addrs = match parse_addrs(&addresses) {
                Ok(a) => a,
                Err(e) => {
                    eprintln!("error: {e}");
                    return 1;
                }
            };
            mutate_state(&dir, &state, "state rm", ui, |st| {
                let mut ops = Vec::new();
                for a in &addrs {
                    if !st.resources.contains_key(a) {
                        return Err(format!("{a} is not in state"));
                    }
                    ops.push(JournalOp::Delete { addr: a.clone() });
                }
                Ok((
                    ops,
                    format!(
                        "Removed {} instance(s) from state; the objects themselves still exist.",
                        addrs.len()
                    ),
                ))
            })
        }
        StateCommand::Mv {
            from,
            to,
            dir,
            state,
        } => {
            let (from, to) = match (
                ResourceInstanceAddr::parse(&from),
                ResourceInstanceAddr::parse(&to),
            ) {
                (Ok(f), Ok(t)) => (f, t),
                (Err(e), _) | (_, Err(e)) => {
                    eprintln!("error: {e}");
                    return 1;
                }
            };
            mutate_state(&dir, &state, "state mv", ui, |st| {
                let Some(r) = st.resources.get(&from).cloned() else {
                    return Err(format!("{from} is not in state"));
                };
                if st.resources.contains_key(&to) {
                    return Err(format!("{to} is already in state"));
                }
                if r.rtype != to.resource.rtype {
                    return Err(format!(
                        "cannot move a {} to a {} address",
                        r.rtype, to.resource.rtype
                    ));
                }
                Ok((
                    vec![
                        JournalOp::Put {
                            addr: to.clone(),
                            resource: Box::new(r),
                        },
                        JournalOp::Delete { addr: from.clone() },
                    ],
                    format!("Moved {from} to {to}."),
                ))
            })
        }
    }
}

/// Runs a state edit under the lock, each change journaled.
fn mutate_state(
    dir: &Path,
    state: &StateArgs,
    op: &str,
    ui: &Ui,
    f: impl FnOnce(&crate::state::State) -> Result<(Vec<JournalOp>, String), String>,
) -> i32 {
    runtime().block_on(async {
        let mut s = match open(dir, &[], state, op, ui).await {
            Ok(s) => s,
            Err(c) => return c,
        };
        let (ops, msg) = match f(s.state.state()) {
            Ok(x) => x,
            Err(e) => {
                eprintln!("error: {e}");
                s.abandon().await;
                return 1;
            }
        };
        for o in ops {
            if let Err(e) = s.state.apply(o).await {
                eprintln!("error: {e}");
                s.abandon().await;
                return 1;
            }
        }
        match s.close().await {
            Ok(()) => {
                println_out(&msg);
                0
            }
            Err(e) => {
                eprintln!("error: {e}");
                1
            }
        }
    })
}

pub fn import_cmd(dir: &Path, address: &str, id: &str, state: &StateArgs, ui: &Ui) -> i32 {
    let addr = match ResourceInstanceAddr::parse(address) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    runtime().block_on(async {
        let mut s = match open(dir, &[], state, "import", ui).await {
            Ok(s) => s,
            Err(c) => return c,
        };
        let declared = {
            let out = tokio::task::block_in_place(|| s.env.walk(&crate::graph::walk::UnknownComputed));
            out.instances.contains_key(&addr)
        };
        let result: Result<String, String> = async {
            if !declared {
                return Err(format!("{addr} is not declared in the configuration; add its resource block first"));
            }
            if s.state.state().resources.contains_key(&addr) {
                return Err(format!("{addr} is already managed; `slipway state rm` it first to import another object"));
            }
            let p = s.registry.for_type(&addr.resource.rtype).cloned().ok_or_else(|| format!("no provider for {}", addr.resource.rtype))?;
            let v = p.import(&addr.resource.rtype, id).await.map_err(|e| e.message)?;
            let v = s.registry.mark_sensitive(&addr.resource.rtype, v);
            let r = crate::state::ResourceState::from_value(p.name(), addr.resource.rtype.clone(), &v);
            s.state.apply(JournalOp::Put { addr: addr.clone(), resource: Box::new(r) }).await.map_err(|e| e.to_string())?;
            Ok(format!("Imported {addr} (id {id}). Run `slipway plan` to see how it differs from the configuration."))
        }
        .await;
        match result {
            Ok(msg) => match s.close().await {
                Ok(()) => {
                    println_out(&msg);
                    0
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    1
                }
            },
            Err(e) => {
                eprintln!("error: {e}");
                s.abandon().await;
                1
            }
        }
    })
}

pub fn force_unlock_cmd(dir: &Path, id: &str, state: &StateArgs) -> i32 {
    let env = Environment::load(dir, &[], crate::providers::builtin_registry());
    let opts = SessionOptions {
        state_dir: state.state_dir.clone(),
        ..Default::default()
    };
    let backend = match crate::session::lock_backend_for(&env, &opts) {
        Ok(b) => b,
        Err(e) => return session_error(e, Some(&env.sources), &Ui { colour: false }),
    };
    match runtime().block_on(backend.force_unlock(id)) {
        Ok(()) => {
            println_out(
                "The state lock was removed. slipway will take the lock normally on the next run.",
            );
            0
        }
        Err(BackendError::NotLocked { .. }) => {
            eprintln!("error: the state is not locked");
            1
        }
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

/// `slipway kubeconfig`: the `admin_kubeconfig` output, written 0600.
pub fn kubeconfig_cmd(dir: &Path, output: Option<&Path>, state: &StateArgs) -> i32 {
    let (env, st) = match read_state(dir, state) {
        Ok(x) => x,
        Err(c) => return c,
    };
    let Some(text) = st.and_then(|s| {
        s.outputs
            .get("admin_kubeconfig")
            .and_then(|o| o.value.as_str().map(str::to_string))
    }) else {
        eprintln!(
            "error: the state of {} has no `admin_kubeconfig` output; apply first, and export it from the environment (output \"admin_kubeconfig\" {{ value = module.pki.admin_kubeconfig, sensitive = true }})",
            env.name
        );
        return 1;
    };
    let path = output
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(format!("{}.kubeconfig", env.name)));
    use std::os::unix::fs::OpenOptionsExt;
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .and_then(|mut f| f.write_all(text.as_bytes()).and_then(|_| f.sync_all()));
    match written {
        Ok(()) => {
            println_out(&format!(
                "Wrote {} (mode 0600). Use it with: KUBECONFIG={} kubectl get nodes",
                path.display(),
                path.display()
            ));
            0
        }
        Err(e) => {
            eprintln!("error: writing {}: {e}", path.display());
            1
        }
    }
}
