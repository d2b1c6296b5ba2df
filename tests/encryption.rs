//! State encryption at rest, end to end through the binary: no plaintext anywhere in what the
//! local and S3 backends store, a wrong key fails clearly without touching anything, rotation
//! with a fallback key, and encrypting existing plaintext state with `state migrate`.

use std::path::{Path, PathBuf};

use crate::backend_s3::{all_versions, bucket, repo, sw};
use crate::moto::Moto;
use crate::util::{Cmd, Run};

const ENC: &str = "  encryption {\n    passphrase_env = \"STATE_PASS\"\n  }\n";
const ENC_ROTATING: &str = "  encryption {\n    passphrase_env          = \"STATE_PASS\"\n    fallback_passphrase_env = \"OLD_STATE_PASS\"\n  }\n";

/// Strings that must never appear in stored bytes: a resource address, a known attribute
/// value, a resource type.
const MARKERS: &[&str] = &["plainmarker", "random_id.x", "tls_private_key", "random_password"];

fn local_settings(enc: &str) -> String {
    format!("slipway {{\n{enc}}}\n")
}

fn s3_settings(enc: &str) -> String {
    format!(
        "slipway {{\n  backend \"s3\" {{\n    bucket = \"state-bucket\"\n    key    = \"envs/test/state.json\"\n  }}\n{enc}}}\n"
    )
}

/// Every file under `dir`, with its bytes, sorted.
fn tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.clone(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

fn assert_no_plaintext(what: &str, items: &[(String, Vec<u8>)]) {
    assert!(!items.is_empty(), "{what}: nothing stored?");
    for (name, bytes) in items {
        for m in MARKERS {
            assert!(
                !bytes.windows(m.len()).any(|w| w == m.as_bytes()),
                "{what}: {name} contains the plaintext marker {m:?}"
            );
        }
    }
}

fn named(t: Vec<(PathBuf, Vec<u8>)>) -> Vec<(String, Vec<u8>)> {
    t.into_iter().map(|(p, b)| (p.display().to_string(), b)).collect()
}

fn local(env: &Path, state: &Path, pass: Option<&str>, old: Option<&str>, args: &[&str]) -> Run {
    let mut c = Cmd::new();
    c.args(args.iter().map(|a| if *a == "ENV" { env.to_str().unwrap() } else { a }))
        .env("SLIPWAY_STATE_DIR", state);
    if let Some(p) = pass {
        c.env("STATE_PASS", p);
    }
    if let Some(p) = old {
        c.env("OLD_STATE_PASS", p);
    }
    c.run()
}

#[test]
fn local_state_is_encrypted_everywhere_and_a_wrong_key_touches_nothing() {
    let (_t, env, state) = repo(&local_settings(ENC));
    let pass = Some("correct horse battery staple");
    let r = local(&env, &state, pass, None, &["apply", "ENV", "-auto-approve"]);
    r.assert_code(0);
    // A second run (journal + compaction over an existing snapshot → a backup too).
    local(&env, &state, pass, None, &["apply", "ENV", "-auto-approve", "-var", "wait=2ms"])
        .assert_code(0);
    let stored = tree(&state);
    let names: Vec<String> =
        stored.iter().map(|(p, _)| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert!(
        names.contains(&"state.json.backup".to_string())
            && names.contains(&"state.json.journal".to_string()),
        "{names:?}"
    );
    assert_no_plaintext("local state", &named(stored.clone()));
    local(&env, &state, pass, None, &["plan", "ENV", "--detailed-exitcode", "-var", "wait=2ms"])
        .assert_code(0);

    // Wrong key: a clear error naming the key's source and the file; bytes unchanged.
    let r = local(&env, &state, Some("WRONGPASS-xyz"), None, &["plan", "ENV"]);
    r.assert_code(1);
    assert!(
        r.stderr.contains("cannot be decrypted")
            && r.stderr.contains("$STATE_PASS")
            && r.stderr.contains("state.json"),
        "{}",
        r.dump()
    );
    assert!(r.stderr.contains("nothing was changed"), "{}", r.dump());
    assert!(
        !r.stderr.contains("WRONGPASS") && !r.stderr.contains("correct horse"),
        "no key is printed"
    );
    let r2 = local(&env, &state, Some("WRONGPASS-xyz"), None, &["apply", "ENV", "-auto-approve"]);
    r2.assert_code(1);
    assert_eq!(tree(&state), stored, "a wrong key changes no stored byte");
    // The key's variable unset: a config error at the attribute.
    let r = local(&env, &state, None, None, &["plan", "ENV"]);
    r.assert_code(1);
    assert!(r.stderr.contains("STATE_PASS") && r.stderr.contains("is not set"), "{}", r.dump());
    assert!(r.stderr.contains("main.hcl:3:"), "{}", r.dump());
    assert_eq!(tree(&state), stored);
    // force-unlock needs no key: a lock holds no state, and a lost key must not pin it.
    std::fs::write(
        state.join("test/state.lock"),
        r#"{"id":"dead-run","operation":"apply","who":"x@y","host":"elsewhere","pid":1,"created":"2020-01-01T00:00:00Z","version":"0"}"#,
    )
    .unwrap();
    local(&env, &state, None, None, &["force-unlock", "dead-run", "--dir", "ENV"]).assert_code(0);
    assert!(!state.join("test/state.lock").exists());
    // Show/output need the key too, and never print it.
    let r = local(&env, &state, pass, None, &["output", "--dir", "ENV", "ids"]);
    r.assert_code(0);
    assert!(r.stdout.contains("plainmarker-one-"), "{}", r.dump());
}

#[test]
fn rotation_reads_with_the_fallback_and_writes_with_the_new_key() {
    let (t, env, state) = repo(&local_settings(ENC));
    local(&env, &state, Some("old pass"), None, &["apply", "ENV", "-auto-approve"]).assert_code(0);
    // New primary, old as fallback: reads; writes go under the new key.
    t.write(
        "environments/test/main.hcl",
        std::fs::read_to_string(env.join("main.hcl")).unwrap().replace(ENC, ENC_ROTATING),
    );
    local(
        &env,
        &state,
        Some("new pass"),
        Some("old pass"),
        &["plan", "ENV", "--detailed-exitcode"],
    )
    .assert_code(0);
    // Finish the rotation: re-write everything under the new key.
    let r = local(
        &env,
        &state,
        Some("new pass"),
        Some("old pass"),
        &["state", "migrate", "--dir", "ENV"],
    );
    r.assert_code(0);
    assert!(r.stdout.contains("Re-wrote"), "{}", r.dump());
    assert_no_plaintext("after rotation", &named(tree(&state)));
    // The old key alone no longer opens anything; the new one alone does.
    t.write(
        "environments/test/main.hcl",
        std::fs::read_to_string(env.join("main.hcl")).unwrap().replace(ENC_ROTATING, ENC),
    );
    let r = local(&env, &state, Some("old pass"), None, &["plan", "ENV"]);
    r.assert_code(1);
    assert!(r.stderr.contains("cannot be decrypted"), "{}", r.dump());
    local(&env, &state, Some("new pass"), None, &["plan", "ENV", "--detailed-exitcode"])
        .assert_code(0);
}

#[test]
fn plaintext_state_is_encrypted_by_state_migrate() {
    let (t, env, state) = repo("");
    local(&env, &state, None, None, &["apply", "ENV", "-auto-approve"]).assert_code(0);
    let plain = tree(&state);
    assert!(
        plain.iter().any(|(_, b)| b.windows(11).any(|w| w == b"plainmarker")),
        "the marker is visible in plaintext state (so the check below means something)"
    );
    let body = std::fs::read_to_string(env.join("main.hcl")).unwrap();
    t.write("environments/test/main.hcl", format!("{}{body}", local_settings(ENC)));
    // Configured but not yet migrated: refused, nothing touched.
    let r = local(&env, &state, Some("pw"), None, &["plan", "ENV"]);
    r.assert_code(1);
    assert!(
        r.stderr.contains("not encrypted") && r.stderr.contains("state migrate"),
        "{}",
        r.dump()
    );
    assert_eq!(tree(&state), plain);
    local(&env, &state, Some("pw"), None, &["state", "migrate", "--dir", "ENV"]).assert_code(0);
    assert_no_plaintext("after migrate", &named(tree(&state)));
    local(&env, &state, Some("pw"), None, &["plan", "ENV", "--detailed-exitcode"]).assert_code(0);
}

#[test]
fn s3_state_is_encrypted_in_every_object_version_and_wrong_key_changes_nothing() {
    let moto = Moto::start();
    bucket(&moto, "state-bucket", None);
    let (_t, env, state) = repo(&s3_settings(ENC));
    let run =
        |pass: &str, args: &[&str]| sw(&moto, &env, &state, args).env("STATE_PASS", pass).run();
    run("s3 pass", &["apply", "ENV", "-auto-approve"]).assert_code(0);
    run("s3 pass", &["apply", "ENV", "-auto-approve", "-var", "wait=2ms"]).assert_code(0);
    let versions = all_versions(&moto, "state-bucket");
    let keys: std::collections::BTreeSet<&str> = versions.iter().map(|(k, _)| k.as_str()).collect();
    assert!(keys.iter().any(|k| k.contains(".journal/")), "{keys:?}");
    assert!(keys.contains("envs/test/state.json.backup"), "{keys:?}");
    // Every version of every object except the lock (which holds no state) is sealed.
    let state_objects: Vec<(String, Vec<u8>)> =
        versions.iter().filter(|(k, _)| !k.ends_with(".lock")).cloned().collect();
    assert_no_plaintext("s3 objects", &state_objects);
    for (k, b) in &state_objects {
        if !k.contains(".journal/") {
            assert!(b.starts_with(b"SLPWENC1"), "{k} is not an envelope");
        }
    }
    eprintln!(
        "s3: {} object versions, {} bytes, all sealed",
        state_objects.len(),
        state_objects.iter().map(|(_, b)| b.len()).sum::<usize>()
    );
    run("s3 pass", &["plan", "ENV", "--detailed-exitcode", "-var", "wait=2ms"]).assert_code(0);
    let r = run("not it", &["apply", "ENV", "-auto-approve"]);
    r.assert_code(1);
    assert!(
        r.stderr.contains("s3://state-bucket/envs/test/state.json")
            && r.stderr.contains("$STATE_PASS"),
        "{}",
        r.dump()
    );
    let after: Vec<(String, Vec<u8>)> = all_versions(&moto, "state-bucket")
        .into_iter()
        .filter(|(k, _)| !k.ends_with(".lock"))
        .collect();
    assert_eq!(after, state_objects, "a wrong key changes no stored object");
}

#[test]
fn migrate_between_directories_re_encrypts_under_the_destination_key() {
    let (_t, env, state) = repo(&local_settings(ENC));
    local(&env, &state, Some("source key"), None, &["apply", "ENV", "-auto-approve"])
        .assert_code(0);
    let source = tree(&state);
    let dest = state.parent().unwrap().join("state-new");
    let mut c = Cmd::new();
    c.args([
        "state",
        "migrate",
        "--dir",
        env.to_str().unwrap(),
        "--from",
        &format!("local={}", state.display()),
        "--from-passphrase-env",
        "SOURCE_PASS",
    ])
    .env("SLIPWAY_STATE_DIR", &dest)
    .env("SOURCE_PASS", "source key")
    .env("STATE_PASS", "destination key");
    let r = c.run();
    r.assert_code(0);
    assert!(r.stdout.contains("read back"), "{}", r.dump());
    assert_eq!(tree(&state), source, "the source is untouched");
    assert_no_plaintext("migrated", &named(tree(&dest)));
    local(&env, &dest, Some("destination key"), None, &["plan", "ENV", "--detailed-exitcode"])
        .assert_code(0);
    let r = local(&env, &dest, Some("source key"), None, &["plan", "ENV"]);
    r.assert_code(1);
    assert!(r.stderr.contains("cannot be decrypted"), "{}", r.dump());
}
