//! The command line: parses arguments into structs, runs a command, renders its result.
//!
//! Commands return an exit code; rendering (terminal or JSON) lives here, never in the engine.
//! Terraform's single-dash long flags (`-var`, `-out`, `-target`, `-auto-approve`, …) are accepted
//! beside the double-dash forms, because that is what Terraform users type.

mod commands;
mod console;
mod dr_drill;
mod dr_rebuild;
mod engine;
mod etcd;
mod progress;
mod recover;
mod state_cmds;
mod state_migrate;
mod watch;

pub use engine::{PlanArgs, StateArgs};
pub use state_cmds::StateCommand;

use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::vars::CliVar;
use crate::diag::{Diagnostics, Sources};

#[derive(Parser, Debug)]
#[command(
    name = "slipway",
    version,
    about = "Infrastructure as code for AWS and Kubernetes cluster bootstrap"
)]
pub struct Cli {
    /// Disable colour (also: NO_COLOR).
    #[arg(long, global = true)]
    pub no_color: bool,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq)]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Check the configuration: syntax, references, types, schemas.
    Validate {
        /// Environment directory (default: current directory).
        dir: Option<PathBuf>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        vars: VarArgs,
    },
    /// Rewrite HCL files in the canonical layout.
    Fmt {
        /// A directory (formatted recursively) or a file (default: current directory).
        dir: Option<PathBuf>,
        /// Do not write; exit 3 if any file is not formatted.
        #[arg(long)]
        check: bool,
    },
    /// Print the resource-instance dependency graph.
    Graph {
        dir: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
        format: GraphFormat,
        #[command(flatten)]
        vars: VarArgs,
    },
    /// Show what apply would change.
    Plan {
        dir: Option<PathBuf>,
        #[command(flatten)]
        vars: VarArgs,
        #[command(flatten)]
        plan: PlanArgs,
        /// Plan to destroy everything.
        #[arg(long)]
        destroy: bool,
        /// Machine-readable plan (schema: docs/json-output.md).
        #[arg(long)]
        json: bool,
        /// Save the plan, for `slipway apply FILE`.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Exit 0 without changes, 2 with changes, 1 on error.
        #[arg(long)]
        detailed_exitcode: bool,
        #[command(flatten)]
        state: StateArgs,
    },
    /// Make the changes (plans first unless given a saved plan file).
    Apply {
        /// Environment directory, or a plan file saved with `plan -out`.
        path: Option<PathBuf>,
        #[command(flatten)]
        vars: VarArgs,
        #[command(flatten)]
        plan: PlanArgs,
        /// Do not ask for confirmation.
        #[arg(long)]
        auto_approve: bool,
        /// Operations in flight at once.
        #[arg(long, default_value_t = 10)]
        parallelism: usize,
        #[command(flatten)]
        state: StateArgs,
    },
    /// Destroy everything the environment manages.
    Destroy {
        dir: Option<PathBuf>,
        #[command(flatten)]
        vars: VarArgs,
        /// Limit to these instances and what depends on them.
        #[arg(long, value_name = "ADDRESS")]
        target: Vec<String>,
        #[arg(long)]
        auto_approve: bool,
        #[arg(long, default_value_t = 10)]
        parallelism: usize,
        #[command(flatten)]
        state: StateArgs,
    },
    /// Show the state, or a saved plan.
    Show {
        /// Environment directory (its state) or a saved plan file.
        path: Option<PathBuf>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        state: StateArgs,
    },
    /// Print root outputs from state.
    Output {
        name: Option<String>,
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        state: StateArgs,
    },
    /// Evaluate expressions over the environment (variables, locals, resources in state), like
    /// `terraform console`; reads expressions from standard input when it is not a terminal.
    Console {
        /// Environment directory (default: current directory).
        dir: Option<PathBuf>,
        /// One JSON object per expression: {"value","type","sensitive"} or {"error"}.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        vars: VarArgs,
        #[command(flatten)]
        state: StateArgs,
    },
    /// Inspect or edit state.
    #[command(subcommand)]
    State(StateCommand),
    /// Bring an existing object under management.
    Import {
        address: String,
        id: String,
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        #[command(flatten)]
        state: StateArgs,
    },
    /// Write the cluster's admin kubeconfig (the environment's `admin_kubeconfig` output) to a
    /// file readable only by its owner.
    Kubeconfig {
        dir: Option<PathBuf>,
        /// Where to write it (default: `<environment>.kubeconfig` in the current directory).
        #[arg(long, short = 'o', value_name = "FILE")]
        output: Option<PathBuf>,
        #[command(flatten)]
        state: StateArgs,
    },
    /// Follow a Git branch and apply its environment as it changes (the GitOps agent).
    Watch(Box<watch::WatchArgs>),
    /// Approve a plan held by `slipway watch` (`--list` shows the held plans).
    Approve {
        #[arg(required_unless_present = "list")]
        id: Option<String>,
        /// The agent's plans directory.
        #[arg(long, env = "SLIPWAY_PLANS_DIR", value_name = "DIR")]
        plans_dir: Option<PathBuf>,
        #[arg(long)]
        list: bool,
    },
    /// etcd operations: snapshots to S3 on demand, and their listing.
    #[command(subcommand)]
    Etcd(etcd::EtcdCommand),
    /// Disaster recovery: restore drills, rebuilds.
    #[command(subcommand)]
    Dr(DrCommand),
    /// Remove a stale state lock (give the lock id printed in the lock error).
    ForceUnlock {
        id: String,
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        #[command(flatten)]
        state: StateArgs,
    },
}

/// `slipway dr ...` (one variant per part of issue #16 that adds one).
#[derive(Subcommand, Debug)]
pub enum DrCommand {
    /// Restore a snapshot into a scratch etcd (local processes), check it, report RPO and RTO.
    Drill(Box<dr_drill::DrillArgs>),
    /// Rebuild a cluster whose nodes are gone: infrastructure from the configuration (or
    /// `--commit REF`), every etcd member restored from one snapshot, CAs and the
    /// service-account key kept; shows the plan and asks unless -auto-approve.
    Rebuild(Box<dr_rebuild::RebuildArgs>),
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq)]
pub enum GraphFormat {
    Dot,
    Json,
}

/// `-var name=value` and `-var-file FILE`, kept in command-line order.
#[derive(Args, Debug, Default, Clone)]
pub struct VarArgs {
    /// Set a root variable: -var name=value (repeatable).
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub var: Vec<String>,
    /// Read variable values from an HCL file (repeatable).
    #[arg(long = "var-file", value_name = "FILE")]
    pub var_file: Vec<PathBuf>,
}

impl VarArgs {
    /// The values in the order they were given on the command line (later wins).
    pub fn in_order(&self, raw_args: &[OsString]) -> Vec<CliVar> {
        let mut out = Vec::new();
        let (mut vi, mut fi) = (0, 0);
        let mut it = raw_args.iter().map(|a| a.to_string_lossy().into_owned()).peekable();
        while let Some(a) = it.next() {
            let is_var = a == "--var" || a.starts_with("--var=");
            let is_file = a == "--var-file" || a.starts_with("--var-file=");
            if is_var && vi < self.var.len() {
                out.push(CliVar::Assign(self.var[vi].clone()));
                vi += 1;
                if !a.contains('=') {
                    it.next();
                }
            } else if is_file && fi < self.var_file.len() {
                out.push(CliVar::File(self.var_file[fi].clone()));
                fi += 1;
                if !a.contains('=') {
                    it.next();
                }
            }
        }
        out
    }
}

const SINGLE_DASH_FLAGS: &[&str] = &[
    "var",
    "var-file",
    "out",
    "target",
    "replace",
    "auto-approve",
    "refresh",
    "refresh-only",
    "detailed-exitcode",
    "parallelism",
    "lock-timeout",
    "json",
    "check",
    "state-dir",
    "destroy",
    "lock",
    "input",
    "no-color",
    "force",
];

/// Rewrites `-var x=1` into `--var x=1` so clap understands Terraform-style flags.
pub fn normalize_args(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    args.into_iter()
        .map(|a| {
            let s = a.to_string_lossy();
            if let Some(rest) = s.strip_prefix('-').filter(|r| !r.starts_with('-')) {
                let name = rest.split('=').next().unwrap_or("");
                if SINGLE_DASH_FLAGS.contains(&name) {
                    return OsString::from(format!("-{s}"));
                }
            }
            a
        })
        .collect()
}

/// Writes to stdout, ignoring a closed pipe (`slipway plan | head` must not panic).
pub fn print_out(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// [`print_out`] with a newline.
pub fn println_out(text: &str) {
    print_out(&format!("{text}\n"));
}

/// What the user sees: colour decisions and diagnostic rendering.
pub struct Ui {
    pub colour: bool,
}

impl Ui {
    pub fn new(no_color: bool) -> Ui {
        let colour =
            !no_color && std::env::var_os("NO_COLOR").is_none() && std::io::stderr().is_terminal();
        Ui { colour }
    }

    /// Prints diagnostics to stderr.
    pub fn diagnostics(&self, diags: &Diagnostics, sources: &Sources) {
        if diags.is_empty() {
            return;
        }
        use std::io::Write;
        let _ = std::io::stderr()
            .write_all(crate::diag::render_terminal(diags, sources, self.colour).as_bytes());
    }
}

/// Runs the program; returns the process exit code.
pub fn main_with_args(args: Vec<OsString>) -> i32 {
    let args = normalize_args(args);
    let cli = match Cli::try_parse_from(&args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 1 } else { 0 };
        }
    };
    init_logging(cli.log_format);
    let ui = Ui::new(cli.no_color);
    commands::run(cli.command, &args, &ui)
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SLIPWAY_LOG")
        // rustls' verifier logs a refused certificate at ERROR before returning the error that
        // slipway reports anyway (with the URL and a hint): once is enough. kube's client
        // logs every failed request the same way, API server message included — which can
        // quote a Secret's value; the kubernetes provider reports them itself, redacted.
        // Leader-election changes (`slipway watch --leader-elect`) are rare and are what an
        // operator of several replicas needs to see: info.
        .unwrap_or_else(|_| {
            tracing_subscriber::EnvFilter::new(
                "warn,slipway::watch=info,rustls_platform_verifier=off,kube_client=off",
            )
        });
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn single_dash_terraform_flags_are_accepted() {
        let args = normalize_args(
            ["slipway", "plan", "-var", "a=1", "-out=p.plan", "-x"].map(OsString::from),
        );
        let args: Vec<String> = args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
        assert_eq!(args, ["slipway", "plan", "--var", "a=1", "--out=p.plan", "-x"]);
    }
}
