//! The backend seam: where state lives, and who may change it.
//!
//! A [`Backend`] stores one environment's state as a snapshot plus a write-ahead journal
//! (see [`crate::state::journal`]) and guards it with a lock.
//!
//! **Invariants (every backend):**
//! - **Lock before change.** `append` and `write` fail with [`BackendError::NotLocked`] unless
//!   this backend instance holds the lock, and with [`BackendError::Protocol`] unless the state
//!   was `read` *after* taking it, so a writer never journals over a snapshot it has not seen.
//! - **Exclusive lock with an owner.** A second `lock` fails with [`BackendError::Locked`]
//!   carrying the holder's [`LockInfo`] (who, host, pid, operation, since when) and whether the
//!   holder is provably gone (`stale`: same host and its pid gone, reused by another process or
//!   from another boot, or — for locks with a TTL — no heartbeat within the TTL).
//!   [`Backend::lock`] never breaks a lock; [`Backend::lock_with_timeout`] takes a stale one over
//!   through [`Backend::take_over`] (only if it is still that holder's), loudly. `force_unlock`
//!   removes any lock, only when given its id.
//! - **Durable before acknowledged.** `append` returns only once the record is on disk;
//!   `write` replaces the snapshot atomically (never a half-written file, even on power loss)
//!   and keeps the previous one as a backup.
//! - **Sealed when configured.** Everything stored goes through the backend's
//!   [`crate::state::crypt::Codec`]: with encryption configured, no byte of state is written in plaintext.
//! - **Never backwards.** `write` refuses a state of another lineage or an older serial.
//! - `read` returns the snapshot with the journal replayed: exactly the last acknowledged state.
//!
//! [`JournaledState`] is what apply uses: it holds the state in memory, journals every change,
//! and compacts by [`CompactionPolicy`] so total I/O stays linear in the number of changes.

pub mod local;
pub mod migrate;
pub mod s3;
pub mod settings;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use crate::state::journal::CompactionPolicy;
use crate::state::{JournalOp, State, StateError};
pub use local::{LocalBackend, WriteStats};

/// Who holds a state lock, and since when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    /// A UUID; `force-unlock` needs it, so that nobody removes a lock they have not looked at.
    pub id: String,
    /// What the holder is doing (`apply`, `plan`, `import`, …).
    pub operation: String,
    /// `user@host`.
    pub who: String,
    pub host: String,
    pub pid: u32,
    /// RFC 3339, UTC.
    pub created: String,
    /// The slipway version of the holder.
    pub version: String,
    /// RFC 3339, UTC: when the holder last refreshed the lock (remote backends' heartbeat).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat: Option<String>,
    /// Seconds after `heartbeat` (or `created`) without a refresh at which the lock is stale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_seconds: Option<u64>,
    /// The holder host's boot id (`/proc/sys/kernel/random/boot_id`): another boot of the same
    /// host means every process of the holder's boot is gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_id: Option<String>,
    /// When the holder process started, in clock ticks since boot (`/proc/<pid>/stat`): a pid
    /// now held by a process with another start time was reused, and the holder is gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<u64>,
}

/// This boot's id, where the system has one.
fn boot_id() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// A process's start time in clock ticks since boot (field 22 of `/proc/<pid>/stat`).
fn process_start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces or parentheses itself.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

impl LockInfo {
    /// A lock request for `operation` by this process.
    pub fn new(operation: impl Into<String>) -> LockInfo {
        let host = hostname();
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .unwrap_or_else(|_| "unknown".into());
        let created = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        LockInfo {
            id: uuid::Uuid::new_v4().to_string(),
            operation: operation.into(),
            who: format!("{user}@{host}"),
            host,
            pid: std::process::id(),
            created,
            version: env!("CARGO_PKG_VERSION").into(),
            heartbeat: None,
            ttl_seconds: None,
            boot_id: boot_id(),
            start_time: process_start_time(std::process::id()),
        }
    }

    /// Why the holder is provably dead, if it is: it ran on this host and its pid is gone, or
    /// now belongs to a process with another start time, or the host has booted since; or (for
    /// a lock with a TTL, whose holder stops writing at 2/3 of it) it was not refreshed within
    /// its TTL. `None` means "presumed alive". Such a lock is taken over
    /// ([`Backend::lock_with_timeout`]).
    pub fn stale_reason(&self) -> Option<String> {
        if let Some(why) = self.holder_process_gone() {
            return Some(why);
        }
        let ttl = self.ttl_seconds?;
        let last = self.heartbeat.as_deref().unwrap_or(&self.created);
        let last =
            time::OffsetDateTime::parse(last, &time::format_description::well_known::Rfc3339)
                .ok()?;
        let age = time::OffsetDateTime::now_utc() - last;
        (age > time::Duration::seconds(ttl as i64)).then(|| {
            format!(
                "the holder last refreshed it at {} ({}s ago), longer ago than its TTL of {ttl}s, so it is presumably dead (or cut off)",
                self.heartbeat.as_deref().unwrap_or(&self.created),
                age.whole_seconds()
            )
        })
    }

    /// True when [`LockInfo::stale_reason`] gives one: the holder ran on this host and its pid
    /// is gone, or its lock has a TTL and was not refreshed within it. Without a TTL, a lock from
    /// another host is never stale (we cannot see its processes), and a reused pid makes a dead
    /// holder look alive; both err on the side of "still locked".
    pub fn is_stale(&self) -> bool {
        self.stale_reason().is_some()
    }

    fn holder_process_gone(&self) -> Option<String> {
        if self.host != hostname() {
            return None;
        }
        if let (Some(theirs), Some(ours)) = (&self.boot_id, boot_id())
            && *theirs != ours
        {
            return Some(format!(
                "this host has booted since the holder took it (boot {theirs}, now {ours})"
            ));
        }
        let pid = libc::pid_t::try_from(self.pid).ok()?;
        if pid <= 0 {
            // kill(0 or negative) addresses process groups, not the holder.
            return None;
        }
        // SAFETY: signal 0 performs only the existence and permission checks; nothing is sent.
        let rc = unsafe { libc::kill(pid, 0) };
        if rc == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH) {
            return Some("the holder process no longer exists on this host".into());
        }
        // Alive under that pid: the holder, unless the pid was reused. Only a start time
        // recorded in this boot can tell (the boot ids agree, or we would have returned).
        if let (Some(then), Some(_)) = (self.start_time, &self.boot_id)
            && let Some(now) = process_start_time(self.pid)
            && now != then
        {
            return Some(format!(
                "the holder process no longer exists on this host (pid {} now belongs to a process started later)",
                self.pid
            ));
        }
        None
    }
}

/// This machine's host name (or `unknown`).
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its whole length; gethostname writes at most that much.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "unknown".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

fn locked_message(at: &str, holder: &LockInfo, stale: bool) -> String {
    let mut m = format!(
        "state at {at} is locked by {} (pid {}, operation `{}`, since {}, slipway {}; lock id {})",
        holder.who, holder.pid, holder.operation, holder.created, holder.version, holder.id
    );
    if stale {
        let why = holder.stale_reason().unwrap_or_else(|| "the holder is gone".into());
        m.push_str(&format!(
            "; {why}, so the lock is stale: if no other slipway is running, release it with \
             `slipway force-unlock {}`",
            holder.id
        ));
    } else {
        // Not provably dead, so never taken over: a person who knows better may release it.
        m.push_str(&format!(
            ". Wait for it (`--lock-timeout`), or, if you know that run is gone (e.g. its \
             machine is), release it with `slipway force-unlock {}`",
            holder.id
        ));
    }
    m
}

/// What can go wrong with a backend. Every variant names where (file or backend) and what.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("{}", locked_message(at, holder, *stale))]
    Locked {
        at: String,
        holder: Box<LockInfo>,
        /// The holder is provably gone (see [`LockInfo::is_stale`]).
        stale: bool,
    },
    #[error("lock file {} is unreadable ({reason}); if no slipway is running, remove it by hand", path.display())]
    LockUnreadable { path: PathBuf, reason: String },
    #[error("lock id `{given}` does not match the lock on {at}, which is {} held by {}", holder.id, holder.who)]
    LockIdMismatch { at: String, given: String, holder: Box<LockInfo> },
    #[error("state at {at} is not locked{detail}")]
    NotLocked { at: String, detail: String },
    #[error("state at {at}: {reason}")]
    Protocol { at: String, reason: String },
    #[error("state at {at}: refusing to write: {reason}")]
    Conflict { at: String, reason: String },
    #[error("{op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{at}: {op}: {reason}")]
    Remote { at: String, op: &'static str, reason: String },
    #[error(transparent)]
    State(#[from] StateError),
    #[error("backend task failed: {0}")]
    Internal(String),
}

/// What an append did, for the compaction policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppendReceipt {
    /// The record's sequence number in the journal.
    pub seq: u64,
    /// The state's serial after this change.
    pub serial: u64,
    /// Records now in the journal (including any replayed from an earlier run).
    pub journal_records: u64,
    /// Journal size in bytes.
    pub journal_bytes: u64,
    /// Size of the snapshot the journal is over.
    pub snapshot_bytes: u64,
}

/// What a full write did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteReceipt {
    pub serial: u64,
    pub bytes: u64,
}

/// Storage for one environment's state. See the module docs for the contract.
#[async_trait::async_trait]
pub trait Backend: Send + Sync {
    /// Where the state lives, for messages (`local state /srv/state/prod/state.json`).
    fn describe(&self) -> String;

    /// Takes the lock, or fails with [`BackendError::Locked`] naming the holder. Returns the
    /// lock as stored (its `id` is what `unlock` needs).
    async fn lock(&self, info: LockInfo) -> Result<LockInfo, BackendError>;

    /// Releases a lock this backend holds.
    async fn unlock(&self, lock_id: &str) -> Result<(), BackendError>;

    /// Removes someone else's lock (a crashed run's), only if `lock_id` is its id.
    async fn force_unlock(&self, lock_id: &str) -> Result<(), BackendError>;

    /// The current state (snapshot with journal replayed), or None when there is none yet.
    async fn read(&self) -> Result<Option<State>, BackendError>;

    /// Durably records one change. Requires the lock and a `read` since taking it.
    async fn append(&self, op: &JournalOp) -> Result<AppendReceipt, BackendError>;

    /// Atomically replaces the snapshot with `state` and empties the journal (compaction, or a
    /// whole-state change such as `state rm`, for which the caller bumps `serial` first).
    async fn write(&self, state: &State) -> Result<WriteReceipt, BackendError>;

    /// Replaces a stored state that holds nothing (no resources, outputs or applied commit) with
    /// `state`, whatever its lineage and serial: `state migrate` into a backend where a `plan`
    /// already created an empty state. The caller must hold the lock and have `read` the stored
    /// state since taking it, and found it empty.
    async fn replace_empty(&self, state: &State) -> Result<WriteReceipt, BackendError> {
        let _ = state;
        Err(BackendError::Internal(format!("{} cannot replace an empty state", self.describe())))
    }

    /// Journals several changes at once; a backend that can makes them durable together (one
    /// fsync). The receipt is the last record's. Nothing is acknowledged until all are durable.
    async fn append_batch(&self, ops: &[JournalOp]) -> Result<AppendReceipt, BackendError> {
        let mut last = None;
        for op in ops {
            last = Some(self.append(op).await?);
        }
        last.ok_or_else(|| BackendError::Internal("empty journal batch".into()))
    }

    /// Removes the lock of a holder that is provably dead ([`LockInfo::stale_reason`]) — only
    /// if the lock still is that holder's: atomically where the store allows (a conditional
    /// delete; a guard around read-and-remove on a local disk). The default reads and removes
    /// as `force_unlock` does.
    async fn take_over(&self, dead: &LockInfo) -> Result<(), BackendError> {
        self.force_unlock(&dead.id).await
    }

    /// `lock`, retried with exponential backoff until `timeout` (`--lock-timeout`). A zero
    /// timeout tries once. A lock whose holder is provably dead is taken over, loudly: a
    /// SIGKILLed run must not need a person to run `force-unlock` (anything less certain is
    /// still refused, with that hint).
    async fn lock_with_timeout(
        &self,
        info: LockInfo,
        timeout: Duration,
    ) -> Result<LockInfo, BackendError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut delay = Duration::from_millis(50);
        let mut takeovers = 0;
        loop {
            match self.lock(info.clone()).await {
                Err(BackendError::Locked { holder, stale: true, at }) if takeovers < 3 => {
                    takeovers += 1;
                    tracing::warn!(
                        lock = %at,
                        id = %holder.id,
                        operation = %holder.operation,
                        who = %holder.who,
                        pid = holder.pid,
                        since = %holder.created,
                        reason = %holder.stale_reason().unwrap_or_default(),
                        "taking over the state lock of a run that is provably dead"
                    );
                    match self.take_over(&holder).await {
                        // Gone or changed meanwhile: someone else took it over; look again.
                        Ok(())
                        | Err(BackendError::NotLocked { .. })
                        | Err(BackendError::LockIdMismatch { .. }) => {}
                        Err(e) => return Err(e),
                    }
                }
                Err(BackendError::Locked { .. }) if tokio::time::Instant::now() < deadline => {
                    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                    tokio::time::sleep(delay.min(left)).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
                other => return other,
            }
        }
    }
}

/// The state of a run in progress: in memory, with every change journaled before it is
/// acknowledged and the journal compacted by policy.
///
/// The caller must hold the backend's lock for the life of this value.
pub struct JournaledState {
    backend: Arc<dyn Backend>,
    state: State,
    policy: CompactionPolicy,
    /// Records appended since the last compaction by this value.
    pending: u64,
    /// Set when the memory and the journal may disagree (an append whose receipt did not
    /// follow on, e.g. after a cancelled apply); compacting then could drop a durable change.
    diverged: bool,
}

impl JournaledState {
    /// Reads the state (journal replayed); when there is none, creates one for `stack_id()` and
    /// writes its first snapshot (serial 1).
    pub async fn open(
        backend: Arc<dyn Backend>,
        stack_id: impl FnOnce() -> String + Send,
        policy: CompactionPolicy,
    ) -> Result<JournaledState, BackendError> {
        let state = match backend.read().await? {
            Some(s) => s,
            None => {
                let mut s = State::new(stack_id());
                s.serial = 1;
                backend.write(&s).await?;
                s
            }
        };
        Ok(JournaledState { backend, state, policy, pending: 0, diverged: false })
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    /// Journals one change, then applies it in memory; compacts when the policy says so.
    /// If the append fails, the in-memory state is unchanged; if only the compaction fails,
    /// the change is durable (in the journal) and applied in memory.
    pub async fn apply(&mut self, op: JournalOp) -> Result<(), BackendError> {
        self.apply_batch(vec![op]).await
    }

    /// Journals several changes durably with one fsync (group commit), then applies them in
    /// memory in order; compacts when the policy says so.
    pub async fn apply_batch(&mut self, ops: Vec<JournalOp>) -> Result<(), BackendError> {
        if ops.is_empty() {
            return Ok(());
        }
        self.check_in_step()?;
        // Marked before the await: if this future is dropped after the backend has written the
        // records, memory lags the journal and must not be compacted over it.
        self.diverged = true;
        let receipt = self.backend.append_batch(&ops).await?;
        if receipt.serial != self.state.serial + ops.len() as u64 {
            return Err(self.out_of_step());
        }
        self.diverged = false;
        for op in &ops {
            self.state.apply(op);
        }
        self.state.serial = receipt.serial;
        self.pending += ops.len() as u64;
        if self.policy.due(receipt.journal_records, receipt.journal_bytes, receipt.snapshot_bytes) {
            self.compact().await?;
        }
        Ok(())
    }

    /// Folds the journal into a new snapshot.
    pub async fn compact(&mut self) -> Result<(), BackendError> {
        self.check_in_step()?;
        self.backend.write(&self.state).await?;
        self.pending = 0;
        Ok(())
    }

    fn out_of_step(&self) -> BackendError {
        BackendError::Protocol {
            at: self.backend.describe(),
            reason: "the in-memory state is out of step with the journal (an interrupted \
                     or failed change?); read the state again"
                .into(),
        }
    }

    fn check_in_step(&self) -> Result<(), BackendError> {
        if self.diverged {
            return Err(self.out_of_step());
        }
        Ok(())
    }

    /// Ends the run: compacts if anything was journaled, and returns the final state.
    pub async fn finish(mut self) -> Result<State, BackendError> {
        if self.pending > 0 {
            self.compact().await?;
        }
        Ok(self.state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_holder_is_never_dead_and_a_dead_one_says_why() {
        let me = LockInfo::new("apply");
        assert!(me.boot_id.is_some() && me.start_time.is_some(), "{me:?}");
        assert_eq!(me.stale_reason(), None);

        // The same pid, now another process (it started at another moment): reused.
        let mut reused = me.clone();
        reused.start_time = Some(me.start_time.unwrap() + 1);
        assert!(reused.stale_reason().unwrap().contains("started later"), "{reused:?}");

        // This host has booted since: every process of the holder's boot is gone.
        let mut rebooted = me.clone();
        rebooted.boot_id = Some("another-boot".into());
        assert!(rebooted.stale_reason().unwrap().contains("booted since"));

        // Another host's processes cannot be seen: never dead without a TTL.
        let mut remote = rebooted.clone();
        remote.host = "elsewhere.example".into();
        assert_eq!(remote.stale_reason(), None);

        // A lock written before start times were recorded: a live pid stays alive.
        let mut old = me.clone();
        old.start_time = None;
        old.boot_id = None;
        assert_eq!(old.stale_reason(), None);
    }
}
