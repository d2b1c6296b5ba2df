//! The write-ahead journal: durability after every change without rewriting the whole state.
//!
//! A journal sits beside the state snapshot (`<name>.journal`). It is line-delimited; each line
//! is `<checksum> <json>\n`, where `<checksum>` is the first 8 bytes of the SHA-256 of `<json>`
//! in hex. Line 1 is a header binding the journal to one snapshot:
//! `{"seq":0,"op":"header","journal_format":1,"lineage":…,"serial":s}`; each further line is one
//! change, `{"seq":k,"op":"put"|"delete"|"put_output"|"delete_output"|"set_applied_commit",…}`,
//! with `k` = 1, 2, 3, … and no gaps.
//!
//! **Invariants:**
//! - A record is written with one `write` of the whole line followed by `fdatasync`; the caller
//!   acts on a change only after its record is durable.
//! - Recovery = snapshot + every valid record in order; the result has serial `s + k_last`.
//! - Only the **last** line may be invalid (bad checksum, bad JSON, missing newline): that is a
//!   write torn by a crash, whose caller never saw success, so it is dropped. An invalid line
//!   followed by anything, or a checksum-valid record out of sequence, is corruption and an
//!   error: guessing could silently lose a resource.
//! - A journal whose header names another lineage or serial than the snapshot is *stale* (a
//!   crash between writing a new snapshot and resetting the journal, or a snapshot restored by
//!   hand) and is never replayed; its records are either already in the snapshot or belong to
//!   another state.
//! - Cost stays O(n): [`CompactionPolicy`] folds the journal into a new snapshot only once the
//!   journal is at least as large as (a multiple of) the snapshot, so every byte of snapshot
//!   written is paid for by at least as many journal bytes appended since the previous one.

use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::crypt::Codec;
use super::{OutputState, ResourceState, State, StateError};
use crate::addr::ResourceInstanceAddr;

/// The journal line format version.
pub const JOURNAL_FORMAT: u64 = 1;

/// One durable change to a state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum JournalOp {
    /// Insert or replace the resource at `addr`.
    Put {
        addr: ResourceInstanceAddr,
        resource: Box<ResourceState>,
    },
    /// Forget the resource at `addr` (it was destroyed, or removed from state).
    Delete {
        addr: ResourceInstanceAddr,
    },
    PutOutput {
        name: String,
        output: OutputState,
    },
    DeleteOutput {
        name: String,
    },
    SetAppliedCommit {
        commit: Option<String>,
    },
}

impl JournalOp {
    /// Applies the change to an in-memory state (the serial is the caller's business).
    pub fn apply_to(&self, state: &mut State) {
        match self {
            JournalOp::Put { addr, resource } => {
                state.resources.insert(addr.clone(), resource.as_ref().clone());
            }
            JournalOp::Delete { addr } => {
                state.resources.remove(addr);
            }
            JournalOp::PutOutput { name, output } => {
                state.outputs.insert(name.clone(), output.clone());
            }
            JournalOp::DeleteOutput { name } => {
                state.outputs.remove(name);
            }
            JournalOp::SetAppliedCommit { commit } => state.applied_commit = commit.clone(),
        }
    }
}

/// The first line of a journal: which snapshot its records apply to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalHeader {
    pub seq: u64,
    pub op: String,
    pub journal_format: u64,
    pub lineage: String,
    pub serial: u64,
}

impl JournalHeader {
    pub fn new(lineage: &str, serial: u64) -> JournalHeader {
        JournalHeader {
            seq: 0,
            op: "header".into(),
            journal_format: JOURNAL_FORMAT,
            lineage: lineage.into(),
            serial,
        }
    }
}

#[derive(Serialize)]
struct RecordOut<'a> {
    seq: u64,
    #[serde(flatten)]
    op: &'a JournalOp,
}

#[derive(Deserialize)]
struct RecordIn {
    seq: u64,
    #[serde(flatten)]
    op: JournalOp,
}

fn checksum(payload: &[u8]) -> String {
    hex::encode(&Sha256::digest(payload)[..8])
}

fn frame(payload: Vec<u8>) -> Vec<u8> {
    let mut line = checksum(&payload).into_bytes();
    line.push(b' ');
    line.extend_from_slice(&payload);
    line.push(b'\n');
    line
}

/// The header line for a journal over the snapshot `(lineage, serial)`.
pub fn encode_header(lineage: &str, serial: u64) -> Result<Vec<u8>, StateError> {
    encode_header_with(&Codec::plain(), lineage, serial)
}

/// The line for record `seq`.
pub fn encode_record(seq: u64, op: &JournalOp) -> Result<Vec<u8>, StateError> {
    encode_record_with(&Codec::plain(), seq, op)
}

/// [`encode_header`], its payload sealed by `codec` (the codec sits under the framing: the
/// checksum covers the sealed payload, so torn-write detection works the same).
pub fn encode_header_with(
    codec: &Codec,
    lineage: &str,
    serial: u64,
) -> Result<Vec<u8>, StateError> {
    let payload = serde_json::to_vec(&JournalHeader::new(lineage, serial))
        .map_err(|e| StateError::Encode { reason: e.to_string() })?;
    Ok(frame(codec.seal_record(&payload)?))
}

/// [`encode_record`], its payload sealed by `codec`: each record is encrypted on its own.
pub fn encode_record_with(codec: &Codec, seq: u64, op: &JournalOp) -> Result<Vec<u8>, StateError> {
    let payload = serde_json::to_vec(&RecordOut { seq, op })
        .map_err(|e| StateError::Encode { reason: e.to_string() })?;
    Ok(frame(codec.seal_record(&payload)?))
}

/// Decodes one whole framed record line (`<checksum> <payload>\n`) written by
/// [`encode_record_with`]: for stores whose writes are atomic (an S3 object), where a bad line
/// is never a torn write. Returns `(seq, op)`.
pub fn decode_record_line(
    codec: &Codec,
    line: &[u8],
    at: &str,
) -> Result<(u64, JournalOp), StateError> {
    let payload =
        unframe(line).map_err(|reason| StateError::JournalCorruptAt { at: at.into(), reason })?;
    let json = codec.open_record(payload, at)?;
    let r: RecordIn = serde_json::from_slice(&json)
        .map_err(|e| StateError::JournalCorruptAt { at: at.into(), reason: e.to_string() })?;
    Ok((r.seq, r.op))
}

/// Checks a line's frame and checksum; returns the JSON payload.
fn unframe(line: &[u8]) -> Result<&[u8], String> {
    let Some(body) = line.strip_suffix(b"\n") else {
        return Err("no terminating newline".into());
    };
    let space = body.iter().position(|&b| b == b' ').ok_or("no checksum separator")?;
    let (sum, payload) = (&body[..space], &body[space + 1..]);
    if sum != checksum(payload).as_bytes() {
        return Err("checksum mismatch".into());
    }
    Ok(payload)
}

/// What replaying a journal did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Replay {
    /// Records applied.
    pub applied: u64,
    /// Sequence number of the last record applied (0 when none).
    pub last_seq: u64,
    /// Length of the valid prefix (header and applied records). Appends must start here: bytes
    /// after it are a torn write. Zero when the journal is empty, stale or has no valid header,
    /// in which case it must be restarted with a fresh header.
    pub valid_len: u64,
    /// The last line was torn and was dropped.
    pub torn_tail: bool,
    /// The header of a stale journal that was ignored.
    pub stale: Option<JournalHeader>,
}

/// Replays journal `bytes` onto `state` (a snapshot just read), advancing its serial by the
/// records applied. `path` names the journal in errors.
pub fn replay(state: &mut State, bytes: &[u8], path: &Path) -> Result<Replay, StateError> {
    replay_with(&Codec::plain(), state, bytes, path)
}

/// [`replay`] through `codec`. A line whose checksum is valid but which `codec` cannot open
/// (wrong key, tampering, plaintext where encryption is required) is an error even when it is
/// the last line: it was written whole, so it is not a torn write, and dropping it could lose a
/// change.
pub fn replay_with(
    codec: &Codec,
    state: &mut State,
    bytes: &[u8],
    path: &Path,
) -> Result<Replay, StateError> {
    let at = path.display().to_string();
    let open = |p: &[u8]| -> Result<Vec<u8>, StateError> { Ok(codec.open_record(p, &at)?) };
    let mut out = Replay::default();
    let mut lines = Vec::new();
    let mut start = 0;
    while start < bytes.len() {
        let end = bytes[start..]
            .iter()
            .position(|&b| b == b'\n')
            .map(|i| start + i + 1)
            .unwrap_or(bytes.len());
        lines.push((start, end));
        start = end;
    }
    let count = lines.len();
    let corrupt = |line: usize, reason: String| StateError::JournalCorrupt {
        path: path.to_path_buf(),
        line,
        reason,
    };
    for (i, &(s, e)) in lines.iter().enumerate() {
        let is_last = i + 1 == count;
        let lineno = i + 1;
        let parsed = match unframe(&bytes[s..e]) {
            Ok(p) => Ok(open(p)?),
            Err(reason) => Err(reason),
        };
        if i == 0 {
            let header = parsed.and_then(|p| {
                serde_json::from_slice::<JournalHeader>(&p).map_err(|e| e.to_string())
            });
            let header = match header {
                Ok(h) if h.op == "header" && h.seq == 0 => h,
                Ok(_) => return Err(corrupt(lineno, "first line is not a header".into())),
                // A header torn while the journal was being created: nothing was ever
                // recorded over it.
                Err(_) if is_last => {
                    out.torn_tail = true;
                    return Ok(out);
                }
                Err(reason) => return Err(corrupt(lineno, reason)),
            };
            if header.journal_format != JOURNAL_FORMAT {
                return Err(corrupt(
                    lineno,
                    format!(
                        "journal format {} is not supported (this slipway writes {JOURNAL_FORMAT})",
                        header.journal_format
                    ),
                ));
            }
            if header.lineage != state.lineage || header.serial != state.serial {
                out.stale = Some(header);
                return Ok(out);
            }
            out.valid_len = e as u64;
            continue;
        }
        let record =
            parsed.and_then(|p| serde_json::from_slice::<RecordIn>(&p).map_err(|e| e.to_string()));
        let record = match record {
            Ok(r) => r,
            Err(_) if is_last => {
                out.torn_tail = true;
                break;
            }
            Err(reason) => return Err(corrupt(lineno, reason)),
        };
        if record.seq != out.last_seq + 1 {
            return Err(corrupt(
                lineno,
                format!("sequence {} where {} was expected", record.seq, out.last_seq + 1),
            ));
        }
        record.op.apply_to(state);
        out.applied += 1;
        out.last_seq = record.seq;
        out.valid_len = e as u64;
    }
    state.serial += out.last_seq;
    Ok(out)
}

/// When to fold the journal into a new snapshot.
///
/// Compaction is due once the journal holds at least `min_records` records **and** its size is
/// at least `ratio` × the snapshot's size. The size condition is what keeps the total cost
/// linear: the snapshot bytes written by a compaction are at most `1/ratio` × the journal bytes
/// appended since the previous one, so over a whole run the snapshot bytes written are at most
/// `1/ratio` × all journal bytes (plus the final compaction). With a fixed record count alone,
/// 10,000 creates would rewrite an ever-growing snapshot every 1,000 records: quadratic.
/// The record floor keeps tiny states from compacting on every change.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CompactionPolicy {
    pub min_records: u64,
    pub ratio: f64,
}

impl Default for CompactionPolicy {
    fn default() -> Self {
        CompactionPolicy { min_records: 1000, ratio: 1.0 }
    }
}

impl CompactionPolicy {
    /// True when a journal of `records` records and `journal_bytes` bytes over a snapshot of
    /// `snapshot_bytes` bytes should be compacted.
    pub fn due(&self, records: u64, journal_bytes: u64, snapshot_bytes: u64) -> bool {
        records >= self.min_records && journal_bytes as f64 >= self.ratio * snapshot_bytes as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::tests::{addr, sample_state};
    use crate::value::Value;

    fn put(name: &str) -> JournalOp {
        JournalOp::Put {
            addr: addr(&format!("random_id.{name}")),
            resource: Box::new(ResourceState::from_value(
                "random",
                "random_id",
                &Value::Map([("id".to_string(), Value::string(name))].into()),
            )),
        }
    }

    fn journal(state: &State, ops: &[JournalOp]) -> Vec<u8> {
        let mut j = encode_header(&state.lineage, state.serial).unwrap();
        for (i, op) in ops.iter().enumerate() {
            j.extend(encode_record(i as u64 + 1, op).unwrap());
        }
        j
    }

    fn path() -> &'static Path {
        Path::new("state.json.journal")
    }

    #[test]
    fn replays_every_op_in_order() {
        let base = sample_state();
        let ops = vec![
            put("a"),
            put("b"),
            JournalOp::Delete { addr: addr("random_id.a") },
            JournalOp::Delete { addr: addr("aws_vpc.main") },
            JournalOp::PutOutput {
                name: "x".into(),
                output: OutputState { value: serde_json::json!([1, 2]), sensitive: false },
            },
            JournalOp::DeleteOutput { name: "token".into() },
            JournalOp::SetAppliedCommit { commit: Some("abc123".into()) },
        ];
        let bytes = journal(&base, &ops);
        let mut s = base.clone();
        let r = replay(&mut s, &bytes, path()).unwrap();
        assert_eq!((r.applied, r.last_seq, r.torn_tail), (7, 7, false));
        assert_eq!(r.valid_len, bytes.len() as u64);
        assert_eq!(s.serial, base.serial + 7);
        let mut expected = base.clone();
        for op in &ops {
            expected.apply(op);
        }
        expected.serial += 7;
        assert_eq!(s, expected);
        assert!(s.resources.contains_key(&addr("random_id.b")));
        assert!(!s.resources.contains_key(&addr("random_id.a")));
        assert_eq!(s.applied_commit.as_deref(), Some("abc123"));
    }

    #[test]
    fn torn_last_record_is_dropped_at_every_cut() {
        let base = sample_state();
        let full = journal(&base, &[put("a"), put("b")]);
        let second_start = journal(&base, &[put("a")]).len();
        for cut in second_start + 1..full.len() {
            let mut s = base.clone();
            let r = replay(&mut s, &full[..cut], path()).unwrap();
            assert_eq!((r.applied, r.torn_tail), (1, true), "cut at {cut}");
            assert_eq!(r.valid_len, second_start as u64);
            assert!(!s.resources.contains_key(&addr("random_id.b")));
        }
        // Zeros where the record should be (a filesystem that extended the file but lost data).
        let mut zeroed = full[..second_start].to_vec();
        zeroed.extend(vec![0u8; 40]);
        let r = replay(&mut base.clone(), &zeroed, path()).unwrap();
        assert_eq!((r.applied, r.torn_tail), (1, true));
    }

    #[test]
    fn corrupt_middle_record_is_an_error() {
        let base = sample_state();
        let mut bytes = journal(&base, &[put("a"), put("b"), put("c")]);
        let second = journal(&base, &[put("a")]).len();
        bytes[second + 30] ^= 0x20; // flip a bit inside record 2
        let err = replay(&mut base.clone(), &bytes, path()).unwrap_err();
        assert!(matches!(err, StateError::JournalCorrupt { line: 3, .. }), "{err}");
        assert!(err.to_string().contains("state.json.journal"));
    }

    #[test]
    fn out_of_sequence_record_is_an_error() {
        let base = sample_state();
        let mut bytes = journal(&base, &[put("a")]);
        bytes.extend(encode_record(3, &put("b")).unwrap());
        let err = replay(&mut base.clone(), &bytes, path()).unwrap_err();
        assert!(err.to_string().contains("sequence 3"), "{err}");
    }

    #[test]
    fn stale_journal_is_not_replayed() {
        let base = sample_state();
        let bytes = journal(&base, &[put("a")]);
        let mut newer = base.clone();
        newer.serial += 5;
        let r = replay(&mut newer, &bytes, path()).unwrap();
        assert_eq!(r.applied, 0);
        assert_eq!(r.valid_len, 0);
        assert_eq!(r.stale.as_ref().map(|h| h.serial), Some(base.serial));
        assert_eq!(newer.serial, base.serial + 5);
        assert!(!newer.resources.contains_key(&addr("random_id.a")));

        let mut other = base.clone();
        other.lineage = "another".into();
        let r = replay(&mut other, &bytes, path()).unwrap();
        assert!(r.stale.is_some() && r.applied == 0);
    }

    #[test]
    fn empty_or_torn_header_replays_nothing() {
        let base = sample_state();
        let r = replay(&mut base.clone(), b"", path()).unwrap();
        assert_eq!(r, Replay::default());
        let header = encode_header(&base.lineage, base.serial).unwrap();
        let r = replay(&mut base.clone(), &header[..10], path()).unwrap();
        assert!(r.torn_tail && r.valid_len == 0);
    }

    #[test]
    fn policy_is_size_proportional() {
        let p = CompactionPolicy::default();
        assert!(!p.due(999, 10_000_000, 1));
        assert!(!p.due(5_000, 999, 1_000));
        assert!(p.due(5_000, 1_000, 1_000));
    }
}
