//! Tidy checks over the repository's documents: ARCHITECTURE.md must stay true (rust-analyzer's
//! `tidy` idea). A path it names must exist; a Rust item it names must be defined in the code.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every file of the repository that is not build output or VCS data, relative to the root.
fn files(dir: &Path, root: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        // `state/` at the root is the local backend's home: its contents are not the project.
        let local_state = dir == root && name == "state";
        if [".git", "target", ".testbin"].contains(&name.as_str()) || (local_state && !p.is_dir()) {
            continue;
        }
        if p.is_dir() {
            out.push(format!("{}/", p.strip_prefix(root).unwrap().display()));
            if !local_state {
                files(&p, root, out);
            }
        } else {
            out.push(p.strip_prefix(root).unwrap().display().to_string());
        }
    }
}

/// The `code spans` of a Markdown text (fenced blocks excluded: they show commands and output).
fn code_spans(md: &str) -> Vec<String> {
    let mut spans = Vec::new();
    let mut fenced = false;
    for line in md.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let mut rest = line;
        while let Some(a) = rest.find('`') {
            let after = &rest[a + 1..];
            let Some(b) = after.find('`') else { break };
            spans.push(after[..b].to_string());
            rest = &after[b + 1..];
        }
    }
    spans
}

/// Paths the document names that belong to other projects or to Kubernetes, not to this
/// repository (they share a first segment with one of ours).
const NOT_OURS: &[&str] = &["config/crd/bases", "nodes/metrics", "nodes/proxy"];

/// A span that names a file or directory of this repository: a source file (`.rs`, `.hcl`, …)
/// or a relative path whose first segment is one of the repository's own directories (at the
/// root, under `src/`, `modules/`, `tests/` or `scripts/`); no spaces, globs, placeholders or
/// URLs.
fn as_repo_path<'s>(span: &'s str, ours: &BTreeSet<String>) -> Option<&'s str> {
    let s = span.trim_end_matches([',', '.', ':']);
    let source =
        [".rs", ".hcl", ".md", ".sh", ".tftpl", ".py", ".toml"].iter().any(|e| s.ends_with(e));
    let first = s.split('/').next().unwrap_or_default();
    let looks_like_path = source || (s.contains('/') && ours.contains(first));
    let excluded = s.contains(' ')
        || s.contains('*')
        || s.contains('<')
        || s.contains('{')
        || s.contains('$')
        || s.contains("://")
        || s.contains('=')
        || s.contains('~')
        || s.starts_with('/')
        || s.starts_with('-')
        || s.starts_with("..")
        || s.contains(':');
    (looks_like_path && !excluded && !NOT_OURS.contains(&s)).then_some(s)
}

/// A span that names a Rust item of ours: `Type::item`, `module::item` paths, or a CamelCase
/// identifier followed by nothing else (`ConfigEvaluator`).
fn rust_names(span: &str) -> Vec<String> {
    let s = span.trim_end_matches("()");
    let ident = |t: &str| !t.is_empty() && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if s.contains("::") && s.split("::").all(ident) {
        return s
            .split("::")
            .filter(|t| !["crate", "self", "super"].contains(t))
            .map(str::to_string)
            .collect();
    }
    let camel = s.len() > 2
        && ident(s)
        && s.starts_with(|c: char| c.is_ascii_uppercase())
        && s.chars().any(|c| c.is_ascii_lowercase())
        && s.chars().skip(1).any(|c| c.is_ascii_uppercase());
    if camel { vec![s.to_string()] } else { Vec::new() }
}

/// The names of the repository's own directories that a document may write paths from.
fn first_segments(all: &[String]) -> BTreeSet<String> {
    all.iter()
        .filter(|f| f.ends_with('/'))
        .filter_map(|d| {
            let d = d.trim_end_matches('/');
            let parts: Vec<&str> = d.split('/').collect();
            match parts.as_slice() {
                [top] => Some(top.to_string()),
                ["src" | "modules" | "tests" | "scripts" | "crates", sub] => Some(sub.to_string()),
                ["src", _, sub] | ["crates", _, "src", sub] => Some(sub.to_string()),
                ["crates", _, "src", _, sub] => Some(sub.to_string()),
                _ => None,
            }
        })
        .collect()
}

#[test]
fn architecture_md_names_only_paths_and_items_that_exist() {
    let root = root();
    let md = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    let mut all = Vec::new();
    files(&root, &root, &mut all);
    // Rust sources (and scripts, modules) as one text: an item named in the document must be
    // written somewhere in the code.
    let mut code = String::new();
    for f in &all {
        if [".rs", ".hcl", ".tftpl", ".sh", ".py"].iter().any(|e| f.ends_with(e))
            || f.starts_with("scripts/")
        {
            code.push_str(&std::fs::read_to_string(root.join(f)).unwrap_or_default());
            code.push('\n');
        }
    }
    let ours = first_segments(&all);
    let mut missing = BTreeSet::new();
    for span in code_spans(&md) {
        if let Some(p) = as_repo_path(&span, &ours) {
            // Paths are written relative to the root, to src/, or to the section's directory:
            // one repository path must end with it.
            let p = p.trim_start_matches("./");
            let found = all
                .iter()
                .any(|f| f == p || f.ends_with(&format!("/{p}")) || f.trim_end_matches('/') == p);
            if !found {
                missing.insert(format!("path `{span}`"));
            }
            continue;
        }
        for name in rust_names(&span) {
            if !code.contains(&name) {
                missing.insert(format!("item `{name}` (in `{span}`)"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md names what does not exist (rename it there, or remove it):\n  {}",
        missing.into_iter().collect::<Vec<_>>().join("\n  ")
    );
}

/// The check itself catches a stale name (so it cannot pass vacuously).
#[test]
fn the_architecture_check_sees_paths_and_items() {
    let ours: BTreeSet<String> = ["src", "graph", "walk"].map(String::from).into();
    assert_eq!(
        as_repo_path("crates/slipway-core/src/graph/walk.rs", &ours),
        Some("crates/slipway-core/src/graph/walk.rs")
    );
    assert_eq!(as_repo_path("walk/live.rs", &ours), Some("walk/live.rs"));
    assert_eq!(as_repo_path("git::URL//subdir?ref=", &ours), None);
    assert_eq!(as_repo_path("coordination.k8s.io/v1", &ours), None);
    assert_eq!(rust_names("Walk::depend_on_whole_modules"), ["Walk", "depend_on_whole_modules"]);
    assert_eq!(rust_names("ConfigEvaluator"), ["ConfigEvaluator"]);
    assert!(rust_names("plan").is_empty());
    assert_eq!(code_spans("a `x` b `y`\n```\n`z`\n```"), ["x", "y"]);
}

/// Production files above this many lines are split by topic (issue #19 item 5). Production
/// lines are those before a file's `#[cfg(test)]` module; a `tests.rs`, and `src/tests/`, are
/// all tests.
const MAX_FILE_LINES: usize = 800;
/// Functions above this many lines (from `fn` to the closing brace at the same indent) are
/// split at a natural seam, or carry a `// Long because …` comment in the 3 lines above them.
const MAX_FN_LINES: usize = 100;

/// Files still above the limit, with their size when this check was written: each may shrink
/// (then lower or remove its entry) but never grow. Empty: every production file is within the
/// limit (issue #19 item 5).
const LONG_FILES: &[(&str, usize)] = &[];

/// Functions still above the limit without a written reason, with their length when this
/// check was written; like `LONG_FILES`, an entry may shrink or go but never grow. The one left
/// is the configuration's block reader, which other work on config loading is changing.
const LONG_FNS: &[(&str, &str, usize)] =
    &[("crates/slipway-core/src/config/blocks.rs", "read_block", 197)];

/// The production lines of a source file: those before its `#[cfg(test)] mod …`.
fn production_lines(text: &str) -> Vec<&str> {
    let lines: Vec<&str> = text.lines().collect();
    let end = (0..lines.len())
        .find(|&i| {
            lines[i] == "#[cfg(test)]" && lines.get(i + 1).is_some_and(|l| l.starts_with("mod "))
        })
        .unwrap_or(lines.len());
    lines[..end].to_vec()
}

/// The name of the function a line declares (`pub(crate) async fn name(`), if it declares one.
fn fn_name(line: &str) -> Option<&str> {
    let mut rest = line.trim_start();
    if let Some(r) = rest.strip_prefix("pub") {
        rest = match r.strip_prefix('(') {
            Some(r) => r.split_once(')')?.1.trim_start(),
            None => r.trim_start(),
        };
    }
    for q in ["const ", "async ", "unsafe ", "extern \"C\" "] {
        rest = rest.strip_prefix(q).unwrap_or(rest);
    }
    let name = rest.strip_prefix("fn ")?;
    let end = name.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(name.len());
    (end > 0).then(|| &name[..end])
}

/// Functions longer than `MAX_FN_LINES` without a `// Long because` comment just above them:
/// (name, length).
fn long_fns(lines: &[&str]) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(name) = fn_name(line) else { continue };
        let indent = &line[..line.len() - line.trim_start().len()];
        let close = format!("{indent}}}");
        let Some(len) = lines[i..].iter().position(|l| *l == close).map(|j| j + 1) else {
            continue;
        };
        let reason = lines[i.saturating_sub(3)..i].iter().any(|l| l.contains("// Long because"));
        if len > MAX_FN_LINES && !reason {
            out.push((name.to_string(), len));
        }
    }
    out
}

#[test]
fn production_files_and_functions_stay_small() {
    let root = root();
    let mut all = Vec::new();
    files(&root.join("src"), &root, &mut all);
    files(&root.join("crates"), &root, &mut all);
    let mut problems = Vec::new();
    for f in all.iter().filter(|f| f.ends_with(".rs")) {
        // A `tests.rs` module, and the modules below it in `src/tests/`, are all tests.
        if f.ends_with("/tests.rs") || f.contains("/src/tests/") {
            continue;
        }
        let text = std::fs::read_to_string(root.join(f)).unwrap();
        let lines = production_lines(&text);
        let allowed = LONG_FILES.iter().find(|(p, _)| p == f).map_or(MAX_FILE_LINES, |(_, n)| *n);
        if lines.len() > allowed {
            problems.push(format!(
                "{f}: {} production lines (limit {allowed}): split it by topic",
                lines.len()
            ));
        }
        for (name, len) in long_fns(&lines) {
            let allowed = LONG_FNS
                .iter()
                .find(|(p, n, _)| p == f && *n == name)
                .map_or(MAX_FN_LINES, |(_, _, n)| *n);
            if len > allowed {
                problems.push(format!(
                    "{f}: fn {name} is {len} lines (limit {allowed}): split it at a seam, or \
                     write `// Long because …` above it"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The size check sees a long function and honours a written reason.
#[test]
fn the_size_check_sees_long_functions() {
    let body = "    x();\n".repeat(MAX_FN_LINES);
    let long = format!("pub(crate) async fn big() {{\n{body}}}\n");
    let lines: Vec<&str> = long.lines().collect();
    assert_eq!(long_fns(&lines), [("big".to_string(), MAX_FN_LINES + 2)]);
    let reasoned = format!("// Long because one match over every kind.\n{long}");
    assert!(long_fns(&reasoned.lines().collect::<Vec<_>>()).is_empty());
    assert_eq!(production_lines("a\n#[cfg(test)]\nmod tests {\n}\n"), ["a"]);
}

/// The engine builds and tests without the AWS SDK or a Kubernetes client (issue #19 item 4):
/// `cargo test -p slipway-core` compiles none of them. Checked on the resolved tree (normal,
/// build and dev dependencies), so a workspace dependency that pulls one in transitively fails.
#[test]
fn the_core_crate_builds_without_cloud_clients() {
    let out = std::process::Command::new(env!("CARGO"))
        .args(["tree", "-p", "slipway-core", "-e", "normal,build,dev"])
        .args(["--prefix", "none", "--format", "{p}", "--offline", "--locked"])
        .current_dir(root())
        .output()
        .expect("run cargo tree");
    assert!(out.status.success(), "cargo tree failed: {}", String::from_utf8_lossy(&out.stderr));
    let tree = String::from_utf8_lossy(&out.stdout);
    let names: BTreeSet<&str> = tree.lines().filter_map(|l| l.split_whitespace().next()).collect();
    // Not vacuous: the tree is the engine's.
    assert!(names.contains("hcl-rs") && names.contains("petgraph"), "{tree}");
    let cloud: Vec<&&str> = names
        .iter()
        .filter(|n| {
            n.starts_with("aws-sdk-")
                || n.starts_with("aws-smithy-")
                || ["aws-config", "aws-runtime", "aws-types", "aws-credential-types"].contains(n)
                || ["kube", "kube-client", "kube-core", "k8s-openapi"].contains(n)
                || ["slipway-aws", "slipway-kubernetes", "slipway"].contains(n)
        })
        .collect();
    assert!(
        cloud.is_empty(),
        "slipway-core depends on {cloud:?}: move the code that needs them to slipway-aws, \
         slipway-kubernetes or the slipway crate"
    );
}
