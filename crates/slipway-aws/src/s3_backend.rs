//! The S3 backend: state as objects in a (versioned) bucket, locked by conditional writes.
//!
//! | object                                         | content                                 |
//! |------------------------------------------------|-----------------------------------------|
//! | `<key>`                                        | the snapshot                            |
//! | `<key>.backup`                                 | the previous snapshot                   |
//! | `<key>.journal/<lineage>/<serial>/<first seq>` | one group commit: whole journal records |
//! | `<key>.lock`                                   | the lock: the holder's [`LockInfo`]     |
//!
//! (`<serial>` and `<first seq>` are zero-padded to 20 digits, so names sort numerically.)
//! With `dynamodb_table`, the lock is an item of that table instead (partition key `LockID`,
//! a string, = `<bucket>/<key>`; attributes `LockId` and `Info`).
//!
//! **Invariants** (on top of the [`Backend`] contract):
//! - **Every write is one atomic PUT**, so nothing is ever half-written: a snapshot replaces the
//!   old one whole, and a journal group commit is one object that exists whole or not at all.
//!   A PUT is durable when S3 acknowledges it; reads (and LISTs) are strongly consistent.
//! - **Journal = numbered objects under the snapshot they extend.** Records are appended as one
//!   object per group commit, named by the snapshot's lineage and serial and the batch's first
//!   sequence number. Replay lists that prefix only, requires the batches to be contiguous from
//!   1, and refuses any gap or bad record (an object is never torn, so nothing is dropped). After
//!   a compaction the old prefix is stale — never replayed — and is deleted best effort.
//! - **Fenced writes.** A journal object is written with `If-None-Match: *` (two writers can
//!   never both write sequence k), a snapshot with `If-Match: <etag read>` (or `If-None-Match`
//!   for the first), and a change is acknowledged only after the lock is re-read and is still
//!   ours. So a holder whose lock was force-unlocked (and perhaps taken by another run) gets
//!   an error instead of a silently lost change. A conditional PUT that fails because the
//!   SDK's retry found our own first attempt already there is recognised by content.
//! - **Lock = conditional create** of `<key>.lock` (`If-None-Match: *`) or a DynamoDB
//!   `PutItem` with `attribute_not_exists(LockID)`: exactly one concurrent locker wins. The
//!   holder refreshes the lock's `heartbeat` every TTL/3 by a conditional overwrite
//!   (`If-Match: <etag>` / condition on the lock id); a lock whose heartbeat is older than its
//!   TTL, or whose pid is gone from this host, is reported **stale** and taken over
//!   ([`Backend::lock_with_timeout`]; conditional delete, so never a lock taken since); any
//!   other lock only `force-unlock ID` removes. A holder that finds its lock gone or replaced stops
//!   acknowledging changes, and one that could not refresh it for 2/3 of the TTL stops writing
//!   (self-fencing: it stops before anyone may call it stale). The lock is re-read before a
//!   snapshot is replaced, and after every write. What remains is a zombie paused for longer
//!   than the rest of its lease between that check and its PUT while its lock is taken over:
//!   S3 offers no cross-object fencing token to close that window.
//! - The codec (see [`crate::state::crypt`]) sits under all of it: snapshot, backup and every journal
//!   record are sealed when encryption is configured. The lock is not state and stays readable.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

use crate::state::crypt::Codec;
use crate::state::journal::{decode_record_line, encode_record_with};
use crate::state::{JournalOp, State, StateError};
use slipway_core::backend::s3::S3Config;
use slipway_core::backend::{AppendReceipt, Backend, BackendError, LockInfo, WriteReceipt};

mod lock;

struct Clients {
    s3: aws_sdk_s3::Client,
    ddb: Option<aws_sdk_dynamodb::Client>,
}

/// State in S3. Cheap to clone (shared inner).
#[derive(Clone)]
pub struct S3Backend {
    inner: Arc<Inner>,
}

struct Inner {
    cfg: S3Config,
    codec: Arc<Codec>,
    clients: tokio::sync::OnceCell<Clients>,
    session: tokio::sync::Mutex<Session>,
    heartbeat: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    versioning_checked: AtomicBool,
}

#[derive(Default)]
struct Session {
    held: Option<Held>,
    binding: Binding,
}

struct Held {
    info: LockInfo,
    lease: Arc<Lease>,
}

/// What the heartbeat knows about our hold on the lock.
struct Lease {
    /// Set when the lock was found gone or someone else's.
    lost: AtomicBool,
    /// When the last successful refresh was *sent* (so the stored heartbeat is no older).
    refreshed: std::sync::Mutex<std::time::Instant>,
}

impl Lease {
    fn age(&self) -> Duration {
        self.refreshed.lock().unwrap_or_else(|e| e.into_inner()).elapsed()
    }
}

enum Binding {
    Unread(&'static str),
    NoState,
    Bound(Bound),
}

impl Default for Binding {
    fn default() -> Self {
        Binding::Unread("read the state after taking the lock, before changing it")
    }
}

struct Bound {
    lineage: String,
    snapshot_serial: u64,
    /// The snapshot as stored (for the backup) and its etag (for the conditional overwrite).
    snapshot_raw: Vec<u8>,
    snapshot_etag: Option<String>,
    records: u64,
    journal_bytes: u64,
}

/// An SDK failure: HTTP status (if a response came back), error code, and the full message.
struct Failure {
    status: Option<u16>,
    code: Option<String>,
    message: String,
}

fn failure<E>(e: &SdkError<E, HttpResponse>) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let status = e.raw_response().map(|r| r.status().as_u16());
    // Service errors: the code and message, not the whole response (which can be long);
    // transport errors: the full chain (connection refused, timeout, …).
    let message = match (e.code(), e.message(), status) {
        (Some(c), Some(m), _) => format!("{c}: {m}"),
        (Some(c), None, _) => c.to_string(),
        (None, _, Some(st)) => format!("HTTP {st}"),
        _ => DisplayErrorContext(e).to_string(),
    };
    Failure { status, code: e.code().map(str::to_string), message }
}

impl Failure {
    fn precondition_failed(&self) -> bool {
        self.status == Some(412) || self.code.as_deref() == Some("PreconditionFailed")
    }
    fn not_found(&self) -> bool {
        self.status == Some(404) || matches!(self.code.as_deref(), Some("NoSuchKey" | "NotFound"))
    }
    /// S3 answers 409 when two conditional writes to one key race.
    fn conflict(&self) -> bool {
        self.status == Some(409) || self.code.as_deref() == Some("ConditionalRequestConflict")
    }
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

impl S3Backend {
    pub fn new(cfg: S3Config, codec: Arc<Codec>) -> S3Backend {
        S3Backend {
            inner: Arc::new(Inner {
                cfg,
                codec,
                clients: tokio::sync::OnceCell::new(),
                session: tokio::sync::Mutex::new(Session::default()),
                heartbeat: std::sync::Mutex::new(None),
                versioning_checked: AtomicBool::new(false),
            }),
        }
    }

    pub fn config(&self) -> &S3Config {
        &self.inner.cfg
    }

    /// The current lock holder, if any.
    pub async fn lock_holder(&self) -> Result<Option<LockInfo>, BackendError> {
        Ok(self.inner.get_lock().await?.map(|(i, _)| i))
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(h) = self.heartbeat.get_mut().unwrap_or_else(|e| e.into_inner()).take() {
            h.abort();
        }
    }
}

impl Inner {
    fn url(&self) -> String {
        format!("s3://{}/{}", self.cfg.bucket, self.cfg.key)
    }

    fn lock_key(&self) -> String {
        format!("{}.lock", self.cfg.key)
    }

    fn backup_key(&self) -> String {
        format!("{}.backup", self.cfg.key)
    }

    fn journal_root(&self) -> String {
        format!("{}.journal/", self.cfg.key)
    }

    fn journal_prefix(&self, lineage: &str, serial: u64) -> String {
        format!("{}{lineage}/{serial:020}/", self.journal_root())
    }

    fn remote(&self, op: &'static str, reason: impl Into<String>) -> BackendError {
        BackendError::Remote { at: self.url(), op, reason: reason.into() }
    }

    async fn clients(&self) -> Result<&Clients, BackendError> {
        self.clients
            .get_or_try_init(|| async {
                // Bounded attempts: a hung connection must not hold a run (or its heartbeat)
                // forever; the SDK's standard retries apply on top.
                let timeouts = aws_config::timeout::TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .operation_attempt_timeout(Duration::from_secs(60))
                    .build();
                let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
                    .timeout_config(timeouts);
                if let Some(r) = &self.cfg.region {
                    loader = loader.region(aws_config::Region::new(r.clone()));
                }
                if let Some(e) = &self.cfg.endpoint {
                    loader = loader.endpoint_url(e.clone());
                }
                let sdk = loader.load().await;
                if sdk.region().is_none() {
                    return Err(self.remote(
                        "configure",
                        "no AWS region: set `region` in the backend block, or AWS_REGION",
                    ));
                }
                // Path-style keeps the bucket out of the host name, which emulators and
                // S3-compatible stores need and AWS accepts.
                let s3 = aws_sdk_s3::config::Builder::from(&sdk)
                    .force_path_style(sdk.endpoint_url().is_some())
                    .build();
                Ok(Clients {
                    s3: aws_sdk_s3::Client::from_conf(s3),
                    ddb: self
                        .cfg
                        .dynamodb_table
                        .as_ref()
                        .map(|_| aws_sdk_dynamodb::Client::new(&sdk)),
                })
            })
            .await
    }

    async fn s3(&self) -> Result<&aws_sdk_s3::Client, BackendError> {
        Ok(&self.clients().await?.s3)
    }

    /// GET an object: None when it does not exist; otherwise its bytes and etag.
    async fn get(&self, key: &str) -> Result<Option<(Vec<u8>, Option<String>)>, BackendError> {
        let s3 = self.s3().await?;
        match s3.get_object().bucket(&self.cfg.bucket).key(key).send().await {
            Ok(o) => {
                let etag = o.e_tag().map(str::to_string);
                let bytes = o
                    .body
                    .collect()
                    .await
                    .map_err(|e| {
                        self.remote("read", format!("s3://{}/{key}: {e}", self.cfg.bucket))
                    })?
                    .into_bytes()
                    .to_vec();
                Ok(Some((bytes, etag)))
            }
            Err(e) => {
                let f = failure(&e);
                if f.not_found() {
                    Ok(None)
                } else {
                    Err(self
                        .remote("read", format!("s3://{}/{key}: {}", self.cfg.bucket, f.message)))
                }
            }
        }
    }

    /// A PUT with an optional precondition. Ok(Some(etag)) on success, Ok(None) when the
    /// precondition failed.
    async fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        if_none_match: bool,
        if_match: Option<&str>,
    ) -> Result<Result<Option<String>, Failure>, BackendError> {
        let s3 = self.s3().await?;
        let mut req =
            s3.put_object().bucket(&self.cfg.bucket).key(key).body(ByteStream::from(body));
        if if_none_match {
            req = req.if_none_match("*");
        }
        if let Some(etag) = if_match {
            req = req.if_match(etag);
        }
        if self.cfg.sse {
            req = req.server_side_encryption(ServerSideEncryption::Aes256);
        }
        match req.send().await {
            Ok(o) => Ok(Ok(o.e_tag().map(str::to_string))),
            Err(e) => Ok(Err(failure(&e))),
        }
    }

    async fn delete(&self, key: &str) -> Result<(), BackendError> {
        let s3 = self.s3().await?;
        s3.delete_object().bucket(&self.cfg.bucket).key(key).send().await.map_err(|e| {
            self.remote(
                "delete",
                format!("s3://{}/{key}: {}", self.cfg.bucket, failure(&e).message),
            )
        })?;
        Ok(())
    }

    /// Keys under `prefix`, sorted.
    async fn list(
        &self,
        prefix: &str,
        limit: Option<i32>,
    ) -> Result<Vec<(String, u64)>, BackendError> {
        let s3 = self.s3().await?;
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut req = s3.list_objects_v2().bucket(&self.cfg.bucket).prefix(prefix);
            if let Some(t) = &token {
                req = req.continuation_token(t);
            }
            if let Some(n) = limit {
                req = req.max_keys(n);
            }
            let resp = req.send().await.map_err(|e| {
                self.remote(
                    "list",
                    format!("s3://{}/{prefix}: {}", self.cfg.bucket, failure(&e).message),
                )
            })?;
            for o in resp.contents() {
                if let Some(k) = o.key() {
                    out.push((k.to_string(), o.size().unwrap_or(0).max(0) as u64));
                }
            }
            if limit.is_some() {
                break;
            }
            match resp.next_continuation_token() {
                Some(t) if resp.is_truncated() == Some(true) => token = Some(t.to_string()),
                _ => break,
            }
        }
        out.sort();
        Ok(out)
    }

    async fn warn_without_versioning(&self) {
        if self.versioning_checked.swap(true, Ordering::Relaxed) {
            return;
        }
        let Ok(s3) = self.s3().await else { return };
        match s3.get_bucket_versioning().bucket(&self.cfg.bucket).send().await {
            Ok(v) if v.status().map(|s| s.as_str()) == Some("Enabled") => {}
            Ok(_) => tracing::warn!(
                bucket = %self.cfg.bucket,
                "the state bucket has no versioning: enable it, so that every earlier state stays recoverable"
            ),
            Err(e) => {
                tracing::debug!(error = %failure(&e).message, "could not check bucket versioning")
            }
        }
    }

    // ----- state -----

    async fn read(&self) -> Result<Option<State>, BackendError> {
        let at = self.url();
        let Some((raw, etag)) = self.get(&self.cfg.key).await? else {
            if !self.list(&self.journal_root(), Some(1)).await?.is_empty() {
                return Err(BackendError::Protocol {
                    at,
                    reason: format!(
                        "journal objects exist under {} but the snapshot does not; restore the snapshot (an earlier version, or {}) first",
                        self.journal_root(),
                        self.backup_key()
                    ),
                });
            }
            self.session.lock().await.binding = Binding::NoState;
            return Ok(None);
        };
        let plain = self.codec.open(&raw, &at).map_err(StateError::from)?;
        let mut state = State::from_slice(&plain, Path::new(&at))?;
        let snapshot_serial = state.serial;
        let prefix = self.journal_prefix(&state.lineage, snapshot_serial);
        let mut last = 0u64;
        let mut journal_bytes = 0u64;
        for (key, _) in self.list(&prefix, None).await? {
            let where_ = format!("s3://{}/{key}", self.cfg.bucket);
            let first: u64 =
                key[prefix.len()..].parse().map_err(|_| StateError::JournalCorruptAt {
                    at: where_.clone(),
                    reason: "unexpected object name in the journal".into(),
                })?;
            if first != last + 1 {
                return Err(StateError::JournalCorruptAt {
                    at: where_,
                    reason: format!(
                        "batch starts at record {first} where {} was expected",
                        last + 1
                    ),
                }
                .into());
            }
            let Some((bytes, _)) = self.get(&key).await? else {
                return Err(StateError::JournalCorruptAt {
                    at: where_,
                    reason: "listed but gone (deleted by a concurrent compaction?)".into(),
                }
                .into());
            };
            journal_bytes += bytes.len() as u64;
            for line in bytes.split_inclusive(|&b| b == b'\n') {
                let (seq, op) = decode_record_line(&self.codec, line, &where_)?;
                if seq != last + 1 {
                    return Err(StateError::JournalCorruptAt {
                        at: where_,
                        reason: format!("sequence {seq} where {} was expected", last + 1),
                    }
                    .into());
                }
                op.apply_to(&mut state);
                last = seq;
            }
        }
        state.serial += last;
        self.session.lock().await.binding = Binding::Bound(Bound {
            lineage: state.lineage.clone(),
            snapshot_serial,
            snapshot_raw: raw,
            snapshot_etag: etag,
            records: last,
            journal_bytes,
        });
        Ok(Some(state))
    }

    async fn append_many(&self, ops: &[JournalOp]) -> Result<AppendReceipt, BackendError> {
        let mut s = self.session.lock().await;
        let ours = self.check_held(&s)?;
        let b = match &mut s.binding {
            Binding::Bound(b) => b,
            Binding::NoState => {
                return Err(BackendError::Protocol {
                    at: self.url(),
                    reason: "cannot journal a change before the first snapshot is written".into(),
                });
            }
            Binding::Unread(why) => {
                return Err(BackendError::Protocol {
                    at: self.url(),
                    reason: format!("read the state again: {why}"),
                });
            }
        };
        let first = b.records + 1;
        let mut body = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            body.extend(encode_record_with(&self.codec, first + i as u64, op)?);
        }
        let key = format!("{}{first:020}", self.journal_prefix(&b.lineage, b.snapshot_serial));
        let len = body.len() as u64;
        let put = self.put(&key, body.clone(), true, None).await;
        let written = match put {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(f)) if f.precondition_failed() || f.conflict() => {
                // Ours (an SDK retry of a PUT that had landed), or another writer's.
                match self.get(&key).await {
                    Ok(Some((existing, _))) if existing == body => Ok(()),
                    Ok(_) => Err(BackendError::Conflict {
                        at: self.url(),
                        reason: format!(
                            "journal record {first} already exists (written by another run?)"
                        ),
                    }),
                    Err(e) => Err(e),
                }
            }
            Ok(Err(f)) => Err(self.remote("append", f.message)),
            Err(e) => Err(e),
        };
        if let Err(e) = written {
            // The outcome may be unknown (a timeout): only a fresh read can tell.
            s.binding = Binding::Unread("a journal write failed");
            return Err(e);
        }
        self.verify_held(&mut s, &ours).await?;
        let Binding::Bound(b) = &mut s.binding else {
            return Err(BackendError::Internal("binding changed".into()));
        };
        b.records += ops.len() as u64;
        b.journal_bytes += len;
        Ok(AppendReceipt {
            seq: b.records,
            serial: b.snapshot_serial + b.records,
            journal_records: b.records,
            journal_bytes: b.journal_bytes,
            snapshot_bytes: b.snapshot_raw.len() as u64,
        })
    }

    /// What a write over the stored snapshot `b` replaces, once it may: the snapshot's etag
    /// (for the conditional overwrite), its journal's prefix (stale afterwards) and the backup
    /// to write first (in the current encryption). Refuses another lineage, unless
    /// `replace_empty`, and a serial not newer than the stored one.
    fn replacing(
        &self,
        b: &Bound,
        lineage: &str,
        serial: u64,
        replace_empty: bool,
    ) -> Result<(Option<String>, String, Vec<u8>), BackendError> {
        // With `replace_empty`, the caller read the stored state under this lock and
        // found it empty: only then may another lineage replace it.
        if lineage != b.lineage.as_str() && !replace_empty {
            return Err(BackendError::Conflict {
                at: self.url(),
                reason: format!("lineage {lineage} differs from the stored state's {}", b.lineage),
            });
        }
        let current = b.snapshot_serial + b.records;
        let ok = serial > current || (serial == current && b.records > 0);
        if !ok && !replace_empty {
            return Err(BackendError::Conflict {
                at: self.url(),
                reason: format!("serial {serial} is not newer than the stored serial {current}"),
            });
        }
        let backup = if self.codec.is_current(&b.snapshot_raw) {
            b.snapshot_raw.clone()
        } else {
            self.codec.reseal(&b.snapshot_raw, &self.url()).map_err(StateError::from)?
        };
        Ok((b.snapshot_etag.clone(), self.journal_prefix(&b.lineage, b.snapshot_serial), backup))
    }

    async fn write(
        &self,
        state: &State,
        replace_empty: bool,
    ) -> Result<WriteReceipt, BackendError> {
        let plain = zeroize::Zeroizing::new(state.to_vec()?);
        let sealed = self.codec.seal(&plain).map_err(StateError::from)?;
        let (lineage, serial) = (state.lineage.clone(), state.serial);
        let mut s = self.session.lock().await;
        let ours = self.check_held(&s)?;
        let (etag, old_prefix, backup) = match &s.binding {
            Binding::Unread(why) => {
                return Err(BackendError::Protocol {
                    at: self.url(),
                    reason: format!("read the state again: {why}"),
                });
            }
            Binding::NoState => (None, None, None),
            Binding::Bound(b) => {
                let (etag, prefix, backup) = self.replacing(b, &lineage, serial, replace_empty)?;
                (etag, Some(prefix), Some(backup))
            }
        };
        // Confirm the lock before replacing the snapshot (and again after): a holder whose lock
        // was broken must not overwrite what the next holder builds on.
        self.verify_held(&mut s, &ours).await?;
        if let Some(backup) = backup {
            match self.put(&self.backup_key(), backup, false, None).await? {
                Ok(_) => {}
                Err(f) => return Err(self.remote("write backup", f.message)),
            }
        }
        let first_write = etag.is_none();
        let put = self.put(&self.cfg.key, sealed.clone(), first_write, etag.as_deref()).await?;
        let new_etag = match put {
            Ok(e) => e,
            Err(f) if f.precondition_failed() || f.conflict() => {
                // Ours (a retried PUT that had landed), or someone else's newer snapshot.
                match self.get(&self.cfg.key).await? {
                    Some((existing, e)) if existing == sealed => e,
                    _ => {
                        s.binding = Binding::Unread("the snapshot changed under us");
                        return Err(BackendError::Conflict {
                            at: self.url(),
                            reason: "the snapshot was changed by someone else since it was read (was the lock broken?)".into(),
                        });
                    }
                }
            }
            Err(f) => {
                s.binding = Binding::Unread("a snapshot write failed");
                return Err(self.remote("write", f.message));
            }
        };
        s.binding = Binding::Unread("the lock could not be confirmed after a snapshot write");
        self.verify_held(&mut s, &ours).await?;
        s.binding = Binding::Bound(Bound {
            lineage: lineage.clone(),
            snapshot_serial: serial,
            snapshot_raw: sealed.clone(),
            snapshot_etag: new_etag,
            records: 0,
            journal_bytes: 0,
        });
        drop(s);
        // The old journal is stale now (never replayed); remove it, best effort.
        if let Some(prefix) = old_prefix {
            self.delete_prefix(&prefix).await;
        }
        Ok(WriteReceipt { serial, bytes: sealed.len() as u64 })
    }

    async fn delete_prefix(&self, prefix: &str) {
        let keys = match self.list(prefix, None).await {
            Ok(k) => k,
            Err(e) => {
                tracing::debug!(error = %e, "listing a stale journal");
                return;
            }
        };
        for (k, _) in keys {
            if let Err(e) = self.delete(&k).await {
                tracing::debug!(error = %e, "deleting a stale journal object");
            }
        }
    }
}

#[async_trait::async_trait]
impl Backend for S3Backend {
    fn describe(&self) -> String {
        match &self.inner.cfg.dynamodb_table {
            None => format!("s3 state {}", self.inner.url()),
            Some(t) => format!("s3 state {} (lock in DynamoDB table {t})", self.inner.url()),
        }
    }

    async fn lock(&self, info: LockInfo) -> Result<LockInfo, BackendError> {
        self.inner.lock(info).await
    }

    async fn unlock(&self, lock_id: &str) -> Result<(), BackendError> {
        self.inner.unlock(lock_id).await
    }

    async fn force_unlock(&self, lock_id: &str) -> Result<(), BackendError> {
        self.inner.force_unlock(lock_id).await
    }

    async fn take_over(&self, dead: &LockInfo) -> Result<(), BackendError> {
        self.inner.take_over(dead).await
    }

    async fn read(&self) -> Result<Option<State>, BackendError> {
        self.inner.read().await
    }

    async fn append(&self, op: &JournalOp) -> Result<AppendReceipt, BackendError> {
        self.inner.append_many(std::slice::from_ref(op)).await
    }

    async fn append_batch(&self, ops: &[JournalOp]) -> Result<AppendReceipt, BackendError> {
        self.inner.append_many(ops).await
    }

    async fn write(&self, state: &State) -> Result<WriteReceipt, BackendError> {
        self.inner.write(state, false).await
    }

    async fn replace_empty(&self, state: &State) -> Result<WriteReceipt, BackendError> {
        self.inner.write(state, true).await
    }
}
