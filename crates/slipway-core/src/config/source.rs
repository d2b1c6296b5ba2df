//! Git module sources: `git::URL//subdir?ref=REF`.
//!
//! A source is fetched (see [`crate::git`]) into a cache keyed by commit —
//! `$SLIPWAY_MODULE_CACHE` or `~/.cache/slipway/modules` — as `repos/<name>` (one bare
//! repository per URL) and `trees/<commit>/` (the commit's whole tree, so a module may use
//! `../sibling` within its repository). The commit each source resolved to is recorded in the
//! environment's lock file, `.slipway.lock.json`, beside its `*.hcl` files.
//!
//! **Invariants:**
//! - A source in the lock file is used at its locked commit; a locked commit already in the
//!   cache needs no network (offline runs work). Delete the entry to move to a new commit.
//! - A source whose ref is a commit id already in the cache needs no network either.
//! - The module directory is always inside the cached tree of one commit: `//subdir` may not
//!   climb out of it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::git::{self, GitError};

/// The lock file's name, in the environment (root module) directory.
pub const LOCK_FILE: &str = ".slipway.lock.json";

/// A parsed `git::` source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GitSource {
    pub url: String,
    /// Directory inside the repository (`modules/etcd`), empty for the root.
    pub subdir: String,
    /// `?ref=`: a tag, a branch or a commit id; the remote's default branch (`HEAD`) when absent.
    pub reference: Option<String>,
}

/// Parses `git::URL[//subdir][?ref=REF]`.
pub fn parse(source: &str) -> Result<GitSource, String> {
    let rest = source
        .strip_prefix("git::")
        .ok_or_else(|| "a Git source starts with `git::`".to_string())?;
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, Some(q)),
        None => (rest, None),
    };
    let mut reference = None;
    if let Some(q) = query {
        for pair in q.split('&') {
            match pair.split_once('=') {
                Some(("ref", v)) if !v.is_empty() => reference = Some(v.to_string()),
                _ => {
                    return Err(format!(
                        "unknown query parameter `{pair}` (only `?ref=TAG|BRANCH|COMMIT` is understood)"
                    ));
                }
            }
        }
    }
    let start = rest.find("://").map(|i| i + 3).unwrap_or(0);
    // file:///path: the path itself begins with '/', skip it.
    let search_from = start + usize::from(rest[start..].starts_with('/'));
    let (url, subdir) = match rest[search_from..].find("//") {
        Some(i) => (&rest[..search_from + i], &rest[search_from + i + 2..]),
        None => (rest, ""),
    };
    let subdir = subdir.trim_matches('/').to_string();
    if subdir.split('/').any(|c| c == ".." || c == "." || c == ".git") {
        return Err(format!("the subdirectory `{subdir}` must stay inside the repository"));
    }
    git::check_url(url).map_err(|e| e.to_string())?;
    Ok(GitSource { url: url.to_string(), subdir, reference })
}

/// The cache root: `$SLIPWAY_MODULE_CACHE`, else `$XDG_CACHE_HOME/slipway/modules`, else
/// `~/.cache/slipway/modules`.
pub fn cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("SLIPWAY_MODULE_CACHE") {
        return PathBuf::from(d);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("slipway").join("modules")
}

/// One entry of the lock file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Locked {
    pub url: String,
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    pub commit: String,
}

/// The lock file: source string → what it resolved to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockFile {
    pub modules: BTreeMap<String, Locked>,
}

impl LockFile {
    pub fn read(env_dir: &Path) -> Result<LockFile, String> {
        let path = env_dir.join(LOCK_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| format!("{} is not a slipway lock file: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(LockFile::default()),
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        }
    }

    pub fn write(&self, env_dir: &Path) -> Result<(), String> {
        let path = env_dir.join(LOCK_FILE);
        let tmp = env_dir.join(format!("{LOCK_FILE}.tmp-{}", std::process::id()));
        let mut text = serde_json::to_string_pretty(self).map_err(|e| e.to_string())?;
        text.push('\n');
        std::fs::write(&tmp, text)
            .and_then(|_| std::fs::rename(&tmp, &path))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))
    }
}

/// What resolving a source produced.
#[derive(Clone, Debug)]
pub struct Resolved {
    pub dir: PathBuf,
    pub commit: String,
    /// True when nothing was fetched (lock + cache, or a cached commit id).
    pub offline: bool,
}

/// Resolves a source to a module directory in the cache, fetching when needed, and records the
/// commit in `lock`.
pub fn resolve(source: &str, lock: &mut LockFile) -> Result<Resolved, GitError> {
    let parsed =
        parse(source).map_err(|message| GitError::BadUrl { url: source.to_string(), message })?;
    let cache = cache_dir();
    let repo_dir = cache.join("repos").join(git::repo_dir_name(&parsed.url));
    let tree_of = |commit: &str| cache.join("trees").join(commit);
    let module_dir = |commit: &str| -> Result<PathBuf, GitError> {
        let d = tree_of(commit).join(&parsed.subdir);
        if d.is_dir() {
            Ok(d)
        } else {
            Err(GitError::UnknownRef {
                url: parsed.url.clone(),
                reference: format!(
                    "{} (commit {commit} has no directory `{}`)",
                    parsed.reference.as_deref().unwrap_or("HEAD"),
                    parsed.subdir
                ),
            })
        }
    };
    // Pinned: by the lock file, or by a full commit id already exported.
    let pinned = lock
        .modules
        .get(source)
        .filter(|l| l.url == parsed.url)
        .map(|l| l.commit.clone())
        .or_else(|| parsed.reference.clone().filter(|r| r.len() == 40 && git::is_commit_id(r)));
    if let Some(commit) = &pinned
        && tree_of(commit).is_dir()
    {
        let dir = module_dir(commit)?;
        record(lock, source, &parsed, commit);
        return Ok(Resolved { dir, commit: commit.clone(), offline: true });
    }
    let refs = git::fetch(&repo_dir, &parsed.url)?;
    let commit = match &pinned {
        Some(c) => git::find_commit(&repo_dir, c)?.ok_or_else(|| GitError::UnknownRef {
            url: parsed.url.clone(),
            reference: format!("{c} (the commit recorded in {LOCK_FILE})"),
        })?,
        None => git::resolve(
            &repo_dir,
            &parsed.url,
            &refs,
            parsed.reference.as_deref().unwrap_or("HEAD"),
        )?,
    };
    if !tree_of(&commit).is_dir() {
        git::export_tree(&repo_dir, &commit, &tree_of(&commit))?;
    }
    let dir = module_dir(&commit)?;
    record(lock, source, &parsed, &commit);
    Ok(Resolved { dir, commit, offline: false })
}

fn record(lock: &mut LockFile, source: &str, parsed: &GitSource, commit: &str) {
    lock.modules.insert(
        source.to_string(),
        Locked {
            url: parsed.url.clone(),
            reference: parsed.reference.clone(),
            commit: commit.to_string(),
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_split_into_url_subdir_and_ref() {
        let s = parse("git::git://127.0.0.1:9418/infra.git//modules/etcd?ref=v1.2.0").unwrap();
        assert_eq!(s.url, "git://127.0.0.1:9418/infra.git");
        assert_eq!(s.subdir, "modules/etcd");
        assert_eq!(s.reference.as_deref(), Some("v1.2.0"));

        let s = parse("git::file:///srv/git/infra.git//modules/pki").unwrap();
        assert_eq!(s.url, "file:///srv/git/infra.git");
        assert_eq!(s.subdir, "modules/pki");
        assert_eq!(s.reference, None);

        let s = parse("git::git@example.com:org/infra.git//m?ref=main").unwrap();
        assert_eq!(s.url, "git@example.com:org/infra.git");
        assert_eq!(s.subdir, "m");

        let s = parse("git::https://example.com/org/infra.git//modules/etcd?ref=v1.2.0").unwrap();
        assert_eq!(s.url, "https://example.com/org/infra.git");
        assert_eq!(s.subdir, "modules/etcd");
        assert_eq!(s.reference.as_deref(), Some("v1.2.0"));

        let s = parse("git::ssh://git@example.com/org/infra.git").unwrap();
        assert_eq!(s.subdir, "");
    }

    #[test]
    fn bad_sources_are_refused_with_a_reason() {
        for (bad, why) in [
            ("git::ftp://example.com/x.git", "unknown scheme"),
            ("git::git://h/x.git//../../etc", "inside the repository"),
            ("git::git://h/x.git?rev=1", "unknown query parameter"),
            ("git::nonsense", "expected"),
        ] {
            let e = parse(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}
