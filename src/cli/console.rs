//! `slipway console`: evaluates expressions over an environment, like `terraform console`.
//!
//! The scope is the root module: `var.*` (defaults, `SLIPWAY_VAR_*`, var files, `-var`, each
//! converted to its declared type), `local.*` (evaluated on demand, each at most once),
//! resources and data sources from state (`aws_instance.web`, `tls_private_key.ca.public_key_pem`),
//! `path.*` and `slipway.environment`, and every built-in function.
//!
//! Input is read line by line; an expression may span lines (an open bracket or heredoc reads
//! on). On a terminal each result is printed as HCL after a `> ` prompt; otherwise (a pipe)
//! results are printed one per expression, and `--json` prints one JSON object per expression —
//! `{"value":…,"type":…}` (the type in `terraform output -json`'s notation) or
//! `{"error":…}` — which is what the Terraform differential test reads.
//!
//! **Invariants:** the console never writes state and never takes the lock; a failing
//! expression is reported (file `<console>`, line and column) and the console goes on — the
//! exit code is 1 if any expression failed; a sensitive value is never printed.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use super::{StateArgs, Ui, println_out, state_cmds};
use crate::addr::{InstanceKey, ResourceMode};
use crate::config::vars::{CliVar, RawValue};
use crate::diag::{Diagnostic, Diagnostics, Sources, Span};
use crate::environment::Environment;
use crate::eval::expr::{Evaluator, RefRoot, Resolver};
use crate::eval::types::{Shape, ShapeScope, shape_of, type_json};
use crate::graph::ModuleShapes;
use crate::state::State;
use crate::value::{Value, render_hcl};

pub fn console_cmd(
    dir: &Path,
    json: bool,
    cli_vars: &[CliVar],
    state_args: &StateArgs,
    ui: &Ui,
) -> i32 {
    let (mut env, state) = match state_cmds::read_state_with_vars(dir, cli_vars, state_args) {
        Ok(x) => x,
        Err(code) => return code,
    };
    if env.diagnostics.has_errors() {
        ui.diagnostics(&env.diagnostics, &env.sources);
        return 1;
    }
    // Files loaded and expressions typed share one source table, so any diagnostic can point.
    let sources = std::mem::take(&mut env.sources);
    let mut console = Console::new(&env, state.as_ref(), sources);
    let stdin = std::io::stdin();
    let interactive = stdin.is_terminal();
    let mut failed = false;
    let mut buf = String::new();
    let mut first_line = 1usize;
    let mut line_no = 0usize;
    let prompt = |cont: bool| {
        if interactive {
            let mut err = std::io::stderr();
            let _ = err.write_all(if cont { b". " } else { b"> " });
            let _ = err.flush();
        }
    };
    prompt(false);
    let mut lines = stdin.lock().lines();
    loop {
        let line = match lines.next() {
            Some(Ok(l)) => Some(l),
            Some(Err(e)) => {
                eprintln!("error: reading standard input: {e}");
                return 1;
            }
            None => None,
        };
        let eof = line.is_none();
        // A blank line ends an expression that is still incomplete (it is then reported), unless
        // a heredoc is open: so one mistake cannot swallow the expressions after it.
        let blank_ends = line.as_deref().is_some_and(|l| l.trim().is_empty())
            && !buf.is_empty()
            && !crate::config::heredoc::ends_in_open_heredoc(&buf);
        if let Some(l) = &line {
            line_no += 1;
            if buf.is_empty() {
                let t = l.trim();
                if t.is_empty() {
                    prompt(false);
                    continue;
                }
                if t == "exit" {
                    break;
                }
                first_line = line_no;
            }
            buf.push_str(l);
            buf.push('\n');
        }
        if buf.is_empty() {
            break;
        }
        match console.eval_text(&buf, first_line, !eof && !blank_ends) {
            Step::NeedMore => {
                prompt(true);
                continue;
            }
            Step::Done(result) => {
                failed |= result.is_err();
                console.print(result, json, ui);
                buf.clear();
            }
        }
        if eof {
            break;
        }
        prompt(false);
    }
    i32::from(failed)
}

enum Step {
    NeedMore,
    Done(Result<(Value, Shape), Diagnostics>),
}

/// An evaluation scope over one loaded environment and its state.
pub struct Console<'a> {
    env: &'a Environment,
    state: Option<&'a State>,
    sources: RefCell<Sources>,
    locals: RefCell<HashMap<String, Value>>,
    in_progress: RefCell<HashSet<String>>,
}

impl<'a> Console<'a> {
    pub fn new(env: &'a Environment, state: Option<&'a State>, sources: Sources) -> Console<'a> {
        Console {
            env,
            state,
            sources: RefCell::new(sources),
            locals: RefCell::new(HashMap::new()),
            in_progress: RefCell::new(HashSet::new()),
        }
    }

    /// Parses and evaluates one expression's text; `more` says whether more input may follow
    /// (an expression cut short at the end of the text then waits for it).
    fn eval_text(&mut self, text: &str, first_line: usize, more: bool) -> Step {
        // hcl-edit's expression parser refuses trailing line breaks; trimming the end moves no
        // offset, so spans still point into `text`.
        let parsed = crate::config::heredoc::neutralize_empty_heredocs(text.trim_end())
            .trim_end()
            .to_string();
        // The file name carries the line the expression started on, so every location in a
        // diagnostic is one the user can find in what they typed.
        let name = format!("<console:{first_line}>");
        match hcl::edit::parser::parse_expr(&parsed) {
            Ok(expr) => {
                let id = self.sources.borrow_mut().add(Path::new(&name), text);
                let mut ev = Evaluator::new(self, id);
                Step::Done(match ev.eval(&expr) {
                    Ok(v) => Ok((v, shape_of(&expr, self, 0))),
                    Err(d) => Err(one(d)),
                })
            }
            Err(e) => {
                let offset = e.location().offset();
                // Cut short (the error is at its very end, or a heredoc is still open): read on.
                let open = crate::config::heredoc::ends_in_open_heredoc(text);
                if more && (open || offset + 1 >= parsed.len()) {
                    return Step::NeedMore;
                }
                let id = self.sources.borrow_mut().add(Path::new(&name), text);
                let at = crate::diag::char_boundary_at_or_after(text, offset);
                let end = text[at..].chars().next().map_or(at, |c| at + c.len_utf8());
                Step::Done(Err(one(Diagnostic::error(format!("syntax error: {}", e.message()))
                    .at(Span::new(id, at..end)))))
            }
        }
    }

    fn print(&self, result: Result<(Value, Shape), Diagnostics>, json: bool, ui: &Ui) {
        match result {
            Ok((v, shape)) => {
                if json {
                    // Written by hand so numbers keep all their digits (serde_json holds f64s).
                    let sensitive = v.contains_sensitive();
                    let mut value = String::new();
                    if sensitive {
                        value.push_str("null");
                    } else {
                        crate::eval::functions::json_text(&v, &mut value);
                    }
                    println_out(&format!(
                        "{{\"value\":{value},\"type\":{},\"sensitive\":{sensitive}}}",
                        type_json(&v, &shape)
                    ));
                } else if v.is_sensitive() {
                    println_out("(sensitive value)");
                } else {
                    println_out(&render_hcl(&v));
                }
            }
            Err(diags) => {
                let sources = self.sources.borrow();
                if json {
                    let msgs: Vec<String> = diags
                        .iter()
                        .map(|d| match &d.span {
                            Some(s) => format!("{}: {}", sources.location(s), d.summary),
                            None => d.summary.clone(),
                        })
                        .collect();
                    println_out(&serde_json::json!({ "error": msgs.join("; ") }).to_string());
                }
                ui.diagnostics(&diags, &sources);
            }
        }
    }

    fn variable(&self, name: &str, span: &Span) -> Result<Value, Diagnostic> {
        let root = self.env.config.root();
        let Some(decl) = root.variables.get(name) else {
            return Err(Diagnostic::error(format!("no variable named \"{name}\"")).at(span.clone()));
        };
        let raw = match self.env.root_vars.get(name) {
            Some(input) => match &input.value {
                RawValue::Text { text, .. } if decl.ty == crate::value::Type::String => {
                    Value::String(text.clone())
                }
                RawValue::Text { text, span } => {
                    let expr = hcl::edit::parser::parse_expr(text).map_err(|e| {
                        Diagnostic::error(format!("invalid value for var.{name}: {}", e.message()))
                            .at(span.clone())
                    })?;
                    Evaluator::new(self, span.file).eval(&expr)?
                }
                RawValue::Expr(e) => Evaluator::new(self, e.file).eval(&e.expr)?,
            },
            None => match &decl.default {
                Some(e) => Evaluator::new(self, e.file).eval(&e.expr)?,
                None => {
                    return Err(Diagnostic::error(format!("var.{name} has no value"))
                        .at(span.clone())
                        .hint("give it with -var, a var file or SLIPWAY_VAR_<name>"));
                }
            },
        };
        let v = crate::eval::convert::convert(raw, &decl.ty).map_err(|e| {
            Diagnostic::error(format!("invalid value for var.{name}: {e}")).at(span.clone())
        })?;
        Ok(v.mark_if(decl.sensitive))
    }

    fn local(&self, name: &str, span: &Span) -> Result<Value, Diagnostic> {
        if let Some(v) = self.locals.borrow().get(name) {
            return Ok(v.clone());
        }
        let Some(decl) = self.env.config.root().locals.get(name) else {
            return Err(Diagnostic::error(format!("no local named \"{name}\"")).at(span.clone()));
        };
        if !self.in_progress.borrow_mut().insert(name.to_string()) {
            return Err(
                Diagnostic::error(format!("local.{name} refers to itself")).at(span.clone())
            );
        }
        let r = Evaluator::new(self, decl.expr.file).eval(&decl.expr.expr);
        self.in_progress.borrow_mut().remove(name);
        let v = r?;
        self.locals.borrow_mut().insert(name.to_string(), v.clone());
        Ok(v)
    }

    fn resource(
        &self,
        mode: ResourceMode,
        rtype: &str,
        name: &str,
        span: &Span,
    ) -> Result<Value, Diagnostic> {
        let mut single = None;
        let mut list: BTreeMap<u64, Value> = BTreeMap::new();
        let mut map: BTreeMap<String, Value> = BTreeMap::new();
        for (addr, rs) in self.state.iter().flat_map(|s| s.resources.iter()) {
            let r = &addr.resource;
            if !r.module.0.is_empty() || r.mode != mode || r.rtype != rtype || r.name != name {
                continue;
            }
            let v = Value::from_json(&rs.attributes).with_sensitive_paths(&rs.sensitive_paths);
            match &addr.key {
                InstanceKey::None => single = Some(v),
                InstanceKey::Int(i) => {
                    list.insert(*i, v);
                }
                InstanceKey::Str(k) => {
                    map.insert(k.clone(), v);
                }
            }
        }
        if let Some(v) = single {
            return Ok(v);
        }
        if !list.is_empty() {
            return Ok(Value::List(list.into_values().collect()));
        }
        if !map.is_empty() {
            return Ok(Value::Map(map));
        }
        let declared = self
            .env
            .config
            .root()
            .resources
            .values()
            .any(|r| r.mode == mode && r.rtype == rtype && r.name == name);
        let what = if mode == ResourceMode::Data {
            format!("data.{rtype}.{name}")
        } else {
            format!("{rtype}.{name}")
        };
        Err(if declared {
            Diagnostic::error(format!("{what} is not in state"))
                .at(span.clone())
                .hint("apply first: the console reads resources from state")
        } else {
            Diagnostic::error(format!("no resource named {what}")).at(span.clone())
        })
    }
}

fn one(d: Diagnostic) -> Diagnostics {
    let mut ds = Diagnostics::default();
    ds.push(d);
    ds
}

impl Resolver for Console<'_> {
    fn resolve(
        &self,
        root: &RefRoot,
        _next: Option<&Value>,
        span: &Span,
    ) -> Result<Value, Diagnostic> {
        match root {
            RefRoot::Var(n) => self.variable(n, span),
            RefRoot::Local(n) => self.local(n, span),
            RefRoot::Resource { mode, rtype, name } => self.resource(*mode, rtype, name, span),
            RefRoot::Path(a) => match a.as_str() {
                "module" | "root" => Ok(Value::string(self.env.dir.display().to_string())),
                "cwd" => Ok(Value::string(
                    std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_default(),
                )),
                other => Err(Diagnostic::error(format!("no attribute path.{other}")).at(span.clone())),
            },
            RefRoot::Slipway(a) if a == "environment" => Ok(Value::string(self.env.name.clone())),
            other => Err(Diagnostic::error(format!("{other} is not available in the console"))
                .at(span.clone())
                .hint("the console evaluates in the root module: var, local, resources from state, path")),
        }
    }

    fn base_dir(&self) -> &Path {
        &self.env.dir
    }

    fn shape_of_local(&self, name: &str, depth: usize) -> Shape {
        ShapeScope::local(self, name, depth)
    }

    fn shape_of_variable(&self, name: &str) -> Shape {
        ShapeScope::variable(self, name)
    }
}

impl ShapeScope for Console<'_> {
    fn local(&self, name: &str, depth: usize) -> Shape {
        ModuleShapes(self.env.config.root()).local(name, depth)
    }

    fn variable(&self, name: &str) -> Shape {
        ModuleShapes(self.env.config.root()).variable(name)
    }
}
