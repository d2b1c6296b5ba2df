//! The state model: what slipway believes exists, by resource instance address.
//!
//! State is versioned JSON (`format_version`, `lineage`, `serial`, `stack_id`, `resources`,
//! `outputs`, `applied_commit`). It is persisted by a [`crate::backend::Backend`] as a full
//! snapshot plus a write-ahead journal of changes since that snapshot (see [`journal`]).
//!
//! **Invariants:**
//! - `lineage` is fixed for the life of a state; two states with different lineages are never
//!   merged, and a journal or a saved plan bound to another lineage is refused.
//! - `serial` is the *logical* version: it grows by one for every durable change. A journal
//!   record with sequence number `k` over a snapshot with serial `s` yields serial `s + k`, so a
//!   snapshot's serial jumps by the number of records folded in at compaction. Every durable
//!   change therefore has a distinct `(lineage, serial)`, including changes still in a journal,
//!   which is what a saved plan binds to.
//! - A `format_version` other than [`FORMAT_VERSION`] is an error, never a silent misread.
//! - Attributes are stored as plain JSON with sensitive marks recorded separately as paths
//!   ([`ResourceState::value`] restores them), so the marks survive a save/load round trip.
//! - Creates are idempotent: before a create API call the instance is saved with
//!   [`ResourceStatus::Creating`] carrying the client token from [`client_token`]; the next run
//!   adopts what an interrupted run created (by token or ownership tags) instead of creating a
//!   duplicate.
//! - Parsing never panics: a truncated or garbage file is an error naming the file and the JSON
//!   error location.

pub mod crypt;
pub mod journal;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::addr::ResourceInstanceAddr;
use crate::value::{PathStep, Value};

pub use journal::JournalOp;

/// The newest (and only) state format this build reads and writes.
pub const FORMAT_VERSION: u64 = 1;

/// A whole state: the snapshot written at compaction, or the in-memory state with the journal
/// replayed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub format_version: u64,
    /// A UUID chosen when the state is created and never changed afterwards.
    pub lineage: String,
    /// The logical version; see the module docs.
    pub serial: u64,
    /// Stable id of the environment: the `slipway:stack` tag value and the client-token seed.
    pub stack_id: String,
    /// The git commit last applied (GitOps), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_commit: Option<String>,
    #[serde(default)]
    pub resources: BTreeMap<ResourceInstanceAddr, ResourceState>,
    #[serde(default)]
    pub outputs: BTreeMap<String, OutputState>,
}

/// One root-module output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutputState {
    pub value: serde_json::Value,
    #[serde(default)]
    pub sensitive: bool,
}

/// What slipway knows about one resource instance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResourceState {
    /// Provider name (`aws`, `tls`, …).
    pub provider: String,
    /// Resource type (`aws_instance`).
    #[serde(rename = "type")]
    pub rtype: String,
    /// The remote object's id; None while a create is pending.
    #[serde(default)]
    pub id: Option<String>,
    /// Attributes as plain JSON (sensitive marks are in `sensitive_paths`).
    #[serde(default)]
    pub attributes: serde_json::Value,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sensitive_paths: Vec<Vec<PathStep>>,
    /// Instances this one depended on when last applied: destroy order after the configuration
    /// that named them is gone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<ResourceInstanceAddr>,
    #[serde(default)]
    pub status: ResourceStatus,
    /// Bumped for every new remote object at this address (first create, each replacement), so
    /// a replacement gets a fresh client token while a retry of the same create reuses it.
    #[serde(default)]
    pub generation: u64,
    #[serde(default, skip_serializing_if = "is_false")]
    pub create_before_destroy: bool,
    /// Objects replaced under `create_before_destroy` that still await deletion: the new object
    /// takes the address first, so the old ones need a home until they are gone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deposed: Vec<DeposedObject>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// The lifecycle status of the current object at an address.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceStatus {
    /// Created (or updated) and ready.
    #[default]
    Ready,
    /// Exists but must be replaced (a create that failed after the object came into being, or
    /// `slipway taint`).
    Tainted,
    /// Intent recorded before a create API call. If a run dies here, the next run looks for an
    /// object carrying this token (or the ownership tags) and adopts it before creating anything.
    Creating { client_token: String },
}

/// An object displaced by its `create_before_destroy` replacement, pending deletion.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeposedObject {
    /// Short random key distinguishing several deposed objects at one address.
    pub key: String,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub attributes: serde_json::Value,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sensitive_paths: Vec<Vec<PathStep>>,
    #[serde(default)]
    pub generation: u64,
}

impl DeposedObject {
    /// The object with its sensitive marks restored.
    pub fn value(&self) -> Value {
        Value::from_json(&self.attributes).with_sensitive_paths(&self.sensitive_paths)
    }
}

impl ResourceState {
    /// A ready resource from a provider's object, recording where its sensitive marks were.
    /// The id is taken from the object's `id` attribute when it is a string.
    pub fn from_value(
        provider: impl Into<String>,
        rtype: impl Into<String>,
        value: &Value,
    ) -> ResourceState {
        let mut r = ResourceState {
            provider: provider.into(),
            rtype: rtype.into(),
            id: None,
            attributes: serde_json::Value::Null,
            sensitive_paths: Vec::new(),
            dependencies: Vec::new(),
            status: ResourceStatus::Ready,
            generation: 0,
            create_before_destroy: false,
            deposed: Vec::new(),
        };
        r.set_value(value);
        r
    }

    /// Replaces the attributes (and id, and sensitive paths) with a provider's object.
    pub fn set_value(&mut self, value: &Value) {
        self.attributes = value.to_json();
        self.sensitive_paths = value.sensitive_paths();
        self.id = value.get_attr("id").and_then(|v| v.peel().as_str().map(str::to_string));
    }

    /// The attributes as a [`Value`], with sensitive marks restored.
    pub fn value(&self) -> Value {
        Value::from_json(&self.attributes).with_sensitive_paths(&self.sensitive_paths)
    }

    /// The client token of a pending create, if one is recorded.
    pub fn pending_client_token(&self) -> Option<&str> {
        match &self.status {
            ResourceStatus::Creating { client_token } => Some(client_token),
            _ => None,
        }
    }
}

/// The idempotency token for creating generation `generation` of `addr` in stack `stack_id`:
/// 64 lowercase hex characters (the SHA-256 of the three, with separators that cannot occur in
/// them ambiguously), within EC2's 64-character ClientToken limit. Deterministic, so a run
/// that retries a crashed create sends the same token and the cloud returns the same object.
pub fn client_token(stack_id: &str, addr: &ResourceInstanceAddr, generation: u64) -> String {
    let mut h = Sha256::new();
    h.update(b"slipway-client-token\0");
    h.update(stack_id.as_bytes());
    h.update(b"\0");
    h.update(addr.to_string().as_bytes());
    h.update(b"\0");
    h.update(generation.to_be_bytes());
    hex::encode(h.finalize())
}

/// A fresh stack id for a new environment: its name plus 8 random hex digits, so two
/// environments with the same name (two accounts, a re-created environment) never claim each
/// other's cloud objects by tag.
pub fn new_stack_id(environment: &str) -> String {
    let rand = uuid::Uuid::new_v4().simple().to_string();
    format!("{environment}-{}", &rand[..8])
}

impl State {
    /// An empty state with a new lineage and serial 0.
    pub fn new(stack_id: impl Into<String>) -> State {
        State {
            format_version: FORMAT_VERSION,
            lineage: uuid::Uuid::new_v4().to_string(),
            serial: 0,
            stack_id: stack_id.into(),
            applied_commit: None,
            resources: BTreeMap::new(),
            outputs: BTreeMap::new(),
        }
    }

    /// Parses a state file's bytes. `path` names the file in errors.
    pub fn from_slice(bytes: &[u8], path: &Path) -> Result<State, StateError> {
        // Check the version before the shape: a newer format may have changed the shape, and
        // "upgrade slipway" is a far better message than a missing-field error.
        #[derive(Deserialize)]
        struct Probe {
            format_version: Option<serde_json::Value>,
        }
        let probe: Probe = serde_json::from_slice(bytes).map_err(|e| StateError::parse(path, e))?;
        match probe.format_version {
            Some(serde_json::Value::Number(n)) if n.as_u64() == Some(FORMAT_VERSION) => {}
            Some(serde_json::Value::Number(n)) if n.as_u64().is_some() => {
                return Err(StateError::UnsupportedVersion {
                    path: path.to_path_buf(),
                    found: n.as_u64().unwrap_or_default(),
                });
            }
            Some(other) => {
                return Err(StateError::Invalid {
                    path: path.to_path_buf(),
                    reason: format!("format_version must be a whole number, found {other}"),
                });
            }
            None => {
                return Err(StateError::Invalid {
                    path: path.to_path_buf(),
                    reason: "no format_version: not a slipway state file".into(),
                });
            }
        }
        serde_json::from_slice(bytes).map_err(|e| StateError::parse(path, e))
    }

    /// The snapshot form written to disk (pretty, so that people can read and diff it).
    pub fn to_vec(&self) -> Result<Vec<u8>, StateError> {
        let mut v = serde_json::to_vec_pretty(self)
            .map_err(|e| StateError::Encode { reason: e.to_string() })?;
        v.push(b'\n');
        Ok(v)
    }

    /// Applies one journal operation in memory (does not change `serial`; the journal does).
    pub fn apply(&mut self, op: &JournalOp) {
        op.apply_to(self);
    }
}

/// Errors reading, parsing or encoding state and journals.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{}: not a valid slipway state file: {source}", path.display())]
    Parse {
        path: PathBuf,
        line: usize,
        column: usize,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "{}: state format_version {found} is not supported by this slipway (it reads version {FORMAT_VERSION}); upgrade slipway",
        path.display()
    )]
    UnsupportedVersion { path: PathBuf, found: u64 },
    #[error("{}: invalid state: {reason}", path.display())]
    Invalid { path: PathBuf, reason: String },
    #[error("{}: journal line {line} is corrupt ({reason}) and is not the last record, so it is not a torn write; refusing to guess (the state snapshot and backup are untouched)", path.display())]
    JournalCorrupt { path: PathBuf, line: usize, reason: String },
    #[error("{at}: journal record is corrupt ({reason}); refusing to guess")]
    JournalCorruptAt { at: String, reason: String },
    #[error(transparent)]
    Crypt(#[from] crypt::CryptError),
    #[error("cannot encode state: {reason}")]
    Encode { reason: String },
}

impl StateError {
    fn parse(path: &Path, e: serde_json::Error) -> StateError {
        StateError::Parse {
            path: path.to_path_buf(),
            line: e.line(),
            column: e.column(),
            source: e,
        }
    }
}

impl fmt::Display for ResourceStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResourceStatus::Ready => f.write_str("ready"),
            ResourceStatus::Tainted => f.write_str("tainted"),
            ResourceStatus::Creating { .. } => f.write_str("creating"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap as Map;

    pub(crate) fn addr(s: &str) -> ResourceInstanceAddr {
        ResourceInstanceAddr::parse(s).unwrap()
    }

    pub(crate) fn sample_state() -> State {
        let mut s = State::new("dev-1234abcd");
        let mut obj = Map::new();
        obj.insert("id".to_string(), Value::string("i-123"));
        obj.insert("password".to_string(), Value::string("hunter2").mark_sensitive());
        obj.insert(
            "tags".to_string(),
            Value::List(vec![Value::string("a"), Value::string("b").mark_sensitive()]),
        );
        let mut r = ResourceState::from_value("aws", "aws_instance", &Value::Map(obj));
        r.dependencies = vec![addr("aws_vpc.main")];
        r.generation = 2;
        r.create_before_destroy = true;
        r.deposed.push(DeposedObject {
            key: "a1b2c3d4".into(),
            id: Some("i-old".into()),
            attributes: serde_json::json!({"id": "i-old", "password": "old"}),
            sensitive_paths: vec![vec![PathStep::Key("password".into())]],
            generation: 1,
        });
        s.resources.insert(addr("module.etcd.aws_instance.member[\"b\"]"), r);
        let mut pending = ResourceState::from_value("aws", "aws_vpc", &Value::Null);
        pending.status = ResourceStatus::Creating {
            client_token: client_token(&s.stack_id, &addr("aws_vpc.main"), 1),
        };
        s.resources.insert(addr("aws_vpc.main"), pending);
        s.outputs.insert(
            "token".into(),
            OutputState { value: serde_json::json!("s3cr3t"), sensitive: true },
        );
        s
    }

    #[test]
    fn round_trip_restores_sensitive_marks() {
        let s = sample_state();
        let bytes = s.to_vec().unwrap();
        let back = State::from_slice(&bytes, Path::new("state.json")).unwrap();
        assert_eq!(back, s);
        let r = &back.resources[&addr("module.etcd.aws_instance.member[\"b\"]")];
        assert_eq!(r.id.as_deref(), Some("i-123"));
        let v = r.value();
        assert!(v.get_attr("password").unwrap().is_sensitive());
        assert!(!v.get_attr("id").unwrap().is_sensitive());
        let tags = v.get_attr("tags").unwrap();
        let tags = tags.as_list().unwrap();
        assert!(!tags[0].is_sensitive());
        assert!(tags[1].is_sensitive());
        // The raw JSON holds the plain value; the marks live only in sensitive_paths.
        assert_eq!(r.attributes["password"], "hunter2");
        let old = r.deposed[0].value();
        assert!(old.get_attr("password").unwrap().is_sensitive());
    }

    #[test]
    fn client_tokens_are_deterministic_and_short() {
        let a = addr("aws_instance.web[0]");
        let t = client_token("prod-1", &a, 1);
        assert_eq!(t, client_token("prod-1", &a, 1));
        assert_ne!(t, client_token("prod-1", &a, 2));
        assert_ne!(t, client_token("prod-2", &a, 1));
        assert_ne!(t, client_token("prod-1", &addr("aws_instance.web[1]"), 1));
        assert!(t.len() <= 64 && t.chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn newer_format_version_is_a_clear_error() {
        let mut v = serde_json::to_value(sample_state()).unwrap();
        v["format_version"] = serde_json::json!(2);
        v["resources"] = serde_json::json!(["a new shape"]);
        let err =
            State::from_slice(&serde_json::to_vec(&v).unwrap(), Path::new("s.json")).unwrap_err();
        assert!(matches!(err, StateError::UnsupportedVersion { found: 2, .. }));
        assert!(err.to_string().contains("upgrade slipway"), "{err}");
    }

    #[test]
    fn garbage_is_an_error_naming_file_and_location() {
        let cases: &[&[u8]] = &[
            b"",
            b"\x00\x01\x02garbage",
            b"{\"format_version\": 1, \"lineage\": ",
            b"[1,2,3]",
            b"{\"format_version\": \"one\"}",
            b"{\"lineage\": \"x\"}",
            b"{\"format_version\": 1, \"lineage\": \"x\", \"serial\": -1, \"stack_id\": \"s\"}",
            b"{\"format_version\": 1, \"lineage\": \"x\", \"serial\": 1, \"stack_id\": \"s\", \"resources\": {\"not an address\": {}}}",
        ];
        for bytes in cases {
            let err = State::from_slice(bytes, Path::new("/x/state.json")).unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains("/x/state.json"), "{msg}");
        }
        let err =
            State::from_slice(b"{\n  \"format_version\": 1,\n  oops", Path::new("s")).unwrap_err();
        match err {
            StateError::Parse { line, column, .. } => assert_eq!((line, column), (3, 3)),
            other => panic!("{other}"),
        }
    }
}
