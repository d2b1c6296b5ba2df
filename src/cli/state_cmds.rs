//! The commands that read or edit state without planning: `output`, `show`, `state list|show|rm|mv|
//! pull|push|…`, `import`, `force-unlock` and `kubeconfig`. Each opens the environment's backend
//! itself; only the commands that change state take the lock.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Subcommand;

use super::engine::{StateArgs, open, parse_addrs, runtime, session_error};
use super::{Ui, println_out};
use crate::addr::ResourceInstanceAddr;
use crate::backend::BackendError;
use crate::environment::Environment;
use crate::eval::types::{Shape, shape_of, type_json};
use crate::graph::ModuleShapes;
use crate::plan::{self, render};
use crate::session::SessionOptions;
use crate::state::journal::JournalOp;
use crate::value::{Value, render_hcl};

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

/// The backend of an environment, without taking its lock.
fn unlocked_backend(
    dir: &Path,
    state: &StateArgs,
) -> Result<(Environment, Arc<dyn crate::backend::Backend>), i32> {
    let env = Environment::load(dir, &[], crate::providers::builtin_registry());
    let opts = SessionOptions { state_dir: state.state_dir.clone(), ..Default::default() };
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
    let opts = SessionOptions { state_dir: state.state_dir.clone(), ..Default::default() };
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
                for a in st.map(|s| s.resources.into_keys().collect::<Vec<_>>()).unwrap_or_default()
                {
                    println_out(&a.to_string());
                }
                0
            }
            Err(c) => c,
        },
        StateCommand::Show { address, dir, state } => state_show(&address, &dir, &state),
        StateCommand::Rm { addresses, dir, state } => state_rm(&addresses, &dir, &state, ui),
        StateCommand::Mv { from, to, dir, state } => state_mv(&from, &to, &dir, &state, ui),
    }
}

/// `state show ADDRESS`: one instance as HCL.
fn state_show(address: &str, dir: &Path, state: &StateArgs) -> i32 {
    let addr = match ResourceInstanceAddr::parse(address) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    match read_state(dir, state) {
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

/// `state rm ADDRESS…`: forgets instances (the objects themselves stay).
fn state_rm(addresses: &[String], dir: &Path, state: &StateArgs, ui: &Ui) -> i32 {
    let addrs = match parse_addrs(addresses) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    mutate_state(dir, state, "state rm", ui, |st| {
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

/// `state mv FROM TO`: renames an instance (to an address of the same type).
fn state_mv(from: &str, to: &str, dir: &Path, state: &StateArgs, ui: &Ui) -> i32 {
    let (from, to) = match (ResourceInstanceAddr::parse(from), ResourceInstanceAddr::parse(to)) {
        (Ok(f), Ok(t)) => (f, t),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    mutate_state(dir, state, "state mv", ui, |st| {
        let Some(r) = st.resources.get(&from).cloned() else {
            return Err(format!("{from} is not in state"));
        };
        if st.resources.contains_key(&to) {
            return Err(format!("{to} is already in state"));
        }
        if r.rtype != to.resource.rtype {
            return Err(format!("cannot move a {} to a {} address", r.rtype, to.resource.rtype));
        }
        Ok((
            vec![
                JournalOp::Put { addr: to.clone(), resource: Box::new(r) },
                JournalOp::Delete { addr: from.clone() },
            ],
            format!("Moved {from} to {to}."),
        ))
    })
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
    let opts = SessionOptions { state_dir: state.state_dir.clone(), ..Default::default() };
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
        s.outputs.get("admin_kubeconfig").and_then(|o| o.value.as_str().map(str::to_string))
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
