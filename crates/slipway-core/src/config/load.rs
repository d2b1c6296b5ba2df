//! Loading: the files of a directory parsed with hcl-edit (spans kept), module sources
//! resolved (local paths, `git::` sources through the lock file), and the modules read
//! recursively into a [`Config`]. Never stops at the first error.

use super::*;

/// Nesting limit for module calls: deeper trees are almost certainly a mistake, and the limit
/// keeps hostile input from exhausting the stack.
pub(super) const MAX_MODULE_DEPTH: usize = 32;

/// Loads an environment directory and the modules it calls.
pub fn load(root: &Path, sources: &mut Sources) -> (Config, Diagnostics) {
    let root_dir = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let mut loader = Loader {
        sources,
        diags: Diagnostics::default(),
        config: Config::default(),
        root_dir: root_dir.clone(),
        lock: None,
        reading_base: None,
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
            diags.push(Diagnostic::error(format!("cannot read {}: {e}", path.display())));
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
            let end =
                text[offset..].chars().next().map(|c| offset + c.len_utf8()).unwrap_or(offset);
            diags.push(
                Diagnostic::error(format!("syntax error: {}", e.message()))
                    .at(Span::new(id, offset..end))
                    .hint("check for a missing `}`, `]`, `\"` or `=` near here"),
            );
            None
        }
    }
}

pub(super) struct Loader<'a> {
    pub(super) sources: &'a mut Sources,
    pub(super) diags: Diagnostics,
    pub(super) config: Config,
    pub(super) root_dir: PathBuf,
    /// The lock file of Git sources, read at the first Git source (and whether it changed).
    pub(super) lock: Option<(source::LockFile, bool)>,
    /// While the files of an environment's base are read: the environment's `extends`.
    pub(super) reading_base: Option<Span>,
}

pub(super) fn span_of(file: FileId, s: &impl hcl::edit::Span) -> Span {
    Span::new(file, s.span().unwrap_or(0..0))
}

pub(super) fn label_str(l: &BlockLabel) -> &str {
    match l {
        BlockLabel::Ident(i) => i.as_str(),
        BlockLabel::String(s) => s.as_str(),
    }
}

pub(super) const TOP_LEVEL_BLOCKS: &[&str] =
    &["slipway", "provider", "variable", "locals", "output", "module", "resource", "data", "moved"];

impl Loader<'_> {
    pub(super) fn err(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    /// Loads a module directory; returns its id. `stack` holds the directories being loaded, to
    /// catch a module that calls itself.
    pub(super) fn load_module(
        &mut self,
        dir: &Path,
        path: Vec<String>,
        stack: &mut Vec<PathBuf>,
    ) -> ModuleId {
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
        let mut module = Module { path, dir: dir.to_path_buf(), ..Module::default() };
        for file in files {
            if let Some((fid, body)) = parse_file(&file, self.sources, &mut self.diags) {
                self.read_top_level(fid, &body, &mut module, id == 0);
            }
        }
        if id == 0 {
            // Its `slipway` block may be in any of its files: the base comes after them all.
            self.load_base(&mut module);
        }
        // Children are loaded after the whole module is read, so that ids stay stable.
        let calls: Vec<String> = module.module_calls.keys().cloned().collect();
        for name in calls {
            let call = &module.module_calls[&name];
            let (source, source_span, call_span) =
                (call.source.clone(), call.source_span.clone(), call.span.clone());
            // Relative to the directory of the file that says it: a base's calls resolve from
            // the base, not from the environment that extends it.
            let from = self.file_dir(source_span.file).unwrap_or_else(|| dir.to_path_buf());
            if let Some(child_dir) = self.resolve_source(&from, &source, &source_span) {
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

    pub(super) fn check_module_args(&mut self, module: &Module) {
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

    pub(super) fn resolve_source(
        &mut self,
        dir: &Path,
        source: &str,
        span: &Span,
    ) -> Option<PathBuf> {
        if source.starts_with("./") || source.starts_with("../") {
            let p = dir.join(source);
            match p.canonicalize() {
                Ok(c) if c.is_dir() => Some(c),
                _ => {
                    self.err(
                        Diagnostic::error(format!("module source \"{source}\" not found"))
                            .at(span.clone())
                            .detail(format!("{} is not a directory", p.display()))
                            .hint("local module sources are paths relative to the directory of the file that calls them, starting with ./ or ../"),
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
    pub(super) fn resolve_git_source(&mut self, src: &str, span: &Span) -> Option<PathBuf> {
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
    pub(super) fn write_lock(&mut self) {
        if let Some((lock, true)) = &self.lock
            && let Err(e) = lock.write(&self.root_dir)
        {
            self.diags.push(Diagnostic::error(e));
        }
    }

    pub(super) fn read_top_level(
        &mut self,
        file: FileId,
        body: &HclBody,
        module: &mut Module,
        is_root: bool,
    ) {
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

    pub(super) fn expect_labels(
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
}
