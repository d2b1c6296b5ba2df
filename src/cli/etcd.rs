//! `slipway etcd snapshot ENV` (a snapshot now, from the operator's machine) and
//! `slipway etcd snapshots ENV` (the snapshots in S3, newest first).
//!
//! Both read the environment's state outputs: `etcd_endpoints` (client URLs), `etcd_client`
//! ({ca_certificate, client_certificate, client_key}, sensitive) and `etcd_snapshots`
//! ({bucket, prefix}); S3 is reached with the operator's AWS credentials. The on-demand snapshot
//! writes the same layout and metadata as the nodes' scheduled ones (src/etcd/snapshots.rs).
//! The client key is only held in memory, never written or printed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Subcommand;
use time::OffsetDateTime;

use super::engine::{StateArgs, runtime};
use super::println_out;
use super::state_cmds::read_state;
use crate::etcd::snapshots::{self, Class, Location, Metadata};
use crate::etcd::{CANARY_KEY, Client, TlsFiles};

#[derive(Subcommand, Debug)]
pub enum EtcdCommand {
    /// Take a snapshot of the environment's etcd now and upload it to its snapshot prefix.
    Snapshot {
        /// Environment directory (default: current directory).
        dir: Option<PathBuf>,
        /// The snapshot's class (its retention).
        #[arg(long, value_parser = ["frequent", "hourly", "daily"], default_value = "frequent")]
        class: String,
        /// Directory of etcdutl, used for `snapshot status` metadata (default: PATH).
        #[arg(long, env = "SLIPWAY_ETCD_BIN", value_name = "DIR")]
        etcd_bin: Option<PathBuf>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        state: StateArgs,
    },
    /// List the environment's snapshots: class, age, size, revision.
    Snapshots {
        dir: Option<PathBuf>,
        /// Only this class.
        #[arg(long, value_parser = ["frequent", "hourly", "daily"])]
        class: Option<String>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        state: StateArgs,
    },
}

pub fn etcd_cmd(cmd: EtcdCommand) -> i32 {
    match cmd {
        EtcdCommand::Snapshot { dir, class, etcd_bin, json, state } => snapshot_cmd(
            &dir.unwrap_or_else(|| PathBuf::from(".")),
            Class::parse(&class).unwrap_or(Class::Frequent),
            etcd_bin.as_deref(),
            json,
            &state,
        ),
        EtcdCommand::Snapshots { dir, class, json, state } => snapshots_cmd(
            &dir.unwrap_or_else(|| PathBuf::from(".")),
            class.as_deref().and_then(Class::parse),
            json,
            &state,
        ),
    }
}

/// The root outputs of the environment's state; an error (printed) when there is no state.
pub(super) fn outputs(
    dir: &Path,
    state: &StateArgs,
) -> Result<BTreeMap<String, serde_json::Value>, i32> {
    let (env, st) = read_state(dir, state)?;
    let Some(st) = st else {
        eprintln!("error: {} has no state; apply it first", env.name);
        return Err(1);
    };
    Ok(st.outputs.into_iter().map(|(k, o)| (k, o.value)).collect())
}

fn missing(name: &str, what: &str) -> i32 {
    eprintln!(
        "error: the state has no usable `{name}` output ({what}); add it to the environment (see modules/environment/outputs.hcl, which environments/* extend) and apply"
    );
    1
}

/// `etcd_snapshots` → where snapshots live.
pub(super) fn location(outs: &BTreeMap<String, serde_json::Value>) -> Result<Location, i32> {
    outs.get("etcd_snapshots")
        .and_then(Location::from_output)
        .ok_or_else(|| missing("etcd_snapshots", "{ bucket, prefix }"))
}

/// Endpoints and TLS material; plain `http://` endpoints (a local or scratch etcd) need none.
fn etcd_access(
    outs: &BTreeMap<String, serde_json::Value>,
) -> Result<(Vec<String>, Option<TlsFiles>), i32> {
    let endpoints: Vec<String> = outs
        .get("etcd_endpoints")
        .and_then(|v| v.as_array())
        .map(|a| a.iter().filter_map(|e| e.as_str().map(str::to_string)).collect())
        .filter(|v: &Vec<String>| !v.is_empty())
        .ok_or_else(|| missing("etcd_endpoints", "a list of client URLs"))?;
    if endpoints.iter().all(|e| e.starts_with("http://")) && !outs.contains_key("etcd_client") {
        return Ok((endpoints, None));
    }
    let c = outs.get("etcd_client").ok_or_else(|| {
        missing("etcd_client", "{ ca_certificate, client_certificate, client_key }")
    })?;
    let field = |k: &str| c.get(k).and_then(|v| v.as_str()).map(str::to_string);
    let (Some(ca_pem), Some(cert_pem), Some(key_pem)) =
        (field("ca_certificate"), field("client_certificate"), field("client_key"))
    else {
        return Err(missing("etcd_client", "{ ca_certificate, client_certificate, client_key }"));
    };
    Ok((endpoints, Some(TlsFiles { ca_pem, cert_pem, key_pem })))
}

#[derive(serde::Serialize)]
struct Taken {
    bucket: String,
    key: String,
    id: String,
    size: u64,
    endpoint: String,
    metadata: Metadata,
    verified_with_etcdutl: bool,
}

fn snapshot_cmd(
    dir: &Path,
    class: Class,
    etcd_bin: Option<&Path>,
    json: bool,
    state: &StateArgs,
) -> i32 {
    let outs = match outputs(dir, state) {
        Ok(o) => o,
        Err(c) => return c,
    };
    let (loc, (endpoints, tls)) = match (location(&outs), etcd_access(&outs)) {
        (Ok(l), Ok(a)) => (l, a),
        (Err(c), _) | (_, Err(c)) => return c,
    };
    // etcdutl is optional here: without it the metadata lacks revision/hash/total-keys (0).
    let etcdutl = crate::etcd::drill::find_bin("etcdutl", etcd_bin, "--etcd-bin").ok();
    match runtime().block_on(take(&loc, &endpoints, tls.as_ref(), class, etcdutl.as_deref())) {
        Ok(t) => {
            if json {
                println_out(&serde_json::to_string_pretty(&t).unwrap_or_default());
            } else {
                if !t.verified_with_etcdutl {
                    eprintln!(
                        "warning: etcdutl not found (--etcd-bin, SLIPWAY_ETCD_BIN, PATH): the snapshot's revision, hash and total-keys metadata are 0"
                    );
                }
                println_out(&format!(
                    "Snapshot s3://{}/{} ({} bytes, revision {}, sha256 {}) from {}",
                    t.bucket, t.key, t.size, t.metadata.revision, t.metadata.sha256, t.endpoint
                ));
            }
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

async fn take(
    loc: &Location,
    endpoints: &[String],
    tls: Option<&TlsFiles>,
    class: Class,
    etcdutl: Option<&Path>,
) -> Result<Taken, String> {
    let client =
        Client::new(endpoints, tls, Duration::from_secs(120)).map_err(|e| e.to_string())?;
    // From the leader, as the nodes' schedule does: it is never behind.
    let endpoint = client.leader_endpoint().await.map_err(|e| e.to_string())?;
    let member = {
        let members = client.member_list().await.map_err(|e| e.to_string())?;
        members
            .iter()
            .find(|m| m.client_urls.iter().any(|u| u.trim_end_matches('/') == endpoint))
            .map(|m| m.name.clone())
            .unwrap_or_else(|| "unknown".into())
    };
    let now = OffsetDateTime::now_utc();
    let canary = snapshots::format_stamp(now);
    client.put(CANARY_KEY.as_bytes(), canary.as_bytes()).await.map_err(|e| e.to_string())?;
    let tmp = tempdir()?;
    let file = tmp.path.join("snapshot.db");
    let snap = client.snapshot(&endpoint, &file).await.map_err(|e| e.to_string())?;
    let (hash, revision, total_keys) = match etcdutl {
        Some(u) => crate::etcd::drill::etcdutl_status(u, &file)?,
        None => (0, 0, 0),
    };
    let meta = Metadata {
        sha256: snap.sha256.clone(),
        revision,
        total_keys,
        hash,
        canary,
        member: member.clone(),
    };
    let key = snapshots::object_key(loc, class, now, &member);
    let s3 = snapshots::s3_client().await.map_err(|e| e.to_string())?;
    snapshots::upload(&s3, loc, &key, &file, &meta).await.map_err(|e| e.to_string())?;
    let id = snapshots::parse_key(loc, &key).map(|p| p.0).unwrap_or_default();
    Ok(Taken {
        bucket: loc.bucket.clone(),
        key,
        id,
        size: snap.size,
        endpoint,
        metadata: meta,
        verified_with_etcdutl: etcdutl.is_some(),
    })
}

/// A private temporary directory, removed when dropped.
pub(super) struct TempDir {
    pub path: PathBuf,
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

pub(super) fn tempdir() -> Result<TempDir, String> {
    use std::os::unix::fs::DirBuilderExt;
    let path = std::env::temp_dir().join(format!("slipway-etcd-{}", uuid::Uuid::new_v4().simple()));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(TempDir { path })
}

fn snapshots_cmd(dir: &Path, class: Option<Class>, json: bool, state: &StateArgs) -> i32 {
    let outs = match outputs(dir, state) {
        Ok(o) => o,
        Err(c) => return c,
    };
    let loc = match location(&outs) {
        Ok(l) => l,
        Err(c) => return c,
    };
    let listed = runtime().block_on(async {
        let s3 = snapshots::s3_client().await?;
        let mut all = snapshots::list(&s3, &loc, class).await?;
        for s in &mut all {
            snapshots::head(&s3, &loc, s).await?;
        }
        Ok::<_, snapshots::SnapshotError>(all)
    });
    let all = match listed {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    let now = OffsetDateTime::now_utc();
    if json {
        let doc: Vec<serde_json::Value> = all
            .iter()
            .map(|s| {
                let mut v = serde_json::to_value(s).unwrap_or_default();
                v["age_seconds"] = serde_json::json!(s.age_secs(now));
                v["bucket"] = serde_json::json!(loc.bucket);
                v
            })
            .collect();
        println_out(&serde_json::to_string_pretty(&doc).unwrap_or_default());
        return 0;
    }
    if all.is_empty() {
        println_out(&format!("No snapshots under s3://{}/{}/", loc.bucket, loc.prefix));
        return 0;
    }
    let mut lines = vec![format!(
        "{:<48} {:<9} {:>8} {:>12} {:>10}  MEMBER",
        "ID", "CLASS", "AGE", "SIZE", "REVISION"
    )];
    for s in &all {
        let rev = s.metadata.as_ref().map_or(0, |m| m.revision);
        lines.push(format!(
            "{:<48} {:<9} {:>8} {:>12} {:>10}  {}",
            s.id,
            s.class.as_str(),
            snapshots::human_age(s.age_secs(now)),
            s.size,
            rev,
            s.member
        ));
    }
    println_out(&lines.join("\n"));
    0
}
