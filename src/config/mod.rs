//! Configuration in source form: the blocks of an environment and the modules it calls.
//!
//! [`load`] reads every `*.hcl` file of a root directory (an environment), then, recursively, the
//! local modules its `module` blocks call, and returns a [`Config`]: a flat list of static
//! [`Module`]s (index = [`ModuleId`], the root is 0) holding unevaluated expressions with spans.
//!
//! **Architecture invariants:**
//! - `config` knows nothing about providers, AWS or state: it checks the *language* (which blocks
//!   and meta-arguments exist, duplicates, module sources), never the meaning of a resource.
//! - Loading never stops at the first error: it returns whatever it could load plus every
//!   diagnostic, each with file:line:column.
//! - Files named `*.vars.hcl` are variable-value files, not configuration (see [`vars`]).

pub mod heredoc;
pub mod source;
pub mod vars;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hcl::edit::Span as _;
use hcl::edit::expr::{Expression, TraversalOperator};
use hcl::edit::structure::{Block, BlockLabel, Body as HclBody, Structure};
use indexmap::IndexMap;

use crate::addr::ResourceMode;
use crate::diag::{Diagnostic, Diagnostics, FileId, Sources, Span, closest};
use crate::value::Type;

/// An expression and the file it came from.
#[derive(Clone, Debug)]
pub struct Expr {
    pub file: FileId,
    pub expr: Expression,
}

impl Expr {
    pub fn span(&self) -> Option<Span> {
        self.expr.span().map(|r| Span::new(self.file, r))
    }
}

/// A body of attributes and nested blocks (resource bodies, provider blocks, module arguments).
#[derive(Clone, Debug, Default)]
pub struct Body {
    pub attrs: IndexMap<String, Attr>,
    pub blocks: Vec<NestedBlock>,
}

#[derive(Clone, Debug)]
pub struct Attr {
    pub name: String,
    pub name_span: Span,
    pub expr: Expr,
}

#[derive(Clone, Debug)]
pub struct NestedBlock {
    pub kind: String,
    pub labels: Vec<String>,
    pub body: Body,
    pub span: Span,
}

/// Index of a static module in [`Config::modules`].
pub type ModuleId = usize;

#[derive(Clone, Debug)]
pub struct Variable {
    pub name: String,
    pub ty: Type,
    pub default: Option<Expr>,
    pub description: Option<String>,
    pub sensitive: bool,
    pub nullable: bool,
    pub validations: Vec<Validation>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Validation {
    pub condition: Expr,
    pub error_message: Expr,
}

#[derive(Clone, Debug)]
pub struct Local {
    pub name: String,
    pub expr: Expr,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Output {
    pub name: String,
    pub expr: Expr,
    pub description: Option<String>,
    pub sensitive: bool,
    pub depends_on: Vec<Expr>,
    pub span: Span,
}

/// Expansion of a resource or module call.
#[derive(Clone, Debug)]
pub enum Repetition {
    Single,
    Count(Expr),
    ForEach(Expr),
}

#[derive(Clone, Debug)]
pub struct ModuleCall {
    pub name: String,
    pub source: String,
    pub source_span: Span,
    /// Input variables of the child module.
    pub args: IndexMap<String, Attr>,
    pub repetition: Repetition,
    pub depends_on: Vec<Expr>,
    /// The called module (None when it failed to load).
    pub child: Option<ModuleId>,
    pub span: Span,
}

#[derive(Clone, Debug, Default)]
pub struct Lifecycle {
    pub create_before_destroy: bool,
    pub prevent_destroy: bool,
    /// Attribute names whose drift or change is ignored; `ignore_all` for `ignore_changes = all`.
    pub ignore_changes: Vec<String>,
    pub ignore_all: bool,
}

#[derive(Clone, Debug)]
pub struct Resource {
    pub mode: ResourceMode,
    pub rtype: String,
    pub name: String,
    /// The body without meta-arguments.
    pub body: Body,
    pub repetition: Repetition,
    pub depends_on: Vec<Expr>,
    pub provider: Option<String>,
    pub lifecycle: Lifecycle,
    pub span: Span,
}

impl Resource {
    /// `type.name` or `data.type.name`.
    pub fn local_name(&self) -> String {
        match self.mode {
            ResourceMode::Managed => format!("{}.{}", self.rtype, self.name),
            ResourceMode::Data => format!("data.{}.{}", self.rtype, self.name),
        }
    }
}

#[derive(Clone, Debug)]
pub struct ProviderBlock {
    pub name: String,
    pub alias: Option<String>,
    pub body: Body,
    pub span: Span,
}

/// `moved { from = …, to = … }`: a rename that state follows instead of destroy + create.
#[derive(Clone, Debug)]
pub struct Moved {
    pub from: String,
    pub to: String,
    pub span: Span,
}

/// The `slipway { … }` block of the root module.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    pub required_version: Option<(String, Span)>,
    pub backend: Option<BackendBlock>,
    /// `encryption { … }`: state encryption at rest (read by `backend::settings`).
    pub encryption: Option<EncryptionBlock>,
}

#[derive(Clone, Debug)]
pub struct EncryptionBlock {
    pub body: Body,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct BackendBlock {
    pub kind: String,
    pub body: Body,
    pub span: Span,
}

/// One static module: a directory of `*.hcl` files.
#[derive(Clone, Debug, Default)]
pub struct Module {
    /// Call names from the root (empty for the root module).
    pub path: Vec<String>,
    pub dir: PathBuf,
    pub variables: IndexMap<String, Variable>,
    pub locals: IndexMap<String, Local>,
    pub outputs: IndexMap<String, Output>,
    pub module_calls: IndexMap<String, ModuleCall>,
    /// Keyed by [`Resource::local_name`].
    pub resources: IndexMap<String, Resource>,
    pub providers: Vec<ProviderBlock>,
    pub moved: Vec<Moved>,
    pub settings: Settings,
}

/// Every module of an environment, the root first.
#[derive(Clone, Debug, Default)]
pub struct Config {
    pub modules: Vec<Module>,
    /// Git module sources and the commit each resolved to (also in the lock file).
    pub git_sources: BTreeMap<String, String>,
}

impl Config {
    pub fn root(&self) -> &Module {
        &self.modules[0]
    }

    /// The module a call in `module` leads to.
    pub fn child(&self, module: ModuleId, call: &str) -> Option<ModuleId> {
        self.modules[module].module_calls.get(call)?.child
    }

    /// `module` and every module it calls, directly or not.
    pub fn subtree(&self, module: ModuleId) -> Vec<ModuleId> {
        let mut out = vec![module];
        let mut i = 0;
        while i < out.len() {
            let m = out[i];
            out.extend(
                self.modules[m]
                    .module_calls
                    .values()
                    .filter_map(|c| c.child),
            );
            i += 1;
        }
        out
    }
}

/// Nesting limit for module calls: deeper trees are almost certainly a mistake, and the limit
/// keeps hostile input from exhausting the stack.
const MAX_MODULE_DEPTH: usize = 32;

/// Loads an environment directory and the modules it calls.
pub fn load(root: &Path, sources: &mut Sources) -> (Config, Diagnostics) {
    let root_dir = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let mut loader = Loader {
        sources,
        diags: Diagnostics::default(),
        config: Config::default(),
        root_dir: root_dir.clone(),
        lock: None,
    };
    if !root_dir.is_dir() {
        loader.diags.push(
            Diagnostic::error(format!("{} is not a directory", root.display()))
                .hint("pass an environment directory, e.g. `environments/dev`"),
        );
        loader.config.modules.push(Module::default());
        return (loader.config, loader.diags);
    }
    loader.load_module(&root_dir, Vec::new(), &mut vec![root_dir.clone()]);
    loader.write_lock();
    if loader.config.modules[0].variables.is_empty()
        && loader.config.modules[0].resources.is_empty()
        && loader.config.modules[0].module_calls.is_empty()
        && !loader.diags.has_errors()
        && hcl_files(&root_dir).map(|f| f.is_empty()).unwrap_or(true)
    {
        loader.diags.push(
            Diagnostic::error(format!("no *.hcl files in {}", root.display()))
                .hint("an environment is a directory of .hcl files; see environments/dev"),
        );
    }
    (loader.config, loader.diags)
}

/// Sorted `*.hcl` files of a directory, without variable files.
pub fn hcl_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            p.is_file()
                && name.ends_with(".hcl")
                && !name.ends_with(".vars.hcl")
                && !name.starts_with('.')
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Reads and parses one HCL file into the source map. Errors become diagnostics.
pub fn parse_file(
    path: &Path,
    sources: &mut Sources,
    diags: &mut Diagnostics,
) -> Option<(FileId, HclBody)> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            diags.push(Diagnostic::error(format!(
                "cannot read {}: {e}",
                path.display()
            )));
            return None;
        }
    };
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let valid = e.utf8_error().valid_up_to();
            let lossy = String::from_utf8_lossy(e.as_bytes()).into_owned();
            let id = sources.add(path, lossy);
            diags.push(
                Diagnostic::error("file is not valid UTF-8")
                    .at(Span::new(id, valid..valid + 1))
                    .hint("HCL files must be UTF-8 encoded; re-save the file as UTF-8"),
            );
            return None;
        }
    };
    // A UTF-8 byte order mark (as some Windows editors write) is not part of the configuration;
    // left in, it was a baffling "syntax error: unexpected token" at 1:1. Lines and columns
    // stay those an editor shows (it hides the mark), byte offsets count from after it.
    let text = match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_string(),
        None => text,
    };
    let id = sources.add(path, text);
    let text = sources.get(id).text.clone();
    if let Some(at) = crate::eval::too_deep_at(&text, crate::eval::expr::MAX_DEPTH) {
        diags.push(
            Diagnostic::error(format!(
                "brackets nested more than {} deep",
                crate::eval::expr::MAX_DEPTH
            ))
            .at(Span::new(id, at..at + 1))
            .hint("split deeply nested expressions into locals"),
        );
        return None;
    }
    // Empty heredocs are rewritten first: hcl-edit would read on past them (see `heredoc`).
    match hcl::edit::parser::parse_body(&heredoc::neutralize_empty_heredocs(&text)) {
        Ok(body) => Some((id, body)),
        Err(e) => {
            let offset = crate::diag::char_boundary_at_or_after(&text, e.location().offset());
            let end = text[offset..]
                .chars()
                .next()
                .map(|c| offset + c.len_utf8())
                .unwrap_or(offset);
            diags.push(
                Diagnostic::error(format!("syntax error: {}", e.message()))
                    .at(Span::new(id, offset..end))
                    .hint("check for a missing `}`, `]`, `\"` or `=` near here"),
            );
            None
        }
    }
}

struct Loader<'a> {
    sources: &'a mut Sources,
    diags: Diagnostics,
    config: Config,
    root_dir: PathBuf,
    /// The lock file of Git sources, read at the first Git source (and whether it changed).
    lock: Option<(source::LockFile, bool)>,
}

fn span_of(file: FileId, s: &impl hcl::edit::Span) -> Span {
    Span::new(file, s.span().unwrap_or(0..0))
}

fn label_str(l: &BlockLabel) -> &str {
    match l {
        BlockLabel::Ident(i) => i.as_str(),
        BlockLabel::String(s) => s.as_str(),
    }
}

const TOP_LEVEL_BLOCKS: &[&str] = &[
    "slipway", "provider", "variable", "locals", "output", "module", "resource", "data", "moved",
];

impl Loader<'_> {
    fn err(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    /// Loads a module directory; returns its id. `stack` holds the directories being loaded, to
    /// catch a module that calls itself.
    fn load_module(&mut self, dir: &Path, path: Vec<String>, stack: &mut Vec<PathBuf>) -> ModuleId {
        let id = self.config.modules.len();
        self.config.modules.push(Module {
            path: path.clone(),
            dir: dir.to_path_buf(),
            ..Module::default()
        });
        let files = match hcl_files(dir) {
            Ok(f) => f,
            Err(e) => {
                self.err(Diagnostic::error(format!(
                    "cannot read directory {}: {e}",
                    dir.display()
                )));
                return id;
            }
        };
        let mut module = Module {
            path,
            dir: dir.to_path_buf(),
            ..Module::default()
        };
        for file in files {
            if let Some((fid, body)) = parse_file(&file, self.sources, &mut self.diags) {
                self.read_top_level(fid, &body, &mut module, id == 0);
            }
        }
        // Children are loaded after the whole module is read, so that ids stay stable.
        let calls: Vec<String> = module.module_calls.keys().cloned().collect();
        for name in calls {
            let call = &module.module_calls[&name];
            let (source, source_span, call_span) = (
                call.source.clone(),
                call.source_span.clone(),
                call.span.clone(),
            );
            if let Some(child_dir) = self.resolve_source(dir, &source, &source_span) {
                if stack.contains(&child_dir) {
                    self.err(
                        Diagnostic::error(format!(
                            "module \"{name}\" calls itself (module recursion)"
                        ))
                        .at(source_span)
                        .detail(format!(
                            "{} is already being loaded higher up the call chain",
                            child_dir.display()
                        ))
                        .hint("a module cannot call itself, directly or through other modules"),
                    );
                    continue;
                }
                if stack.len() >= MAX_MODULE_DEPTH {
                    self.err(
                        Diagnostic::error(format!(
                            "modules nested more than {MAX_MODULE_DEPTH} deep"
                        ))
                        .at(call_span),
                    );
                    continue;
                }
                stack.push(child_dir.clone());
                let mut child_path = module.path.clone();
                child_path.push(name.clone());
                let child = self.load_module(&child_dir, child_path, stack);
                stack.pop();
                if let Some(c) = module.module_calls.get_mut(&name) {
                    c.child = Some(child);
                }
            }
        }
        self.check_module_args(&module);
        self.config.modules[id] = module;
        id
    }

    fn check_module_args(&mut self, module: &Module) {
        for call in module.module_calls.values() {
            let Some(child) = call.child else { continue };
            let child = &self.config.modules[child];
            let mut ds = Vec::new();
            for (name, attr) in &call.args {
                if !child.variables.contains_key(name) {
                    let mut d = Diagnostic::error(format!(
                        "module \"{}\" has no variable \"{name}\"",
                        call.name
                    ))
                    .at(attr.name_span.clone());
                    d = match closest(name, child.variables.keys().map(String::as_str)) {
                        Some(c) => d.hint(format!("did you mean `{c}`?")),
                        None => d.hint(format!(
                            "declare `variable \"{name}\" {{}}` in {}",
                            child.dir.display()
                        )),
                    };
                    ds.push(d);
                }
            }
            for (name, v) in &child.variables {
                if v.default.is_none() && !call.args.contains_key(name) {
                    ds.push(
                        Diagnostic::error(format!(
                            "module \"{}\" needs a value for variable \"{name}\"",
                            call.name
                        ))
                        .at(call.span.clone())
                        .hint(format!(
                            "add `{name} = …` to the module block, or give the variable a default"
                        )),
                    );
                }
            }
            for d in ds {
                self.err(d);
            }
        }
    }

    fn resolve_source(&mut self, dir: &Path, source: &str, span: &Span) -> Option<PathBuf> {
        if source.starts_with("./") || source.starts_with("../") {
            let p = dir.join(source);
            match p.canonicalize() {
                Ok(c) if c.is_dir() => Some(c),
                _ => {
                    self.err(
                        Diagnostic::error(format!("module source \"{source}\" not found"))
                            .at(span.clone())
                            .detail(format!("{} is not a directory", p.display()))
                            .hint("local module sources are paths relative to the calling module, starting with ./ or ../"),
                    );
                    None
                }
            }
        } else if source.starts_with("git::") {
            self.resolve_git_source(source, span)
        } else {
            self.err(
                Diagnostic::error(format!("unsupported module source \"{source}\""))
                    .at(span.clone())
                    .hint("use a local path starting with ./ or ../"),
            );
            None
        }
    }

    /// A `git::` source: the module directory in the cache (see [`source`]).
    fn resolve_git_source(&mut self, src: &str, span: &Span) -> Option<PathBuf> {
        if self.lock.is_none() {
            match source::LockFile::read(&self.root_dir) {
                Ok(l) => self.lock = Some((l, false)),
                Err(e) => {
                    self.err(Diagnostic::error(e).hint(format!(
                        "delete {} to resolve every Git source again",
                        source::LOCK_FILE
                    )));
                    return None;
                }
            }
        }
        let (lock, changed) = self.lock.as_mut()?;
        let before = lock.modules.get(src).cloned();
        match source::resolve(src, lock) {
            Ok(r) => {
                *changed |= lock.modules.get(src) != before.as_ref();
                self.config.git_sources.insert(src.to_string(), r.commit);
                r.dir.canonicalize().ok()
            }
            Err(e) => {
                let hint = match &e {
                    crate::git::GitError::UnknownRef { .. } => {
                        "check the tag or branch name (`git ls-remote URL`); a commit id must be reachable from a branch or tag"
                    }
                    crate::git::GitError::Unreachable { .. } => {
                        "is the host reachable? A source already in the lock file and the cache needs no network"
                    }
                    crate::git::GitError::BadUrl { .. } => {
                        "write git::git://host/repo.git//subdir?ref=v1.2.0 (also file://, ssh:// and user@host:repo)"
                    }
                    crate::git::GitError::Local { .. } => {
                        "the module cache may be damaged; remove it (SLIPWAY_MODULE_CACHE or ~/.cache/slipway/modules)"
                    }
                };
                self.err(
                    Diagnostic::error(format!("cannot load module source \"{src}\""))
                        .at(span.clone())
                        .detail(e.to_string())
                        .hint(hint),
                );
                None
            }
        }
    }

    /// Writes the lock file if a Git source resolved to a commit it did not record yet.
    fn write_lock(&mut self) {
        if let Some((lock, true)) = &self.lock
            && let Err(e) = lock.write(&self.root_dir)
        {
            self.diags.push(Diagnostic::error(e));
        }
    }

    fn read_top_level(&mut self, file: FileId, body: &HclBody, module: &mut Module, is_root: bool) {
        for st in body.iter() {
            match st {
                Structure::Attribute(a) => {
                    self.err(
                        Diagnostic::error(format!(
                            "unexpected attribute `{}` at the top level",
                            a.key.as_str()
                        ))
                        .at(span_of(file, a))
                        .hint("top-level attributes belong inside a block, e.g. `locals { … }`"),
                    );
                }
                Structure::Block(b) => self.read_block(file, b, module, is_root),
            }
        }
    }

    fn expect_labels(
        &mut self,
        file: FileId,
        b: &Block,
        n: usize,
        what: &str,
    ) -> Option<Vec<String>> {
        if b.labels.len() != n {
            self.err(
                Diagnostic::error(format!(
                    "a `{}` block takes {n} label{}, found {}",
                    b.ident.as_str(),
                    if n == 1 { "" } else { "s" },
                    b.labels.len()
                ))
                .at(span_of(file, &b.ident))
                .hint(format!("write it as `{} {what} {{ … }}`", b.ident.as_str())),
            );
            return None;
        }
        let labels: Vec<String> = b.labels.iter().map(|l| label_str(l).to_string()).collect();
        for l in &labels {
            if !is_identifier(l) {
                self.err(
                    Diagnostic::error(format!("invalid name \"{l}\""))
                        .at(span_of(file, b))
                        .hint("names start with a letter or underscore and contain letters, digits, `_` and `-`"),
                );
                return None;
            }
        }
        Some(labels)
    }

    fn read_block(&mut self, file: FileId, b: &Block, module: &mut Module, is_root: bool) {
        let span = span_of(file, b);
        let kind = b.ident.as_str();
        match kind {
            "variable" => {
                let Some(l) = self.expect_labels(file, b, 1, "\"name\"") else {
                    return;
                };
                let v = self.read_variable(file, &l[0], b, span.clone());
                if module.variables.contains_key(&l[0]) {
                    self.duplicate("variable", &l[0], span);
                } else {
                    module.variables.insert(l[0].clone(), v);
                }
            }
            "locals" => {
                let body = self.read_body(file, &b.body);
                for nb in &body.blocks {
                    self.err(
                        Diagnostic::error("blocks are not allowed in `locals`").at(nb.span.clone()),
                    );
                }
                for (name, attr) in body.attrs {
                    if module.locals.contains_key(&name) {
                        self.duplicate("local value", &name, attr.name_span.clone());
                        continue;
                    }
                    let span = attr.name_span.clone();
                    module.locals.insert(
                        name.clone(),
                        Local {
                            name,
                            expr: attr.expr,
                            span,
                        },
                    );
                }
            }
            "output" => {
                let Some(l) = self.expect_labels(file, b, 1, "\"name\"") else {
                    return;
                };
                let mut body = self.read_body(file, &b.body);
                self.no_blocks(&body, "output");
                let Some(value) = body.attrs.shift_remove("value") else {
                    self.err(
                        Diagnostic::error(format!("output \"{}\" has no `value`", l[0]))
                            .at(span)
                            .hint("add `value = <expression>`"),
                    );
                    return;
                };
                let description = self.take_literal_string(&mut body, "description");
                let sensitive = self
                    .take_literal_bool(&mut body, "sensitive")
                    .unwrap_or(false);
                let depends_on = self.take_depends_on(&mut body);
                self.no_other_attrs(
                    &body,
                    "output",
                    &["value", "description", "sensitive", "depends_on"],
                );
                if module.outputs.contains_key(&l[0]) {
                    self.duplicate("output", &l[0], span);
                } else {
                    module.outputs.insert(
                        l[0].clone(),
                        Output {
                            name: l[0].clone(),
                            expr: value.expr,
                            description,
                            sensitive,
                            depends_on,
                            span,
                        },
                    );
                }
            }
            "module" => {
                let Some(l) = self.expect_labels(file, b, 1, "\"name\"") else {
                    return;
                };
                let mut body = self.read_body(file, &b.body);
                self.no_blocks(&body, "module");
                let Some(source_attr) = body.attrs.shift_remove("source") else {
                    self.err(
                        Diagnostic::error(format!("module \"{}\" has no `source`", l[0]))
                            .at(span)
                            .hint("add `source = \"../../modules/<name>\"`"),
                    );
                    return;
                };
                let source = match literal_string(&source_attr.expr.expr) {
                    Some(s) => s,
                    None => {
                        self.err(
                            Diagnostic::error("a module source must be a literal string")
                                .at_opt(source_attr.expr.span())
                                .hint("sources are resolved before any expression is evaluated"),
                        );
                        return;
                    }
                };
                let repetition = self.take_repetition(&mut body, span.clone());
                let depends_on = self.take_depends_on(&mut body);
                for meta in ["providers", "version"] {
                    body.attrs.shift_remove(meta);
                }
                if module.module_calls.contains_key(&l[0]) {
                    self.duplicate("module", &l[0], span);
                    return;
                }
                module.module_calls.insert(
                    l[0].clone(),
                    ModuleCall {
                        name: l[0].clone(),
                        source,
                        source_span: source_attr.expr.span().unwrap_or(span.clone()),
                        args: body.attrs,
                        repetition,
                        depends_on,
                        child: None,
                        span,
                    },
                );
            }
            "resource" | "data" => {
                let mode = if kind == "resource" {
                    ResourceMode::Managed
                } else {
                    ResourceMode::Data
                };
                let Some(l) = self.expect_labels(file, b, 2, "\"type\" \"name\"") else {
                    return;
                };
                let r = self.read_resource(file, mode, &l[0], &l[1], b, span.clone());
                let key = r.local_name();
                if module.resources.contains_key(&key) {
                    self.duplicate(kind, &key, span);
                } else {
                    module.resources.insert(key, r);
                }
            }
            "provider" => {
                let Some(l) = self.expect_labels(file, b, 1, "\"name\"") else {
                    return;
                };
                let mut body = self.read_body(file, &b.body);
                let alias = self.take_literal_string(&mut body, "alias");
                module.providers.push(ProviderBlock {
                    name: l[0].clone(),
                    alias,
                    body,
                    span,
                });
            }
            "moved" => {
                let mut body = self.read_body(file, &b.body);
                let from = self.take_address(&mut body, "from", &span);
                let to = self.take_address(&mut body, "to", &span);
                self.no_other_attrs(&body, "moved", &["from", "to"]);
                if let (Some(from), Some(to)) = (from, to) {
                    module.moved.push(Moved { from, to, span });
                }
            }
            "slipway" => {
                if !is_root {
                    self.err(
                        Diagnostic::warning("a `slipway` block in a called module is ignored")
                            .at(span)
                            .hint("settings such as the backend belong to the environment (the root module)"),
                    );
                    return;
                }
                self.read_settings(file, b, &mut module.settings);
            }
            other => {
                let mut d = Diagnostic::error(format!("unknown block type `{other}`"))
                    .at(span_of(file, &b.ident));
                if let Some(c) = closest(other, TOP_LEVEL_BLOCKS.iter().copied()) {
                    d = d.hint(format!("did you mean `{c}`?"));
                } else {
                    d = d.hint(format!(
                        "top-level blocks are: {}",
                        TOP_LEVEL_BLOCKS.join(", ")
                    ));
                }
                self.err(d);
            }
        }
    }

    fn duplicate(&mut self, what: &str, name: &str, span: Span) {
        self.err(
            Diagnostic::error(format!("duplicate {what} \"{name}\""))
                .at(span)
                .hint("each name may be declared once per module; rename or remove one of them"),
        );
    }

    fn read_settings(&mut self, file: FileId, b: &Block, settings: &mut Settings) {
        let mut body = self.read_body(file, &b.body);
        if let Some(attr) = body.attrs.shift_remove("required_version") {
            match literal_string(&attr.expr.expr) {
                Some(s) => {
                    settings.required_version =
                        Some((s, attr.expr.span().unwrap_or(attr.name_span)))
                }
                None => self.err(
                    Diagnostic::error("required_version must be a literal string")
                        .at(attr.name_span),
                ),
            }
        }
        self.no_other_attrs(&body, "slipway", &["required_version"]);
        for nb in std::mem::take(&mut body.blocks) {
            match nb.kind.as_str() {
                "backend" if nb.labels.len() == 1 => {
                    settings.backend = Some(BackendBlock {
                        kind: nb.labels[0].clone(),
                        body: nb.body,
                        span: nb.span,
                    });
                }
                "encryption" if nb.labels.is_empty() => {
                    settings.encryption = Some(EncryptionBlock {
                        body: nb.body,
                        span: nb.span,
                    });
                }
                "backend" => self.err(
                    Diagnostic::error("a backend block takes one label")
                        .at(nb.span)
                        .hint("write `backend \"local\" { … }` or `backend \"s3\" { … }`"),
                ),
                other => self.err(
                    Diagnostic::error(format!("unknown block `{other}` in `slipway`"))
                        .at(nb.span)
                        .hint("the slipway block holds `required_version`, a `backend` block and an `encryption` block"),
                ),
            }
        }
    }

    fn read_variable(&mut self, file: FileId, name: &str, b: &Block, span: Span) -> Variable {
        let mut body = self.read_body(file, &b.body);
        let ty = match body.attrs.shift_remove("type") {
            Some(attr) => match parse_type(&attr.expr.expr, false) {
                Ok((t, _)) => t,
                Err(msg) => {
                    self.err(
                        Diagnostic::error(format!("invalid type constraint: {msg}"))
                            .at_opt(attr.expr.span())
                            .hint("types are string, number, bool, any, list(T), set(T), map(T), tuple([…]), object({…})"),
                    );
                    Type::Any
                }
            },
            None => Type::Any,
        };
        let default = body.attrs.shift_remove("default").map(|a| a.expr);
        let description = self.take_literal_string(&mut body, "description");
        let sensitive = self
            .take_literal_bool(&mut body, "sensitive")
            .unwrap_or(false);
        let nullable = self
            .take_literal_bool(&mut body, "nullable")
            .unwrap_or(true);
        self.no_other_attrs(
            &body,
            "variable",
            &["type", "default", "description", "sensitive", "nullable"],
        );
        let mut validations = Vec::new();
        for nb in body.blocks {
            if nb.kind != "validation" {
                self.err(
                    Diagnostic::error(format!("unknown block `{}` in a variable", nb.kind))
                        .at(nb.span)
                        .hint("a variable may contain `validation { condition = …, error_message = … }` blocks"),
                );
                continue;
            }
            let mut vb = nb.body;
            let condition = vb.attrs.shift_remove("condition");
            let error_message = vb.attrs.shift_remove("error_message");
            match (condition, error_message) {
                (Some(c), Some(m)) => validations.push(Validation {
                    condition: c.expr,
                    error_message: m.expr,
                }),
                _ => self.err(
                    Diagnostic::error("a validation block needs `condition` and `error_message`")
                        .at(nb.span),
                ),
            }
        }
        Variable {
            name: name.to_string(),
            ty,
            default,
            description,
            sensitive,
            nullable,
            validations,
            span,
        }
    }

    fn read_resource(
        &mut self,
        file: FileId,
        mode: ResourceMode,
        rtype: &str,
        name: &str,
        b: &Block,
        span: Span,
    ) -> Resource {
        let mut body = self.read_body(file, &b.body);
        let repetition = self.take_repetition(&mut body, span.clone());
        let depends_on = self.take_depends_on(&mut body);
        let provider = body.attrs.shift_remove("provider").and_then(|a| {
            match traversal_string(&a.expr.expr) {
                Some(p) => Some(p),
                None => {
                    self.err(
                        Diagnostic::error(
                            "`provider` must name a provider, like `aws` or `aws.west`",
                        )
                        .at_opt(a.expr.span()),
                    );
                    None
                }
            }
        });
        let mut lifecycle = Lifecycle::default();
        let mut kept = Vec::new();
        for nb in std::mem::take(&mut body.blocks) {
            match nb.kind.as_str() {
                "lifecycle" if mode == ResourceMode::Managed => self.read_lifecycle(nb, &mut lifecycle),
                "provisioner" | "connection" => self.err(
                    Diagnostic::error(format!("`{}` blocks are not supported", nb.kind))
                        .at(nb.span)
                        .hint("slipway bootstraps nodes with cloud-init user-data; see modules/node-bootstrap"),
                ),
                _ => kept.push(nb),
            }
        }
        body.blocks = kept;
        Resource {
            mode,
            rtype: rtype.to_string(),
            name: name.to_string(),
            body,
            repetition,
            depends_on,
            provider,
            lifecycle,
            span,
        }
    }

    fn read_lifecycle(&mut self, nb: NestedBlock, lc: &mut Lifecycle) {
        let mut body = nb.body;
        lc.create_before_destroy = self
            .take_literal_bool(&mut body, "create_before_destroy")
            .unwrap_or(false);
        lc.prevent_destroy = self
            .take_literal_bool(&mut body, "prevent_destroy")
            .unwrap_or(false);
        if let Some(attr) = body.attrs.shift_remove("ignore_changes") {
            match &attr.expr.expr {
                Expression::Variable(v) if v.as_str() == "all" => lc.ignore_all = true,
                Expression::Array(items) => {
                    for item in items.iter() {
                        match traversal_string(item).or_else(|| literal_string(item)) {
                            Some(s) => lc.ignore_changes.push(s),
                            None => self.err(
                                Diagnostic::error("ignore_changes lists attribute names")
                                    .at_opt(item.span().map(|r| Span::new(attr.expr.file, r)))
                                    .hint("write `ignore_changes = [tags, user_data]` or `ignore_changes = all`"),
                            ),
                        }
                    }
                }
                _ => self.err(
                    Diagnostic::error("ignore_changes must be a list of attribute names or `all`")
                        .at_opt(attr.expr.span()),
                ),
            }
        }
        self.no_other_attrs(
            &body,
            "lifecycle",
            &["create_before_destroy", "prevent_destroy", "ignore_changes"],
        );
        for b in body.blocks {
            self.err(
                Diagnostic::error(format!("unknown block `{}` in lifecycle", b.kind)).at(b.span),
            );
        }
    }

    fn take_repetition(&mut self, body: &mut Body, span: Span) -> Repetition {
        let count = body.attrs.shift_remove("count");
        let for_each = body.attrs.shift_remove("for_each");
        match (count, for_each) {
            (Some(c), Some(_)) => {
                self.err(
                    Diagnostic::error("`count` and `for_each` cannot both be set")
                        .at(c.name_span)
                        .hint("use `for_each` with a map when instances need names, `count` for numbered copies"),
                );
                Repetition::Single
            }
            (Some(c), None) => Repetition::Count(c.expr),
            (None, Some(f)) => Repetition::ForEach(f.expr),
            (None, None) => {
                let _ = span;
                Repetition::Single
            }
        }
    }

    fn take_depends_on(&mut self, body: &mut Body) -> Vec<Expr> {
        let Some(attr) = body.attrs.shift_remove("depends_on") else {
            return Vec::new();
        };
        match &attr.expr.expr {
            Expression::Array(items) => items
                .iter()
                .map(|e| Expr { file: attr.expr.file, expr: e.clone() })
                .filter(|e| {
                    let ok = matches!(e.expr, Expression::Traversal(_));
                    if !ok {
                        self.err(
                            Diagnostic::error("depends_on entries must be references like `aws_vpc.main` or `module.net`")
                                .at_opt(e.span()),
                        );
                    }
                    ok
                })
                .collect(),
            _ => {
                self.err(
                    Diagnostic::error("depends_on must be a list of references")
                        .at_opt(attr.expr.span())
                        .hint("write `depends_on = [aws_vpc.main]`"),
                );
                Vec::new()
            }
        }
    }

    fn take_address(&mut self, body: &mut Body, key: &str, span: &Span) -> Option<String> {
        match body.attrs.shift_remove(key) {
            Some(a) => match traversal_string(&a.expr.expr) {
                Some(s) => Some(s),
                None => {
                    self.err(
                        Diagnostic::error(format!(
                            "`{key}` must be a resource address like aws_instance.web"
                        ))
                        .at_opt(a.expr.span()),
                    );
                    None
                }
            },
            None => {
                self.err(Diagnostic::error(format!("moved block needs `{key}`")).at(span.clone()));
                None
            }
        }
    }

    fn take_literal_string(&mut self, body: &mut Body, key: &str) -> Option<String> {
        let attr = body.attrs.shift_remove(key)?;
        match literal_string(&attr.expr.expr) {
            Some(s) => Some(s),
            None => {
                self.err(
                    Diagnostic::error(format!("`{key}` must be a literal string"))
                        .at_opt(attr.expr.span()),
                );
                None
            }
        }
    }

    fn take_literal_bool(&mut self, body: &mut Body, key: &str) -> Option<bool> {
        let attr = body.attrs.shift_remove(key)?;
        match &attr.expr.expr {
            Expression::Bool(b) => Some(*b.value()),
            _ => {
                self.err(
                    Diagnostic::error(format!("`{key}` must be `true` or `false`"))
                        .at_opt(attr.expr.span())
                        .hint(
                            "this setting is read before evaluation, so it cannot be an expression",
                        ),
                );
                None
            }
        }
    }

    fn no_other_attrs(&mut self, body: &Body, block: &str, allowed: &[&str]) {
        for (name, attr) in &body.attrs {
            let mut d =
                Diagnostic::error(format!("unsupported argument `{name}` in {block} block"))
                    .at(attr.name_span.clone());
            if let Some(c) = closest(name, allowed.iter().copied()) {
                d = d.hint(format!("did you mean `{c}`?"));
            } else {
                d = d.hint(format!("a {block} block takes: {}", allowed.join(", ")));
            }
            self.err(d);
        }
    }

    fn no_blocks(&mut self, body: &Body, block: &str) {
        for nb in &body.blocks {
            self.err(
                Diagnostic::error(format!("unexpected block `{}` in {block} block", nb.kind))
                    .at(nb.span.clone()),
            );
        }
    }

    fn read_body(&mut self, file: FileId, body: &HclBody) -> Body {
        let mut out = Body::default();
        for st in body.iter() {
            match st {
                Structure::Attribute(a) => {
                    let name = a.key.as_str().to_string();
                    let name_span = span_of(file, &a.key);
                    if out.attrs.contains_key(&name) {
                        self.err(
                            Diagnostic::error(format!("attribute `{name}` is set twice"))
                                .at(name_span)
                                .hint("remove one of the two assignments"),
                        );
                        continue;
                    }
                    out.attrs.insert(
                        name.clone(),
                        Attr {
                            name,
                            name_span,
                            expr: Expr {
                                file,
                                expr: a.value.clone(),
                            },
                        },
                    );
                }
                Structure::Block(b) => out.blocks.push(NestedBlock {
                    kind: b.ident.as_str().to_string(),
                    labels: b.labels.iter().map(|l| label_str(l).to_string()).collect(),
                    body: self.read_body(file, &b.body),
                    span: span_of(file, b),
                }),
            }
        }
        out
    }
}

/// Names: a letter or `_`, then letters, digits, `_` and `-`.
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_' || c == '-')
}

/// The value of a string literal without interpolation.
pub fn literal_string(e: &Expression) -> Option<String> {
    match e {
        Expression::String(s) => Some(s.value().clone()),
        Expression::StringTemplate(t) => {
            let mut out = String::new();
            for el in t.iter() {
                out.push_str(el.as_literal()?.value());
            }
            Some(out)
        }
        _ => None,
    }
}

/// `a.b.c` as a string, for meta-arguments that name things (`provider = aws.west`).
pub fn traversal_string(e: &Expression) -> Option<String> {
    match e {
        Expression::Variable(v) => Some(v.as_str().to_string()),
        Expression::Traversal(t) => {
            let mut s = traversal_string(&t.expr)?;
            for op in &t.operators {
                match op.value() {
                    TraversalOperator::GetAttr(a) => {
                        s.push('.');
                        s.push_str(a.as_str());
                    }
                    TraversalOperator::Index(Expression::Number(n)) => {
                        s.push_str(&format!("[{}]", n.value()))
                    }
                    TraversalOperator::LegacyIndex(n) => s.push_str(&format!("[{}]", n.value())),
                    TraversalOperator::Index(e) => {
                        let k = literal_string(e)?;
                        s.push_str(&format!("[{}]", serde_json::to_string(&k).ok()?));
                    }
                    _ => return None,
                }
            }
            Some(s)
        }
        _ => None,
    }
}

/// Parses a type constraint expression (`list(object({ name = string, size = optional(number) }))`).
pub fn parse_type(e: &Expression, in_object: bool) -> Result<(Type, bool), String> {
    parse_type_inner(e, in_object, 0)
}

fn parse_type_inner(e: &Expression, in_object: bool, depth: usize) -> Result<(Type, bool), String> {
    if depth > 64 {
        return Err("type constraint nested too deeply".into());
    }
    match e {
        Expression::Variable(v) => match v.as_str() {
            "string" => Ok((Type::String, false)),
            "number" => Ok((Type::Number, false)),
            "bool" => Ok((Type::Bool, false)),
            "any" => Ok((Type::Any, false)),
            other => Err(format!("unknown type `{other}`")),
        },
        Expression::FuncCall(call) => {
            let name = call.name.name.as_str();
            let args: Vec<&Expression> = call.args.iter().collect();
            let one = |args: &[&Expression]| -> Result<Type, String> {
                if args.len() != 1 {
                    return Err(format!("`{name}(…)` takes one type"));
                }
                Ok(parse_type_inner(args[0], false, depth + 1)?.0)
            };
            match name {
                "list" => Ok((Type::List(Box::new(one(&args)?)), false)),
                "set" => Ok((Type::Set(Box::new(one(&args)?)), false)),
                "map" => Ok((Type::Map(Box::new(one(&args)?)), false)),
                "optional" if in_object => {
                    if args.len() == 2 {
                        return Err("optional(…) with a default value is not supported yet; give the default in the variable's `default` instead".into());
                    }
                    Ok((one(&args)?, true))
                }
                "optional" => Err("optional(…) is only allowed for object attributes".into()),
                "tuple" => match args.as_slice() {
                    [Expression::Array(items)] => Ok((
                        Type::Tuple(
                            items
                                .iter()
                                .map(|i| parse_type_inner(i, false, depth + 1).map(|t| t.0))
                                .collect::<Result<_, _>>()?,
                        ),
                        false,
                    )),
                    _ => Err("tuple takes a list of types: tuple([string, number])".into()),
                },
                "object" => match args.as_slice() {
                    [Expression::Object(obj)] => {
                        let mut attrs = BTreeMap::new();
                        for (k, v) in obj.iter() {
                            let key = match k {
                                hcl::edit::expr::ObjectKey::Ident(i) => i.as_str().to_string(),
                                hcl::edit::expr::ObjectKey::Expression(e) => literal_string(e)
                                    .ok_or("object attribute names must be names")?,
                            };
                            attrs.insert(key, parse_type_inner(v.expr(), true, depth + 1)?);
                        }
                        Ok((Type::Object(attrs), false))
                    }
                    _ => Err("object takes attribute types: object({ name = string })".into()),
                },
                other => Err(format!("unknown type constructor `{other}`")),
            }
        }
        _ => Err("expected a type such as string, list(string) or object({…})".into()),
    }
}
