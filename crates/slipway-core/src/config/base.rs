//! Bases: `slipway { extends = "<directory>" }` in an environment makes the `*.hcl` files of
//! that directory (not its `*.vars.hcl`) files of the environment's root module, so that
//! environments differ only in their inputs (`environments/*` extend `modules/environment`).
//! Terraform has no such thing (Terragrunt's `include` is the usual workaround).
//!
//! **Invariants:**
//! - A base adds files, not a module: one namespace (a name declared in both is the usual
//!   duplicate error, naming both places), addresses unchanged (`module.cluster`, not
//!   `module.base.module.cluster`), `path.module` and `path.root` the environment's directory.
//! - Relative paths in a file are relative to the file's directory: a base's module `source`s
//!   resolve from the base (see [`Loader::file_dir`]), and `extends` from the environment.
//! - One level: only an environment's own files may say `extends`; in a base or a called
//!   module it is an error, never silently ignored.
//! - The path is relative (a configuration read from a Git commit, as `watch` and
//!   `dr rebuild --commit` do, must not reach outside its tree through an absolute path).

use super::*;

impl Loader<'_> {
    /// The directory of a file read into the source map (None for pseudo-files).
    pub(super) fn file_dir(&self, file: FileId) -> Option<PathBuf> {
        let path = &self.sources.get(file).path;
        let dir = path.parent()?;
        dir.is_dir().then(|| dir.to_path_buf())
    }

    /// Reads the files of the base `module` (the root) extends, if it says `extends`, into it.
    pub(super) fn load_base(&mut self, module: &mut Module) {
        let Some(Extends { path, span, .. }) = module.settings.extends.clone() else {
            return;
        };
        let Some(dir) = self.base_dir(module, &path, &span) else {
            return;
        };
        let files = match hcl_files(&dir) {
            Ok(f) if !f.is_empty() => f,
            Ok(_) => {
                self.err(
                    Diagnostic::error(format!("the base \"{path}\" has no *.hcl files"))
                        .at(span)
                        .detail(format!("{} holds no configuration file", dir.display()))
                        .hint("a base is a directory of .hcl files (its *.vars.hcl are not read); see modules/environment"),
                );
                return;
            }
            Err(e) => {
                self.err(
                    Diagnostic::error(format!("cannot read the base \"{path}\": {e}"))
                        .at(span)
                        .hint("check the directory's permissions"),
                );
                return;
            }
        };
        self.reading_base = Some(span);
        for file in files {
            if let Some((fid, body)) = parse_file(&file, self.sources, &mut self.diags) {
                self.read_top_level(fid, &body, module, true);
            }
        }
        self.reading_base = None;
        if let Some(e) = &mut module.settings.extends {
            e.dir = Some(dir);
        }
    }

    /// The canonical directory `path` names, relative to the file that says `extends`; None
    /// (with a diagnostic) when it is absolute, missing, not a directory or the environment.
    fn base_dir(&mut self, module: &Module, path: &str, span: &Span) -> Option<PathBuf> {
        if path.is_empty() || Path::new(path).is_absolute() {
            self.err(
                Diagnostic::error(format!("`extends` must be a relative directory, not \"{path}\""))
                    .at(span.clone())
                    .hint("name the base relative to this file, e.g. `extends = \"../../modules/environment\"`, so the configuration reads the same from any checkout"),
            );
            return None;
        }
        let from = self.file_dir(span.file).unwrap_or_else(|| module.dir.clone());
        let joined = from.join(path);
        let dir = match joined.canonicalize() {
            Ok(d) if d.is_dir() => d,
            _ => {
                self.err(
                    Diagnostic::error(format!("the base \"{path}\" is not a directory"))
                        .at(span.clone())
                        .detail(format!("{} does not exist or is not a directory", joined.display()))
                        .hint("`extends` names a directory of .hcl files relative to this file, e.g. `extends = \"../../modules/environment\"`"),
                );
                return None;
            }
        };
        if dir == module.dir {
            self.err(
                Diagnostic::error(format!("`extends = \"{path}\"` names the environment itself"))
                    .at(span.clone())
                    .hint("a base is another directory: the one holding what environments share"),
            );
            return None;
        }
        Some(dir)
    }

    /// `extends = "<directory>"`: recorded for [`Loader::load_base`], which reads the files.
    pub(super) fn read_extends(&mut self, attr: Attr, settings: &mut Settings) {
        let span = attr.expr.span().unwrap_or(attr.name_span.clone());
        if let Some(env_extends) = &self.reading_base {
            let env_extends = env_extends.clone();
            self.err(
                Diagnostic::error("a base cannot itself extend another directory")
                    .at(span)
                    .label(env_extends, "the environment extends this base here")
                    .hint("one level only: move what this base would extend into it, or extend that directory from the environment instead"),
            );
            return;
        }
        let Some(path) = literal_string(&attr.expr.expr) else {
            self.err(
                Diagnostic::error("`extends` must be a literal string")
                    .at(span)
                    .hint("the base is read before any expression is evaluated: write `extends = \"../../modules/environment\"`"),
            );
            return;
        };
        if let Some(first) = &settings.extends {
            let first = first.span.clone();
            self.duplicate_setting("extends", span, first);
            return;
        }
        settings.extends = Some(Extends { path, span, dir: None });
    }

    /// A called module's `slipway` block is ignored (with a warning), but an `extends` in it
    /// would silently not happen: that is an error.
    pub(super) fn slipway_in_child_module(&mut self, file: FileId, b: &Block, span: Span) {
        self.err(
            Diagnostic::warning("a `slipway` block in a called module is ignored")
                .at(span)
                .hint("settings such as the backend belong to the environment (the root module)"),
        );
        for st in b.body.iter() {
            if let Structure::Attribute(a) = st
                && a.key.as_str() == "extends"
            {
                self.err(
                    Diagnostic::error("`extends` in a called module")
                        .at(span_of(file, a))
                        .hint("only an environment (the root module) extends a base; a module calls other modules with `module` blocks"),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::{Config, load};
    use crate::diag::{Diagnostic, Diagnostics, Sources};

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    fn load_env(root: &Path, env: &str) -> (Config, Diagnostics, Sources) {
        let mut sources = Sources::default();
        let (config, diags) = load(&root.join(env), &mut sources);
        (config, diags, sources)
    }

    fn errors(diags: &Diagnostics) -> Vec<&Diagnostic> {
        diags.iter().filter(|d| d.is_error()).collect()
    }

    /// (file name, line, column) of a diagnostic's primary location.
    fn at(d: &Diagnostic, sources: &Sources) -> (String, usize, usize) {
        let span = d.span.clone().expect("a located diagnostic");
        let (l, c) = sources.line_col(span.file, span.range.start);
        let name = sources.get(span.file).path.file_name().unwrap();
        (name.to_string_lossy().into_owned(), l, c)
    }

    const ENV: &str = "slipway {\n  extends = \"../../modules/base\"\n}\n";

    #[test]
    fn the_files_of_the_base_are_part_of_the_root_module_at_unchanged_addresses() {
        let t = tempfile::tempdir().unwrap();
        write(t.path(), "environments/dev/main.hcl", ENV);
        write(t.path(), "environments/dev/dev.vars.hcl", "size = 2\n");
        write(
            t.path(),
            "modules/base/main.hcl",
            "variable \"size\" {\n  type = number\n}\n\nresource \"random_id\" \"x\" {\n  byte_length = var.size\n}\n",
        );
        write(
            t.path(),
            "modules/base/outputs.hcl",
            "output \"id\" {\n  value = random_id.x.hex\n}\n",
        );
        // A base's variable files are not configuration (nor inputs): not read.
        write(t.path(), "modules/base/x.vars.hcl", "this is not HCL {{{");
        let (config, diags, _) = load_env(t.path(), "environments/dev");
        assert!(errors(&diags).is_empty(), "{diags:?}");
        assert_eq!(config.modules.len(), 1, "a base is not a module");
        let root = config.root();
        assert!(root.variables.contains_key("size"));
        assert!(root.resources.contains_key("random_id.x"));
        assert!(root.outputs.contains_key("id"));
        // path.module and path.root stay the environment's directory.
        let env = t.path().join("environments/dev").canonicalize().unwrap();
        assert_eq!(root.dir, env);
        let base = t.path().join("modules/base").canonicalize().unwrap();
        assert_eq!(root.settings.extends.as_ref().unwrap().dir, Some(base));
    }

    #[test]
    fn a_name_declared_in_the_base_and_the_environment_is_a_duplicate_naming_both() {
        let t = tempfile::tempdir().unwrap();
        write(t.path(), "environments/dev/main.hcl", &format!("{ENV}\nvariable \"size\" {{}}\n"));
        write(t.path(), "modules/base/variables.hcl", "\nvariable \"size\" {}\n");
        let (_, diags, sources) = load_env(t.path(), "environments/dev");
        let errs = errors(&diags);
        assert_eq!(errs.len(), 1, "{diags:?}");
        assert_eq!(errs[0].summary, "duplicate variable \"size\"");
        assert_eq!(at(errs[0], &sources), ("variables.hcl".into(), 2, 1));
        let first = &errs[0].labels[0].span;
        assert_eq!(sources.get(first.file).path.file_name().unwrap(), "main.hcl");
        assert_eq!(sources.line_col(first.file, first.range.start), (5, 1));
    }

    #[test]
    fn extends_in_a_called_module_is_an_error() {
        let t = tempfile::tempdir().unwrap();
        write(t.path(), "env/main.hcl", "module \"m\" {\n  source = \"../m\"\n}\n");
        write(t.path(), "m/main.hcl", "slipway {\n  extends = \"../base\"\n}\n");
        write(t.path(), "base/main.hcl", "variable \"x\" {}\n");
        let (config, diags, sources) = load_env(t.path(), "env");
        let errs = errors(&diags);
        assert_eq!(errs.len(), 1, "{diags:?}");
        assert_eq!(errs[0].summary, "`extends` in a called module");
        assert_eq!(at(errs[0], &sources), ("main.hcl".into(), 2, 3));
        assert!(config.modules.iter().all(|m| m.variables.is_empty()));
    }

    #[test]
    fn a_base_that_extends_another_directory_is_an_error() {
        let t = tempfile::tempdir().unwrap();
        write(t.path(), "environments/dev/main.hcl", ENV);
        write(t.path(), "modules/base/main.hcl", "slipway {\n  extends = \"../other\"\n}\n");
        write(t.path(), "modules/other/main.hcl", "variable \"x\" {}\n");
        let (config, diags, sources) = load_env(t.path(), "environments/dev");
        let errs = errors(&diags);
        assert_eq!(errs.len(), 1, "{diags:?}");
        assert_eq!(errs[0].summary, "a base cannot itself extend another directory");
        assert_eq!(at(errs[0], &sources), ("main.hcl".into(), 2, 13));
        assert!(
            sources.get(errs[0].labels[0].span.file).path.ends_with("environments/dev/main.hcl")
        );
        assert!(config.root().variables.is_empty(), "the other directory is not read");
    }

    #[test]
    fn a_missing_or_empty_base_is_an_error_at_the_extends_line() {
        let t = tempfile::tempdir().unwrap();
        write(t.path(), "environments/dev/main.hcl", ENV);
        let (_, diags, sources) = load_env(t.path(), "environments/dev");
        let errs = errors(&diags);
        assert_eq!(errs.len(), 1, "{diags:?}");
        assert_eq!(errs[0].summary, "the base \"../../modules/base\" is not a directory");
        assert_eq!(at(errs[0], &sources), ("main.hcl".into(), 2, 13));
        assert!(errs[0].hint.as_deref().unwrap().contains("relative to this file"));

        write(t.path(), "modules/base/README.md", "no configuration here\n");
        let (_, diags, sources) = load_env(t.path(), "environments/dev");
        let errs = errors(&diags);
        assert_eq!(errs.len(), 1, "{diags:?}");
        assert_eq!(errs[0].summary, "the base \"../../modules/base\" has no *.hcl files");
        assert_eq!(at(errs[0], &sources), ("main.hcl".into(), 2, 13));
    }

    #[test]
    fn an_absolute_a_computed_or_a_self_extends_is_an_error() {
        for (extends, summary) in [
            ("\"/etc\"", "`extends` must be a relative directory, not \"/etc\""),
            ("\"\"", "`extends` must be a relative directory, not \"\""),
            ("\".\"", "`extends = \".\"` names the environment itself"),
            ("\"../${var.x}\"", "`extends` must be a literal string"),
        ] {
            let t = tempfile::tempdir().unwrap();
            write(
                t.path(),
                "env/main.hcl",
                &format!("slipway {{\n  extends = {extends}\n}}\n\nvariable \"x\" {{}}\n"),
            );
            let (_, diags, sources) = load_env(t.path(), "env");
            let errs = errors(&diags);
            assert_eq!(errs.len(), 1, "{extends}: {diags:?}");
            assert_eq!(errs[0].summary, summary);
            assert_eq!(at(errs[0], &sources), ("main.hcl".into(), 2, 13));
        }
    }

    #[test]
    fn extends_set_twice_is_an_error_naming_both() {
        let t = tempfile::tempdir().unwrap();
        write(t.path(), "environments/dev/main.hcl", ENV);
        write(t.path(), "environments/dev/more.hcl", ENV);
        write(t.path(), "modules/base/main.hcl", "variable \"x\" {}\n");
        let (config, diags, sources) = load_env(t.path(), "environments/dev");
        let errs = errors(&diags);
        assert_eq!(errs.len(), 1, "{diags:?}");
        assert_eq!(errs[0].summary, "`extends` is set twice in the slipway settings");
        assert_eq!(at(errs[0], &sources), ("more.hcl".into(), 2, 13));
        assert_eq!(errs[0].labels.len(), 1);
        // The first one still holds: the base is read once.
        assert!(config.root().variables.contains_key("x"));
    }

    #[test]
    fn a_relative_module_source_in_the_base_resolves_from_the_base_directory() {
        let t = tempfile::tempdir().unwrap();
        write(t.path(), "environments/dev/main.hcl", ENV);
        write(
            t.path(),
            "modules/base/main.hcl",
            "module \"child\" {\n  source = \"../child\"\n  n      = 1\n}\n",
        );
        write(t.path(), "modules/child/main.hcl", "variable \"n\" {}\n");
        // From the environment, ../child would be environments/child: there is none.
        let (config, diags, _) = load_env(t.path(), "environments/dev");
        assert!(errors(&diags).is_empty(), "{diags:?}");
        let child = config.child(0, "child").expect("the call resolved");
        assert_eq!(
            config.modules[child].dir,
            t.path().join("modules/child").canonicalize().unwrap()
        );
        assert_eq!(config.modules[child].path, vec!["child".to_string()]);
    }

    #[test]
    fn required_version_of_the_base_and_the_environment_both_count() {
        let t = tempfile::tempdir().unwrap();
        write(
            t.path(),
            "environments/dev/main.hcl",
            "slipway {\n  required_version = \">= 0.1\"\n  extends = \"../../modules/base\"\n}\n",
        );
        write(t.path(), "modules/base/main.hcl", "slipway {\n  required_version = \">= 99\"\n}\n");
        let (config, diags, _) = load_env(t.path(), "environments/dev");
        assert!(errors(&diags).is_empty(), "{diags:?}");
        let reqs: Vec<&str> =
            config.root().settings.required_version.iter().map(|(r, _)| r.as_str()).collect();
        assert_eq!(reqs, [">= 0.1", ">= 99"]);
    }
}
