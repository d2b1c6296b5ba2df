//! A small etcd v3 client over etcd's gRPC-gateway JSON API (`POST /v3/...`), with mutual TLS,
//! for the operations slipway runs against a cluster from outside it: status, hashes, a canary
//! put/get, the member list and streaming a snapshot.
//!
//! Why the gateway and not gRPC: every etcd 3.x serves it on the client port, it needs no
//! generated code, and reqwest (already built for gix) speaks it. Only what `etcd snapshot`,
//! `dr drill` and `dr rebuild` need is here.
//!
//! Invariants:
//! - Keys and values cross the API base64-encoded (the gateway's `bytes` encoding); this module
//!   encodes and decodes them, callers see raw bytes.
//! - 64-bit numbers arrive as JSON strings (the gateway's int64 encoding) or numbers; both parse.
//! - A snapshot is written exactly as etcd streams it: the database followed by etcd's own
//!   SHA-256 of the database (32 bytes). [`Client::snapshot`] refuses a stream whose trailing hash
//!   does not match, so a written file is one `etcdutl snapshot restore` accepts; the file is
//!   removed when the stream fails. [`verify_snapshot_file`] checks the same on a file.
//! - No secret (key PEM) ever appears in an error.

pub mod drill;
pub mod snapshots;

use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use sha2::{Digest, Sha256};

/// The key the scheduled and on-demand snapshots write just before snapshotting: its value (a
/// UTC timestamp) is recorded in the snapshot's metadata, and a restore drill checks it.
pub const CANARY_KEY: &str = "/slipway/canary";

#[derive(Debug, thiserror::Error)]
pub enum EtcdError {
    #[error("etcd TLS setup: {0}")]
    Tls(String),
    #[error("{endpoint}: {reason}")]
    Request { endpoint: String, reason: String },
    #[error("{endpoint}: HTTP {status}: {body}")]
    Status { endpoint: String, status: u16, body: String },
    #[error("{endpoint}: unexpected answer to {what}: {detail}")]
    Answer { endpoint: String, what: &'static str, detail: String },
    #[error("no etcd endpoint answered: {0}")]
    NoEndpoint(String),
    #[error("snapshot integrity: {0}")]
    Integrity(String),
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
}

/// PEM material for mutual TLS: the etcd CA and a client certificate it signed.
#[derive(Clone)]
pub struct TlsFiles {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for TlsFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsFiles { .. }")
    }
}

/// `POST /v3/maintenance/status` of one member.
#[derive(Debug, Clone)]
pub struct Status {
    pub endpoint: String,
    pub member_id: u64,
    pub leader: u64,
    pub revision: i64,
    pub version: String,
    pub db_size: i64,
}

impl Status {
    pub fn is_leader(&self) -> bool {
        self.member_id != 0 && self.member_id == self.leader
    }
}

/// `POST /v3/maintenance/hashkv` of one member.
#[derive(Debug, Clone, PartialEq)]
pub struct HashKv {
    pub hash: u64,
    pub hash_revision: i64,
    pub compact_revision: i64,
}

#[derive(Debug, Clone)]
pub struct Member {
    pub id: u64,
    pub name: String,
    pub peer_urls: Vec<String>,
    pub client_urls: Vec<String>,
    pub is_learner: bool,
}

/// What [`Client::snapshot`] streamed.
#[derive(Debug, Clone)]
pub struct SnapshotFile {
    /// Bytes written (database + etcd's 32-byte SHA-256).
    pub size: u64,
    /// Hex SHA-256 of the whole file as written (what the S3 metadata `sha256` records).
    pub sha256: String,
    pub endpoint: String,
}

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    endpoints: Vec<String>,
}

impl Client {
    /// A client for these endpoints (`https://host:port` or `http://`); TLS files are required
    /// for https endpoints that ask for a client certificate (every slipway etcd does).
    pub fn new(
        endpoints: &[String],
        tls: Option<&TlsFiles>,
        timeout: Duration,
    ) -> Result<Client, EtcdError> {
        if endpoints.is_empty() {
            return Err(EtcdError::NoEndpoint("no endpoints given".into()));
        }
        let mut b = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .read_timeout(timeout)
            .http1_only();
        if let Some(t) = tls {
            let ca = reqwest::Certificate::from_pem_bundle(t.ca_pem.as_bytes())
                .map_err(|e| EtcdError::Tls(format!("etcd CA certificate: {e}")))?;
            // The key never goes into an error message: only that it did not parse.
            let identity =
                reqwest::Identity::from_pem(format!("{}\n{}", t.cert_pem, t.key_pem).as_bytes())
                    .map_err(|_| {
                        EtcdError::Tls("client certificate or key is not valid PEM".into())
                    })?;
            b = b.tls_certs_only(ca).identity(identity);
        }
        let http = b.build().map_err(|e| EtcdError::Tls(e.to_string()))?;
        Ok(Client {
            http,
            endpoints: endpoints.iter().map(|e| e.trim_end_matches('/').to_string()).collect(),
        })
    }

    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    async fn post(
        &self,
        endpoint: &str,
        path: &str,
        body: serde_json::Value,
    ) -> Result<reqwest::Response, EtcdError> {
        let resp = self
            .http
            .post(format!("{endpoint}{path}"))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| EtcdError::Request {
                endpoint: endpoint.to_string(),
                reason: error_chain(&e),
            })?;
        let status = resp.status().as_u16();
        if status != 200 {
            let body = resp.text().await.unwrap_or_default();
            return Err(EtcdError::Status {
                endpoint: endpoint.to_string(),
                status,
                body: body.chars().take(500).collect(),
            });
        }
        Ok(resp)
    }

    async fn call(
        &self,
        endpoint: &str,
        path: &str,
        body: serde_json::Value,
        what: &'static str,
    ) -> Result<serde_json::Value, EtcdError> {
        let resp = self.post(endpoint, path, body).await?;
        let text = resp.text().await.map_err(|e| EtcdError::Request {
            endpoint: endpoint.to_string(),
            reason: error_chain(&e),
        })?;
        let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| EtcdError::Answer {
            endpoint: endpoint.to_string(),
            what,
            detail: e.to_string(),
        })?;
        if let Some(err) = v.get("error").or_else(|| v.get("message")) {
            return Err(EtcdError::Answer {
                endpoint: endpoint.to_string(),
                what,
                detail: err.to_string(),
            });
        }
        Ok(v)
    }

    /// Runs `f` against each endpoint in turn until one answers.
    async fn any<T, F, Fut>(&self, f: F) -> Result<T, EtcdError>
    where
        F: Fn(String) -> Fut,
        Fut: std::future::Future<Output = Result<T, EtcdError>>,
    {
        let mut errors = Vec::new();
        for e in &self.endpoints {
            match f(e.clone()).await {
                Ok(v) => return Ok(v),
                Err(err) => errors.push(err.to_string()),
            }
        }
        Err(EtcdError::NoEndpoint(errors.join("; ")))
    }

    pub async fn status(&self, endpoint: &str) -> Result<Status, EtcdError> {
        let v =
            self.call(endpoint, "/v3/maintenance/status", serde_json::json!({}), "status").await?;
        Ok(Status {
            endpoint: endpoint.to_string(),
            member_id: num_u64(&v["header"]["member_id"]),
            leader: num_u64(&v["leader"]),
            revision: num_i64(&v["header"]["revision"]),
            version: v["version"].as_str().unwrap_or("").to_string(),
            db_size: num_i64(&v["dbSize"]),
        })
    }

    /// The status of every endpoint that answers, and the errors of those that did not.
    pub async fn statuses(&self) -> (Vec<Status>, Vec<String>) {
        let all = futures_util::future::join_all(self.endpoints.iter().map(|e| self.status(e)));
        let mut ok = Vec::new();
        let mut failed = Vec::new();
        for r in all.await {
            match r {
                Ok(s) => ok.push(s),
                Err(e) => failed.push(e.to_string()),
            }
        }
        (ok, failed)
    }

    /// The endpoint of the current leader (among the configured endpoints).
    pub async fn leader_endpoint(&self) -> Result<String, EtcdError> {
        let (statuses, failed) = self.statuses().await;
        statuses.iter().find(|s| s.is_leader()).map(|s| s.endpoint.clone()).ok_or_else(|| {
            EtcdError::NoEndpoint(if failed.is_empty() {
                "no configured endpoint is the leader".into()
            } else {
                failed.join("; ")
            })
        })
    }

    /// `hashkv` at `revision` (0: the member's current revision).
    pub async fn hashkv(&self, endpoint: &str, revision: i64) -> Result<HashKv, EtcdError> {
        let v = self
            .call(
                endpoint,
                "/v3/maintenance/hashkv",
                serde_json::json!({ "revision": revision.to_string() }),
                "hashkv",
            )
            .await?;
        Ok(HashKv {
            hash: num_u64(&v["hash"]),
            hash_revision: num_i64(&v["hash_revision"]),
            compact_revision: num_i64(&v["compact_revision"]),
        })
    }

    /// The hash of the member's whole backend database.
    pub async fn hash(&self, endpoint: &str) -> Result<u64, EtcdError> {
        let v = self.call(endpoint, "/v3/maintenance/hash", serde_json::json!({}), "hash").await?;
        Ok(num_u64(&v["hash"]))
    }

    /// Puts a key (through any endpoint); returns the revision of the write.
    pub async fn put(&self, key: &[u8], value: &[u8]) -> Result<i64, EtcdError> {
        let body = serde_json::json!({ "key": B64.encode(key), "value": B64.encode(value) });
        self.any(|e| {
            let body = body.clone();
            async move {
                let v = self.call(&e, "/v3/kv/put", body, "put").await?;
                Ok(num_i64(&v["header"]["revision"]))
            }
        })
        .await
    }

    /// Reads a key (linearizable, through any endpoint): its value and mod revision.
    pub async fn get(&self, key: &[u8]) -> Result<Option<(Vec<u8>, i64)>, EtcdError> {
        let body = serde_json::json!({ "key": B64.encode(key) });
        self.any(|e| {
            let body = body.clone();
            async move { self.get_at(&e, body).await }
        })
        .await
    }

    /// Reads a key from one endpoint.
    pub async fn get_from(
        &self,
        endpoint: &str,
        key: &[u8],
    ) -> Result<Option<(Vec<u8>, i64)>, EtcdError> {
        self.get_at(endpoint, serde_json::json!({ "key": B64.encode(key) })).await
    }

    async fn get_at(
        &self,
        endpoint: &str,
        body: serde_json::Value,
    ) -> Result<Option<(Vec<u8>, i64)>, EtcdError> {
        let v = self.call(endpoint, "/v3/kv/range", body, "range").await?;
        let Some(kv) = v["kvs"].as_array().and_then(|a| a.first()) else {
            return Ok(None);
        };
        let value =
            B64.decode(kv["value"].as_str().unwrap_or("")).map_err(|e| EtcdError::Answer {
                endpoint: endpoint.to_string(),
                what: "range",
                detail: format!("value is not base64: {e}"),
            })?;
        Ok(Some((value, num_i64(&kv["mod_revision"]))))
    }

    /// Counts the keys under a prefix (a `range` with `count_only`).
    pub async fn count_prefix(&self, endpoint: &str, prefix: &[u8]) -> Result<i64, EtcdError> {
        let v = self
            .call(
                endpoint,
                "/v3/kv/range",
                serde_json::json!({
                    "key": B64.encode(prefix),
                    "range_end": B64.encode(prefix_end(prefix)),
                    "count_only": true,
                }),
                "range",
            )
            .await?;
        Ok(num_i64(&v["count"]))
    }

    pub async fn member_list(&self) -> Result<Vec<Member>, EtcdError> {
        self.any(|e| async move {
            let v = self
                .call(&e, "/v3/cluster/member/list", serde_json::json!({}), "member list")
                .await?;
            let urls = |m: &serde_json::Value, k: &str| -> Vec<String> {
                m[k].as_array()
                    .map(|a| a.iter().filter_map(|u| u.as_str().map(str::to_string)).collect())
                    .unwrap_or_default()
            };
            Ok(v["members"]
                .as_array()
                .map(|ms| {
                    ms.iter()
                        .map(|m| Member {
                            id: num_u64(&m["ID"]),
                            name: m["name"].as_str().unwrap_or("").to_string(),
                            peer_urls: urls(m, "peerURLs"),
                            client_urls: urls(m, "clientURLs"),
                            is_learner: m["isLearner"].as_bool().unwrap_or(false),
                        })
                        .collect()
                })
                .unwrap_or_default())
        })
        .await
    }

    /// Streams a snapshot from `endpoint` into `path` (created, mode 0600). The trailing
    /// SHA-256 etcd appends is checked; on any failure the file is removed.
    pub async fn snapshot(&self, endpoint: &str, path: &Path) -> Result<SnapshotFile, EtcdError> {
        let r = self.snapshot_inner(endpoint, path).await;
        if r.is_err() {
            let _ = std::fs::remove_file(path);
        }
        r
    }

    async fn snapshot_inner(&self, endpoint: &str, path: &Path) -> Result<SnapshotFile, EtcdError> {
        let io = |source| EtcdError::Io { path: path.display().to_string(), source };
        let mut resp =
            self.post(endpoint, "/v3/maintenance/snapshot", serde_json::json!({})).await?;
        use std::os::unix::fs::OpenOptionsExt;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)
            .map_err(io)?;
        let mut whole = Sha256::new();
        let mut trailer = TrailerCheck::default();
        let mut pending = Vec::<u8>::new();
        let mut size = 0u64;
        let mut handle_line = |line: &[u8]| -> Result<(), EtcdError> {
            if line.iter().all(u8::is_ascii_whitespace) {
                return Ok(());
            }
            let v: serde_json::Value =
                serde_json::from_slice(line).map_err(|e| EtcdError::Answer {
                    endpoint: endpoint.to_string(),
                    what: "snapshot",
                    detail: e.to_string(),
                })?;
            if let Some(err) = v.get("error") {
                return Err(EtcdError::Answer {
                    endpoint: endpoint.to_string(),
                    what: "snapshot",
                    detail: err.to_string(),
                });
            }
            let blob = B64.decode(v["result"]["blob"].as_str().unwrap_or("")).map_err(|e| {
                EtcdError::Answer {
                    endpoint: endpoint.to_string(),
                    what: "snapshot",
                    detail: format!("blob is not base64: {e}"),
                }
            })?;
            whole.update(&blob);
            trailer.update(&blob);
            size += blob.len() as u64;
            file.write_all(&blob).map_err(io)
        };
        loop {
            let chunk = resp.chunk().await.map_err(|e| EtcdError::Request {
                endpoint: endpoint.to_string(),
                reason: format!("snapshot stream: {}", error_chain(&e)),
            })?;
            let Some(chunk) = chunk else { break };
            pending.extend_from_slice(&chunk);
            // The gateway sends one JSON message per line.
            while let Some(nl) = pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = pending.drain(..=nl).collect();
                handle_line(&line)?;
            }
        }
        handle_line(&pending)?;
        file.sync_all().map_err(io)?;
        trailer.verify()?;
        Ok(SnapshotFile {
            size,
            sha256: hex::encode(whole.finalize()),
            endpoint: endpoint.to_string(),
        })
    }
}

/// SHA-256 over everything but the last 32 bytes, compared with those 32 bytes.
#[derive(Default)]
struct TrailerCheck {
    hasher: Sha256,
    tail: Vec<u8>,
    total: u64,
}

impl TrailerCheck {
    fn update(&mut self, data: &[u8]) {
        self.total += data.len() as u64;
        self.tail.extend_from_slice(data);
        if self.tail.len() > 32 {
            let cut = self.tail.len() - 32;
            self.hasher.update(&self.tail[..cut]);
            self.tail.drain(..cut);
        }
    }

    fn verify(self) -> Result<(), EtcdError> {
        // etcd's own test (etcdutl's hasHash): a database is whole pages (512-byte multiples),
        // so a snapshot with its hash is 32 bytes past a multiple of 512.
        if self.total < 512 || self.total % 512 != 32 {
            return Err(EtcdError::Integrity(format!(
                "{} bytes is not a whole etcd database plus its SHA-256 (truncated?)",
                self.total
            )));
        }
        let got = self.hasher.finalize();
        if got.as_slice() != self.tail.as_slice() {
            return Err(EtcdError::Integrity(format!(
                "etcd's trailing SHA-256 {} does not match the database's {} (corrupted)",
                hex::encode(&self.tail),
                hex::encode(got)
            )));
        }
        Ok(())
    }
}

/// Checks a snapshot file's trailing SHA-256 (as `etcdutl snapshot restore` does); returns the
/// hex SHA-256 of the whole file.
pub fn verify_snapshot_file(path: &Path) -> Result<String, EtcdError> {
    use std::io::Read as _;
    let io = |source| EtcdError::Io { path: path.display().to_string(), source };
    let mut f = std::fs::File::open(path).map_err(io)?;
    let mut whole = Sha256::new();
    let mut trailer = TrailerCheck::default();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        whole.update(&buf[..n]);
        trailer.update(&buf[..n]);
    }
    trailer.verify()?;
    Ok(hex::encode(whole.finalize()))
}

/// Hex SHA-256 of a file.
pub fn sha256_file(path: &Path) -> Result<String, EtcdError> {
    use std::io::Read as _;
    let io = |source| EtcdError::Io { path: path.display().to_string(), source };
    let mut f = std::fs::File::open(path).map_err(io)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// The smallest key greater than every key with this prefix (etcd's `range_end` for a prefix).
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    // All 0xff (or empty): every key from the prefix on.
    vec![0]
}

fn num_u64(v: &serde_json::Value) -> u64 {
    match v {
        serde_json::Value::String(s) => s.parse().unwrap_or(0),
        serde_json::Value::Number(n) => n.as_u64().unwrap_or(0),
        _ => 0,
    }
}

fn num_i64(v: &serde_json::Value) -> i64 {
    match v {
        serde_json::Value::String(s) => s.parse().unwrap_or(0),
        serde_json::Value::Number(n) => n.as_i64().unwrap_or(0),
        _ => 0,
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_trailer(db: &[u8]) -> Vec<u8> {
        let mut v = db.to_vec();
        v.extend_from_slice(&Sha256::digest(db));
        v
    }

    #[test]
    fn trailer_check_accepts_whole_and_refuses_corrupt_or_truncated() {
        let db: Vec<u8> = (0..4096u32).map(|i| (i * 7) as u8).collect();
        let good = with_trailer(&db);
        for split in [1, 31, 32, 33, 700, good.len() - 1] {
            let mut t = TrailerCheck::default();
            t.update(&good[..split]);
            t.update(&good[split..]);
            t.verify().unwrap();
        }
        let mut corrupt = good.clone();
        corrupt[100] ^= 1;
        let mut t = TrailerCheck::default();
        t.update(&corrupt);
        assert!(t.verify().unwrap_err().to_string().contains("corrupted"));
        let mut t = TrailerCheck::default();
        t.update(&good[..good.len() - 600]);
        assert!(t.verify().unwrap_err().to_string().contains("truncated"));
    }

    #[test]
    fn prefix_end_is_etcds() {
        assert_eq!(prefix_end(b"/registry/"), b"/registry0".to_vec());
        assert_eq!(prefix_end(b"a\xff"), b"b".to_vec());
        assert_eq!(prefix_end(b""), vec![0]);
    }

    #[test]
    fn gateway_numbers_parse_from_strings_and_numbers() {
        assert_eq!(num_u64(&serde_json::json!("14184206392947114374")), 14184206392947114374);
        assert_eq!(num_u64(&serde_json::json!(3714034683u64)), 3714034683);
        assert_eq!(num_i64(&serde_json::json!("-1")), -1);
    }
}
