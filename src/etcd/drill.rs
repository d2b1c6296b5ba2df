//! Restore drills (`slipway dr drill ENV`): a snapshot from S3 restored into a scratch
//! three-member etcd of local processes, then checked, timed and torn down. Nothing touches the
//! live cluster: the drill needs only read access to the snapshot objects.
//!
//! Steps, each recorded in the report: download → SHA-256 against the object's metadata and
//! etcd's own trailing hash (a corrupt or truncated file stops here, before anything is
//! restored) → `etcdutl snapshot status` → `etcdutl snapshot restore` into three data dirs (the
//! same `--bump-revision`/`--mark-compacted` a rebuild uses) → three etcd processes on loopback
//! ports → every member answers with one leader (RTO ends here) → `hashkv` agreement at one
//! revision → the canary key's value equals the metadata's → optionally a scratch
//! kube-apiserver on the restored data, which must become ready, and objects counted per kind.
//!
//! Invariants:
//! - Processes the drill starts are killed and its scratch directory removed on every path
//!   (the [`Scratch`] guard), unless `keep` is set.
//! - RPO is the snapshot's age when the drill starts; RTO is from the start of the download to
//!   the restored cluster serving (all members answer, one leader).
//! - A missing binary is an error naming it and where it was looked for.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use time::OffsetDateTime;

use super::snapshots::{self, Location, Snapshot};
use super::{CANARY_KEY, Client};

/// The revision bump every restore uses (rebuild too), so resourceVersions never go backwards.
pub const BUMP_REVISION: &str = "1000000000";

#[derive(Debug, Clone)]
pub struct Options {
    /// Directory of etcd and etcdutl (`--etcd-bin`, SLIPWAY_ETCD_BIN); None: PATH.
    pub etcd_bin: Option<PathBuf>,
    /// Directory of kube-apiserver (`--kube-bin`, SLIPWAY_KUBE_BIN); None: PATH.
    pub kube_bin: Option<PathBuf>,
    /// Loopback address the scratch members listen on.
    pub ip: String,
    /// Where the scratch directory is made.
    pub work_dir: PathBuf,
    pub apiserver: bool,
    pub max_rpo: Option<Duration>,
    pub keep: bool,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Report {
    pub success: bool,
    pub snapshot: String,
    pub key: String,
    pub member: String,
    pub taken_at: String,
    pub size: i64,
    pub rpo_seconds: i64,
    pub max_rpo_seconds: Option<u64>,
    /// None when the restore never served.
    pub rto_seconds: Option<f64>,
    pub sha256: Option<String>,
    pub revision: Option<i64>,
    pub total_keys: Option<i64>,
    /// Member => (hash, hash revision).
    pub hashkv: BTreeMap<String, (u64, i64)>,
    pub canary_expected: String,
    pub canary_found: Option<String>,
    /// Kind => count, or the error listing it.
    pub objects: BTreeMap<String, serde_json::Value>,
    /// Step => seconds.
    pub steps: Vec<(String, f64)>,
    pub failures: Vec<String>,
    pub scratch_dir: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum DrillError {
    #[error(transparent)]
    Snapshot(#[from] snapshots::SnapshotError),
    #[error("{0}")]
    Setup(String),
}

/// Finds a program in `dir`, else on PATH.
pub fn find_bin(name: &str, dir: Option<&Path>, flag: &str) -> Result<PathBuf, String> {
    if let Some(d) = dir {
        let p = d.join(name);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!(
                "{name} not found in {} (from {flag}); build it with scripts/install-kube",
                d.display()
            ))
        };
    }
    for d in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
        let p = d.join(name);
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(format!(
        "{name} not found on PATH; give its directory with {flag} (scripts/install-kube builds it)"
    ))
}

/// The processes and directory of one drill; dropped = killed and removed.
struct Scratch {
    dir: PathBuf,
    children: Vec<Child>,
    keep: bool,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn free_port(ip: &str) -> Result<u16, String> {
    std::net::TcpListener::bind((ip, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port on {ip}: {e}"))
}

fn run_tool(cmd: &mut Command, what: &str) -> Result<String, String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{what}: cannot run {:?}: {e}", cmd.get_program()))?;
    if !out.status.success() {
        return Err(format!(
            "{what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `etcdutl snapshot status -w json FILE`: (hash, revision, totalKey).
pub fn etcdutl_status(etcdutl: &Path, file: &Path) -> Result<(u64, i64, i64), String> {
    let out = run_tool(
        Command::new(etcdutl).args(["snapshot", "status", "-w", "json"]).arg(file),
        "etcdutl snapshot status",
    )?;
    let v: serde_json::Value = serde_json::from_str(out.trim())
        .map_err(|e| format!("etcdutl snapshot status: not JSON ({e}): {out}"))?;
    Ok((
        v["hash"].as_u64().unwrap_or(0),
        v["revision"].as_i64().unwrap_or(0),
        v["totalKey"].as_i64().unwrap_or(0),
    ))
}

fn step(report: &mut Report, name: &str, since: Instant) {
    report.steps.push((name.to_string(), since.elapsed().as_secs_f64()));
}

/// Runs a drill of the snapshot `id` (`latest`, or an id from `etcd snapshots`). Errors are
/// setup failures (no snapshot, S3 unreachable); a drill that ran and failed is a report with
/// `success = false` and its reasons in `failures`.
pub async fn run(
    s3: &aws_sdk_s3::Client,
    loc: &Location,
    id: &str,
    opts: &Options,
) -> Result<Report, DrillError> {
    let snap = snapshots::resolve(s3, loc, id).await?;
    let now = OffsetDateTime::now_utc();
    let meta = snap.metadata.clone().unwrap_or_default();
    let mut report = Report {
        snapshot: snap.id.clone(),
        key: snap.key.clone(),
        member: snap.member.clone(),
        taken_at: snapshots::format_stamp(snap.taken_at),
        size: snap.size,
        rpo_seconds: snap.age_secs(now),
        max_rpo_seconds: opts.max_rpo.map(|d| d.as_secs()),
        canary_expected: meta.canary.clone(),
        ..Default::default()
    };
    // Binaries first: a drill that cannot restore should say so before downloading anything.
    let etcd = find_bin("etcd", opts.etcd_bin.as_deref(), "--etcd-bin/SLIPWAY_ETCD_BIN")
        .map_err(DrillError::Setup)?;
    let etcdutl = find_bin("etcdutl", opts.etcd_bin.as_deref(), "--etcd-bin/SLIPWAY_ETCD_BIN")
        .map_err(DrillError::Setup)?;
    let apiserver = if opts.apiserver {
        Some(
            find_bin("kube-apiserver", opts.kube_bin.as_deref(), "--kube-bin/SLIPWAY_KUBE_BIN")
                .map_err(DrillError::Setup)?,
        )
    } else {
        None
    };
    let dir = opts.work_dir.join(format!(
        "slipway-drill-{}-{}",
        std::process::id(),
        now.unix_timestamp_nanos()
    ));
    std::fs::create_dir_all(&dir)
        .map_err(|e| DrillError::Setup(format!("{}: {e}", dir.display())))?;
    let mut scratch = Scratch { dir: dir.clone(), children: Vec::new(), keep: opts.keep };
    if opts.keep {
        report.scratch_dir = Some(dir.display().to_string());
    }
    let started = Instant::now();
    let result = drill_steps(
        s3,
        loc,
        &snap,
        &meta,
        &etcd,
        &etcdutl,
        apiserver.as_deref(),
        opts,
        &mut scratch,
        &mut report,
        started,
    )
    .await;
    if let Err(f) = result {
        report.failures.push(f);
    }
    if let Some(max) = opts.max_rpo
        && report.rpo_seconds > max.as_secs() as i64
    {
        report.failures.push(format!(
            "RPO {}s exceeds the maximum {}s: the newest snapshot is too old",
            report.rpo_seconds,
            max.as_secs()
        ));
    }
    report.success = report.failures.is_empty();
    drop(scratch);
    Ok(report)
}

#[allow(clippy::too_many_arguments)]
async fn drill_steps(
    s3: &aws_sdk_s3::Client,
    loc: &Location,
    snap: &Snapshot,
    meta: &snapshots::Metadata,
    etcd: &Path,
    etcdutl: &Path,
    apiserver: Option<&Path>,
    opts: &Options,
    scratch: &mut Scratch,
    report: &mut Report,
    started: Instant,
) -> Result<(), String> {
    let dir = scratch.dir.clone();
    let file = dir.join("snapshot.db");

    let t = Instant::now();
    snapshots::download(s3, loc, snap, &file).await.map_err(|e| e.to_string())?;
    step(report, "download", t);

    // Integrity before anything is restored: the object's recorded SHA-256, then etcd's own.
    let t = Instant::now();
    verify_snapshot(&file, snap, meta, etcdutl, report)?;
    step(report, "verify", t);

    // Restore into three members.
    let t = Instant::now();
    let ip = opts.ip.as_str();
    let mut members = Vec::new();
    for i in 0..3 {
        let name = format!("drill-{i}");
        let client = free_port(ip)?;
        let mut peer = free_port(ip)?;
        while peer == client {
            peer = free_port(ip)?;
        }
        members.push((name, client, peer));
    }
    let initial_cluster = members
        .iter()
        .map(|(n, _, p)| format!("{n}=http://{ip}:{p}"))
        .collect::<Vec<_>>()
        .join(",");
    for (name, _, peer) in &members {
        run_tool(
            Command::new(etcdutl)
                .args(["snapshot", "restore"])
                .arg(&file)
                .args(["--name", name, "--data-dir"])
                .arg(dir.join(name))
                .args(["--initial-cluster", &initial_cluster])
                .args(["--initial-cluster-token", "slipway-drill"])
                .arg(format!("--initial-advertise-peer-urls=http://{ip}:{peer}"))
                .args(["--bump-revision", BUMP_REVISION, "--mark-compacted"]),
            "etcdutl snapshot restore",
        )?;
    }
    step(report, "restore", t);

    let t = Instant::now();
    let (client, endpoints) =
        start_members(etcd, &dir, ip, &members, &initial_cluster, scratch).await?;
    step(report, "start", t);
    report.rto_seconds = Some(started.elapsed().as_secs_f64());

    // hashkv at one revision on every member.
    let t = Instant::now();
    check_members(&client, &members, &endpoints, meta, report).await?;
    step(report, "check", t);

    if let Some(bin) = apiserver {
        let t = Instant::now();
        apiserver_check(bin, ip, &endpoints, scratch, report).await?;
        step(report, "apiserver", t);
    }
    Ok(())
}

/// The downloaded snapshot's integrity, before anything is restored: its SHA-256 against the
/// object's metadata, then etcd's own check, revision and hash.
fn verify_snapshot(
    file: &Path,
    snap: &Snapshot,
    meta: &snapshots::Metadata,
    etcdutl: &Path,
    report: &mut Report,
) -> Result<(), String> {
    let sha = super::sha256_file(file).map_err(|e| e.to_string())?;
    report.sha256 = Some(sha.clone());
    if meta.sha256.is_empty() {
        return Err(format!(
            "snapshot {} has no sha256 metadata: refusing to restore an unverifiable snapshot",
            snap.id
        ));
    }
    if !sha.eq_ignore_ascii_case(&meta.sha256) {
        return Err(format!(
            "snapshot {} is corrupted: its SHA-256 is {sha}, the metadata says {}; nothing was restored",
            snap.id, meta.sha256
        ));
    }
    super::verify_snapshot_file(file)
        .map_err(|e| format!("snapshot {}: {e}; nothing was restored", snap.id))?;
    let (hash, revision, total_keys) = etcdutl_status(etcdutl, file)
        .map_err(|e| format!("snapshot {}: {e}; nothing was restored", snap.id))?;
    report.revision = Some(revision);
    report.total_keys = Some(total_keys);
    if meta.revision != 0 && meta.revision != revision {
        return Err(format!(
            "snapshot {}: etcdutl reports revision {revision}, the metadata says {}; nothing was restored",
            snap.id, meta.revision
        ));
    }
    if meta.hash != 0 && meta.hash != hash {
        return Err(format!(
            "snapshot {}: etcdutl reports hash {hash}, the metadata says {}; nothing was restored",
            snap.id, meta.hash
        ));
    }
    Ok(())
}

/// Starts the restored members (their logs in `dir`) and waits, up to 60s, until they form
/// one cluster with a leader; a member that exits fails the drill with its log's tail.
/// Returns a client of the members and their client URLs.
async fn start_members(
    etcd: &Path,
    dir: &Path,
    ip: &str,
    members: &[(String, u16, u16)],
    initial_cluster: &str,
    scratch: &mut Scratch,
) -> Result<(Client, Vec<String>), String> {
    for (name, client, peer) in members {
        let log =
            std::fs::File::create(dir.join(format!("{name}.log"))).map_err(|e| e.to_string())?;
        let child = Command::new(etcd)
            .args(["--name", name, "--data-dir"])
            .arg(dir.join(name))
            .arg(format!("--listen-client-urls=http://{ip}:{client}"))
            .arg(format!("--advertise-client-urls=http://{ip}:{client}"))
            .arg(format!("--listen-peer-urls=http://{ip}:{peer}"))
            .arg(format!("--initial-advertise-peer-urls=http://{ip}:{peer}"))
            .args(["--initial-cluster", initial_cluster])
            .args(["--initial-cluster-token", "slipway-drill"])
            .args(["--listen-metrics-urls=", "--log-level", "warn"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", etcd.display()))?;
        scratch.children.push(child);
    }
    let endpoints: Vec<String> =
        members.iter().map(|(_, c, _)| format!("http://{ip}:{c}")).collect();
    let client =
        Client::new(&endpoints, None, Duration::from_secs(10)).map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (statuses, failed) = client.statuses().await;
        if failed.is_empty()
            && statuses.len() == 3
            && statuses.iter().any(|s| s.is_leader())
            && statuses.iter().all(|s| s.leader == statuses[0].leader)
        {
            break;
        }
        for (i, c) in scratch.children.iter_mut().enumerate() {
            if let Ok(Some(status)) = c.try_wait() {
                let log = std::fs::read_to_string(dir.join(format!("{}.log", members[i].0)))
                    .unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(5).collect();
                return Err(format!(
                    "scratch member {} exited ({status}): {}",
                    members[i].0,
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                ));
            }
        }
        if Instant::now() > deadline {
            return Err(format!(
                "the restored members did not form a cluster within 60s: {}",
                failed.join("; ")
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok((client, endpoints))
}

/// Every member holds the same data: `hashkv` agrees at one revision, and the canary the
/// snapshot's metadata names reads back from each.
async fn check_members(
    client: &Client,
    members: &[(String, u16, u16)],
    endpoints: &[String],
    meta: &snapshots::Metadata,
    report: &mut Report,
) -> Result<(), String> {
    let rev = client.status(&endpoints[0]).await.map_err(|e| e.to_string())?.revision;
    for ((name, _, _), e) in members.iter().zip(endpoints) {
        let h = client.hashkv(e, rev).await.map_err(|e| e.to_string())?;
        report.hashkv.insert(name.clone(), (h.hash, h.hash_revision));
    }
    let hashes: std::collections::BTreeSet<u64> = report.hashkv.values().map(|h| h.0).collect();
    if hashes.len() != 1 {
        return Err(format!(
            "hashkv disagrees across the restored members at revision {rev}: {:?}",
            report.hashkv
        ));
    }
    // The canary, read from every member.
    for e in endpoints {
        let found = client
            .get_from(e, CANARY_KEY.as_bytes())
            .await
            .map_err(|e| e.to_string())?
            .map(|(v, _)| String::from_utf8_lossy(&v).into_owned());
        report.canary_found = found.clone();
        if found.as_deref() != Some(meta.canary.as_str()) || meta.canary.is_empty() {
            return Err(format!(
                "canary {CANARY_KEY} on {e} is {:?}, the snapshot's metadata says {:?}",
                found, meta.canary
            ));
        }
    }
    Ok(())
}

/// The kinds a drill counts through the scratch API server.
const KINDS: &[(&str, &str)] = &[
    ("namespaces", "/api/v1/namespaces"),
    ("nodes", "/api/v1/nodes"),
    ("pods", "/api/v1/pods"),
    ("services", "/api/v1/services"),
    ("configmaps", "/api/v1/configmaps"),
    ("secrets", "/api/v1/secrets"),
    ("serviceaccounts", "/api/v1/serviceaccounts"),
    ("deployments.apps", "/apis/apps/v1/deployments"),
    ("daemonsets.apps", "/apis/apps/v1/daemonsets"),
    ("statefulsets.apps", "/apis/apps/v1/statefulsets"),
    (
        "customresourcedefinitions.apiextensions.k8s.io",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
    ),
];

/// A kube-apiserver on the restored etcd: it must become ready; objects are counted per kind.
/// It runs with a throwaway serving certificate (`--cert-dir`), a random static token and
/// AlwaysAllow: a scratch process on loopback that lives for the drill only.
async fn apiserver_check(
    bin: &Path,
    ip: &str,
    endpoints: &[String],
    scratch: &mut Scratch,
    report: &mut Report,
) -> Result<(), String> {
    let dir = scratch.dir.join("apiserver");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let key = rcgen::KeyPair::generate().map_err(|e| e.to_string())?;
    let sa = dir.join("sa.key");
    let sa_pub = dir.join("sa.pub");
    std::fs::write(&sa, key.serialize_pem()).map_err(|e| e.to_string())?;
    std::fs::write(&sa_pub, key.public_key_pem()).map_err(|e| e.to_string())?;
    let token = uuid::Uuid::new_v4().simple().to_string();
    let tokens = dir.join("tokens.csv");
    std::fs::write(&tokens, format!("{token},slipway-drill,slipway-drill,system:masters\n"))
        .map_err(|e| e.to_string())?;
    let port = free_port(ip)?;
    let log = std::fs::File::create(dir.join("kube-apiserver.log")).map_err(|e| e.to_string())?;
    let child = Command::new(bin)
        .arg(format!("--bind-address={ip}"))
        .arg(format!("--advertise-address={ip}"))
        .arg(format!("--secure-port={port}"))
        .arg(format!("--etcd-servers={}", endpoints.join(",")))
        .arg(format!("--cert-dir={}", dir.join("certs").display()))
        .arg(format!("--token-auth-file={}", tokens.display()))
        .args(["--authorization-mode=AlwaysAllow"])
        .args(["--service-cluster-ip-range=10.96.0.0/12"])
        .args(["--service-account-issuer=https://kubernetes.default.svc.cluster.local"])
        .arg(format!("--service-account-key-file={}", sa_pub.display()))
        .arg(format!("--service-account-signing-key-file={}", sa.display()))
        .args(["--endpoint-reconciler-type=none", "--allow-privileged=true"])
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    scratch.children.push(child);
    let idx = scratch.children.len() - 1;
    // The serving certificate is one the apiserver generated for itself seconds ago, for a
    // process this drill owns on loopback: nothing to verify it against.
    let http = reqwest::Client::builder()
        .tls_danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())?;
    let base = format!("https://{ip}:{port}");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let ready = http
            .get(format!("{base}/readyz"))
            .bearer_auth(&token)
            .send()
            .await
            .ok()
            .filter(|r| r.status().is_success());
        if ready.is_some() {
            break;
        }
        if let Ok(Some(status)) = scratch.children[idx].try_wait() {
            let log = std::fs::read_to_string(dir.join("kube-apiserver.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(8).collect();
            return Err(format!(
                "the scratch kube-apiserver exited ({status}): {}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            ));
        }
        if Instant::now() > deadline {
            return Err("the scratch kube-apiserver was not ready within 120s".into());
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    count_objects(&http, &base, &token, report).await;
    Ok(())
}

/// Counts the objects of each of `KINDS` through the scratch API server; a kind it cannot
/// list is recorded with the error instead of a count.
async fn count_objects(http: &reqwest::Client, base: &str, token: &str, report: &mut Report) {
    for (kind, path) in KINDS {
        let r = http.get(format!("{base}{path}?limit=500")).bearer_auth(token).send().await;
        let v = match r {
            Ok(resp) if resp.status().is_success() => {
                let doc: serde_json::Value =
                    serde_json::from_str(&resp.text().await.unwrap_or_default())
                        .unwrap_or_default();
                let n = doc["items"].as_array().map_or(0, |a| a.len() as i64)
                    + doc["metadata"]["remainingItemCount"].as_i64().unwrap_or(0);
                serde_json::json!(n)
            }
            // Secrets encrypted at rest cannot be read without the cluster's key; say so
            // rather than fail the drill.
            Ok(resp) => serde_json::json!({ "error": format!("HTTP {}", resp.status().as_u16()) }),
            Err(e) => serde_json::json!({ "error": e.to_string() }),
        };
        report.objects.insert(kind.to_string(), v);
    }
}
