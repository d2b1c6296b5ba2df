//! Git, through gix: fetch a remote into a bare repository, resolve a ref to a commit, and
//! export a commit's tree into a plain directory.
//!
//! Two users: Git module sources (`config::source`) and the watch agent (`watch`). Both keep one
//! bare repository per remote URL and export trees into directories keyed by commit, which are
//! written to a temporary name and renamed into place, so a reader never sees half a tree.
//!
//! Transports: `https://` and `http://` (smart HTTP through reqwest and rustls, on the same
//! aws-lc crypto provider as the AWS SDK; certificates checked against the system's roots,
//! which `SSL_CERT_FILE`/`SSL_CERT_DIR` override), `git://`, `file://` (gix runs
//! `git-upload-pack`) and ssh (`ssh://…` and `user@host:path`; gix runs `ssh`).
//!
//! **Invariant:** a fetch never writes outside the bare repository, and an export never writes
//! outside its destination directory (tree entry names are checked) nor creates a symlink that
//! points out of it (absolute or `..` targets are skipped).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use gix::bstr::{BStr, ByteSlice};

/// Why a Git operation failed. Each variant names the URL or the repository involved.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("cannot fetch {url}: {message}")]
    Unreachable { url: String, message: String },
    #[error("{url} has no branch, tag or commit `{reference}`")]
    UnknownRef { url: String, reference: String },
    #[error("`{url}` is not a Git URL this build can fetch: {message}")]
    BadUrl { url: String, message: String },
    #[error("Git repository {}: {message}", path.display())]
    Local { path: PathBuf, message: String },
}

fn local(path: &Path, e: impl std::fmt::Display) -> GitError {
    GitError::Local { path: path.to_path_buf(), message: e.to_string() }
}

/// Checks that a URL uses a transport this build has.
pub fn check_url(url: &str) -> Result<(), GitError> {
    let bad =
        |message: &str| GitError::BadUrl { url: url.to_string(), message: message.to_string() };
    if let Some((scheme, rest)) = url.split_once("://") {
        match scheme {
            "https" | "http" | "git" | "ssh" | "file" => {}
            other => return Err(bad(&format!("unknown scheme `{other}`"))),
        }
        if rest.is_empty() || (scheme != "file" && rest.starts_with('/')) {
            return Err(bad("no host"));
        }
    } else if !is_scp_like(url) {
        return Err(bad(
            "expected https://host/repo, git://host/repo, ssh://host/repo, user@host:repo or file:///path",
        ));
    }
    gix::url::parse(BStr::new(url)).map_err(|e| bad(&e.to_string()))?;
    Ok(())
}

/// `user@host:path`, the scp-like ssh form.
fn is_scp_like(url: &str) -> bool {
    match url.split_once(':') {
        Some((user_host, path)) => {
            user_host.contains('@') && !user_host.contains('/') && !path.is_empty()
        }
        None => false,
    }
}

/// Opens the bare repository at `dir`, creating it if needed.
fn open_or_init(dir: &Path) -> Result<gix::Repository, GitError> {
    if dir.join("HEAD").exists() {
        gix::open(dir).map_err(|e| local(dir, e))
    } else {
        std::fs::create_dir_all(dir).map_err(|e| local(dir, e))?;
        gix::init_bare(dir).map_err(|e| local(dir, e))
    }
}

/// Fetches every branch and tag of `url` into the bare repository at `repo_dir` (created if
/// missing). Returns the remote's refs, full name → commit id (annotated tags peeled).
pub fn fetch(repo_dir: &Path, url: &str) -> Result<BTreeMap<String, String>, GitError> {
    check_url(url)?;
    let repo = open_or_init(repo_dir)?;
    // The whole chain: gix's outer errors ("Transport handshake failed") hide the cause a user
    // can act on (an untrusted certificate, a refused connection).
    let unreachable = |e: &dyn std::error::Error| {
        let mut message = e.to_string();
        let mut source = e.source();
        while let Some(cause) = source {
            let text = cause.to_string();
            if !message.contains(&text) {
                message = format!("{message}: {text}");
            }
            source = cause.source();
        }
        GitError::Unreachable { url: url.to_string(), message }
    };
    let remote = repo
        .remote_at(url)
        .map_err(|e| unreachable(&e))?
        .with_fetch_tags(gix::remote::fetch::Tags::None)
        .with_refspecs(
            [
                "+HEAD:refs/remotes/origin/HEAD",
                "+refs/heads/*:refs/remotes/origin/*",
                "+refs/tags/*:refs/tags/*",
            ],
            gix::remote::Direction::Fetch,
        )
        .map_err(|e| unreachable(&e))?;
    let interrupt = AtomicBool::new(false);
    let outcome = remote
        .connect(gix::remote::Direction::Fetch)
        .map_err(|e| unreachable(&e))?
        .prepare_fetch(gix::progress::Discard, Default::default())
        .map_err(|e| unreachable(&e))?
        .receive(gix::progress::Discard, &interrupt)
        .map_err(|e| unreachable(&e))?;
    let mut refs = BTreeMap::new();
    for m in &outcome.ref_map.mappings {
        if let gix::remote::fetch::refmap::Source::Ref(r) = &m.remote {
            let (name, target, peeled) = r.unpack();
            if let Some(id) = peeled.or(target) {
                refs.insert(name.to_str_lossy().into_owned(), id.to_string());
            }
        }
    }
    Ok(refs)
}

/// Resolves `reference` (a tag, a branch, a full ref name, or a commit id) against the refs a
/// fetch returned, or against the objects already in the repository for a full commit id.
pub fn resolve(
    repo_dir: &Path,
    url: &str,
    refs: &BTreeMap<String, String>,
    reference: &str,
) -> Result<String, GitError> {
    for candidate in
        [format!("refs/tags/{reference}"), format!("refs/heads/{reference}"), reference.to_string()]
    {
        if let Some(id) = refs.get(&candidate) {
            return Ok(id.clone());
        }
    }
    if is_commit_id(reference)
        && let Some(id) = find_commit(repo_dir, reference)?
    {
        return Ok(id);
    }
    Err(GitError::UnknownRef { url: url.to_string(), reference: reference.to_string() })
}

/// 7 to 40 lowercase hex digits.
pub fn is_commit_id(s: &str) -> bool {
    (7..=40).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The id of a commit named by its full id, if the repository has it.
pub fn find_commit(repo_dir: &Path, id: &str) -> Result<Option<String>, GitError> {
    if !repo_dir.join("HEAD").exists() {
        return Ok(None);
    }
    let Ok(oid) = gix::ObjectId::from_hex(id.as_bytes()) else {
        return Ok(None);
    };
    let repo = gix::open(repo_dir).map_err(|e| local(repo_dir, e))?;
    match repo.find_object(oid).ok().and_then(|o| o.peel_to_commit().ok()) {
        Some(c) => Ok(Some(c.id.to_string())),
        None => Ok(None),
    }
}

/// Writes the tree of `commit` into `dest` (which must not exist yet): regular files, executable
/// files (mode 0755), symlinks and directories; submodules are skipped. Written under a
/// temporary name, then renamed, so `dest` is either absent or complete.
pub fn export_tree(repo_dir: &Path, commit: &str, dest: &Path) -> Result<(), GitError> {
    let repo = gix::open(repo_dir).map_err(|e| local(repo_dir, e))?;
    let id = gix::ObjectId::from_hex(commit.as_bytes()).map_err(|e| local(repo_dir, e))?;
    let tree_id = repo
        .find_commit(id)
        .map_err(|e| local(repo_dir, e))?
        .tree_id()
        .map_err(|e| local(repo_dir, e))?
        .detach();
    let parent = dest.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| local(parent, e))?;
    let tmp = parent.join(format!(
        ".{}.tmp-{}",
        dest.file_name().and_then(|n| n.to_str()).unwrap_or("tree"),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&tmp);
    write_tree(&repo, tree_id, &tmp).map_err(|e| local(repo_dir, e))?;
    match std::fs::rename(&tmp, dest) {
        Ok(()) => Ok(()),
        // Another process exported the same commit first: its tree is the same.
        Err(_) if dest.is_dir() => {
            let _ = std::fs::remove_dir_all(&tmp);
            Ok(())
        }
        Err(e) => Err(local(dest, e)),
    }
}

fn write_tree(repo: &gix::Repository, tree: gix::ObjectId, dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let tree = repo.find_tree(tree).map_err(|e| e.to_string())?;
    let decoded = tree.decode().map_err(|e| e.to_string())?;
    for entry in &decoded.entries {
        let name = entry.filename.to_str().map_err(|_| "a file name is not UTF-8".to_string())?;
        if name.is_empty() || name == "." || name == ".." || name.contains('/') || name == ".git" {
            return Err(format!("refusing tree entry `{name}`"));
        }
        let path = dir.join(name);
        let oid = entry.oid.to_owned();
        if entry.mode.is_tree() {
            write_tree(repo, oid, &path)?;
        } else if entry.mode.is_link() {
            let blob = repo.find_blob(oid).map_err(|e| e.to_string())?;
            let target = blob.data.to_str().map_err(|e| e.to_string())?.to_string();
            // A link that leaves the tree could make the loader read a local file (and show
            // it in a diagnostic); such links are not written.
            let escapes = target.starts_with('/') || target.split('/').any(|c| c == "..");
            if !escapes {
                std::os::unix::fs::symlink(target, &path).map_err(|e| e.to_string())?;
            }
        } else if entry.mode.is_blob() {
            let blob = repo.find_blob(oid).map_err(|e| e.to_string())?;
            std::fs::write(&path, &blob.data).map_err(|e| format!("{}: {e}", path.display()))?;
            if entry.mode.is_executable() {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                    .map_err(|e| e.to_string())?;
            }
        }
        // Submodules (commit entries) are not fetched.
    }
    Ok(())
}

/// A directory name for a URL's bare repository: readable prefix plus a hash of the whole URL.
pub fn repo_dir_name(url: &str) -> String {
    use sha2::{Digest, Sha256};
    let tail: String =
        url.rsplit(['/', ':'])
            .find(|s| !s.is_empty())
            .unwrap_or("repo")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' { c } else { '_' }
            })
            .take(40)
            .collect();
    let h = hex::encode(Sha256::digest(url.as_bytes()));
    format!("{}-{}", tail.trim_end_matches(".git"), &h[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_with_a_supported_transport_are_accepted() {
        for ok in [
            "https://example.com/repo.git",
            "http://127.0.0.1:8080/git/repo.git",
            "git://127.0.0.1:9418/repo.git",
            "file:///srv/repo.git",
            "ssh://git@example.com/org/repo.git",
            "git@example.com:org/repo.git",
        ] {
            check_url(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in [
            "ftp://example.com/repo.git",
            "https:///repo.git",
            "example.com/repo",
            "git:///repo.git",
        ] {
            assert!(check_url(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn commit_ids_are_recognised() {
        assert!(is_commit_id("0123abc"));
        assert!(is_commit_id(&"a".repeat(40)));
        assert!(!is_commit_id("v1.2.0"));
        assert!(!is_commit_id("main"));
        assert!(!is_commit_id(&"a".repeat(41)));
    }

    #[test]
    fn repo_dir_names_differ_per_url() {
        let a = repo_dir_name("git://h/a/repo.git");
        let b = repo_dir_name("git://h/b/repo.git");
        assert!(a.starts_with("repo-"), "{a}");
        assert_ne!(a, b);
    }
}
