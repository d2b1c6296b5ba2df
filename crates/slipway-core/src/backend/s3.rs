//! The `backend "s3"` settings: what `backend "s3" { … }` says, read by
//! [`super::settings`]. The backend itself (the AWS SDK calls) lives in the `slipway-aws` crate,
//! so the core builds without the SDK.

use std::time::Duration;

/// The `backend "s3" { … }` settings.
#[derive(Clone, Debug, PartialEq)]
pub struct S3Config {
    pub bucket: String,
    /// The snapshot's object key; the other objects are named after it.
    pub key: String,
    /// Default: the AWS environment (`AWS_REGION`, profile).
    pub region: Option<String>,
    /// A custom endpoint (an S3-compatible store, an emulator); path-style addressing is used.
    /// Default: `AWS_ENDPOINT_URL` or AWS.
    pub endpoint: Option<String>,
    /// Ask S3 to encrypt objects at rest (SSE-S3, AES256). Independent of slipway's own
    /// encryption, which also hides state from whoever can read the bucket.
    pub sse: bool,
    /// Lock in this DynamoDB table instead of a lock object.
    pub dynamodb_table: Option<String>,
    /// A lock not refreshed for this long is reported stale.
    pub lock_ttl: Duration,
}

impl S3Config {
    pub fn new(bucket: impl Into<String>, key: impl Into<String>) -> S3Config {
        S3Config {
            bucket: bucket.into(),
            key: key.into(),
            region: None,
            endpoint: None,
            sse: false,
            dynamodb_table: None,
            lock_ttl: DEFAULT_LOCK_TTL,
        }
    }
}

/// The default lock TTL: long enough that a slow network never makes a live lock look stale.
pub const DEFAULT_LOCK_TTL: Duration = Duration::from_secs(300);
