//! Git module sources (`git::URL//subdir?ref=…`) end to end: a module repository made with the
//! git CLI, served by `git daemon` or lighttpd + `git http-backend` over TLS on 127.0.0.1, or read
//! through file://, the binary resolving
//! it into its cache, the lock file, and offline runs.

use std::path::Path;

use crate::gitutil::{GitDaemon, HttpsGit, Repo, git};
use crate::util::{Cmd, Run, TestDir, errors, summaries};

const ENV: &str = "live/environments/prod";

fn module(version: &str) -> String {
    format!(
        "variable \"x\" {{\n  default = \"a\"\n}}\n\noutput \"name\" {{\n  value = \"{version}-${{var.x}}\"\n}}\n"
    )
}

/// A module repository with tags v1.0.0 and v2.0.0 (and `main` at v2).
fn module_repo(t: &TestDir) -> (Repo, String, String) {
    let repo = Repo::new(&t.join("git"));
    repo.write("modules/naming/main.hcl", &module("v1"));
    let v1 = repo.commit_push("v1");
    git(&repo.work, &["tag", "-a", "v1.0.0", "-m", "v1"]);
    repo.write("modules/naming/main.hcl", &module("v2"));
    let v2 = repo.commit_push("v2");
    git(&repo.work, &["tag", "v2.0.0"]);
    git(&repo.work, &["push", "-q", "origin", "--tags"]);
    (repo, v1, v2)
}

fn env_with_source(t: &TestDir, source: &str) {
    t.write(
        format!("{ENV}/main.hcl"),
        format!(
            "module \"naming\" {{\n  source = \"{source}\"\n}}\n\noutput \"name\" {{\n  value = module.naming.name\n}}\n"
        ),
    );
}

fn slipway(t: &TestDir, args: &[&str]) -> Run {
    slipway_env(t, &[], args)
}

fn slipway_env(t: &TestDir, env: &[(&str, &Path)], args: &[&str]) -> Run {
    let mut c = Cmd::new();
    c.current_dir(t.path()).env("SLIPWAY_MODULE_CACHE", t.join("cache")).args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.run()
}

/// Applies the environment and returns its `name` output.
fn applied_name(t: &TestDir) -> String {
    applied_name_env(t, &[])
}

fn applied_name_env(t: &TestDir, env: &[(&str, &Path)]) -> String {
    slipway_env(t, env, &["apply", ENV, "-auto-approve"]).assert_code(0);
    let r = slipway(t, &["output", "name", "--dir", ENV]);
    r.assert_code(0);
    r.stdout.trim().to_string()
}

fn lock(t: &TestDir) -> serde_json::Value {
    serde_json::from_slice(&t.read(format!("{ENV}/.slipway.lock.json"))).unwrap()
}

#[test]
fn git_daemon_source_is_pinned_by_ref_locked_and_reused_offline() {
    let t = TestDir::new();
    let (_repo, v1, v2) = module_repo(&t);
    let mut daemon = GitDaemon::start(&t.join("git"));
    let url = daemon.url("origin.git");
    let source = format!("git::{url}//modules/naming?ref=v1.0.0");
    env_with_source(&t, &source);
    assert_eq!(applied_name(&t), "v1-a");
    // The annotated tag resolved to its commit, recorded in the lock file.
    let l = lock(&t);
    assert_eq!(l["modules"][&source]["commit"], v1.as_str(), "{l}");
    assert_eq!(l["modules"][&source]["ref"], "v1.0.0");
    assert!(t.join(format!("cache/trees/{v1}/modules/naming/main.hcl")).is_file());
    // The plan names the commit.
    let p = slipway(&t, &["plan", ENV]);
    p.assert_code(0);
    assert!(p.stdout.contains(&v1[..12]), "{}", p.stdout);

    // Another ref, another commit.
    let source2 = format!("git::{url}//modules/naming?ref=v2.0.0");
    env_with_source(&t, &source2);
    assert_eq!(applied_name(&t), "v2-a");
    assert_eq!(lock(&t)["modules"][&source2]["commit"], v2.as_str());

    // Offline: with the daemon gone, locked sources come from the cache.
    daemon.stop();
    env_with_source(&t, &source);
    assert_eq!(applied_name(&t), "v1-a");
    // ... and so does a full commit id already in the cache, without a lock entry.
    let by_commit = format!("git::{url}//modules/naming?ref={v2}");
    env_with_source(&t, &by_commit);
    assert_eq!(applied_name(&t), "v2-a");
    // An unlocked tag needs the network: the error says where and why.
    env_with_source(&t, &format!("git::{url}//modules/naming?ref=main"));
    let r = slipway(&t, &["validate", ENV, "--json"]);
    r.assert_code(1);
    let doc = r.json();
    let e = errors(&doc);
    assert_eq!(e.len(), 1, "{:?}", summaries(&doc));
    assert!(e[0]["detail"].as_str().unwrap().contains("cannot fetch"), "{}", e[0]);
}

#[test]
fn https_source_is_fetched_only_over_a_verified_certificate() {
    let t = TestDir::new();
    let (_repo, v1, _v2) = module_repo(&t);
    let server = HttpsGit::start(&t.join("git"), &t.join("tls"));
    let source = format!("git::{}//modules/naming?ref=v1.0.0", server.url("origin.git"));
    env_with_source(&t, &source);

    // The server's CA is not trusted: the certificate is refused, nothing is cached, and the
    // error names the URL at the source attribute.
    let r = slipway(&t, &["validate", ENV, "--json"]);
    r.assert_code(1);
    let doc = r.json();
    let e = errors(&doc);
    assert_eq!(e.len(), 1, "{:?}", summaries(&doc));
    let detail = e[0]["detail"].as_str().unwrap();
    assert!(detail.contains("cannot fetch https://127.0.0.1"), "{detail}");
    assert!(detail.to_lowercase().contains("certificate"), "{detail}");
    // Said once, in the diagnostic, not again by the TLS library's own log line.
    assert!(!r.stderr.contains("rustls"), "{}", r.stderr);
    assert!(!t.join(format!("cache/trees/{v1}")).exists());

    // Trusting it (the standard SSL_CERT_FILE), the tag resolves over smart HTTP.
    let trust = [("SSL_CERT_FILE", server.ca.as_path())];
    assert_eq!(applied_name_env(&t, &trust), "v1-a");
    assert_eq!(lock(&t)["modules"][&source]["commit"], v1.as_str());

    // Offline, the locked commit comes from the cache.
    drop(server);
    assert_eq!(applied_name(&t), "v1-a");
}

#[test]
fn file_url_source_and_a_moved_tag_keep_the_locked_commit() {
    let t = TestDir::new();
    let (repo, v1, _v2) = module_repo(&t);
    let source = format!("git::file://{}//modules/naming?ref=v1.0.0", repo.origin.display());
    env_with_source(&t, &source);
    assert_eq!(applied_name(&t), "v1-a");
    // Someone moves the tag: the lock keeps the environment on the commit it was planned with.
    git(&repo.work, &["tag", "-f", "-a", "v1.0.0", "-m", "moved", "HEAD"]);
    git(&repo.work, &["push", "-q", "-f", "origin", "--tags"]);
    assert_eq!(applied_name(&t), "v1-a");
    assert_eq!(lock(&t)["modules"][&source]["commit"], v1.as_str());
    // Dropping the lock entry follows the tag.
    std::fs::remove_file(t.join(format!("{ENV}/.slipway.lock.json"))).unwrap();
    assert_eq!(applied_name(&t), "v2-a");
}

#[test]
fn bad_git_sources_are_reported_at_the_source_attribute() {
    let t = TestDir::new();
    let (_repo, _v1, _v2) = module_repo(&t);
    let daemon = GitDaemon::start(&t.join("git"));
    let dead_port = crate::util::free_port_on("127.0.0.1");
    for (source, detail) in [
        (
            format!("git::{}//modules/naming?ref=v9.9.9", daemon.url("origin.git")),
            "no branch, tag or commit `v9.9.9`",
        ),
        (
            format!("git::{}//modules/nothing?ref=v1.0.0", daemon.url("origin.git")),
            "has no directory `modules/nothing`",
        ),
        (format!("git::git://127.0.0.1:{dead_port}/origin.git//modules/naming"), "cannot fetch"),
        ("git::ftp://127.0.0.1/modules.git//naming".to_string(), "unknown scheme `ftp`"),
        (
            format!("git::{}//modules/naming?rev=v1", daemon.url("origin.git")),
            "unknown query parameter",
        ),
    ] {
        env_with_source(&t, &source);
        let r = slipway(&t, &["validate", ENV, "--json"]);
        r.assert_code(1);
        r.assert_no_crash();
        let doc = r.json();
        let e = errors(&doc);
        assert_eq!(e.len(), 1, "{source}: {:?}", summaries(&doc));
        let d = e[0];
        assert!(d["summary"].as_str().unwrap().contains("cannot load module source"), "{d}");
        assert!(d["detail"].as_str().unwrap().contains(detail), "{source}: {d}");
        // Located at the `source` attribute's value: line 2, after `  source = `.
        assert!(d["range"]["filename"].as_str().unwrap().ends_with("main.hcl"), "{d}");
        assert_eq!(d["range"]["start"]["line"], 2, "{d}");
        assert_eq!(d["range"]["start"]["column"], 12, "{d}");
    }
    assert!(!t.join(format!("{ENV}/.slipway.lock.json")).exists());
}

#[test]
fn a_module_symlink_pointing_out_of_the_repository_is_not_followed() {
    let t = TestDir::new();
    let repo = Repo::new(&t.join("git"));
    repo.write("modules/naming/main.hcl", &module("v1"));
    // A hostile module: a link to a file of the machine that loads it.
    std::os::unix::fs::symlink("/etc/hostname", repo.work.join("modules/naming/leak.hcl")).unwrap();
    let commit = repo.commit_push("v1 with a link out");
    let source = format!("git::file://{}//modules/naming", repo.origin.display());
    env_with_source(&t, &source);
    let r = slipway(&t, &["validate", ENV, "--json"]);
    r.assert_code(0);
    let tree = t.join(format!("cache/trees/{commit}/modules/naming"));
    assert!(tree.join("main.hcl").is_file());
    assert!(
        std::fs::symlink_metadata(tree.join("leak.hcl")).is_err(),
        "the escaping link was written"
    );
}
