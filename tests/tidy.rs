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
    let source = [".rs", ".hcl", ".md", ".sh", ".tftpl", ".py", ".toml"]
        .iter()
        .any(|e| s.ends_with(e));
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
    if camel {
        vec![s.to_string()]
    } else {
        Vec::new()
    }
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
                ["src" | "modules" | "tests" | "scripts", sub] => Some(sub.to_string()),
                ["src", _, sub] => Some(sub.to_string()),
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
        if [".rs", ".hcl", ".tftpl", ".sh", ".py"]
            .iter()
            .any(|e| f.ends_with(e))
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
        as_repo_path("src/graph/walk.rs", &ours),
        Some("src/graph/walk.rs")
    );
    assert_eq!(as_repo_path("walk/live.rs", &ours), Some("walk/live.rs"));
    assert_eq!(as_repo_path("git::URL//subdir?ref=", &ours), None);
    assert_eq!(as_repo_path("coordination.k8s.io/v1", &ours), None);
    assert_eq!(
        rust_names("Walk::depend_on_whole_modules"),
        ["Walk", "depend_on_whole_modules"]
    );
    assert_eq!(rust_names("ConfigEvaluator"), ["ConfigEvaluator"]);
    assert!(rust_names("plan").is_empty());
    assert_eq!(code_spans("a `x` b `y`\n```\n`z`\n```"), ["x", "y"]);
}
