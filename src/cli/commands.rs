//! One function per command. Each loads what it needs, runs the engine, and renders.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::{Command, GraphFormat, Ui, VarArgs, engine, print_out, println_out, state_cmds};
use crate::diag::{self, Diagnostic, Diagnostics, Sources, Span};
use crate::environment::Environment;
use crate::graph::walk::{DagNode, DirectDeps, UnknownComputed, WalkOutput};

// Long because it is one `match` over every command, each arm only handing the parsed
// arguments to the function that runs that command.
pub fn run(command: Command, raw_args: &[OsString], ui: &Ui) -> i32 {
    match command {
        Command::Validate { dir, json, vars } => {
            validate(&dir_or_cwd(dir), json, &vars, raw_args, ui)
        }
        Command::Fmt { dir, check } => fmt(&dir_or_cwd(dir), check, ui),
        Command::Graph { dir, format, vars } => {
            graph(&dir_or_cwd(dir), format, &vars, raw_args, ui)
        }
        Command::Plan { dir, vars, plan, destroy, json, out, detailed_exitcode, state } => {
            engine::plan_cmd(
                &dir_or_cwd(dir),
                &vars,
                raw_args,
                &plan,
                destroy,
                json,
                out.as_deref(),
                detailed_exitcode,
                &state,
                ui,
            )
        }
        Command::Apply { path, vars, plan, auto_approve, parallelism, state } => engine::apply_cmd(
            engine::ApplyArgs {
                target: path.as_deref(),
                vars: &vars,
                plan_args: &plan,
                destroy: false,
                auto_approve,
                parallelism,
                state: &state,
            },
            raw_args,
            ui,
        ),
        Command::Destroy { dir, vars, target, auto_approve, parallelism, state } => {
            let plan = super::PlanArgs { refresh: true, target, ..Default::default() };
            engine::apply_cmd(
                engine::ApplyArgs {
                    target: dir.as_deref(),
                    vars: &vars,
                    plan_args: &plan,
                    destroy: true,
                    auto_approve,
                    parallelism,
                    state: &state,
                },
                raw_args,
                ui,
            )
        }
        Command::Show { path, json, state } => {
            state_cmds::show_cmd(&dir_or_cwd(path), json, &state, ui)
        }
        Command::Output { name, dir, json, state } => {
            state_cmds::output_cmd(&dir, name.as_deref(), json, &state)
        }
        Command::State(cmd) => state_cmds::state_cmd(cmd, raw_args, ui),
        Command::Dr(super::DrCommand::Rebuild(a)) => super::dr_rebuild::run(&a, raw_args, ui),
        Command::Console { dir, json, vars, state } => super::console::console_cmd(
            &dir_or_cwd(dir),
            json,
            &vars.in_order(raw_args),
            &state,
            ui,
        ),
        Command::Import { address, id, dir, state } => {
            state_cmds::import_cmd(&dir, &address, &id, &state, ui)
        }
        Command::ForceUnlock { id, dir, state } => state_cmds::force_unlock_cmd(&dir, &id, &state),
        Command::Kubeconfig { dir, output, state } => {
            state_cmds::kubeconfig_cmd(&dir_or_cwd(dir), output.as_deref(), &state)
        }
        Command::Watch(args) => super::watch::watch_cmd(*args),
        Command::Etcd(cmd) => super::etcd::etcd_cmd(cmd),
        Command::Dr(super::DrCommand::Drill(args)) => super::dr_drill::drill_cmd(*args),
        Command::Approve { id, plans_dir, list } => {
            super::watch::approve_cmd(id.as_deref().unwrap_or(""), plans_dir, list)
        }
    }
}

fn dir_or_cwd(dir: Option<PathBuf>) -> PathBuf {
    dir.unwrap_or_else(|| PathBuf::from("."))
}

/// Loads an environment and walks it with unknown computed values: what validate and graph see.
fn load_and_walk(
    dir: &Path,
    vars: &VarArgs,
    raw_args: &[OsString],
) -> (Environment, Option<WalkOutput>, Diagnostics) {
    let env =
        Environment::load(dir, &vars.in_order(raw_args), crate::providers::builtin_registry());
    let mut diags = env.diagnostics.clone();
    if env.graph.graph.node_count() == 0 && diags.has_errors() {
        return (env, None, diags);
    }
    // Walk even when the static graph found errors, so every error of the run is shown; the
    // walk repeats some of them (an undeclared name fails again when evaluated), hence dedup.
    let out = env.walk(&UnknownComputed);
    diags.extend(out.diagnostics.clone());
    diags.dedup();
    (env, Some(out), diags)
}

fn validate(dir: &Path, json: bool, vars: &VarArgs, raw_args: &[OsString], ui: &Ui) -> i32 {
    let (env, out, mut diags) = load_and_walk(dir, vars, raw_args);
    // The backend block is checked too (its keys are not: validate needs no secrets, so the
    // encryption block's key sources are only read when state is).
    if let Err(d) =
        crate::backend::settings::backend_spec(env.config.root().settings.backend.as_ref())
    {
        diags.extend(d);
    }
    let valid = !diags.has_errors();
    if json {
        let doc = serde_json::json!({
            "format_version": "1.0",
            "valid": valid,
            "error_count": diags.error_count(),
            "warning_count": diags.0.len() - diags.error_count(),
            "diagnostics": diags.iter().map(|d| diag::to_json(d, &env.sources)).collect::<Vec<_>>(),
        });
        println_out(&serde_json::to_string_pretty(&doc).unwrap_or_default());
    } else {
        ui.diagnostics(&diags, &env.sources);
        if valid {
            println_out("Success! The configuration is valid.");
        } else {
            eprintln!(
                "{} error{} found.",
                diags.error_count(),
                if diags.error_count() == 1 { "" } else { "s" }
            );
        }
    }
    // The process exits next: freeing the whole configuration one piece at a time is wasted work.
    std::mem::forget(out);
    std::mem::forget(env);
    if valid { 0 } else { 1 }
}

/// Exit code of `fmt --check` when a file is not formatted (as `terraform fmt -check`).
const FMT_CHECK_FAILED: i32 = 3;

fn fmt(target: &Path, check: bool, ui: &Ui) -> i32 {
    let files = if target.is_file() {
        vec![target.to_path_buf()]
    } else {
        let mut files = Vec::new();
        if let Err(e) = collect_hcl(target, &mut files) {
            eprintln!("error: cannot read {}: {e}", target.display());
            return 1;
        }
        files.sort();
        files
    };
    let mut sources = Sources::default();
    let mut diags = Diagnostics::default();
    let mut unformatted = Vec::new();
    for file in &files {
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => {
                diags.push(Diagnostic::error(format!("cannot read {}: {e}", file.display())));
                continue;
            }
        };
        match crate::fmt::format_source(&text) {
            Ok(formatted) if formatted == text => {}
            Ok(formatted) => {
                unformatted.push(file.clone());
                if !check && let Err(e) = write_atomically(file, &formatted) {
                    diags.push(Diagnostic::error(format!("cannot write {}: {e}", file.display())));
                }
            }
            Err(e) => {
                let id = sources.add(file, text);
                diags.push(
                    Diagnostic::error(format!("cannot format: {}", e.message))
                        .at(Span::new(id, e.offset..e.offset))
                        .hint(
                            "fix the syntax error first; fmt never rewrites a file it cannot parse",
                        ),
                );
            }
        }
    }
    for f in &unformatted {
        println_out(&f.display().to_string());
    }
    ui.diagnostics(&diags, &sources);
    if diags.has_errors() {
        1
    } else if check && !unformatted.is_empty() {
        FMT_CHECK_FAILED
    } else {
        0
    }
}

fn collect_hcl(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with('.') || name == "target" {
            continue;
        }
        if path.is_dir() {
            collect_hcl(&path, out)?;
        } else if name.ends_with(".hcl") {
            out.push(path);
        }
    }
    Ok(())
}

/// Replaces a file's content through a temporary file and rename, so a crash never leaves it
/// half-written.
pub fn write_atomically(path: &Path, content: &str) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(content.as_bytes())?;
    f.sync_all()?;
    if let Ok(meta) = std::fs::metadata(path) {
        let _ = std::fs::set_permissions(&tmp, meta.permissions());
    }
    std::fs::rename(&tmp, path)
}

fn graph(dir: &Path, format: GraphFormat, vars: &VarArgs, raw_args: &[OsString], ui: &Ui) -> i32 {
    let (env, out, diags) = load_and_walk(dir, vars, raw_args);
    if diags.has_errors() {
        ui.diagnostics(&diags, &env.sources);
        return 1;
    }
    ui.diagnostics(&diags, &env.sources);
    let Some(out) = out else { return 1 };
    let direct = out.direct_deps();
    match format {
        GraphFormat::Dot => print_out(&graph_dot(&out, &direct)),
        GraphFormat::Json => write_graph_json(&out, &direct),
    }
    // The process exits next: freeing 10,000 instances one by one would only cost time.
    std::mem::forget(out);
    std::mem::forget(env);
    0
}

/// The graph in Graphviz's language: arrows read "depends on"; a barrier (every instance of a
/// resource) is a dashed ellipse.
fn graph_dot(out: &WalkOutput, direct: &DirectDeps) -> String {
    let dag = out.dag_of(direct);
    let mut s = String::from(
        "digraph slipway {\n  rankdir = \"RL\";\n  node [shape = box, fontname = \"monospace\"];\n",
    );
    let labels: Vec<String> =
        dag.node_indices().map(|n| dot_id(&out.node_addr(dag[n]).to_string())).collect();
    for n in dag.node_indices() {
        match dag[n] {
            DagNode::Instance(_) => s.push_str(&format!("  {};\n", labels[n.index()])),
            // A barrier: every instance of a resource, as one node.
            DagNode::Barrier(_) => {
                s.push_str(&format!("  {} [shape = ellipse, style = dashed];\n", labels[n.index()]))
            }
        }
    }
    for e in dag.edge_indices() {
        if let Some((from, to)) = dag.edge_endpoints(e) {
            // Arrows read "depends on", as in `terraform graph`.
            s.push_str(&format!("  {} -> {};\n", labels[to.index()], labels[from.index()]));
        }
    }
    s.push_str("}\n");
    s
}

/// The graph as JSON on stdout: one node per instance (and per barrier) with what it depends on.
fn write_graph_json(out: &WalkOutput, direct: &DirectDeps) {
    let dag = out.dag_of(direct);
    // Serialized straight from borrowed structs: building a serde_json::Value tree first
    // cost a fifth of `graph` at 10,000 instances (see BENCHMARKS.md).
    #[derive(serde::Serialize)]
    struct Node<'a> {
        address: String,
        module: String,
        mode: crate::addr::ResourceMode,
        #[serde(rename = "type")]
        rtype: &'a str,
        name: &'a str,
        depends_on: Vec<String>,
        /// Only on barrier nodes: the node stands for every instance of the resource
        /// and is done when they are (its `depends_on`).
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        barrier: bool,
    }
    #[derive(serde::Serialize)]
    struct Doc<'a> {
        format_version: &'static str,
        nodes: Vec<Node<'a>>,
        edge_count: usize,
    }
    let mut nodes: Vec<Node> = out
        .instances
        .values()
        .zip(&direct.per_instance)
        .map(|(i, targets)| Node {
            address: i.addr.to_string(),
            module: i.addr.resource.module.to_string(),
            mode: i.addr.resource.mode,
            rtype: &i.addr.resource.rtype,
            name: &i.addr.resource.name,
            depends_on: targets.iter().map(|&t| out.target_addr(t).to_string()).collect(),
            barrier: false,
        })
        .collect();
    for &r in &direct.barriers {
        let (addr, members) = out.resources.get_index(r).expect("resource index");
        nodes.push(Node {
            address: addr.to_string(),
            module: addr.module.to_string(),
            mode: addr.mode,
            rtype: &addr.rtype,
            name: &addr.name,
            depends_on: members
                .iter()
                .map(|&i| out.instances[i as usize].addr.to_string())
                .collect(),
            barrier: true,
        });
    }
    let doc = Doc { format_version: "1.0", nodes, edge_count: dag.edge_count() };
    let mut w = std::io::BufWriter::new(std::io::stdout().lock());
    let _ = serde_json::to_writer_pretty(&mut w, &doc);
    let _ = std::io::Write::write_all(&mut w, b"\n");
}

fn dot_id(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}
