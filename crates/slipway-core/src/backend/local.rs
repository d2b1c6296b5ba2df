//! The local backend: state as files in `<state_dir>/<environment>/`.
//!
//! | file                 | content                                                      |
//! |----------------------|--------------------------------------------------------------|
//! | `state.json`         | the snapshot (pretty JSON)                                   |
//! | `state.json.journal` | the write-ahead journal over the snapshot                    |
//! | `state.json.backup`  | the previous snapshot                                        |
//! | `state.lock`         | the lock: the holder's [`LockInfo`] as JSON                  |
//!
//! **Invariants:**
//! - **Atomic snapshot.** A snapshot is written to `state.json.tmp`, fsynced, the old snapshot
//!   hard-linked (or copied) to `state.json.backup`, the temp file renamed over `state.json`,
//!   and the directory fsynced. Only then is the journal replaced (again temp, fsync, rename,
//!   fsync dir) by one whose header names the new snapshot. A crash anywhere leaves either the
//!   old snapshot with its journal, or the new snapshot with a journal that is either fresh or
//!   stale (ignored, since its records are in the new snapshot).
//! - **Durable append.** One `write` of the whole record line, then `fdatasync`. Before the first
//!   append after a read, a torn tail left by a crash is truncated away, so a new record never
//!   follows a broken one. A failed append truncates back and requires a fresh `read`.
//! - **Lock = hard link** of a fully written, fsynced file to `state.lock` (fails if it exists),
//!   holding the owner's [`LockInfo`]: a crash never leaves an empty or partial lock. Every
//!   read-then-remove of it (release, `force-unlock`, takeover of a provably dead holder's
//!   lock) holds `flock` on `state.guard`, so none removes a lock taken in between. Whoever creates it holds the lock; everyone else gets [`BackendError::Locked`]
//!   with the holder, flagged stale when the holder's pid is gone from this host. Release and
//!   `force_unlock` remove the file only when its id matches.

use std::fs::{self, File, OpenOptions};
use std::io::{self, ErrorKind, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::{AppendReceipt, Backend, BackendError, LockInfo, WriteReceipt};
use crate::state::crypt::Codec;
use crate::state::journal::{self, encode_header_with, encode_record_with};
use crate::state::{JournalOp, State};

/// Bytes and records written, for tests and `--debug` output: the evidence that compaction
/// keeps I/O linear.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteStats {
    pub snapshot_writes: u64,
    pub snapshot_bytes: u64,
    pub journal_records: u64,
    pub journal_bytes: u64,
}

/// State files for one environment.
#[derive(Clone)]
pub struct LocalBackend {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    state_path: PathBuf,
    journal_path: PathBuf,
    backup_path: PathBuf,
    lock_path: PathBuf,
    /// Plaintext or sealed: everything written goes through it (snapshot, backup, journal).
    codec: Arc<Codec>,
    session: Mutex<Session>,
    snapshot_writes: AtomicU64,
    snapshot_bytes: AtomicU64,
    journal_records: AtomicU64,
    journal_bytes: AtomicU64,
}

#[derive(Default)]
struct Session {
    /// The lock this instance holds.
    held: Option<LockInfo>,
    binding: Binding,
}

/// What this instance knows about the files it will write next.
enum Binding {
    /// No read since the lock was taken, or a failed write left our view of the files in
    /// doubt (the reason): writing now would be blind.
    Unread(&'static str),
    /// Read found no state.
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
    snapshot_bytes: u64,
    /// Records in the journal (its last seq).
    records: u64,
    /// Length of the journal's valid prefix; 0 means it needs a fresh header.
    journal_len: u64,
    /// The journal, open for writing at `journal_len`, after the first append.
    file: Option<File>,
}

/// Removes a file when dropped: a lock's staging file, linked or not.
struct RemoveOnDrop<'a>(&'a Path);

impl Drop for RemoveOnDrop<'_> {
    fn drop(&mut self) {
        let _ = fs::remove_file(self.0);
    }
}

fn io_err(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> BackendError {
    let path = path.to_path_buf();
    move |source| BackendError::Io { op, path, source }
}

fn fsync_dir(dir: &Path) -> Result<(), BackendError> {
    // A rename or create is durable only once the directory entry is.
    File::open(dir).and_then(|d| d.sync_all()).map_err(io_err("fsync directory", dir))
}

/// Writes `bytes` to `path` through a temp file and rename; fsyncs file and directory.
fn write_atomic(dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), BackendError> {
    let tmp = write_tmp(path, bytes)?;
    fs::rename(&tmp, path).map_err(io_err("rename into place", path))?;
    fsync_dir(dir)
}

/// Writes and fsyncs `<path>.tmp`, readable by the owner only (state holds secrets).
fn write_tmp(path: &Path, bytes: &[u8]) -> Result<PathBuf, BackendError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    // A fixed temp name is safe: only the lock holder writes, and a leftover from a crash is
    // simply overwritten.
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io_err("create", &tmp))?;
    f.write_all(bytes).map_err(io_err("write", &tmp))?;
    f.sync_all().map_err(io_err("fsync", &tmp))?;
    Ok(tmp)
}

impl LocalBackend {
    /// The backend for `environment` under `state_dir` (files in `<state_dir>/<environment>/`).
    pub fn new(state_dir: &Path, environment: &str) -> Result<LocalBackend, BackendError> {
        Self::with_codec(state_dir, environment, Arc::new(Codec::plain()))
    }

    /// [`LocalBackend::new`] with state encrypted by `codec`.
    pub fn with_codec(
        state_dir: &Path,
        environment: &str,
        codec: Arc<Codec>,
    ) -> Result<LocalBackend, BackendError> {
        let valid = !environment.is_empty()
            && environment != "."
            && environment != ".."
            && environment
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !valid {
            return Err(BackendError::Protocol {
                at: state_dir.display().to_string(),
                reason: format!(
                    "`{environment}` is not a valid environment name (letters, digits, `-`, `_`, `.`)"
                ),
            });
        }
        Ok(LocalBackend::in_dir_with(state_dir.join(environment), codec))
    }

    /// The backend whose files live directly in `dir`.
    pub fn in_dir(dir: impl Into<PathBuf>) -> LocalBackend {
        Self::in_dir_with(dir, Arc::new(Codec::plain()))
    }

    /// [`LocalBackend::in_dir`] with state encrypted by `codec`.
    pub fn in_dir_with(dir: impl Into<PathBuf>, codec: Arc<Codec>) -> LocalBackend {
        let dir = dir.into();
        LocalBackend {
            inner: Arc::new(Inner {
                state_path: dir.join("state.json"),
                journal_path: dir.join("state.json.journal"),
                backup_path: dir.join("state.json.backup"),
                lock_path: dir.join("state.lock"),
                dir,
                codec,
                session: Mutex::default(),
                snapshot_writes: AtomicU64::new(0),
                snapshot_bytes: AtomicU64::new(0),
                journal_records: AtomicU64::new(0),
                journal_bytes: AtomicU64::new(0),
            }),
        }
    }

    pub fn state_path(&self) -> &Path {
        &self.inner.state_path
    }
    pub fn journal_path(&self) -> &Path {
        &self.inner.journal_path
    }
    pub fn backup_path(&self) -> &Path {
        &self.inner.backup_path
    }
    pub fn lock_path(&self) -> &Path {
        &self.inner.lock_path
    }

    /// Bytes and records this instance has written.
    pub fn stats(&self) -> WriteStats {
        let i = &self.inner;
        WriteStats {
            snapshot_writes: i.snapshot_writes.load(Ordering::Relaxed),
            snapshot_bytes: i.snapshot_bytes.load(Ordering::Relaxed),
            journal_records: i.journal_records.load(Ordering::Relaxed),
            journal_bytes: i.journal_bytes.load(Ordering::Relaxed),
        }
    }

    /// The current lock holder, if any (for `slipway state lock-info`).
    pub fn lock_holder(&self) -> Result<Option<LockInfo>, BackendError> {
        self.inner.read_lock()
    }

    // Blocking forms of the trait methods, for callers outside an async runtime.

    pub fn lock_blocking(&self, info: LockInfo) -> Result<LockInfo, BackendError> {
        self.inner.lock(info)
    }
    pub fn unlock_blocking(&self, lock_id: &str) -> Result<(), BackendError> {
        self.inner.unlock(lock_id)
    }
    pub fn force_unlock_blocking(&self, lock_id: &str) -> Result<(), BackendError> {
        self.inner.force_unlock(lock_id)
    }
    pub fn read_blocking(&self) -> Result<Option<State>, BackendError> {
        self.inner.read()
    }
    pub fn append_blocking(&self, op: &JournalOp) -> Result<AppendReceipt, BackendError> {
        self.inner.append(op)
    }
    pub fn write_blocking(&self, state: &State) -> Result<WriteReceipt, BackendError> {
        let bytes = state.to_vec()?;
        self.inner.write(&state.lineage, state.serial, &bytes, false)
    }
}

impl Inner {
    fn at(&self) -> String {
        self.state_path.display().to_string()
    }

    fn session(&self) -> MutexGuard<'_, Session> {
        // A panic while holding the lock cannot leave the session half-updated in a way that
        // matters more than refusing all further work would.
        self.session.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The lock file's content; None when there is no lock.
    fn read_lock(&self) -> Result<Option<LockInfo>, BackendError> {
        let bytes = match fs::read(&self.lock_path) {
            Ok(b) => b,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err("read lock", &self.lock_path)(e)),
        };
        serde_json::from_slice(&bytes).map(Some).map_err(|e| BackendError::LockUnreadable {
            path: self.lock_path.clone(),
            reason: e.to_string(),
        })
    }

    fn lock(&self, info: LockInfo) -> Result<LockInfo, BackendError> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(io_err("create state directory", &self.dir))?;
        let body =
            serde_json::to_vec_pretty(&info).map_err(|e| BackendError::Internal(e.to_string()))?;
        self.remove_dead_staging();
        // The lock appears whole or not at all: it is written and fsynced under a name of its
        // own, then hard-linked to `state.lock` (which fails if that exists). Creating
        // `state.lock` and then writing it left an empty lock whenever the process was killed
        // between the two, and an empty lock names no holder: nobody could tell it was dead.
        let staged = self.dir.join(format!("state.lock.{}.{}.tmp", std::process::id(), info.id));
        {
            let mut f = File::create(&staged).map_err(io_err("write lock", &staged))?;
            f.write_all(&body).and_then(|()| f.sync_all()).map_err(|e| {
                let _ = fs::remove_file(&staged);
                io_err("write lock", &staged)(e)
            })?;
        }
        let _cleanup = RemoveOnDrop(&staged);
        let mut unreadable = 0;
        loop {
            match fs::hard_link(&staged, &self.lock_path) {
                Ok(()) => {
                    fsync_dir(&self.dir)?;
                    let mut s = self.session();
                    s.held = Some(info.clone());
                    s.binding = Binding::default();
                    return Ok(info);
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => match self.read_lock() {
                    Ok(Some(holder)) => {
                        let stale = holder.is_stale();
                        return Err(BackendError::Locked {
                            at: self.at(),
                            holder: Box::new(holder),
                            stale,
                        });
                    }
                    // Released between our create and our read: try again.
                    Ok(None) => continue,
                    // The holder has created the file but not yet written it; give it a moment.
                    Err(BackendError::LockUnreadable { .. }) if unreadable < 20 => {
                        unreadable += 1;
                        std::thread::sleep(std::time::Duration::from_millis(10));
                    }
                    Err(e) => return Err(e),
                },
                Err(e) => return Err(io_err("create lock", &self.lock_path)(e)),
            }
        }
    }

    /// Removes the staging files of locks whose writer was killed before linking them.
    fn remove_dead_staging(&self) {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            let Some(pid) = name
                .strip_prefix("state.lock.")
                .filter(|n| n.ends_with(".tmp"))
                .and_then(|n| n.split('.').next())
                .and_then(|p| p.parse::<i32>().ok())
            else {
                continue;
            };
            // Signal 0 checks existence only; ESRCH means no such process.
            let gone = unsafe { libc::kill(pid, 0) } != 0
                && io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
            if gone {
                let _ = fs::remove_file(e.path());
            }
        }
    }

    /// Serializes every read-then-remove of the lock (release, `force-unlock`, takeover of a
    /// dead holder's lock): without it, a remover that read holder X could remove the lock Y
    /// that another run took in between. Held until the returned file is dropped. Creating a
    /// lock needs no guard: the hard link fails if any lock exists.
    fn removal_guard(&self) -> Result<File, BackendError> {
        let path = self.dir.join("state.guard");
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_err("open lock guard", &path))?;
        // SAFETY: flock on a descriptor we own; it is released when the file is closed.
        if unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&f), libc::LOCK_EX) } != 0 {
            return Err(io_err("lock guard", &path)(io::Error::last_os_error()));
        }
        Ok(f)
    }

    fn remove_lock(&self) -> Result<(), BackendError> {
        fs::remove_file(&self.lock_path).map_err(io_err("remove lock", &self.lock_path))?;
        fsync_dir(&self.dir)
    }

    fn unlock(&self, lock_id: &str) -> Result<(), BackendError> {
        let mut s = self.session();
        match &s.held {
            Some(h) if h.id == lock_id => {}
            _ => {
                return Err(BackendError::NotLocked {
                    at: self.at(),
                    detail: format!(" by this process with id {lock_id}"),
                });
            }
        }
        s.held = None;
        s.binding = Binding::default();
        let _guard = self.removal_guard()?;
        match self.read_lock()? {
            Some(h) if h.id == lock_id => self.remove_lock(),
            Some(h) => Err(BackendError::LockIdMismatch {
                at: self.at(),
                given: lock_id.into(),
                holder: Box::new(h),
            }),
            None => Err(BackendError::NotLocked {
                at: self.at(),
                detail: " any more: the lock was removed by someone else (force-unlock?)".into(),
            }),
        }
    }

    fn force_unlock(&self, lock_id: &str) -> Result<(), BackendError> {
        if !self.dir.is_dir() {
            return Err(BackendError::NotLocked { at: self.at(), detail: String::new() });
        }
        let _guard = self.removal_guard()?;
        match self.read_lock()? {
            Some(h) if h.id == lock_id => {
                self.remove_lock()?;
                let mut s = self.session();
                if s.held.as_ref().is_some_and(|h| h.id == lock_id) {
                    s.held = None;
                    s.binding = Binding::default();
                }
                Ok(())
            }
            Some(h) => Err(BackendError::LockIdMismatch {
                at: self.at(),
                given: lock_id.into(),
                holder: Box::new(h),
            }),
            None => Err(BackendError::NotLocked { at: self.at(), detail: String::new() }),
        }
    }

    fn read(&self) -> Result<Option<State>, BackendError> {
        let bytes = match fs::read(&self.state_path) {
            Ok(b) => b,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                let journal_len = fs::metadata(&self.journal_path).map(|m| m.len()).unwrap_or(0);
                if journal_len > 0 {
                    // Never silently start over: the journal may record real cloud objects.
                    return Err(BackendError::Protocol {
                        at: self.at(),
                        reason: format!(
                            "{} exists but the snapshot does not; restore the snapshot (perhaps from {}) or move the journal away",
                            self.journal_path.display(),
                            self.backup_path.display()
                        ),
                    });
                }
                self.session().binding = Binding::NoState;
                return Ok(None);
            }
            Err(e) => return Err(io_err("read state", &self.state_path)(e)),
        };
        let plain = self.inner_codec_open(&bytes)?;
        let mut state = State::from_slice(&plain, &self.state_path)?;
        let snapshot_serial = state.serial;
        let journal = match fs::read(&self.journal_path) {
            Ok(b) => b,
            Err(e) if e.kind() == ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io_err("read journal", &self.journal_path)(e)),
        };
        let replay = journal::replay_with(&self.codec, &mut state, &journal, &self.journal_path)?;
        if let Some(h) = &replay.stale {
            tracing::warn!(
                journal = %self.journal_path.display(),
                journal_lineage = %h.lineage,
                journal_serial = h.serial,
                state_serial = snapshot_serial,
                "ignoring a stale journal: it belongs to another snapshot"
            );
        }
        if replay.torn_tail {
            tracing::warn!(
                journal = %self.journal_path.display(),
                "dropping a torn last journal record (a run was interrupted mid-write)"
            );
        }
        self.session().binding = Binding::Bound(Bound {
            lineage: state.lineage.clone(),
            snapshot_serial,
            snapshot_bytes: bytes.len() as u64,
            records: replay.last_seq,
            journal_len: replay.valid_len,
            file: None,
        });
        Ok(Some(state))
    }

    fn check_held(&self, s: &Session) -> Result<(), BackendError> {
        if s.held.is_none() {
            return Err(BackendError::NotLocked {
                at: self.at(),
                detail: ": take the lock before changing state".into(),
            });
        }
        Ok(())
    }

    fn append(&self, op: &JournalOp) -> Result<AppendReceipt, BackendError> {
        self.append_many(std::slice::from_ref(op))
    }

    /// Journals several changes with one write and one fdatasync (group commit). None of them
    /// is acknowledged before all are durable; a crash mid-write keeps a prefix of whole records.
    fn append_many(&self, ops: &[JournalOp]) -> Result<AppendReceipt, BackendError> {
        let mut s = self.session();
        self.check_held(&s)?;
        let b = match &mut s.binding {
            Binding::Bound(b) => b,
            Binding::NoState => {
                return Err(BackendError::Protocol {
                    at: self.at(),
                    reason: "cannot journal a change before the first snapshot is written".into(),
                });
            }
            Binding::Unread(why) => {
                return Err(BackendError::Protocol {
                    at: self.at(),
                    reason: format!("read the state again: {why}"),
                });
            }
        };
        let mut line = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            line.extend(encode_record_with(&self.codec, b.records + 1 + i as u64, op)?);
        }
        let result = self.append_line(b, &line);
        if let Err(e) = result {
            // Leave no partial record for the next append to follow, and make the caller read
            // again before trusting our view of the journal.
            if let Some(f) = &b.file {
                let _ = f.set_len(b.journal_len);
            }
            s.binding = Binding::Unread("a journal write failed");
            return Err(e);
        }
        b.records += ops.len() as u64;
        b.journal_len += line.len() as u64;
        self.journal_records.fetch_add(ops.len() as u64, Ordering::Relaxed);
        self.journal_bytes.fetch_add(line.len() as u64, Ordering::Relaxed);
        Ok(AppendReceipt {
            seq: b.records,
            serial: b.snapshot_serial + b.records,
            journal_records: b.records,
            journal_bytes: b.journal_len,
            snapshot_bytes: b.snapshot_bytes,
        })
    }

    fn append_line(&self, b: &mut Bound, line: &[u8]) -> Result<(), BackendError> {
        let path = &self.journal_path;
        if b.file.is_none() {
            let mut f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(path)
                .map_err(io_err("open journal", path))?;
            if b.journal_len == 0 {
                // Empty, stale, or with a torn header: start it afresh over our snapshot.
                let header = encode_header_with(&self.codec, &b.lineage, b.snapshot_serial)?;
                f.set_len(0).map_err(io_err("truncate journal", path))?;
                f.write_all(&header).map_err(io_err("write journal", path))?;
                f.sync_all().map_err(io_err("fsync journal", path))?;
                fsync_dir(&self.dir)?;
                b.journal_len = header.len() as u64;
            } else {
                // Drop a torn tail, so the new record follows the last valid one.
                f.set_len(b.journal_len).map_err(io_err("truncate journal", path))?;
            }
            f.seek(SeekFrom::Start(b.journal_len)).map_err(io_err("seek journal", path))?;
            b.file = Some(f);
        }
        let Some(f) = b.file.as_mut() else {
            return Err(BackendError::Internal("journal not open".into()));
        };
        f.write_all(line).map_err(io_err("write journal", path))?;
        f.sync_data().map_err(io_err("fsync journal", path))
    }

    fn inner_codec_open(&self, stored: &[u8]) -> Result<Vec<u8>, BackendError> {
        Ok(self.codec.open(stored, &self.at()).map_err(crate::state::StateError::from)?)
    }

    /// `plain` is the snapshot's JSON; it is sealed here when encryption is configured.
    fn write(
        &self,
        lineage: &str,
        serial: u64,
        plain: &[u8],
        replace_empty: bool,
    ) -> Result<WriteReceipt, BackendError> {
        let sealed = self.codec.seal(plain).map_err(crate::state::StateError::from)?;
        let bytes = &sealed[..];
        let mut s = self.session();
        self.check_held(&s)?;
        match &s.binding {
            Binding::Unread(why) => {
                return Err(BackendError::Protocol {
                    at: self.at(),
                    reason: format!("read the state again: {why}"),
                });
            }
            Binding::NoState => {}
            // The caller read the stored state under this lock and found it empty.
            Binding::Bound(_) if replace_empty => {}
            Binding::Bound(b) => {
                if lineage != b.lineage {
                    return Err(BackendError::Conflict {
                        at: self.at(),
                        reason: format!(
                            "lineage {lineage} differs from the stored state's {}",
                            b.lineage
                        ),
                    });
                }
                let current = b.snapshot_serial + b.records;
                // Equal serial is a compaction of what the journal holds; anything else must
                // move forward, or two different states would share a serial.
                let ok = serial > current || (serial == current && b.records > 0);
                if !ok {
                    return Err(BackendError::Conflict {
                        at: self.at(),
                        reason: format!(
                            "serial {serial} is not newer than the stored serial {current}"
                        ),
                    });
                }
            }
        }
        // Until the rename, a failure leaves the old snapshot, journal and binding valid.
        let tmp = write_tmp(&self.state_path, bytes)?;
        self.keep_backup()?;
        fs::rename(&tmp, &self.state_path)
            .map_err(io_err("rename into place", &self.state_path))?;
        self.snapshot_writes.fetch_add(1, Ordering::Relaxed);
        self.snapshot_bytes.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        // The new snapshot must be durable before the journal over the old one is replaced;
        // otherwise a power loss could keep the old snapshot and lose its journal. If that
        // cannot be confirmed, nothing more may be written until the state is read again.
        s.binding = Binding::Unread("the new snapshot could not be made durable");
        fsync_dir(&self.dir)?;
        // The old journal is now stale (ignored on read); journal_len 0 makes the next append
        // restart it, should resetting it here fail.
        s.binding = Binding::Bound(Bound {
            lineage: lineage.to_string(),
            snapshot_serial: serial,
            snapshot_bytes: bytes.len() as u64,
            records: 0,
            journal_len: 0,
            file: None,
        });
        let header = encode_header_with(&self.codec, lineage, serial)?;
        write_atomic(&self.dir, &self.journal_path, &header)?;
        if let Binding::Bound(b) = &mut s.binding {
            b.journal_len = header.len() as u64;
        }
        Ok(WriteReceipt { serial, bytes: bytes.len() as u64 })
    }

    /// Makes the current snapshot (if any) the backup, atomically: a hard link costs no copy;
    /// filesystems without links get a copy.
    fn keep_backup(&self) -> Result<(), BackendError> {
        if !self.state_path.exists() {
            return Ok(());
        }
        let mut tmp = self.backup_path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let _ = fs::remove_file(&tmp);
        let current = fs::read(&self.state_path).map_err(io_err("read state", &self.state_path))?;
        if !self.codec.is_current(&current) {
            // Plaintext (or sealed under a retired key) while this codec writes otherwise: the
            // backup is re-sealed, so no plaintext copy is left behind by an encrypted run.
            let resealed =
                self.codec.reseal(&current, &self.at()).map_err(crate::state::StateError::from)?;
            let tmp = write_tmp(&self.backup_path, &resealed)?;
            return fs::rename(&tmp, &self.backup_path)
                .map_err(io_err("rename into place", &self.backup_path));
        }
        if fs::hard_link(&self.state_path, &tmp).is_err() {
            fs::copy(&self.state_path, &tmp).map_err(io_err("copy state to backup", &tmp))?;
            File::open(&tmp).and_then(|f| f.sync_all()).map_err(io_err("fsync", &tmp))?;
        }
        fs::rename(&tmp, &self.backup_path).map_err(io_err("rename into place", &self.backup_path))
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, BackendError> + Send + 'static,
) -> Result<T, BackendError> {
    // File I/O and fsync block; keep them off the async worker threads.
    tokio::task::spawn_blocking(f).await.map_err(|e| BackendError::Internal(e.to_string()))?
}

#[async_trait::async_trait]
impl Backend for LocalBackend {
    fn describe(&self) -> String {
        format!("local state {}", self.inner.state_path.display())
    }

    async fn lock(&self, info: LockInfo) -> Result<LockInfo, BackendError> {
        let inner = self.inner.clone();
        blocking(move || inner.lock(info)).await
    }

    async fn unlock(&self, lock_id: &str) -> Result<(), BackendError> {
        let (inner, id) = (self.inner.clone(), lock_id.to_string());
        blocking(move || inner.unlock(&id)).await
    }

    async fn force_unlock(&self, lock_id: &str) -> Result<(), BackendError> {
        let (inner, id) = (self.inner.clone(), lock_id.to_string());
        blocking(move || inner.force_unlock(&id)).await
    }

    async fn read(&self) -> Result<Option<State>, BackendError> {
        let inner = self.inner.clone();
        blocking(move || inner.read()).await
    }

    async fn append_batch(&self, ops: &[JournalOp]) -> Result<AppendReceipt, BackendError> {
        let inner = self.inner.clone();
        let ops = ops.to_vec();
        blocking(move || inner.append_many(&ops)).await
    }

    async fn append(&self, op: &JournalOp) -> Result<AppendReceipt, BackendError> {
        let (inner, op) = (self.inner.clone(), op.clone());
        blocking(move || inner.append(&op)).await
    }

    async fn write(&self, state: &State) -> Result<WriteReceipt, BackendError> {
        // Encode here; only the header fields need to travel with the bytes.
        let bytes = state.to_vec()?;
        let (inner, lineage, serial) = (self.inner.clone(), state.lineage.clone(), state.serial);
        blocking(move || inner.write(&lineage, serial, &bytes, false)).await
    }

    async fn replace_empty(&self, state: &State) -> Result<WriteReceipt, BackendError> {
        let bytes = state.to_vec()?;
        let (inner, lineage, serial) = (self.inner.clone(), state.lineage.clone(), state.serial);
        blocking(move || inner.write(&lineage, serial, &bytes, true)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::ResourceInstanceAddr;
    use crate::backend::{CompactionPolicy, JournaledState};
    use crate::state::journal::encode_header;
    use crate::state::{OutputState, ResourceState, StateError};
    use crate::value::Value;
    use std::time::Duration;

    fn addr(s: &str) -> ResourceInstanceAddr {
        ResourceInstanceAddr::parse(s).unwrap()
    }

    fn put(i: usize) -> JournalOp {
        let obj = Value::Map(
            [
                ("id".to_string(), Value::string(format!("i-{i:08}"))),
                ("secret".to_string(), Value::string(format!("s{i}")).mark_sensitive()),
            ]
            .into(),
        );
        JournalOp::Put {
            addr: addr(&format!("aws_instance.node[{i}]")),
            resource: Box::new(ResourceState::from_value("aws", "aws_instance", &obj)),
        }
    }

    /// A locked backend over a fresh directory, with an initial snapshot.
    fn fresh() -> (tempfile::TempDir, LocalBackend, State) {
        let dir = tempfile::tempdir().unwrap();
        let b = LocalBackend::new(dir.path(), "dev").unwrap();
        b.lock_blocking(LockInfo::new("apply")).unwrap();
        assert_eq!(b.read_blocking().unwrap(), None);
        let mut s = State::new("dev-00000000");
        s.serial = 1;
        b.write_blocking(&s).unwrap();
        (dir, b, s)
    }

    /// What another process would see.
    fn reopen(b: &LocalBackend) -> LocalBackend {
        LocalBackend::in_dir(b.inner.dir.clone())
    }

    #[test]
    fn write_then_read_round_trips_with_sensitive_marks() {
        let (_d, b, mut s) = fresh();
        for i in 0..3 {
            s.apply(&put(i));
        }
        s.outputs.insert(
            "o".into(),
            OutputState { value: serde_json::json!({"a": 1}), sensitive: true },
        );
        s.serial += 1;
        b.write_blocking(&s).unwrap();
        let back = reopen(&b).read_blocking().unwrap().unwrap();
        assert_eq!(back, s);
        // State holds secrets: owner-only files in an owner-only directory.
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(b.state_path()), 0o600);
        assert_eq!(mode(b.journal_path()), 0o600);
        assert_eq!(mode(b.state_path().parent().unwrap()), 0o700);
        let v = back.resources[&addr("aws_instance.node[1]")].value();
        assert!(v.get_attr("secret").unwrap().is_sensitive());
        assert!(!v.get_attr("id").unwrap().is_sensitive());
    }

    #[test]
    fn journal_replays_without_compaction() {
        let (_d, b, mut s) = fresh();
        for i in 0..5 {
            let r = b.append_blocking(&put(i)).unwrap();
            s.apply(&put(i));
            assert_eq!((r.seq, r.serial), (i as u64 + 1, 1 + i as u64 + 1));
        }
        b.append_blocking(&JournalOp::Delete { addr: addr("aws_instance.node[0]") }).unwrap();
        s.apply(&JournalOp::Delete { addr: addr("aws_instance.node[0]") });
        s.serial += 6;
        assert_eq!(b.stats().snapshot_writes, 1, "appends must not rewrite the snapshot");
        let back = reopen(&b).read_blocking().unwrap().unwrap();
        assert_eq!(back, s);
        assert_eq!(back.serial, 7);
    }

    #[test]
    fn torn_last_record_is_ignored_and_overwritten() {
        let (_d, b, _s) = fresh();
        for i in 0..3 {
            b.append_blocking(&put(i)).unwrap();
        }
        let len = fs::metadata(b.journal_path()).unwrap().len();
        // Crash mid-write of record 3: cut it in half.
        let f = OpenOptions::new().write(true).open(b.journal_path()).unwrap();
        f.set_len(len - 40).unwrap();
        drop(f);

        let b2 = reopen(&b);
        let st = b2.read_blocking().unwrap().unwrap();
        assert_eq!(st.resources.len(), 2);
        assert_eq!(st.serial, 3);
        // The next run appends after the last valid record, not after the torn bytes.
        b.force_unlock_blocking(&b.lock_holder().unwrap().unwrap().id).unwrap();
        b2.lock_blocking(LockInfo::new("apply")).unwrap();
        b2.read_blocking().unwrap();
        let r = b2.append_blocking(&put(7)).unwrap();
        assert_eq!(r.seq, 3);
        let st = reopen(&b).read_blocking().unwrap().unwrap();
        assert_eq!(st.resources.len(), 3);
        assert!(st.resources.contains_key(&addr("aws_instance.node[7]")));
    }

    #[test]
    fn corrupt_middle_record_is_an_error() {
        let (_d, b, _s) = fresh();
        for i in 0..3 {
            b.append_blocking(&put(i)).unwrap();
        }
        let mut bytes = fs::read(b.journal_path()).unwrap();
        let second_line = bytes.iter().position(|&c| c == b'\n').unwrap() + 1;
        bytes[second_line + 25] ^= 1;
        fs::write(b.journal_path(), &bytes).unwrap();
        let err = reopen(&b).read_blocking().unwrap_err();
        assert!(
            matches!(err, BackendError::State(StateError::JournalCorrupt { line: 2, .. })),
            "{err}"
        );
        assert!(err.to_string().contains("state.json.journal"), "{err}");
    }

    #[test]
    fn compaction_keeps_backup_and_empties_journal() {
        let (_d, b, mut s) = fresh();
        let first = fs::read(b.state_path()).unwrap();
        for i in 0..4 {
            let r = b.append_blocking(&put(i)).unwrap();
            s.apply(&put(i));
            s.serial = r.serial;
        }
        b.write_blocking(&s).unwrap();
        assert_eq!(fs::read(b.backup_path()).unwrap(), first);
        let header_only = encode_header(&s.lineage, s.serial).unwrap();
        assert_eq!(fs::read(b.journal_path()).unwrap(), header_only);
        let back = reopen(&b).read_blocking().unwrap().unwrap();
        assert_eq!(back, s);
        assert_eq!(back.serial, 5);
        // The serial may not go backwards, nor may another lineage overwrite this one.
        let mut old = s.clone();
        old.serial = 3;
        assert!(matches!(b.write_blocking(&old), Err(BackendError::Conflict { .. })));
        let mut other = State::new("dev-x");
        other.serial = 100;
        assert!(matches!(b.write_blocking(&other), Err(BackendError::Conflict { .. })));
    }

    #[test]
    fn stale_journal_is_not_replayed() {
        let (_d, b, mut s) = fresh();
        b.append_blocking(&put(0)).unwrap();
        let stale_journal = fs::read(b.journal_path()).unwrap();
        s.apply(&put(0));
        s.serial = 2;
        b.write_blocking(&s).unwrap();
        // Crash between the snapshot rename and the journal reset: the old journal remains.
        fs::write(b.journal_path(), &stale_journal).unwrap();
        // Were it replayed, node[0] would be put again over serial 2, giving serial 3.
        let back = reopen(&b).read_blocking().unwrap().unwrap();
        assert_eq!(back, s);
        assert_eq!(back.serial, 2);
        // The next append replaces the stale journal with one bound to this snapshot.
        b.read_blocking().unwrap();
        let r = b.append_blocking(&put(1)).unwrap();
        assert_eq!((r.seq, r.serial), (1, 3));
        let back = reopen(&b).read_blocking().unwrap().unwrap();
        assert_eq!(back.resources.len(), 2);
        assert_eq!(back.serial, 3);
    }

    #[test]
    fn changes_need_the_lock_and_a_read() {
        let dir = tempfile::tempdir().unwrap();
        let b = LocalBackend::new(dir.path(), "dev").unwrap();
        let s = State::new("x");
        assert!(matches!(b.write_blocking(&s), Err(BackendError::NotLocked { .. })));
        assert!(matches!(b.append_blocking(&put(0)), Err(BackendError::NotLocked { .. })));
        b.lock_blocking(LockInfo::new("apply")).unwrap();
        assert!(matches!(b.write_blocking(&s), Err(BackendError::Protocol { .. })));
        assert!(LocalBackend::new(dir.path(), "../etc").is_err());
    }

    #[test]
    fn second_locker_gets_holder_info_and_unlock_releases() {
        let dir = tempfile::tempdir().unwrap();
        let a = LocalBackend::new(dir.path(), "prod").unwrap();
        let b = LocalBackend::new(dir.path(), "prod").unwrap();
        let held = a.lock_blocking(LockInfo::new("apply")).unwrap();
        match b.lock_blocking(LockInfo::new("plan")) {
            Err(BackendError::Locked { holder, stale, .. }) => {
                assert_eq!(*holder, held);
                assert!(!stale, "our own process is alive");
                assert_eq!(holder.pid, std::process::id());
                assert!(holder.who.ends_with(&format!("@{}", holder.host)));
            }
            other => panic!("{other:?}"),
        }
        let err = b.lock_blocking(LockInfo::new("plan")).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(&held.id) && msg.contains("apply"), "{msg}");
        // b cannot release a's lock through unlock.
        assert!(b.unlock_blocking(&held.id).is_err());
        a.unlock_blocking(&held.id).unwrap();
        assert!(!a.lock_path().exists());
        b.lock_blocking(LockInfo::new("plan")).unwrap();
    }

    #[test]
    fn sixteen_racing_lockers_one_winner() {
        let dir = tempfile::tempdir().unwrap();
        let barrier = Arc::new(std::sync::Barrier::new(16));
        let handles: Vec<_> = (0..16)
            .map(|_| {
                let (path, barrier) = (dir.path().to_path_buf(), barrier.clone());
                std::thread::spawn(move || {
                    let b = LocalBackend::new(&path, "prod").unwrap();
                    barrier.wait();
                    b.lock_blocking(LockInfo::new("apply"))
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let winners: Vec<&LockInfo> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(winners.len(), 1);
        for r in &results {
            match r {
                Ok(_) => {}
                Err(BackendError::Locked { holder, .. }) => assert_eq!(**holder, *winners[0]),
                Err(e) => panic!("{e}"),
            }
        }
    }

    #[test]
    fn a_lock_is_written_whole_and_staging_files_of_dead_writers_are_removed() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead_pid = child.id();
        child.wait().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let b = LocalBackend::new(dir.path(), "prod").unwrap();
        let state_dir = b.lock_path().parent().unwrap().to_path_buf();
        fs::create_dir_all(&state_dir).unwrap();
        // What a writer killed before linking leaves: a staging file, no lock.
        let leftover = state_dir.join(format!("state.lock.{dead_pid}.x.tmp"));
        fs::write(&leftover, b"{").unwrap();
        let held = b.lock_blocking(LockInfo::new("apply")).unwrap();
        assert!(!leftover.exists(), "a dead writer's staging file was kept");
        let names: Vec<String> = fs::read_dir(&state_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("state.lock"))
            .collect();
        assert_eq!(names, vec!["state.lock".to_string()]);
        assert_eq!(b.lock_holder().unwrap().unwrap().id, held.id);
    }

    #[test]
    fn lock_of_dead_pid_is_stale_and_force_unlock_needs_its_id() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead_pid = child.id();
        child.wait().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let crashed = LocalBackend::new(dir.path(), "prod").unwrap();
        let mut info = LockInfo::new("apply");
        info.pid = dead_pid;
        let held = crashed.lock_blocking(info).unwrap();
        assert!(held.is_stale());

        let b = LocalBackend::new(dir.path(), "prod").unwrap();
        let err = b.lock_blocking(LockInfo::new("apply")).unwrap_err();
        match &err {
            BackendError::Locked { stale, holder, .. } => {
                assert!(*stale);
                assert_eq!(holder.pid, dead_pid);
            }
            other => panic!("{other}"),
        }
        assert!(err.to_string().contains("force-unlock"), "{err}");

        // Another host's lock is never called stale: we cannot see its processes.
        let mut remote = held.clone();
        remote.host = "elsewhere.example".into();
        assert!(!remote.is_stale());

        match b.force_unlock_blocking("not-the-id") {
            Err(BackendError::LockIdMismatch { holder, .. }) => assert_eq!(holder.id, held.id),
            other => panic!("{other:?}"),
        }
        assert!(b.lock_path().exists());
        b.force_unlock_blocking(&held.id).unwrap();
        assert!(!b.lock_path().exists());
        b.lock_blocking(LockInfo::new("apply")).unwrap();
    }

    #[test]
    fn garbage_state_file_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let b = LocalBackend::new(dir.path(), "dev").unwrap();
        fs::create_dir_all(b.state_path().parent().unwrap()).unwrap();
        for garbage in [
            &b""[..],
            b"\xff\xfe\x00garbage",
            b"{\"format_version\": 1, \"lineage\": \"x\", \"ser",
            b"{\"format_version\": 9}",
        ] {
            fs::write(b.state_path(), garbage).unwrap();
            let err = b.read_blocking().unwrap_err();
            assert!(err.to_string().contains("state.json"), "{err}");
        }
        // A journal without its snapshot is refused rather than silently dropped.
        fs::remove_file(b.state_path()).unwrap();
        fs::write(b.journal_path(), b"x").unwrap();
        assert!(matches!(b.read_blocking(), Err(BackendError::Protocol { .. })));
        // An empty or garbage lock file is reported, not parsed as a holder.
        fs::write(b.lock_path(), b"").unwrap();
        assert!(matches!(
            b.lock_blocking(LockInfo::new("apply")),
            Err(BackendError::LockUnreadable { .. })
        ));
    }

    /// The O(n) property, asserted structurally: with the default policy, 10,000 changes cost
    /// snapshot writes totalling well under 20× the final snapshot, where compacting every
    /// 1,000 records would cost ~5.5× at this size and grow without bound (quadratically).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ten_thousand_changes_cost_linear_snapshot_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let local = LocalBackend::new(dir.path(), "big").unwrap();
        let backend: Arc<dyn Backend> = Arc::new(local.clone());
        backend.lock(LockInfo::new("apply")).await.unwrap();
        let mut js =
            JournaledState::open(backend.clone(), || "big-1".into(), CompactionPolicy::default())
                .await
                .unwrap();
        for i in 0..10_000 {
            js.apply(put(i)).await.unwrap();
        }
        let final_state = js.finish().await.unwrap();
        assert_eq!(final_state.resources.len(), 10_000);
        assert_eq!(final_state.serial, 1 + 10_000);

        let stats = local.stats();
        let final_size = fs::metadata(local.state_path()).unwrap().len();
        eprintln!("{stats:?}, final snapshot {final_size} bytes");
        assert_eq!(stats.journal_records, 10_000);
        assert!(stats.snapshot_bytes < 20 * final_size, "{stats:?} vs final snapshot {final_size}");
        // Geometric growth: a handful of compactions, not one per 1,000 records.
        assert!(stats.snapshot_writes <= 8, "{stats:?}");
        assert_eq!(reopen(&local).read_blocking().unwrap().unwrap(), final_state);
    }

    #[tokio::test]
    async fn journaled_state_refuses_to_compact_when_out_of_step() {
        let dir = tempfile::tempdir().unwrap();
        let local = LocalBackend::new(dir.path(), "dev").unwrap();
        let backend: Arc<dyn Backend> = Arc::new(local.clone());
        backend.lock(LockInfo::new("apply")).await.unwrap();
        let mut js = JournaledState::open(backend, || "dev-1".into(), CompactionPolicy::default())
            .await
            .unwrap();
        js.apply(put(0)).await.unwrap();
        // A change the in-memory state never saw (as after a cancelled apply future).
        local.append_blocking(&put(1)).unwrap();
        assert!(matches!(js.apply(put(2)).await, Err(BackendError::Protocol { .. })));
        assert!(js.compact().await.is_err());
        // Nothing was lost: the journal holds all three changes.
        let st = reopen(&local).read_blocking().unwrap().unwrap();
        assert_eq!(st.resources.len(), 3);
        assert_eq!(st.serial, 4);
    }

    #[tokio::test]
    async fn lock_with_timeout_waits_for_release() {
        let dir = tempfile::tempdir().unwrap();
        let a = LocalBackend::new(dir.path(), "dev").unwrap();
        let b = LocalBackend::new(dir.path(), "dev").unwrap();
        let held = a.lock(LockInfo::new("apply")).await.unwrap();
        let err = b
            .lock_with_timeout(LockInfo::new("plan"), Duration::from_millis(120))
            .await
            .unwrap_err();
        assert!(matches!(err, BackendError::Locked { .. }));
        let releaser = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(150)).await;
            a.unlock(&held.id).await.unwrap();
        });
        b.lock_with_timeout(LockInfo::new("plan"), Duration::from_secs(5)).await.unwrap();
        releaser.await.unwrap();
        assert!(b.describe().contains("state.json"));
    }
}

#[cfg(test)]
mod crypt_tests {
    use super::*;
    use crate::addr::ResourceInstanceAddr;
    use crate::state::ResourceState;
    use crate::state::crypt::{Codec, Key, Keyring};
    use crate::value::Value;

    fn codec(primary: &str, fallback: Option<&str>) -> Arc<Codec> {
        let k = |p: &str| Key::passphrase(format!("${p}"), p.as_bytes()).unwrap();
        Arc::new(Codec::new(Some(Keyring { primary: k(primary), fallback: fallback.map(k) })))
    }

    fn put(i: usize) -> JournalOp {
        JournalOp::Put {
            addr: ResourceInstanceAddr::parse(&format!("random_id.marker_{i}")).unwrap(),
            resource: Box::new(ResourceState::from_value(
                "random",
                "random_id",
                &Value::Map([("id".into(), Value::string("MARKERVALUE"))].into()),
            )),
        }
    }

    fn all_bytes(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
        let mut v: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .map(|p| (p.clone(), fs::read(&p).unwrap()))
            // The lock's removal guard is an empty file: nothing in it to seal.
            .filter(|(p, b)| !(p.ends_with("state.guard") && b.is_empty()))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn encrypted_state_snapshot_journal_and_backup_hold_no_plaintext() {
        let d = tempfile::tempdir().unwrap();
        let b = LocalBackend::with_codec(d.path(), "dev", codec("one", None)).unwrap();
        let held = b.lock_blocking(LockInfo::new("apply")).unwrap();
        b.read_blocking().unwrap();
        let mut s = State::new("dev-1");
        s.serial = 1;
        b.write_blocking(&s).unwrap();
        for i in 0..3 {
            let r = b.append_blocking(&put(i)).unwrap();
            s.apply(&put(i));
            s.serial = r.serial;
        }
        b.write_blocking(&s).unwrap(); // compaction: the backup is the first snapshot
        b.append_blocking(&put(9)).unwrap();
        s.apply(&put(9));
        s.serial += 1;
        b.unlock_blocking(&held.id).unwrap();
        let files = all_bytes(&d.path().join("dev"));
        assert_eq!(files.len(), 3, "{files:?}");
        for (p, bytes) in &files {
            for marker in [&b"MARKERVALUE"[..], b"marker_", b"random_id", b"dev-1"] {
                assert!(
                    !bytes.windows(marker.len()).any(|w| w == marker),
                    "{} holds plaintext",
                    p.display()
                );
            }
        }
        // Another process with the key reads it all back.
        let again = LocalBackend::with_codec(d.path(), "dev", codec("one", None)).unwrap();
        assert_eq!(again.read_blocking().unwrap().unwrap(), s);

        // A wrong key: a clear error naming the key and the file; nothing changes.
        let wrong = LocalBackend::with_codec(d.path(), "dev", codec("two", None)).unwrap();
        let err = wrong.read_blocking().unwrap_err().to_string();
        assert!(err.contains("$two") && err.contains("state.json"), "{err}");
        assert!(!err.contains("MARKER"));
        assert_eq!(all_bytes(&d.path().join("dev")), files);
        // No key at all, and plaintext reading under a key, are refused too.
        let none = LocalBackend::new(d.path(), "dev").unwrap();
        assert!(
            none.read_blocking().unwrap_err().to_string().contains("no encryption is configured")
        );

        // Rotation: new primary, old as fallback → reads; the next write seals with the new key,
        // after which the old key alone no longer opens the snapshot.
        let rot = LocalBackend::with_codec(d.path(), "dev", codec("two", Some("one"))).unwrap();
        let h = rot.lock_blocking(LockInfo::new("apply")).unwrap();
        let mut st = rot.read_blocking().unwrap().unwrap();
        assert_eq!(st, s);
        st.serial += 1;
        rot.write_blocking(&st).unwrap();
        rot.unlock_blocking(&h.id).unwrap();
        let new_only = LocalBackend::with_codec(d.path(), "dev", codec("two", None)).unwrap();
        assert_eq!(new_only.read_blocking().unwrap().unwrap(), st);
        let old_only = LocalBackend::with_codec(d.path(), "dev", codec("one", None)).unwrap();
        assert!(old_only.read_blocking().is_err());
        // The backup was re-sealed under the new key as well.
        let backup = fs::read(d.path().join("dev/state.json.backup")).unwrap();
        assert!(codec("two", None).open(&backup, "b").is_ok());
    }

    #[test]
    fn plaintext_state_is_encrypted_in_place_with_no_plaintext_backup() {
        let d = tempfile::tempdir().unwrap();
        let plain = LocalBackend::new(d.path(), "dev").unwrap();
        let h = plain.lock_blocking(LockInfo::new("apply")).unwrap();
        plain.read_blocking().unwrap();
        let mut s = State::new("dev-1");
        s.serial = 1;
        plain.write_blocking(&s).unwrap();
        plain.append_blocking(&put(1)).unwrap();
        plain.unlock_blocking(&h.id).unwrap();
        // Under a key, plaintext is refused...
        let strict = LocalBackend::with_codec(d.path(), "dev", codec("k", None)).unwrap();
        let err = strict.read_blocking().unwrap_err().to_string();
        assert!(err.contains("not encrypted") && err.contains("state migrate"), "{err}");
        // ...unless migrating, which re-writes snapshot, journal and backup sealed.
        let c = Arc::new(Codec::new(codec("k", None).keyring().cloned()).allow_plaintext_read());
        let m = LocalBackend::with_codec(d.path(), "dev", c).unwrap();
        let h = m.lock_blocking(LockInfo::new("migrate")).unwrap();
        s = m.read_blocking().unwrap().unwrap();
        s.serial += 1;
        m.write_blocking(&s).unwrap();
        m.unlock_blocking(&h.id).unwrap();
        for (p, bytes) in all_bytes(&d.path().join("dev")) {
            assert!(!bytes.windows(7).any(|w| w == b"marker_"), "{} holds plaintext", p.display());
        }
        assert_eq!(strict.read_blocking().unwrap().unwrap(), s);
    }
}
