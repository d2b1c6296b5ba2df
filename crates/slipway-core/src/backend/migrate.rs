//! `slipway state migrate`: moving state between backends, and (re-)encrypting it in place.
//!
//! **Invariants:**
//! - Both sides are locked for the whole move; the source is only read, never written.
//! - Lineage and serial are kept (the destination's first snapshot is the source's state with
//!   its journal folded in), so saved plans and the "never backwards" rule still hold.
//! - The destination must be empty, or already hold exactly this state (a re-run after a crash
//!   between copy and unlock is then a no-op); anything else is refused.
//! - Success is reported only after a fresh backend instance has read the destination back
//!   (through the destination's own codec, with no plaintext allowance) and found it equal.
//! - In place (source = destination), the state is re-written once with serial + 1: this is how
//!   plaintext state gets encrypted, and how a rotated key takes over (read with the fallback,
//!   written with the primary); the backup is re-sealed too, so no plaintext copy remains in the
//!   backend's current objects (older S3 object versions are the bucket owner's to expire).

use std::sync::Arc;

use super::{Backend, BackendError, LockInfo};
use crate::state::State;

/// What a migration did.
#[derive(Clone, Debug, PartialEq)]
pub struct Migrated {
    pub lineage: String,
    pub serial: u64,
    pub resources: usize,
    /// The destination already held this state; nothing was written.
    pub already_there: bool,
}

async fn locked<T>(
    b: &Arc<dyn Backend>,
    f: impl AsyncFnOnce(&Arc<dyn Backend>) -> Result<T, BackendError>,
) -> Result<T, BackendError> {
    let lock = b.lock(LockInfo::new("state migrate")).await?;
    let r = f(b).await;
    let u = b.unlock(&lock.id).await;
    let v = r?;
    u?;
    Ok(v)
}

fn verify(expected: &State, got: Option<State>, at: &str) -> Result<(), BackendError> {
    match got {
        Some(s) if &s == expected => Ok(()),
        Some(s) => Err(BackendError::Protocol {
            at: at.into(),
            reason: format!(
                "read back a different state (lineage {} serial {}) than was written (lineage {} serial {}); the source is untouched",
                s.lineage, s.serial, expected.lineage, expected.serial
            ),
        }),
        None => Err(BackendError::Protocol {
            at: at.into(),
            reason: "read back nothing after writing; the source is untouched".into(),
        }),
    }
}

/// Copies the state of `from` into `to` (empty). `check` is a fresh instance of the
/// destination, used to read the result back.
pub async fn migrate(
    from: Arc<dyn Backend>,
    to: Arc<dyn Backend>,
    check: Arc<dyn Backend>,
) -> Result<Migrated, BackendError> {
    let dest = to.describe();
    locked(&from, async |from| {
        let Some(state) = from.read().await? else {
            return Err(BackendError::Protocol {
                at: from.describe(),
                reason: "there is no state to migrate".into(),
            });
        };
        let already_there = locked(&to, async |to| match to.read().await? {
            None => {
                to.write(&state).await?;
                Ok(false)
            }
            Some(existing) if existing == state => Ok(true),
            // Only a `plan` ran there (it creates an empty state): nothing can be lost.
            Some(existing)
                if existing.resources.is_empty()
                    && existing.outputs.is_empty()
                    && existing.applied_commit.is_none() =>
            {
                to.replace_empty(&state).await?;
                Ok(false)
            }
            Some(existing) => Err(BackendError::Conflict {
                at: dest.clone(),
                reason: format!(
                    "it already holds a state (lineage {}, serial {}); migrate only into an empty backend",
                    existing.lineage, existing.serial
                ),
            }),
        })
        .await?;
        verify(&state, check.read().await?, &dest)?;
        Ok(Migrated {
            lineage: state.lineage.clone(),
            serial: state.serial,
            resources: state.resources.len(),
            already_there,
        })
    })
    .await
}

/// Re-writes the state where it is through `b`'s codec (encrypt plaintext, re-seal under the
/// primary key). `check` reads it back.
pub async fn reseal_in_place(
    b: Arc<dyn Backend>,
    check: Arc<dyn Backend>,
) -> Result<Migrated, BackendError> {
    let at = b.describe();
    locked(&b, async |b| {
        let Some(mut state) = b.read().await? else {
            return Err(BackendError::Protocol {
                at: at.clone(),
                reason: "there is no state to re-write".into(),
            });
        };
        state.serial += 1;
        b.write(&state).await?;
        verify(&state, check.read().await?, &at)?;
        Ok(Migrated {
            lineage: state.lineage.clone(),
            serial: state.serial,
            resources: state.resources.len(),
            already_there: false,
        })
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::local::LocalBackend;
    use crate::state::crypt::{Codec, Key, Keyring};

    fn keyed(p: &str) -> Arc<Codec> {
        Arc::new(Codec::new(Some(Keyring {
            primary: Key::passphrase("$T", p.as_bytes()).unwrap(),
            fallback: None,
        })))
    }

    #[tokio::test]
    async fn local_to_local_keeps_lineage_serial_and_encrypts() {
        let d = tempfile::tempdir().unwrap();
        let src = LocalBackend::new(d.path(), "a").unwrap();
        src.lock_blocking(LockInfo::new("t")).unwrap();
        src.read_blocking().unwrap();
        let mut s = State::new("stack-1");
        s.serial = 7;
        s.outputs.insert(
            "o".into(),
            crate::state::OutputState { value: serde_json::json!("v"), sensitive: false },
        );
        src.write_blocking(&s).unwrap();
        let id = src.lock_holder().unwrap().unwrap().id;
        src.unlock_blocking(&id).unwrap();
        let before = std::fs::read(src.state_path()).unwrap();

        let codec = keyed("pw");
        let dst: Arc<dyn Backend> =
            Arc::new(LocalBackend::with_codec(d.path(), "b", codec.clone()).unwrap());
        let check: Arc<dyn Backend> =
            Arc::new(LocalBackend::with_codec(d.path(), "b", keyed("pw")).unwrap());
        let m = migrate(Arc::new(src.clone()), dst.clone(), check.clone()).await.unwrap();
        assert_eq!((m.serial, m.already_there), (7, false));
        assert_eq!(std::fs::read(src.state_path()).unwrap(), before);
        let stored = std::fs::read(d.path().join("b/state.json")).unwrap();
        assert!(crate::state::crypt::is_sealed(&stored));
        assert_eq!(check.read().await.unwrap().unwrap(), s);
        // Again: a no-op. Into a non-empty, different state: refused.
        assert!(
            migrate(Arc::new(src.clone()), dst.clone(), check.clone()).await.unwrap().already_there
        );
        let other = LocalBackend::new(d.path(), "c").unwrap();
        other.lock_blocking(LockInfo::new("t")).unwrap();
        other.read_blocking().unwrap();
        other.write_blocking(&State::new("x")).unwrap();
        let oid = other.lock_holder().unwrap().unwrap().id;
        other.unlock_blocking(&oid).unwrap();
        let err = migrate(Arc::new(other), dst, check).await.unwrap_err();
        assert!(matches!(err, BackendError::Conflict { .. }), "{err}");
    }
}
