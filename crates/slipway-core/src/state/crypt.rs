//! State encryption at rest: the codec every backend puts under its bytes.
//!
//! A [`Codec`] turns plaintext blobs (a snapshot, one journal record's JSON) into sealed
//! envelopes and back. Without a [`Keyring`] it is the identity. With one:
//!
//! ```text
//! envelope = MAGIC "SLPWENC1" | u16 BE header length | header JSON | AES-256-GCM(ciphertext ‖ tag)
//! header   = {"alg":"A256GCM","kdf":"argon2id"|"raw","m":…,"t":…,"p":…,"salt":b64,"nonce":b64,"kcv":hex}
//! ```
//!
//! The whole prefix (magic, length, header) is the GCM associated data, so nothing in the header
//! can be changed without the tag failing. A passphrase is stretched with Argon2id (salt in the
//! header, 16 random bytes per process); a raw key (32 bytes from an environment variable or a
//! file, hex or base64) is used as is. `kcv` is a key check value (8 bytes of
//! SHA-256("slipway-kcv" ‖ key)): it tells "this is not the key" apart from "the data was
//! modified", so errors can say which.
//!
//! **Invariants:**
//! - With a keyring, everything written is sealed with the **primary** key; reads try the primary
//!   then the **fallback** key (rotation: read with old, write with new).
//! - With a keyring, plaintext is refused on read unless the codec was built with
//!   [`Codec::allow_plaintext_read`] (only `state migrate` does): otherwise whoever can write the
//!   storage could swap in a forged plaintext state.
//! - Sealed bytes without a keyring, or a key that opens nothing, are a [`CryptError`] naming the
//!   place and every key that was tried (by where it came from, never by value). Nothing is
//!   written on a failed read.
//! - Key material is zeroized on drop and never printed (`Debug` is redacted).

use std::collections::HashMap;
use std::sync::Mutex;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Every sealed blob starts with these bytes.
pub const MAGIC: &[u8; 8] = b"SLPWENC1";
/// A journal record payload holding a sealed envelope starts with this, then base64.
pub const RECORD_PREFIX: &str = "enc:";

/// Argon2id cost (OWASP's second recommended set: 19 MiB, 2 passes, 1 lane).
const ARGON2_M_KIB: u32 = 19 * 1024;
const ARGON2_T: u32 = 2;
const ARGON2_P: u32 = 1;

/// Why a blob could not be sealed or opened. Never carries key material.
#[derive(Debug, thiserror::Error)]
pub enum CryptError {
    #[error(
        "{at} is encrypted, but no encryption is configured: add the `encryption` block (with the key it was written with) to the `slipway` block"
    )]
    NoKey { at: String },
    #[error(
        "{at} cannot be decrypted: {tried}. It was written with another key (key check value {kcv}); configure that key (as the fallback to rotate) — nothing was changed"
    )]
    WrongKey { at: String, tried: String, kcv: String },
    #[error(
        "{at} failed authentication with {key}, which is the right key: the stored bytes were modified or damaged — nothing was changed"
    )]
    Tampered { at: String, key: String },
    #[error(
        "{at} is not encrypted, but encryption is configured; to encrypt existing plaintext state run `slipway state migrate` — nothing was changed"
    )]
    Plaintext { at: String },
    #[error("{at}: malformed encryption envelope ({reason})")]
    Malformed { at: String, reason: String },
    #[error("{0}")]
    Key(String),
}

/// Where a key comes from, for messages (`passphrase from $SLIPWAY_STATE_PASSPHRASE`).
#[derive(Clone)]
enum Material {
    Passphrase(Zeroizing<Vec<u8>>),
    Raw(Zeroizing<[u8; 32]>),
}

/// One key: its material and a description of its source (never the value).
#[derive(Clone)]
pub struct Key {
    source: String,
    material: Material,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key({}, <redacted>)", self.source)
    }
}

impl Key {
    /// A passphrase (stretched with Argon2id). `source` says where it came from.
    pub fn passphrase(source: impl Into<String>, passphrase: &[u8]) -> Result<Key, CryptError> {
        let source = source.into();
        if passphrase.is_empty() {
            return Err(CryptError::Key(format!("{source} is empty")));
        }
        Ok(Key { source, material: Material::Passphrase(Zeroizing::new(passphrase.to_vec())) })
    }

    /// A raw 256-bit key given as 64 hex digits, base64 of 32 bytes, or exactly 32 bytes.
    pub fn raw(source: impl Into<String>, text: &[u8]) -> Result<Key, CryptError> {
        let source = source.into();
        let trimmed = Zeroizing::new(text.trim_ascii().to_vec());
        let decoded: Option<Zeroizing<Vec<u8>>> = if trimmed.len() == 64 {
            hex::decode(&*trimmed).ok().map(Zeroizing::new)
        } else {
            None
        }
        .or_else(|| B64.decode(&*trimmed).ok().map(Zeroizing::new))
        .filter(|k| k.len() == 32)
        .or_else(|| (text.len() == 32).then(|| Zeroizing::new(text.to_vec())));
        let Some(bytes) = decoded else {
            return Err(CryptError::Key(format!(
                "{source} is not a 256-bit key (give 64 hex digits, base64 of 32 bytes, or 32 raw bytes; e.g. `openssl rand -hex 32`)"
            )));
        };
        let mut k = Zeroizing::new([0u8; 32]);
        k.copy_from_slice(&bytes);
        Ok(Key { source, material: Material::Raw(k) })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    fn kdf_name(&self) -> &'static str {
        match self.material {
            Material::Passphrase(_) => "argon2id",
            Material::Raw(_) => "raw",
        }
    }

    /// The AES key for `salt` (ignored for raw keys).
    fn derive(
        &self,
        salt: &[u8],
        m: u32,
        t: u32,
        p: u32,
    ) -> Result<Zeroizing<[u8; 32]>, CryptError> {
        match &self.material {
            Material::Raw(k) => Ok(k.clone()),
            Material::Passphrase(pw) => {
                // Bounded so a forged header cannot make us allocate gigabytes or spin for hours.
                if m > 1024 * 1024 || t > 16 || p == 0 || p > 16 {
                    return Err(CryptError::Key(format!(
                        "refusing Argon2 parameters m={m} t={t} p={p} (out of range)"
                    )));
                }
                let params = argon2::Params::new(m, t, p, Some(32))
                    .map_err(|e| CryptError::Key(format!("argon2 parameters: {e}")))?;
                let a = argon2::Argon2::new(
                    argon2::Algorithm::Argon2id,
                    argon2::Version::V0x13,
                    params,
                );
                let mut out = Zeroizing::new([0u8; 32]);
                a.hash_password_into(pw, salt, &mut *out)
                    .map_err(|e| CryptError::Key(format!("argon2: {e}")))?;
                Ok(out)
            }
        }
    }
}

/// The keys of an `encryption` block: write with `primary`, read with `primary` or `fallback`.
#[derive(Clone, Debug)]
pub struct Keyring {
    pub primary: Key,
    pub fallback: Option<Key>,
}

#[derive(Serialize, Deserialize)]
struct Header {
    alg: String,
    kdf: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    m: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    t: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    p: Option<u32>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    salt: String,
    nonce: String,
    kcv: String,
}

fn kcv(key: &[u8; 32]) -> String {
    let mut h = Sha256::new();
    h.update(b"slipway-kcv");
    h.update(key);
    hex::encode(&h.finalize()[..8])
}

/// Whether `bytes` is a sealed envelope.
pub fn is_sealed(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC)
}

/// (key index, kdf, salt, m, t, p): what a derived key depends on.
type CacheKey = (usize, String, Vec<u8>, u32, u32, u32);

/// Plaintext or sealed, per configuration. Cheap to share (`Arc`); caches derived keys.
pub struct Codec {
    keys: Option<Keyring>,
    allow_plaintext: bool,
    /// Salt for everything this process writes (one Argon2 run per process for writing).
    write_salt: [u8; 16],
    cache: Mutex<HashMap<CacheKey, Zeroizing<[u8; 32]>>>,
}

impl std::fmt::Debug for Codec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Codec")
            .field("keys", &self.keys)
            .field("allow_plaintext", &self.allow_plaintext)
            .finish()
    }
}

impl Default for Codec {
    fn default() -> Self {
        Codec::plain()
    }
}

impl Codec {
    /// No encryption: bytes pass through; sealed bytes are refused with [`CryptError::NoKey`].
    pub fn plain() -> Codec {
        Codec::new(None)
    }

    pub fn new(keys: Option<Keyring>) -> Codec {
        let mut write_salt = [0u8; 16];
        rand::rng().fill_bytes(&mut write_salt);
        Codec { keys, allow_plaintext: false, write_salt, cache: Mutex::new(HashMap::new()) }
    }

    /// Also reads plaintext when a keyring is configured (for migrating plaintext state).
    pub fn allow_plaintext_read(mut self) -> Codec {
        self.allow_plaintext = true;
        self
    }

    pub fn keyring(&self) -> Option<&Keyring> {
        self.keys.as_ref()
    }

    pub fn encrypts(&self) -> bool {
        self.keys.is_some()
    }

    /// A short description for messages (`AES-256-GCM, primary key: passphrase from $X`).
    pub fn describe(&self) -> String {
        match &self.keys {
            None => "plaintext".into(),
            Some(k) => {
                let mut s = format!("AES-256-GCM, primary key: {}", k.primary.source);
                if let Some(f) = &k.fallback {
                    s.push_str(&format!(", fallback key: {}", f.source));
                }
                s
            }
        }
    }

    fn keys_list(&self) -> Vec<(usize, &Key)> {
        match &self.keys {
            None => Vec::new(),
            Some(k) => {
                let mut v = vec![(0, &k.primary)];
                if let Some(f) = &k.fallback {
                    v.push((1, f));
                }
                v
            }
        }
    }

    fn derived(
        &self,
        idx: usize,
        key: &Key,
        salt: &[u8],
        m: u32,
        t: u32,
        p: u32,
    ) -> Result<Zeroizing<[u8; 32]>, CryptError> {
        let ck = (idx, key.kdf_name().to_string(), salt.to_vec(), m, t, p);
        if let Some(k) = self.cache.lock().unwrap_or_else(|e| e.into_inner()).get(&ck) {
            return Ok(k.clone());
        }
        let k = key.derive(salt, m, t, p)?;
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).insert(ck, k.clone());
        Ok(k)
    }

    /// Seals `plain` with the primary key, or returns it unchanged without a keyring.
    pub fn seal(&self, plain: &[u8]) -> Result<Vec<u8>, CryptError> {
        let Some(keys) = &self.keys else {
            return Ok(plain.to_vec());
        };
        let key = &keys.primary;
        let (salt, m, t, p) = match key.material {
            Material::Passphrase(_) => (self.write_salt.to_vec(), ARGON2_M_KIB, ARGON2_T, ARGON2_P),
            Material::Raw(_) => (Vec::new(), 0, 0, 0),
        };
        let aes_key = self.derived(0, key, &salt, m, t, p)?;
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        let passphrase = matches!(key.material, Material::Passphrase(_));
        let header = Header {
            alg: "A256GCM".into(),
            kdf: key.kdf_name().into(),
            m: passphrase.then_some(m),
            t: passphrase.then_some(t),
            p: passphrase.then_some(p),
            salt: if passphrase { B64.encode(&salt) } else { String::new() },
            nonce: B64.encode(nonce),
            kcv: kcv(&aes_key),
        };
        let header = serde_json::to_vec(&header).map_err(|e| CryptError::Key(e.to_string()))?;
        let mut out = Vec::with_capacity(plain.len() + header.len() + 64);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(header.len() as u16).to_be_bytes());
        out.extend_from_slice(&header);
        let cipher =
            Aes256Gcm::new_from_slice(&*aes_key).map_err(|e| CryptError::Key(e.to_string()))?;
        let ct = cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plain, aad: &out })
            .map_err(|_| CryptError::Key("AES-GCM encryption failed".into()))?;
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// Opens `bytes` read from `at`: a sealed envelope with the primary or fallback key, or
    /// plaintext where that is allowed.
    pub fn open(&self, bytes: &[u8], at: &str) -> Result<Vec<u8>, CryptError> {
        if !is_sealed(bytes) {
            if self.keys.is_some() && !self.allow_plaintext {
                return Err(CryptError::Plaintext { at: at.into() });
            }
            return Ok(bytes.to_vec());
        }
        if self.keys.is_none() {
            return Err(CryptError::NoKey { at: at.into() });
        }
        let malformed =
            |reason: &str| CryptError::Malformed { at: at.into(), reason: reason.into() };
        if bytes.len() < MAGIC.len() + 2 {
            return Err(malformed("truncated"));
        }
        let hlen = u16::from_be_bytes([bytes[8], bytes[9]]) as usize;
        let body_start = 10 + hlen;
        if bytes.len() < body_start + 16 {
            return Err(malformed("truncated"));
        }
        let header: Header = serde_json::from_slice(&bytes[10..body_start])
            .map_err(|e| malformed(&format!("header: {e}")))?;
        if header.alg != "A256GCM" {
            return Err(malformed(&format!("unknown algorithm {}", header.alg)));
        }
        let nonce = B64
            .decode(&header.nonce)
            .ok()
            .filter(|n| n.len() == 12)
            .ok_or_else(|| malformed("bad nonce"))?;
        let salt = B64.decode(&header.salt).map_err(|_| malformed("bad salt"))?;
        let (aad, ct) = bytes.split_at(body_start);
        let mut tried = Vec::new();
        for (idx, key) in self.keys_list() {
            let role = if idx == 0 { "the primary key" } else { "the fallback key" };
            if key.kdf_name() != header.kdf {
                tried.push(format!(
                    "{role} ({}) is a {} key but the data needs a {} key",
                    key.source,
                    kdf_kind(key.kdf_name()),
                    kdf_kind(&header.kdf)
                ));
                continue;
            }
            let aes_key = self.derived(
                idx,
                key,
                &salt,
                header.m.unwrap_or(0),
                header.t.unwrap_or(0),
                header.p.unwrap_or(0),
            )?;
            if kcv(&aes_key) != header.kcv {
                tried.push(format!("{role} ({}) does not match", key.source));
                continue;
            }
            let cipher =
                Aes256Gcm::new_from_slice(&*aes_key).map_err(|e| CryptError::Key(e.to_string()))?;
            return cipher.decrypt(Nonce::from_slice(&nonce), Payload { msg: ct, aad }).map_err(
                |_| CryptError::Tampered { at: at.into(), key: format!("{role} ({})", key.source) },
            );
        }
        Err(CryptError::WrongKey { at: at.into(), tried: tried.join("; "), kcv: header.kcv })
    }

    /// Re-encodes stored bytes for this codec (opens, then seals): used to keep a backup of a
    /// plaintext or old-key snapshot without writing it back in the clear or under the old key.
    pub fn reseal(&self, stored: &[u8], at: &str) -> Result<Vec<u8>, CryptError> {
        let plain = Zeroizing::new(self.open(stored, at)?);
        self.seal(&plain)
    }

    /// Whether stored bytes are already exactly as this codec would write them (sealed iff
    /// encrypting, and openable by the primary key). Used to decide whether a backup can be a
    /// byte copy.
    pub fn is_current(&self, stored: &[u8]) -> bool {
        match &self.keys {
            None => !is_sealed(stored),
            Some(k) => {
                if !is_sealed(stored) || stored.len() < 10 {
                    return false;
                }
                let hlen = u16::from_be_bytes([stored[8], stored[9]]) as usize;
                let Some(h) = stored
                    .get(10..10 + hlen)
                    .and_then(|h| serde_json::from_slice::<Header>(h).ok())
                else {
                    return false;
                };
                let Ok(salt) = B64.decode(&h.salt) else {
                    return false;
                };
                h.kdf == k.primary.kdf_name()
                    && self
                        .derived(
                            0,
                            &k.primary,
                            &salt,
                            h.m.unwrap_or(0),
                            h.t.unwrap_or(0),
                            h.p.unwrap_or(0),
                        )
                        .is_ok_and(|key| kcv(&key) == h.kcv)
            }
        }
    }

    /// A journal record payload (`{…json…}`) as written: unchanged, or `enc:<base64 envelope>`.
    pub fn seal_record(&self, json: &[u8]) -> Result<Vec<u8>, CryptError> {
        if self.keys.is_none() {
            return Ok(json.to_vec());
        }
        let sealed = self.seal(json)?;
        let mut out = RECORD_PREFIX.as_bytes().to_vec();
        out.extend_from_slice(B64.encode(sealed).as_bytes());
        Ok(out)
    }

    /// The JSON of a journal record payload read from `at`.
    pub fn open_record(&self, payload: &[u8], at: &str) -> Result<Vec<u8>, CryptError> {
        match payload.strip_prefix(RECORD_PREFIX.as_bytes()) {
            Some(b64) => {
                let sealed = B64.decode(b64).map_err(|e| CryptError::Malformed {
                    at: at.into(),
                    reason: format!("record is not base64: {e}"),
                })?;
                if !is_sealed(&sealed) {
                    return Err(CryptError::Malformed {
                        at: at.into(),
                        reason: "record has no envelope".into(),
                    });
                }
                self.open(&sealed, at)
            }
            None => self.open(payload, at),
        }
    }
}

fn kdf_kind(kdf: &str) -> &'static str {
    if kdf == "raw" { "raw" } else { "passphrase" }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pass(src: &str, p: &str) -> Key {
        Key::passphrase(src, p.as_bytes()).unwrap()
    }

    fn codec(primary: Key, fallback: Option<Key>) -> Codec {
        Codec::new(Some(Keyring { primary, fallback }))
    }

    #[test]
    fn seal_open_round_trip_and_no_plaintext_in_output() {
        let c = codec(pass("$A", "correct horse"), None);
        let plain = br#"{"resources":{"aws_instance.marker-xyz":{}}}"#;
        let sealed = c.seal(plain).unwrap();
        assert!(is_sealed(&sealed));
        assert!(!sealed.windows(10).any(|w| w == b"marker-xyz"));
        assert_eq!(c.open(&sealed, "here").unwrap(), plain);
        // Another process (another salt) reads it too.
        let c2 = codec(pass("$A", "correct horse"), None);
        assert_eq!(c2.open(&sealed, "here").unwrap(), plain);
        assert!(c.is_current(&sealed));
        assert!(!c.is_current(plain));
    }

    #[test]
    fn wrong_key_names_the_keys_tried_and_never_their_values() {
        let sealed = codec(pass("$OLD", "old secret"), None).seal(b"{}").unwrap();
        let err = codec(pass("$NEW", "new secret"), None).open(&sealed, "s3://b/k").unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, CryptError::WrongKey { .. }), "{msg}");
        assert!(msg.contains("s3://b/k") && msg.contains("$NEW"), "{msg}");
        assert!(!msg.contains("new secret") && !msg.contains("old secret"));
        // Rotation: the fallback opens it; sealing uses the new key.
        let rot = codec(pass("$NEW", "new secret"), Some(pass("$OLD", "old secret")));
        assert_eq!(rot.open(&sealed, "x").unwrap(), b"{}");
        assert!(!rot.is_current(&sealed));
        let resealed = rot.reseal(&sealed, "x").unwrap();
        assert!(codec(pass("$NEW", "new secret"), None).open(&resealed, "x").is_ok());
        assert!(format!("{rot:?}").contains("redacted"));
        assert!(!format!("{rot:?}").contains("secret\""));
    }

    #[test]
    fn any_modified_byte_fails_authentication() {
        let c = codec(Key::raw("key file k", &[7u8; 32]).unwrap(), None);
        let sealed = c.seal(b"{\"serial\": 3}").unwrap();
        for i in 0..sealed.len() {
            let mut b = sealed.clone();
            b[i] ^= 0x01;
            assert!(c.open(&b, "x").is_err(), "byte {i} flipped and still opened");
        }
        let err = {
            let mut b = sealed.clone();
            let n = b.len();
            b[n - 1] ^= 1;
            c.open(&b, "x").unwrap_err()
        };
        assert!(matches!(err, CryptError::Tampered { .. }), "{err}");
    }

    #[test]
    fn plaintext_is_refused_unless_migrating_and_sealed_needs_a_key() {
        let c = codec(pass("$A", "pw"), None);
        assert!(matches!(c.open(b"{}", "f"), Err(CryptError::Plaintext { .. })));
        let m = codec(pass("$A", "pw"), None).allow_plaintext_read();
        assert_eq!(m.open(b"{}", "f").unwrap(), b"{}");
        let sealed = c.seal(b"{}").unwrap();
        assert!(matches!(Codec::plain().open(&sealed, "f"), Err(CryptError::NoKey { .. })));
        assert_eq!(Codec::plain().open(b"{}", "f").unwrap(), b"{}");
    }

    #[test]
    fn records_are_single_line_and_round_trip() {
        let c = codec(Key::raw("$K", "ab".repeat(32).as_bytes()).unwrap(), None);
        let r = c.seal_record(br#"{"seq":1}"#).unwrap();
        assert!(r.starts_with(b"enc:") && !r.contains(&b'\n') && !r.contains(&b' '));
        assert_eq!(c.open_record(&r, "j").unwrap(), br#"{"seq":1}"#);
        assert!(Key::raw("$K", b"short").is_err());
        assert!(Key::passphrase("$P", b"").is_err());
    }
}
