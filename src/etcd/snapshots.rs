//! The S3 layout of etcd snapshots: writing (on-demand snapshots) and reading (`etcd snapshots`,
//! `dr drill`, `dr rebuild`).
//!
//! Layout (shared with the nodes' scheduled snapshot script, modules/etcd-nodes):
//! `s3://<bucket>/<prefix>/<class>/<YYYYmmddTHHMMSSZ>-<member>.db`, class one of `frequent`,
//! `hourly`, `daily` (each class has its own lifecycle rule, hence its own key prefix). User
//! metadata: `sha256` (hex of the whole object), `revision`, `total-keys`, `hash` (from
//! `etcdutl snapshot status -w json`), `canary` (the value of `/slipway/canary` written just
//! before the snapshot) and `member`. Objects are written with server-side encryption.
//!
//! Invariants:
//! - A snapshot's identity is its key below the prefix (`<class>/<file>`); [`resolve`] also
//!   accepts the full key, the file name alone, or `latest`.
//! - Listings are newest first, by the timestamp in the key (not S3's LastModified, which a
//!   copy would reset); keys that do not follow the layout are ignored.
//! - A download is complete or absent: it goes to a temporary name and is renamed at the end.

use std::collections::BTreeMap;
use std::path::Path;

use time::OffsetDateTime;
use time::macros::format_description;

/// Where an environment keeps its snapshots (its `etcd_snapshots` output).
#[derive(Debug, Clone, PartialEq)]
pub struct Location {
    pub bucket: String,
    pub prefix: String,
}

impl Location {
    /// From the output value `{ bucket, prefix }`.
    pub fn from_output(v: &serde_json::Value) -> Option<Location> {
        Some(Location {
            bucket: v.get("bucket")?.as_str()?.to_string(),
            prefix: v.get("prefix")?.as_str()?.trim_matches('/').to_string(),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Class {
    Frequent,
    Hourly,
    Daily,
}

impl Class {
    pub const ALL: [Class; 3] = [Class::Frequent, Class::Hourly, Class::Daily];

    pub fn as_str(self) -> &'static str {
        match self {
            Class::Frequent => "frequent",
            Class::Hourly => "hourly",
            Class::Daily => "daily",
        }
    }

    pub fn parse(s: &str) -> Option<Class> {
        Class::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// The class of a snapshot taken at `at` by a schedule of period `interval_secs`: the first
    /// snapshot of a UTC day is `daily`, the first of an hour `hourly`, the others `frequent`
    /// (the node script decides the same way).
    pub fn for_time(at: OffsetDateTime, interval_secs: u64) -> Class {
        let into_hour = u64::from(at.minute()) * 60 + u64::from(at.second());
        if into_hour < interval_secs.max(1) {
            if at.hour() == 0 { Class::Daily } else { Class::Hourly }
        } else {
            Class::Frequent
        }
    }
}

/// The metadata every snapshot object carries.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Metadata {
    pub sha256: String,
    pub revision: i64,
    pub total_keys: i64,
    pub hash: u64,
    pub canary: String,
    pub member: String,
}

impl Metadata {
    /// As S3 user metadata (names as the layout fixes them).
    pub fn to_s3(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("sha256".to_string(), self.sha256.clone()),
            ("revision".to_string(), self.revision.to_string()),
            ("total-keys".to_string(), self.total_keys.to_string()),
            ("hash".to_string(), self.hash.to_string()),
            ("canary".to_string(), self.canary.clone()),
            ("member".to_string(), self.member.clone()),
        ])
    }

    pub fn from_s3(m: &std::collections::HashMap<String, String>) -> Metadata {
        let get = |k: &str| m.get(k).cloned().unwrap_or_default();
        Metadata {
            sha256: get("sha256"),
            revision: get("revision").parse().unwrap_or(0),
            total_keys: get("total-keys").parse().unwrap_or(0),
            hash: get("hash").parse().unwrap_or(0),
            canary: get("canary"),
            member: get("member"),
        }
    }
}

/// One snapshot object.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Snapshot {
    /// `<class>/<file>`: the id `--snapshot` takes.
    pub id: String,
    pub key: String,
    #[serde(serialize_with = "ser_class")]
    pub class: Class,
    #[serde(serialize_with = "ser_time")]
    pub taken_at: OffsetDateTime,
    pub member: String,
    pub size: i64,
    /// Filled by [`head`] (listings read it only when asked).
    pub metadata: Option<Metadata>,
}

fn ser_class<S: serde::Serializer>(c: &Class, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(c.as_str())
}

fn ser_time<S: serde::Serializer>(t: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_stamp(*t))
}

impl Snapshot {
    /// Seconds since the snapshot was taken.
    pub fn age_secs(&self, now: OffsetDateTime) -> i64 {
        (now - self.taken_at).whole_seconds()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("s3://{bucket}/{key}: {op}: {reason}")]
    S3 { bucket: String, key: String, op: &'static str, reason: String },
    #[error("no snapshot under s3://{bucket}/{prefix}/")]
    None { bucket: String, prefix: String },
    #[error("no snapshot {id:?} under s3://{bucket}/{prefix}/ (see `slipway etcd snapshots ENV`)")]
    NotFound { id: String, bucket: String, prefix: String },
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("no AWS region: set AWS_REGION")]
    NoRegion,
}

const STAMP: &[time::format_description::BorrowedFormatItem<'static>] =
    format_description!("[year][month][day]T[hour][minute][second]Z");

/// `YYYYmmddTHHMMSSZ` in UTC.
pub fn format_stamp(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC).format(STAMP).unwrap_or_default()
}

pub fn parse_stamp(s: &str) -> Option<OffsetDateTime> {
    time::PrimitiveDateTime::parse(s, STAMP).ok().map(|p| p.assume_utc())
}

/// The object key of a snapshot.
pub fn object_key(loc: &Location, class: Class, at: OffsetDateTime, member: &str) -> String {
    let below = format!("{}/{}-{member}.db", class.as_str(), format_stamp(at));
    if loc.prefix.is_empty() { below } else { format!("{}/{below}", loc.prefix) }
}

/// Parses a key of the layout: (id, class, time, member).
pub fn parse_key(loc: &Location, key: &str) -> Option<(String, Class, OffsetDateTime, String)> {
    let below = if loc.prefix.is_empty() {
        key
    } else {
        key.strip_prefix(&loc.prefix)?.strip_prefix('/')?
    };
    let (class, file) = below.split_once('/')?;
    let class = Class::parse(class)?;
    let stem = file.strip_suffix(".db")?;
    let (stamp, member) = stem.split_once('-')?;
    let at = parse_stamp(stamp)?;
    if member.is_empty() {
        return None;
    }
    Some((below.to_string(), class, at, member.to_string()))
}

/// An S3 client from the operator's environment (AWS_* variables, profiles); path-style when
/// an endpoint is set (emulators, S3-compatible stores), as the S3 backend does.
pub async fn s3_client() -> Result<aws_sdk_s3::Client, SnapshotError> {
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
    if sdk.region().is_none() {
        return Err(SnapshotError::NoRegion);
    }
    let conf = aws_sdk_s3::config::Builder::from(&sdk)
        .force_path_style(sdk.endpoint_url().is_some())
        .build();
    Ok(aws_sdk_s3::Client::from_conf(conf))
}

fn s3_err(
    loc: &Location,
    key: &str,
    op: &'static str,
    e: impl std::error::Error + 'static,
) -> SnapshotError {
    let mut reason = aws_smithy_types::error::display::DisplayErrorContext(&e).to_string();
    if reason.len() > 600 {
        reason.truncate(600);
    }
    SnapshotError::S3 { bucket: loc.bucket.clone(), key: key.to_string(), op, reason }
}

/// Every snapshot of the layout, newest first (metadata not read).
pub async fn list(
    s3: &aws_sdk_s3::Client,
    loc: &Location,
    class: Option<Class>,
) -> Result<Vec<Snapshot>, SnapshotError> {
    let mut out = Vec::new();
    let classes: Vec<Class> = class.map_or(Class::ALL.to_vec(), |c| vec![c]);
    for c in classes {
        let prefix = if loc.prefix.is_empty() {
            format!("{}/", c.as_str())
        } else {
            format!("{}/{}/", loc.prefix, c.as_str())
        };
        let mut token: Option<String> = None;
        loop {
            let resp = s3
                .list_objects_v2()
                .bucket(&loc.bucket)
                .prefix(&prefix)
                .set_continuation_token(token.clone())
                .send()
                .await
                .map_err(|e| s3_err(loc, &prefix, "ListObjectsV2", e))?;
            for o in resp.contents() {
                let Some(key) = o.key() else { continue };
                if let Some((id, class, at, member)) = parse_key(loc, key) {
                    out.push(Snapshot {
                        id,
                        key: key.to_string(),
                        class,
                        taken_at: at,
                        member,
                        size: o.size().unwrap_or(0),
                        metadata: None,
                    });
                }
            }
            token = resp.next_continuation_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
    }
    out.sort_by(|a, b| b.taken_at.cmp(&a.taken_at).then(a.id.cmp(&b.id)));
    Ok(out)
}

/// Reads a snapshot's metadata (and size) into it.
pub async fn head(
    s3: &aws_sdk_s3::Client,
    loc: &Location,
    snap: &mut Snapshot,
) -> Result<(), SnapshotError> {
    let resp = s3
        .head_object()
        .bucket(&loc.bucket)
        .key(&snap.key)
        .send()
        .await
        .map_err(|e| s3_err(loc, &snap.key, "HeadObject", e))?;
    snap.size = resp.content_length().unwrap_or(snap.size);
    snap.metadata = Some(Metadata::from_s3(resp.metadata().unwrap_or(&Default::default())));
    Ok(())
}

/// The snapshot `id` names (`latest`, `<class>/<file>`, a full key or a file name), with its
/// metadata.
pub async fn resolve(
    s3: &aws_sdk_s3::Client,
    loc: &Location,
    id: &str,
) -> Result<Snapshot, SnapshotError> {
    let all = list(s3, loc, None).await?;
    let found = if id == "latest" {
        all.into_iter().next().ok_or_else(|| SnapshotError::None {
            bucket: loc.bucket.clone(),
            prefix: loc.prefix.clone(),
        })?
    } else {
        all.into_iter()
            .find(|s| s.id == id || s.key == id || s.id.rsplit('/').next() == Some(id))
            .ok_or_else(|| SnapshotError::NotFound {
            id: id.to_string(),
            bucket: loc.bucket.clone(),
            prefix: loc.prefix.clone(),
        })?
    };
    let mut found = found;
    head(s3, loc, &mut found).await?;
    Ok(found)
}

/// Downloads a snapshot to `dest` (complete or absent).
pub async fn download(
    s3: &aws_sdk_s3::Client,
    loc: &Location,
    snap: &Snapshot,
    dest: &Path,
) -> Result<u64, SnapshotError> {
    use std::io::Write as _;
    let partial = dest.with_extension("partial");
    let io = |source| SnapshotError::Io { path: partial.display().to_string(), source };
    let resp = s3
        .get_object()
        .bucket(&loc.bucket)
        .key(&snap.key)
        .send()
        .await
        .map_err(|e| s3_err(loc, &snap.key, "GetObject", e))?;
    let mut body = resp.body;
    let mut f = std::fs::File::create(&partial).map_err(io)?;
    let mut n = 0u64;
    loop {
        match body.try_next().await {
            Ok(Some(bytes)) => {
                n += bytes.len() as u64;
                f.write_all(&bytes).map_err(io)?;
            }
            Ok(None) => break,
            Err(e) => {
                let _ = std::fs::remove_file(&partial);
                return Err(s3_err(loc, &snap.key, "GetObject", e));
            }
        }
    }
    f.sync_all().map_err(io)?;
    std::fs::rename(&partial, dest)
        .map_err(|source| SnapshotError::Io { path: dest.display().to_string(), source })?;
    Ok(n)
}

/// Uploads a snapshot file under the layout with its metadata, encrypted at rest (SSE-S3, which
/// the bucket policy requires); returns the key.
pub async fn upload(
    s3: &aws_sdk_s3::Client,
    loc: &Location,
    key: &str,
    file: &Path,
    meta: &Metadata,
) -> Result<(), SnapshotError> {
    let body = aws_sdk_s3::primitives::ByteStream::from_path(file).await.map_err(|e| {
        SnapshotError::Io {
            path: file.display().to_string(),
            source: std::io::Error::other(e.to_string()),
        }
    })?;
    s3.put_object()
        .bucket(&loc.bucket)
        .key(key)
        .body(body)
        .server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::Aes256)
        .set_metadata(Some(meta.to_s3().into_iter().collect()))
        .send()
        .await
        .map_err(|e| s3_err(loc, key, "PutObject", e))?;
    Ok(())
}

/// A human age: 42s, 5m, 3h12m, 2d4h.
pub fn human_age(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{}h", s / 86400, (s % 86400) / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn loc() -> Location {
        Location { bucket: "b".into(), prefix: "etcd-snapshots/prod".into() }
    }

    #[test]
    fn keys_round_trip() {
        let at = datetime!(2026-12-01 21:45:07 UTC);
        let k = object_key(&loc(), Class::Hourly, at, "etcd-a");
        assert_eq!(k, "etcd-snapshots/prod/hourly/20261201T214507Z-etcd-a.db");
        let (id, class, t, member) = parse_key(&loc(), &k).unwrap();
        assert_eq!(id, "hourly/20261201T214507Z-etcd-a.db");
        assert_eq!((class, t, member.as_str()), (Class::Hourly, at, "etcd-a"));
        // Member names may hold dashes; other keys are not snapshots.
        assert_eq!(
            parse_key(&loc(), "etcd-snapshots/prod/daily/20261201T000000Z-prod-cp-a.db").unwrap().3,
            "prod-cp-a"
        );
        assert!(parse_key(&loc(), "etcd-snapshots/prod/weekly/20261201T000000Z-a.db").is_none());
        assert!(parse_key(&loc(), "etcd-snapshots/prod/daily/x-a.db").is_none());
        assert!(parse_key(&loc(), "other/daily/20261201T000000Z-a.db").is_none());
    }

    #[test]
    fn class_follows_the_clock() {
        let i = 15 * 60;
        assert_eq!(Class::for_time(datetime!(2026-12-01 00:07:00 UTC), i), Class::Daily);
        assert_eq!(Class::for_time(datetime!(2026-12-01 13:14:59 UTC), i), Class::Hourly);
        assert_eq!(Class::for_time(datetime!(2026-12-01 13:15:00 UTC), i), Class::Frequent);
    }

    #[test]
    fn ages_read_well() {
        assert_eq!(human_age(5), "5s");
        assert_eq!(human_age(3 * 3600 + 12 * 60), "3h12m");
        assert_eq!(human_age(2 * 86400 + 4 * 3600), "2d4h");
    }
}
