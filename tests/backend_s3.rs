//! The S3 backend end to end, through the binary against a real moto server (S3 and DynamoDB):
//! lock contention, heartbeat/TTL staleness after a SIGKILLed holder, force-unlock, plan/apply/
//! destroy, a crash mid-apply, and `state migrate` local → s3 → local.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use crate::moto::Moto;
use crate::util::{Cmd, Run, TestDir};

/// A slipway command against `moto`, with state (for the local backend) under `state`.
pub fn sw(moto: &Moto, env: &Path, state: &Path, args: &[&str]) -> Cmd {
    let mut c = Cmd::new();
    c.args(args.iter().map(|a| if *a == "ENV" { env.to_str().unwrap() } else { a }))
        .env("AWS_ENDPOINT_URL", moto.endpoint())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("SLIPWAY_STATE_DIR", state)
        .timeout(Duration::from_secs(300));
    c
}

/// The same, started in the background (for holders that get killed).
pub fn spawn(moto: &Moto, env: &Path, state: &Path, args: &[&str]) -> Child {
    let mut c = Command::new(crate::util::slipway_bin());
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("SLIPWAY_") {
            c.env_remove(&k);
        }
    }
    c.args(args.iter().map(|a| if *a == "ENV" { env.to_str().unwrap() } else { a }))
        .env("NO_COLOR", "1")
        .env("AWS_ENDPOINT_URL", moto.endpoint())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("SLIPWAY_STATE_DIR", state)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn slipway")
}

/// A versioned bucket (and, with `table`, a lock table keyed by `LockID`).
pub fn bucket(moto: &Moto, name: &str, table: Option<&str>) {
    let mut py = format!(
        "s3.create_bucket(Bucket='{name}')\ns3.put_bucket_versioning(Bucket='{name}', VersioningConfiguration={{'Status': 'Enabled'}})\n"
    );
    if let Some(t) = table {
        py.push_str(&format!(
            "ddb = boto3.client('dynamodb', **kw)\nddb.create_table(TableName='{t}', KeySchema=[{{'AttributeName': 'LockID', 'KeyType': 'HASH'}}], AttributeDefinitions=[{{'AttributeName': 'LockID', 'AttributeType': 'S'}}], BillingMode='PAY_PER_REQUEST')\n"
        ));
    }
    moto.boto3(&py);
}

/// Every version of every object in `bucket`: (key, bytes).
pub fn all_versions(moto: &Moto, bucket: &str) -> Vec<(String, Vec<u8>)> {
    let out = moto.boto3(&format!(
        "r = s3.list_object_versions(Bucket='{bucket}')\nfor v in r.get('Versions', []):\n    b = s3.get_object(Bucket='{bucket}', Key=v['Key'], VersionId=v['VersionId'])['Body'].read()\n    out.append([v['Key'], base64.b64encode(b).decode()])\n"
    ));
    use base64::Engine as _;
    out.as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p[0].as_str().unwrap().to_string(),
                base64::engine::general_purpose::STANDARD.decode(p[1].as_str().unwrap()).unwrap(),
            )
        })
        .collect()
}

/// The current object at `key`, if any.
pub fn object(moto: &Moto, bucket: &str, key: &str) -> Option<Vec<u8>> {
    let out = moto.boto3(&format!(
        "try:\n    out.append(base64.b64encode(s3.get_object(Bucket='{bucket}', Key='{key}')['Body'].read()).decode())\nexcept s3.exceptions.NoSuchKey:\n    pass\n"
    ));
    use base64::Engine as _;
    out.as_array()
        .unwrap()
        .first()
        .map(|v| base64::engine::general_purpose::STANDARD.decode(v.as_str().unwrap()).unwrap())
}

fn s3_block(bucket: &str, extra: &str) -> String {
    format!(
        "slipway {{\n  backend \"s3\" {{\n    bucket = \"{bucket}\"\n    key    = \"envs/test/state.json\"\n{extra}  }}\n}}\n"
    )
}

const RESOURCES: &str = r#"
variable "wait" {
  type    = string
  default = "1ms"
}

resource "random_id" "x" {
  for_each    = toset(["one", "two"])
  byte_length = 4
  prefix      = "plainmarker-${each.key}-"
}

resource "time_sleep" "pause" {
  create_duration = var.wait
}

resource "random_password" "secret" {
  length = 20
}

resource "tls_private_key" "k" {
  algorithm = "ECDSA"
}

output "ids" {
  value = { for k, v in random_id.x : k => v.hex }
}
"#;

/// A repository with environments/test holding `settings` + the resources.
pub fn repo(settings: &str) -> (TestDir, PathBuf, PathBuf) {
    let t = TestDir::new();
    t.write("environments/test/main.hcl", format!("{settings}{RESOURCES}"));
    let env = t.join("environments/test");
    let state = t.join("state");
    (t, env, state)
}

fn lock_id_in(stderr: &str) -> Option<String> {
    let i = stderr.find("lock id ")?;
    Some(
        stderr[i + 8..]
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .next()?
            .to_string(),
    )
}

/// 16 applies started at once against one state: exactly one takes the lock, the other 15
/// are refused naming that one holder.
fn sixteen_concurrent_applies_one_winner(extra: &str, table: Option<&str>) {
    let moto = Moto::start();
    bucket(&moto, "state-bucket", table);
    let (_t, env, state) = repo(&s3_block("state-bucket", extra));
    let moto = Arc::new(moto);
    let barrier = Arc::new(Barrier::new(16));
    let runs: Vec<Run> = (0..16)
        .map(|_| {
            let (moto, barrier, env, state) =
                (moto.clone(), barrier.clone(), env.clone(), state.clone());
            std::thread::spawn(move || {
                let mut c =
                    sw(&moto, &env, &state, &["apply", "ENV", "-auto-approve", "-var", "wait=20s"]);
                barrier.wait();
                c.run()
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .collect();
    let winners: Vec<&Run> = runs.iter().filter(|r| r.code == Some(0)).collect();
    assert_eq!(
        winners.len(),
        1,
        "exactly one winner expected:\n{}",
        runs.iter().map(|r| r.dump()).collect::<Vec<_>>().join("\n")
    );
    // On failure, every run's output: which one held the lock when matters.
    let all = || runs.iter().map(|r| r.dump()).collect::<Vec<_>>().join("\n");
    let mut holders = std::collections::BTreeSet::new();
    for r in runs.iter().filter(|r| r.code != Some(0)) {
        assert_eq!(r.code, Some(1), "{}", all());
        assert!(r.stderr.contains("is locked by"), "refused for another reason:\n{}", all());
        assert!(!r.stderr.contains("stale"), "a live holder called stale:\n{}", all());
        holders.insert(lock_id_in(&r.stderr).expect("lock id in the message"));
    }
    assert_eq!(holders.len(), 1, "all losers name one holder: {holders:?}");
    eprintln!(
        "16 concurrent applies: 1 winner, {} refused naming lock {holders:?}",
        runs.len() - 1
    );
    // The lock is gone after the winner; the state is complete.
    sw(&moto, &env, &state, &["plan", "ENV", "--detailed-exitcode", "-var", "wait=20s"])
        .run()
        .assert_code(0);
}

#[test]
fn s3_lock_sixteen_concurrent_applies_one_winner() {
    sixteen_concurrent_applies_one_winner("", None);
}

#[test]
fn dynamodb_lock_sixteen_concurrent_applies_one_winner() {
    sixteen_concurrent_applies_one_winner("    dynamodb_table = \"locks\"\n", Some("locks"));
}

fn lock_json(moto: &Moto) -> Option<serde_json::Value> {
    object(moto, "state-bucket", "envs/test/state.json.lock")
        .map(|b| serde_json::from_slice(&b).unwrap())
}

#[test]
fn heartbeat_ttl_dead_holders_taken_over_force_unlock_and_crash_recovery() {
    let moto = Moto::start();
    bucket(&moto, "state-bucket", None);
    let (_t, env, state) = repo(&s3_block("state-bucket", "    lock_ttl = \"4s\"\n"));
    let mut holder =
        spawn(&moto, &env, &state, &["apply", "ENV", "-auto-approve", "-var", "wait=120s"]);
    let t = Instant::now();
    let first = loop {
        if let Some(l) = lock_json(&moto) {
            break l;
        }
        assert!(t.elapsed() < Duration::from_secs(60), "no lock appeared");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(first["ttl_seconds"], 4);
    assert_eq!(first["operation"], "apply");
    // A live holder refreshes its heartbeat (every TTL/3) and is never called stale.
    std::thread::sleep(Duration::from_secs(6));
    let later = lock_json(&moto).unwrap();
    assert_eq!(later["id"], first["id"]);
    assert_ne!(later["heartbeat"], first["heartbeat"], "heartbeat refreshed");
    let r = sw(&moto, &env, &state, &["plan", "ENV"]).run();
    r.assert_code(1);
    assert!(r.stderr.contains("is locked by") && !r.stderr.contains("stale"), "{}", r.dump());
    let id = first["id"].as_str().unwrap().to_string();

    // SIGKILL mid-apply: on this host, the dead pid proves the holder dead, so the next run
    // takes the lock over (no manual step), loudly, naming the old holder.
    unsafe {
        libc::kill(holder.id() as i32, libc::SIGKILL);
    }
    holder.wait().unwrap();
    let r = sw(&moto, &env, &state, &["plan", "ENV"]).run();
    r.assert_code(0);
    assert!(
        r.stderr.contains("taking over the state lock")
            && r.stderr.contains("no longer exists on this host")
            && r.stderr.contains(&id),
        "{}",
        r.dump()
    );
    assert!(lock_json(&moto).is_none(), "the plan released what it took");

    // A lock as if held from another machine (pid unknowable): fresh → held, never broken;
    // once its heartbeat is older than the TTL (its holder stopped writing at 2/3 of it) →
    // taken over, naming the TTL.
    let put_remote_lock = |id: &str| {
        let mut l = first.clone();
        l["id"] = id.into();
        let body = serde_json::to_string(&l).unwrap();
        moto.boto3(&format!(
            "import datetime\nl = json.loads({body:?})\nl['host'] = 'elsewhere.example'\nl['heartbeat'] = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')\ns3.put_object(Bucket='state-bucket', Key='envs/test/state.json.lock', Body=json.dumps(l).encode())\n"
        ));
    };
    put_remote_lock("remote-holder");
    let r = sw(&moto, &env, &state, &["plan", "ENV"]).run();
    r.assert_code(1);
    assert!(r.stderr.contains("is locked by") && !r.stderr.contains("stale"), "{}", r.dump());
    assert!(r.stderr.contains("force-unlock"), "{}", r.dump());
    std::thread::sleep(Duration::from_secs(6));
    let r = sw(&moto, &env, &state, &["plan", "ENV"]).run();
    r.assert_code(0);
    assert!(
        r.stderr.contains("taking over the state lock")
            && r.stderr.contains("TTL of 4s")
            && r.stderr.contains("remote-holder"),
        "{}",
        r.dump()
    );
    assert!(lock_json(&moto).is_none());

    // force-unlock of a live-looking lock: the wrong id is refused and leaves the lock; the
    // right one removes it.
    put_remote_lock("remote-holder-2");
    let r = sw(&moto, &env, &state, &["force-unlock", "not-the-id", "--dir", "ENV"]).run();
    r.assert_code(1);
    assert!(r.stderr.contains("does not match"), "{}", r.dump());
    assert!(lock_json(&moto).is_some());
    sw(&moto, &env, &state, &["force-unlock", "remote-holder-2", "--dir", "ENV"])
        .run()
        .assert_code(0);
    assert!(lock_json(&moto).is_none());

    // The killed apply's journal is there: the next apply converges, with nothing duplicated.
    let r = sw(&moto, &env, &state, &["apply", "ENV", "-auto-approve"]).run();
    r.assert_code(0);
    let r = sw(&moto, &env, &state, &["plan", "ENV", "--detailed-exitcode"]).run();
    r.assert_code(0);
    let list = sw(&moto, &env, &state, &["state", "list", "--dir", "ENV"]).run();
    list.assert_code(0);
    assert_eq!(list.stdout.lines().count(), 5, "{}", list.dump());
}

#[test]
fn apply_plan_destroy_with_the_s3_backend_and_dynamodb_lock() {
    let moto = Moto::start();
    bucket(&moto, "state-bucket", Some("locks"));
    let (_t, env, state) = repo(&s3_block(
        "state-bucket",
        "    dynamodb_table = \"locks\"\n    encrypt        = true\n",
    ));
    let r = sw(&moto, &env, &state, &["apply", "ENV", "-auto-approve"]).run();
    r.assert_code(0);
    assert!(r.stdout.contains("5 added"), "{}", r.dump());
    sw(&moto, &env, &state, &["plan", "ENV", "--detailed-exitcode"]).run().assert_code(0);
    // Nothing of the state lives locally; the snapshot is in S3, compacted, with SSE.
    assert!(!state.exists(), "no local state with the s3 backend");
    let snap: serde_json::Value =
        serde_json::from_slice(&object(&moto, "state-bucket", "envs/test/state.json").unwrap())
            .unwrap();
    assert_eq!(snap["resources"].as_object().unwrap().len(), 5);
    let sse = moto.boto3(
        "out.append(s3.head_object(Bucket='state-bucket', Key='envs/test/state.json').get('ServerSideEncryption'))",
    );
    assert_eq!(sse[0], "AES256");
    // The lock item is gone after the run; no lock object was used.
    let items = moto.boto3(
        "ddb = boto3.client('dynamodb', **kw)\nout.append(len(ddb.scan(TableName='locks')['Items']))",
    );
    assert_eq!(items[0], 0);
    assert!(object(&moto, "state-bucket", "envs/test/state.json.lock").is_none());
    // No journal objects remain after compaction (only delete markers / old versions).
    let current = moto.boto3(
        "out.extend([o['Key'] for o in s3.list_objects_v2(Bucket='state-bucket').get('Contents', [])])",
    );
    let mut keys: Vec<&str> =
        current.as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    keys.sort();
    assert_eq!(keys, ["envs/test/state.json", "envs/test/state.json.backup"], "{current}");

    let r = sw(&moto, &env, &state, &["destroy", "ENV", "-auto-approve"]).run();
    r.assert_code(0);
    let r = sw(&moto, &env, &state, &["plan", "ENV", "--detailed-exitcode"]).run();
    r.assert_code(2);
    assert!(r.stdout.contains("5 to add"), "{}", r.dump());
    let snap: serde_json::Value =
        serde_json::from_slice(&object(&moto, "state-bucket", "envs/test/state.json").unwrap())
            .unwrap();
    assert_eq!(snap["resources"].as_object().unwrap().len(), 0);
}

fn hash_tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
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

#[test]
fn migrate_local_to_s3_and_back_keeps_everything() {
    let moto = Moto::start();
    bucket(&moto, "state-bucket", None);
    let (t, env, state) = repo("");
    sw(&moto, &env, &state, &["apply", "ENV", "-auto-approve"]).run().assert_code(0);
    let local: serde_json::Value =
        serde_json::from_slice(&std::fs::read(state.join("test/state.json")).unwrap()).unwrap();
    let before = hash_tree(&state);

    // Into S3: the environment now names the s3 backend; --from says where the state is.
    t.write("environments/test/main.hcl", format!("{}{RESOURCES}", s3_block("state-bucket", "")));
    let r = sw(&moto, &env, &state, &["plan", "ENV", "--detailed-exitcode"]).run();
    r.assert_code(2); // an empty S3 state: everything to add
    let r = sw(&moto, &env, &state, &["state", "migrate", "--dir", "ENV", "--from", "local"]).run();
    r.assert_code(0);
    assert!(r.stdout.contains("read back"), "{}", r.dump());
    assert_eq!(hash_tree(&state), before, "the source is untouched");
    let remote: serde_json::Value =
        serde_json::from_slice(&object(&moto, "state-bucket", "envs/test/state.json").unwrap())
            .unwrap();
    assert_eq!(remote, local, "lineage, serial, resources kept");
    sw(&moto, &env, &state, &["plan", "ENV", "--detailed-exitcode"]).run().assert_code(0);
    // Running it again is a no-op; into a different, non-empty state it is refused.
    let r = sw(&moto, &env, &state, &["state", "migrate", "--dir", "ENV", "--from", "local"]).run();
    r.assert_code(0);
    assert!(r.stdout.contains("already there"), "{}", r.dump());

    // Back to local, in another directory.
    t.write("environments/test/main.hcl", RESOURCES);
    let state2 = t.join("state2");
    let r = sw(
        &moto,
        &env,
        &state2,
        &["state", "migrate", "--dir", "ENV", "--from", "s3://state-bucket/envs/test/state.json"],
    )
    .run();
    r.assert_code(0);
    let back: serde_json::Value =
        serde_json::from_slice(&std::fs::read(state2.join("test/state.json")).unwrap()).unwrap();
    assert_eq!(back, local);
    sw(&moto, &env, &state2, &["plan", "ENV", "--detailed-exitcode"]).run().assert_code(0);
    // A source without state is refused (nothing to migrate), and nothing is written.
    let r = sw(
        &moto,
        &env,
        &state2,
        &[
            "state",
            "migrate",
            "--dir",
            "ENV",
            "--from",
            &format!("local={}", t.join("elsewhere").display()),
        ],
    )
    .run();
    r.assert_code(1);
    assert!(r.stderr.contains("no state to migrate"), "{}", r.dump());
}

#[test]
fn s3_backend_config_errors_point_at_the_attribute() {
    let (_t, env, state) = repo(
        "slipway {\n  backend \"s3\" {\n    bucket   = \"b\"\n    lock_ttl = \"soon\"\n    regoin   = \"x\"\n  }\n}\n",
    );
    let r = Cmd::new().args(["plan", env.to_str().unwrap()]).env("SLIPWAY_STATE_DIR", &state).run();
    r.assert_code(1);
    assert!(r.stderr.contains("needs `key`"), "{}", r.dump());
    assert!(r.stderr.contains("lock_ttl"), "{}", r.dump());
    assert!(r.stderr.contains("did you mean `region`"), "{}", r.dump());
    assert!(r.stderr.contains("main.hcl:4:"), "file:line:column: {}", r.dump());
}

/// Resources that take a little while each, so a kill lands mid-apply.
fn crash_config(groups: usize) -> String {
    let mut s = String::from(
        "resource \"tls_private_key\" \"ca\" {\n  algorithm = \"ECDSA\"\n}\n\nresource \"tls_self_signed_cert\" \"ca\" {\n  private_key_pem       = tls_private_key.ca.private_key_pem\n  validity_period_hours = 48\n  is_ca_certificate     = true\n  allowed_uses          = [\"cert_signing\"]\n  subject {\n    common_name = \"crash-ca\"\n  }\n}\n",
    );
    for i in 0..groups {
        let ms = 80 + (i * 53) % 250;
        s.push_str(&format!(
            "\nresource \"random_id\" \"r{i}\" {{\n  byte_length = 4\n}}\n\nresource \"time_sleep\" \"s{i}\" {{\n  create_duration = \"{ms}ms\"\n  triggers        = {{ after = random_id.r{i}.hex }}\n}}\n\nresource \"tls_private_key\" \"k{i}\" {{\n  algorithm = \"ED25519\"\n}}\n\nresource \"tls_cert_request\" \"c{i}\" {{\n  private_key_pem = tls_private_key.k{i}.private_key_pem\n  dns_names       = [\"node{i}.example.internal\", time_sleep.s{i}.id]\n  subject {{\n    common_name = \"node{i}\"\n  }}\n}}\n\nresource \"tls_locally_signed_cert\" \"c{i}\" {{\n  cert_request_pem      = tls_cert_request.c{i}.cert_request_pem\n  ca_private_key_pem    = tls_private_key.ca.private_key_pem\n  ca_cert_pem           = tls_self_signed_cert.ca.cert_pem\n  validity_period_hours = 24\n  allowed_uses          = [\"server_auth\"]\n}}\n"
        ));
    }
    s
}

/// SIGKILL at eight moments of applies against encrypted S3 state: after each, the state is
/// readable and the dead holder's lock is reported (and removed by id); the last apply
/// converges with exactly the configured instances.
#[test]
fn sigkill_mid_apply_with_encrypted_s3_state_then_apply_converges() {
    let moto = Moto::start();
    bucket(&moto, "state-bucket", None);
    let t = TestDir::new();
    t.write(
        "environments/test/main.hcl",
        format!(
            "{}{}",
            s3_block("state-bucket", "").replace(
                "  }\n}\n",
                "  }\n  encryption {\n    passphrase_env = \"STATE_PASS\"\n  }\n}\n"
            ),
            crash_config(6)
        ),
    );
    let (env, state) = (t.join("environments/test"), t.join("state"));
    let run = |args: &[&str]| sw(&moto, &env, &state, args).env("STATE_PASS", "pw").run();
    let apply = || {
        let mut c = Command::new(crate::util::slipway_bin());
        c.args(["apply", env.to_str().unwrap(), "-auto-approve", "--parallelism", "3"])
            .env("NO_COLOR", "1")
            .env("AWS_ENDPOINT_URL", moto.endpoint())
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env("STATE_PASS", "pw")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c.spawn().unwrap()
    };
    let t0 = Instant::now();
    assert!(apply().wait().unwrap().success());
    let full = t0.elapsed();
    run(&["destroy", "ENV", "-auto-approve"]).assert_code(0);
    let mut seed: u64 = 0x5eed_5335;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut window = (full.as_millis() as u64 * 7 / 10).max(2);
    let (mut kills, mut attempts) = (0, 0);
    while kills < 8 {
        attempts += 1;
        assert!(attempts <= 40, "only {kills} of 8 kills landed mid-apply");
        if kills % 2 == 0 {
            run(&["destroy", "ENV", "-auto-approve"]).assert_code(0);
        }
        let mut child = apply();
        std::thread::sleep(Duration::from_millis(next() % window));
        let finished = child.try_wait().unwrap().is_some();
        unsafe {
            libc::kill(child.id() as i32, libc::SIGKILL);
        }
        child.wait().unwrap();
        run(&["state", "list", "--dir", "ENV"]).assert_code(0);
        // No manual step: the next run takes over the dead run's lock.
        if let Some(l) = lock_json(&moto) {
            let r = run(&["plan", "ENV"]);
            r.assert_code(0);
            assert!(
                r.stderr.contains("taking over") && r.stderr.contains(l["id"].as_str().unwrap()),
                "{}",
                r.dump()
            );
        }
        if finished {
            window = (window / 2).max(2);
        } else {
            kills += 1;
        }
    }
    run(&["apply", "ENV", "-auto-approve"]).assert_code(0);
    run(&["plan", "ENV", "--detailed-exitcode"]).assert_code(0);
    let list = run(&["state", "list", "--dir", "ENV"]);
    assert_eq!(list.stdout.lines().count(), 2 + 6 * 5, "{}", list.dump());
    let snap = object(&moto, "state-bucket", "envs/test/state.json").unwrap();
    assert!(snap.starts_with(b"SLPWENC1"), "the state is sealed");
    eprintln!("{kills} kills mid-apply in {attempts} attempts (full apply {full:?})");
}

#[test]
fn dynamodb_lock_of_a_killed_holder_is_taken_over_and_force_unlock_needs_its_id() {
    let moto = Moto::start();
    bucket(&moto, "state-bucket", Some("locks"));
    let (_t, env, state) = repo(&s3_block(
        "state-bucket",
        "    dynamodb_table = \"locks\"\n    lock_ttl       = \"3s\"\n",
    ));
    let item = || {
        let v = moto.boto3(
            "ddb = boto3.client('dynamodb', **kw)\nout.extend([json.loads(i['Info']['S']) for i in ddb.scan(TableName='locks')['Items']])",
        );
        v.as_array().unwrap().first().cloned()
    };
    let mut holder =
        spawn(&moto, &env, &state, &["apply", "ENV", "-auto-approve", "-var", "wait=120s"]);
    let t = Instant::now();
    let lock = loop {
        if let Some(l) = item() {
            break l;
        }
        assert!(t.elapsed() < Duration::from_secs(60), "no lock item appeared");
        std::thread::sleep(Duration::from_millis(200));
    };
    std::thread::sleep(Duration::from_secs(3));
    assert_ne!(
        item().unwrap()["heartbeat"],
        lock["heartbeat"],
        "the holder refreshes its lock item"
    );
    assert!(object(&moto, "state-bucket", "envs/test/state.json.lock").is_none());
    unsafe {
        libc::kill(holder.id() as i32, libc::SIGKILL);
    }
    holder.wait().unwrap();
    // The killed holder is provably dead: taken over (a condition on its lock id), loudly.
    let id = lock["id"].as_str().unwrap();
    let r = sw(&moto, &env, &state, &["plan", "ENV"]).run();
    r.assert_code(0);
    assert!(
        r.stderr.contains("taking over the state lock") && r.stderr.contains(id),
        "{}",
        r.dump()
    );
    assert!(item().is_none());
    // A live-looking lock (another host, fresh heartbeat) is refused; force-unlock needs its id.
    let mut other = lock.clone();
    other["id"] = "other-holder".into();
    let body = serde_json::to_string(&other).unwrap();
    moto.boto3(&format!(
        "import datetime\nl = json.loads({body:?})\nl['host'] = 'elsewhere.example'\nl['heartbeat'] = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')\nddb = boto3.client('dynamodb', **kw)\nddb.put_item(TableName='locks', Item={{'LockID': {{'S': {key:?}}}, 'LockId': {{'S': 'other-holder'}}, 'Info': {{'S': json.dumps(l)}}}})\n",
        key = "state-bucket/envs/test/state.json",
    ));
    let r = sw(&moto, &env, &state, &["plan", "ENV"]).run();
    r.assert_code(1);
    assert!(r.stderr.contains("is locked by") && !r.stderr.contains("stale"), "{}", r.dump());
    let r = sw(&moto, &env, &state, &["force-unlock", "wrong", "--dir", "ENV"]).run();
    r.assert_code(1);
    assert!(r.stderr.contains("does not match"), "{}", r.dump());
    assert!(item().is_some());
    sw(&moto, &env, &state, &["force-unlock", "other-holder", "--dir", "ENV"]).run().assert_code(0);
    assert!(item().is_none());
    sw(&moto, &env, &state, &["apply", "ENV", "-auto-approve"]).run().assert_code(0);
    sw(&moto, &env, &state, &["plan", "ENV", "--detailed-exitcode"]).run().assert_code(0);
}

/// The journal of a killed run, damaged in S3: a missing batch (a gap) and a modified record
/// are both refused with an error naming the object — never silently skipped.
#[test]
fn a_gap_or_a_tampered_record_in_the_s3_journal_is_an_error() {
    let moto = Moto::start();
    bucket(&moto, "state-bucket", None);
    let settings = s3_block("state-bucket", "")
        .replace("  }\n}\n", "  }\n  encryption {\n    passphrase_env = \"STATE_PASS\"\n  }\n}\n");
    let (_t, env, state) = repo(&settings);
    let journal = || {
        let v = moto.boto3(
            "out.extend(sorted(o['Key'] for o in s3.list_objects_v2(Bucket='state-bucket', Prefix='envs/test/state.json.journal/').get('Contents', [])))",
        );
        v.as_array().unwrap().iter().map(|k| k.as_str().unwrap().to_string()).collect::<Vec<_>>()
    };
    let mut holder = Command::new(crate::util::slipway_bin());
    holder
        .args([
            "apply",
            env.to_str().unwrap(),
            "-auto-approve",
            "-var",
            "wait=120s",
            "--parallelism",
            "1",
        ])
        .env("AWS_ENDPOINT_URL", moto.endpoint())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("STATE_PASS", "pw")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut holder = holder.spawn().unwrap();
    let t = Instant::now();
    while journal().len() < 3 {
        assert!(t.elapsed() < Duration::from_secs(60), "journal: {:?}", journal());
        std::thread::sleep(Duration::from_millis(200));
    }
    unsafe {
        libc::kill(holder.id() as i32, libc::SIGKILL);
    }
    holder.wait().unwrap();
    let keys = journal();
    let run = |args: &[&str]| sw(&moto, &env, &state, args).env("STATE_PASS", "pw").run();
    let r = run(&["state", "list", "--dir", "ENV"]);
    r.assert_code(0);
    let listed = r.stdout.lines().count();
    assert!(listed >= 1, "{}", r.dump());

    // Flip one byte inside the second batch's sealed payload: the checksum catches it.
    moto.boto3(&format!(
        "k = '{}'\nb = bytearray(s3.get_object(Bucket='state-bucket', Key=k)['Body'].read())\nb[60] ^= 1\ns3.put_object(Bucket='state-bucket', Key=k, Body=bytes(b))\n",
        keys[1]
    ));
    let r = run(&["state", "list", "--dir", "ENV"]);
    r.assert_code(1);
    assert!(r.stderr.contains(&keys[1]) && r.stderr.contains("corrupt"), "{}", r.dump());
    // Remove it instead: the gap is found.
    moto.boto3(&format!("s3.delete_object(Bucket='state-bucket', Key='{}')", keys[1]));
    let r = run(&["state", "list", "--dir", "ENV"]);
    r.assert_code(1);
    assert!(r.stderr.contains(&keys[2]) && r.stderr.contains("expected"), "{}", r.dump());
}

/// A holder frozen (SIGSTOP) past its TTL is taken over by the next run; when it thaws, the
/// zombie writes nothing: it fails instead, and the other run's state stands.
#[test]
fn a_frozen_holder_whose_lock_was_taken_over_writes_nothing_when_it_thaws() {
    let moto = Moto::start();
    bucket(&moto, "state-bucket", None);
    let (_t, env, state) = repo(&s3_block("state-bucket", "    lock_ttl = \"3s\"\n"));
    let mut zombie = Command::new(crate::util::slipway_bin());
    zombie
        .args(["apply", env.to_str().unwrap(), "-auto-approve", "-var", "wait=6s"])
        .env("NO_COLOR", "1")
        .env("AWS_ENDPOINT_URL", moto.endpoint())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let zombie = zombie.spawn().unwrap();
    let t = Instant::now();
    let lock = loop {
        if let Some(l) = lock_json(&moto) {
            break l;
        }
        assert!(t.elapsed() < Duration::from_secs(60), "no lock appeared");
        std::thread::sleep(Duration::from_millis(100));
    };
    // Let the apply get going, then freeze it.
    std::thread::sleep(Duration::from_millis(800));
    unsafe {
        libc::kill(zombie.id() as i32, libc::SIGSTOP);
    }
    std::thread::sleep(Duration::from_secs(5));
    // Past its TTL the frozen holder counts as dead (it stops writing at 2/3 of the TTL):
    // the next run takes its lock over, naming it and the TTL.
    let r = sw(&moto, &env, &state, &["apply", "ENV", "-auto-approve"]).run();
    r.assert_code(0);
    assert!(
        r.stderr.contains("TTL of 3s")
            && r.stderr.contains("taking over")
            && r.stderr.contains(lock["id"].as_str().unwrap()),
        "{}",
        r.dump()
    );
    sw(&moto, &env, &state, &["plan", "ENV", "--detailed-exitcode"]).run().assert_code(0);
    let settled = object(&moto, "state-bucket", "envs/test/state.json").unwrap();
    unsafe {
        libc::kill(zombie.id() as i32, libc::SIGCONT);
    }
    let out = zombie.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the zombie must not succeed: {stderr}");
    eprintln!("zombie: {}", stderr.trim());
    assert!(
        stderr.contains("not locked any more") || stderr.contains("not locked safely"),
        "{stderr}"
    );
    assert_eq!(
        object(&moto, "state-bucket", "envs/test/state.json").unwrap(),
        settled,
        "the zombie did not replace the snapshot"
    );
    sw(&moto, &env, &state, &["plan", "ENV", "--detailed-exitcode"]).run().assert_code(0);
}
