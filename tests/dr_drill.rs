//! `slipway dr drill ENV` against real snapshots in a real moto S3 (issue #16): a good snapshot
//! of a real control plane (scripts/local-cluster: etcd 3.6 + kube-apiserver) restores into a
//! scratch three-member etcd whose members agree on `hashkv`, shows the canary, and serves a
//! scratch kube-apiserver that counts the objects created before the snapshot; a corrupted and
//! a truncated snapshot are refused with a clear error before anything is restored; an RPO
//! above `--max-rpo` fails the drill.
//!
//! The snapshots are taken with `slipway etcd snapshot` (plain-HTTP endpoints of a local etcd,
//! so the environment needs no certificates). Addresses: 127.0.42.51-59 and .61-69.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::kubeutil::{LocalCluster, Proc, kube_bin, kube_bin_dir};
use crate::moto::Moto;

const ENV: &str = "environments/drill";
const PREFIX: &str = "etcd-snapshots/drill";

struct DrillEnv {
    root: PathBuf,
    state: PathBuf,
    moto: Moto,
    bucket: String,
}

impl Drop for DrillEnv {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

impl DrillEnv {
    fn new(tag: &str, endpoint: &str) -> DrillEnv {
        let scratch = Path::new(env!("CARGO_TARGET_TMPDIR"));
        crate::util::remove_stale_dirs(scratch, &format!("drill-{tag}-"));
        let root = scratch.join(format!("drill-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join(ENV)).unwrap();
        let bucket = format!("slipway-drill-{tag}");
        std::fs::write(
            root.join(ENV).join("main.hcl"),
            format!(
                "output \"etcd_endpoints\" {{\n  value = [\"{endpoint}\"]\n}}\n\noutput \"etcd_snapshots\" {{\n  value = {{ bucket = \"{bucket}\", prefix = \"{PREFIX}\" }}\n}}\n"
            ),
        )
        .unwrap();
        let moto = Moto::start();
        moto.boto3(&format!("s3.create_bucket(Bucket='{bucket}')"));
        let env = DrillEnv { state: root.join("state"), root, moto, bucket };
        env.slipway(&["apply", "ENV", "-auto-approve"]).assert_code(0);
        env
    }

    fn slipway(&self, args: &[&str]) -> crate::util::Run {
        let bin = kube_bin_dir();
        let bin = bin.to_str().unwrap();
        self.moto.slipway_with_env(
            &self.root.join(ENV),
            &self.state,
            args,
            &[("SLIPWAY_ETCD_BIN", bin), ("SLIPWAY_KUBE_BIN", bin)],
        )
    }

    /// `slipway etcd snapshot ENV`: the uploaded object's id and metadata.
    fn snapshot(&self) -> (String, serde_json::Value) {
        let r = self.slipway(&["etcd", "snapshot", "ENV", "-json"]);
        r.assert_code(0);
        let t: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        (t["id"].as_str().unwrap().to_string(), t)
    }

    fn drill(&self, args: &[&str]) -> (crate::util::Run, serde_json::Value) {
        let mut full = vec!["dr", "drill", "ENV", "-json"];
        full.extend_from_slice(args);
        let r = self.slipway(&full);
        let report = serde_json::from_str(&r.stdout).unwrap_or(serde_json::Value::Null);
        (r, report)
    }
}

/// A one-member etcd on `ip` with its data in `dir`: the live cluster a drill reads snapshots
/// of; returned once it answers. Without fsync: it is thrown away, and on a machine busy
/// building one fdatasync took 19 s, timing out the writes of the set-up.
fn source_etcd(ip: &str, dir: &Path) -> (Proc, String) {
    let port = crate::util::free_port_on(ip);
    let peer = crate::util::free_port_on(ip);
    let endpoint = format!("http://{ip}:{port}");
    let mut etcd = Proc::spawn(
        Command::new(kube_bin("etcd"))
            .args(["--name", "src", "--unsafe-no-fsync", "--data-dir"])
            .arg(dir.join("data"))
            .arg(format!("--listen-client-urls={endpoint}"))
            .arg(format!("--advertise-client-urls={endpoint}"))
            .arg(format!("--listen-peer-urls=http://{ip}:{peer}"))
            .arg(format!("--initial-advertise-peer-urls=http://{ip}:{peer}"))
            .arg(format!("--initial-cluster=src=http://{ip}:{peer}")),
        dir.join("etcd.log"),
    );
    crate::kubeutil::wait_until("etcd answers", Duration::from_secs(60), || {
        etcd.alive()?;
        let o = Command::new(kube_bin("etcdctl"))
            .arg(format!("--endpoints={endpoint}"))
            .args(["endpoint", "health"])
            .output()
            .map_err(|e| e.to_string())?;
        if o.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&o.stderr).into_owned())
        }
    });
    (etcd, endpoint)
}

/// `etcdctl ARGS` against `endpoint`, tried up to five times: the writes here are idempotent
/// puts, and a single-member etcd that just reported healthy can still time out one request
/// on a loaded machine (seen once in a full run).
fn etcdctl(endpoint: &str, args: &[&str]) {
    let mut last = String::new();
    for _ in 0..5 {
        let o = Command::new(kube_bin("etcdctl"))
            .arg(format!("--endpoints={endpoint}"))
            .args(args)
            .output()
            .expect("etcdctl (scripts/install-kube)");
        if o.status.success() {
            return;
        }
        last = String::from_utf8_lossy(&o.stderr).into_owned();
        std::thread::sleep(Duration::from_secs(1));
    }
    panic!("etcdctl {args:?} failed five times: {last}");
}

#[test]
fn dr_drill_restores_a_control_plane_snapshot_and_counts_its_objects() {
    let cluster = LocalCluster::start("127.0.42.51", 1);
    let endpoint = format!("http://127.0.42.51:{}", cluster.port("etcd_port"));
    for i in 0..3 {
        cluster.kubectl(&["create", "namespace", &format!("drill-{i}")]).ok("create namespace");
        for j in 0..4 {
            cluster
                .kubectl(&[
                    "-n",
                    &format!("drill-{i}"),
                    "create",
                    "configmap",
                    &format!("cm-{j}"),
                    "--from-literal=k=v",
                ])
                .ok("create configmap");
        }
    }
    cluster
        .kubectl(&[
            "-n",
            "drill-0",
            "create",
            "deployment",
            "web",
            "--image=registry.k8s.io/pause:3.10",
        ])
        .ok("create deployment");
    let env = DrillEnv::new("api", &endpoint);
    let (id, taken) = env.snapshot();
    // Created after the snapshot: the restore must not have it.
    cluster.kubectl(&["create", "namespace", "after-snapshot"]).ok("create namespace");

    let (r, report) =
        env.drill(&["--snapshot", &id, "--apiserver", "--ip", "127.0.42.52", "--max-rpo", "1h"]);
    r.assert_code(0);
    assert_eq!(report["success"], true, "{report}");
    assert_eq!(report["snapshot"], id.as_str());
    assert_eq!(report["canary_found"], taken["metadata"]["canary"], "{report}");
    assert_eq!(report["canary_expected"], taken["metadata"]["canary"]);
    let hashes: Vec<u64> =
        report["hashkv"].as_object().unwrap().values().map(|h| h[0].as_u64().unwrap()).collect();
    assert_eq!(hashes.len(), 3);
    assert!(hashes.iter().all(|h| *h == hashes[0]), "{report}");
    assert!(report["rto_seconds"].as_f64().unwrap() > 0.0);
    assert!(report["rpo_seconds"].as_i64().unwrap() >= 0);
    let objects = &report["objects"];
    // kube-system, default, kube-public, kube-node-lease and ours; not the later one.
    let namespaces = objects["namespaces"].as_i64().unwrap();
    assert!(namespaces >= 3 + 4, "{objects}");
    assert!(objects["configmaps"].as_i64().unwrap() >= 12, "{objects}");
    assert!(objects["deployments.apps"].as_i64().unwrap() >= 1, "{objects}");
    let live = cluster.kubectl(&["get", "namespaces", "-o", "name"]).ok("get");
    let live_count = live.stdout.lines().count() as i64;
    assert_eq!(namespaces, live_count - 1, "the restore has every namespace but the later one");
    // The human report says the same.
    let r = env.slipway(&["dr", "drill", "ENV", "--ip", "127.0.42.53"]);
    r.assert_code(0);
    assert!(r.stdout.contains("Drill succeeded."), "{}", r.stdout);
    assert!(r.stdout.contains("RTO"));
}

#[test]
fn dr_drill_refuses_corrupt_and_truncated_snapshots_and_old_ones() {
    let dir = tempfile::Builder::new().prefix("slipway-drill-etcd-").tempdir().unwrap();
    let ip = "127.0.42.61";
    let (mut etcd, endpoint) = source_etcd(ip, dir.path());
    for i in 0..200 {
        etcdctl(&endpoint, &["put", &format!("/data/{i}"), &"x".repeat(100)]);
    }
    let env = DrillEnv::new("bad", &endpoint);
    let (id, taken) = env.snapshot();
    let key = format!("{PREFIX}/{id}");
    let stamp = id.split('/').nth(1).unwrap().split('-').next().unwrap().to_string();

    // A good drill of it, first: the failures below are the damage's, not the setup's.
    let (r, report) = env.drill(&["--snapshot", &id, "--ip", "127.0.42.62"]);
    r.assert_code(0);
    assert_eq!(report["success"], true, "{report}");

    // Damaged copies under the layout: one byte flipped (metadata of the original), and one cut
    // short (metadata of the cut bytes, so only etcd's own trailing hash can tell).
    env.moto.boto3(&format!(
        "import hashlib\no = s3.get_object(Bucket='{b}', Key='{key}')\nbody = o['Body'].read()\nmeta = o['Metadata']\nbad = bytearray(body)\nbad[len(bad) // 2] ^= 0xff\ns3.put_object(Bucket='{b}', Key='{PREFIX}/frequent/{stamp}-corrupt.db', Body=bytes(bad), Metadata=meta, ServerSideEncryption='AES256')\ncut = body[:len(body) - 1000]\nm2 = dict(meta)\nm2['sha256'] = hashlib.sha256(cut).hexdigest()\ns3.put_object(Bucket='{b}', Key='{PREFIX}/frequent/{stamp}-truncated.db', Body=cut, Metadata=m2, ServerSideEncryption='AES256')",
        b = env.bucket
    ));
    for (member, needle) in [("corrupt", "corrupted"), ("truncated", "truncated")] {
        let work = dir.path().join(format!("work-{member}"));
        std::fs::create_dir_all(&work).unwrap();
        let id = format!("frequent/{stamp}-{member}.db");
        let (r, report) = env.drill(&[
            "--snapshot",
            &id,
            "--ip",
            "127.0.42.63",
            "--keep",
            "--work-dir",
            work.to_str().unwrap(),
        ]);
        r.assert_code(1);
        assert_eq!(report["success"], false);
        let failures = report["failures"].to_string();
        assert!(failures.contains(needle), "{member}: {failures}");
        assert!(failures.contains("nothing was restored"), "{failures}");
        assert!(report["rto_seconds"].is_null());
        // Nothing restored: the kept scratch directory holds the download only.
        let kept = PathBuf::from(report["scratch_dir"].as_str().unwrap());
        let entries: Vec<String> = std::fs::read_dir(&kept)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(entries, vec!["snapshot.db".to_string()], "{member}");
        // The human form says why, too.
        let r = env.slipway(&["dr", "drill", "ENV", "--snapshot", &id, "--ip", "127.0.42.64"]);
        r.assert_code(1);
        assert!(r.stdout.contains(needle) && r.stdout.contains("Drill failed."));
    }

    // RPO: the snapshot is older than the maximum.
    std::thread::sleep(Duration::from_secs(2));
    let (r, report) = env.drill(&["--snapshot", &id, "--max-rpo", "1s", "--ip", "127.0.42.65"]);
    r.assert_code(1);
    assert!(report["failures"].to_string().contains("RPO"), "{report}");
    assert!(report["rpo_seconds"].as_i64().unwrap() >= 2);
    // The restore itself was fine.
    assert_eq!(report["canary_found"], taken["metadata"]["canary"]);

    // A missing etcd binary is a clear error, before any download.
    let r = env.moto.slipway_with_env(
        &env.root.join(ENV),
        &env.state,
        &["dr", "drill", "ENV", "--etcd-bin", "/nonexistent"],
        &[],
    );
    r.assert_code(1);
    assert!(r.stderr.contains("etcd not found in /nonexistent"), "{}", r.stderr);
    etcd.alive().unwrap();
}

/// `slipway watch --drill-interval`: once the agent has synced the environment, it drills the
/// latest snapshot and `/metrics` carries the result.
#[test]
fn watch_drill_interval_exports_the_drill_on_metrics() {
    let dir = tempfile::Builder::new().prefix("slipway-drill-watch-").tempdir().unwrap();
    let ip = "127.0.42.71";
    let (mut etcd, endpoint) = source_etcd(ip, dir.path());
    let env = DrillEnv::new("watch", &endpoint);
    env.snapshot();
    // The same environment in Git: the agent's first sync finds the state in line with it.
    let repo = crate::gitutil::Repo::new(&dir.path().join("git"));
    repo.write(
        &format!("{ENV}/main.hcl"),
        &std::fs::read_to_string(env.root.join(ENV).join("main.hcl")).unwrap(),
    );
    repo.commit_push("drill environment");
    let listen = format!("127.0.42.73:{}", crate::util::free_port_on("127.0.42.73"));
    let addr: std::net::SocketAddr = listen.parse().unwrap();
    let bin = kube_bin_dir();
    let log = dir.path().join("agent.log");
    let mut agent = Proc::spawn(
        Command::new(crate::util::slipway_bin())
            .args(["watch", "--repo"])
            .arg(format!("file://{}", repo.origin.display()))
            .args(["--branch", "main", "--path", ENV, "--interval", "1h"])
            .arg("--work-dir")
            .arg(dir.path().join("agent"))
            .arg("--state-dir")
            .arg(&env.state)
            .args(["--listen", &listen])
            .args(["--drill-interval", "1h", "--drill-ip", "127.0.42.74"])
            .args(["--drill-max-rpo", "1h"])
            .env("SLIPWAY_ETCD_BIN", &bin)
            .env("AWS_ENDPOINT_URL", env.moto.endpoint())
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env("NO_COLOR", "1")
            .env_remove("SLIPWAY_STATE_DIR")
            .env_remove("SLIPWAY_PLANS_DIR"),
        log,
    );
    let metric = |text: &str, name: &str| -> Option<f64> {
        text.lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
            .and_then(|l| l[name.len() + 1..].trim().parse().ok())
    };
    let mut text = String::new();
    crate::kubeutil::wait_until("a drill on /metrics", Duration::from_secs(120), || {
        agent.alive()?;
        if std::net::TcpStream::connect(addr).is_err() {
            return Err("not listening yet".into());
        }
        text = crate::gitutil::http(addr, "GET", "/metrics", &[], b"").1;
        metric(&text, "slipway_dr_drill_success")
            .map(|_| ())
            .ok_or_else(|| "no drill yet".to_string())
    });
    assert_eq!(metric(&text, "slipway_dr_drill_success"), Some(1.0), "{text}");
    assert!(metric(&text, "slipway_dr_drill_rpo_seconds").unwrap() >= 0.0);
    assert!(metric(&text, "slipway_dr_drill_rto_seconds").unwrap() > 0.0);
    assert!(metric(&text, "slipway_dr_drill_timestamp_seconds").unwrap() > 1.7e9);
    etcd.alive().unwrap();
}
