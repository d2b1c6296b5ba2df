//! The S3 backend's lock: a `<key>.lock` object created with `If-None-Match: *`, or a DynamoDB
//! item with `attribute_not_exists(LockID)`; its heartbeat, take-over of a dead holder, and the
//! checks that a change is still ours before it is acknowledged (see the parent module's
//! invariants).

use super::*;

/// A DynamoDB conditional write's outcome: Ok(true) when it was written, Ok(false) when its
/// condition did not hold (the lock is someone else's, or gone); any other failure.
fn conditional<T, E>(r: Result<T, SdkError<E, HttpResponse>>) -> Result<bool, Failure>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match r {
        Ok(_) => Ok(true),
        Err(e) if e.code() == Some("ConditionalCheckFailedException") => Ok(false),
        Err(e) => Err(failure(&e)),
    }
}

impl Inner {
    pub(super) fn ddb_key(&self) -> String {
        format!("{}/{}", self.cfg.bucket, self.cfg.key)
    }

    pub(super) fn parse_lock(&self, bytes: &[u8]) -> Result<LockInfo, BackendError> {
        serde_json::from_slice(bytes).map_err(|e| BackendError::LockUnreadable {
            path: self.lock_location().into(),
            reason: e.to_string(),
        })
    }

    pub(super) fn lock_location(&self) -> String {
        match &self.cfg.dynamodb_table {
            Some(t) => format!("DynamoDB table {t}, item {}", self.ddb_key()),
            None => format!("s3://{}/{}", self.cfg.bucket, self.lock_key()),
        }
    }

    /// The lock as stored and a token for a conditional overwrite (S3: etag).
    pub(super) async fn get_lock(
        &self,
    ) -> Result<Option<(LockInfo, Option<String>)>, BackendError> {
        match &self.cfg.dynamodb_table {
            None => match self.get(&self.lock_key()).await? {
                None => Ok(None),
                Some((bytes, etag)) => Ok(Some((self.parse_lock(&bytes)?, etag))),
            },
            Some(table) => {
                let ddb = self.ddb().await?;
                let resp = ddb
                    .get_item()
                    .table_name(table)
                    .key("LockID", aws_sdk_dynamodb::types::AttributeValue::S(self.ddb_key()))
                    .consistent_read(true)
                    .send()
                    .await
                    .map_err(|e| self.remote("read lock", failure(&e).message))?;
                let Some(item) = resp.item() else {
                    return Ok(None);
                };
                let info = item.get("Info").and_then(|v| v.as_s().ok()).ok_or_else(|| {
                    BackendError::LockUnreadable {
                        path: self.lock_location().into(),
                        reason: "no Info attribute".into(),
                    }
                })?;
                Ok(Some((self.parse_lock(info.as_bytes())?, None)))
            }
        }
    }

    pub(super) async fn ddb(&self) -> Result<&aws_sdk_dynamodb::Client, BackendError> {
        self.clients()
            .await?
            .ddb
            .as_ref()
            .ok_or_else(|| BackendError::Internal("no DynamoDB client".into()))
    }

    /// One conditional create of the lock. Ok(true) when we hold it now.
    pub(super) async fn create_lock(&self, info: &LockInfo) -> Result<bool, BackendError> {
        let body =
            serde_json::to_vec_pretty(info).map_err(|e| BackendError::Internal(e.to_string()))?;
        match &self.cfg.dynamodb_table {
            None => match self.put(&self.lock_key(), body, true, None).await? {
                Ok(_) => Ok(true),
                Err(f) if f.precondition_failed() || f.conflict() => Ok(false),
                Err(f) => Err(self.remote("lock", f.message)),
            },
            Some(table) => {
                use aws_sdk_dynamodb::types::AttributeValue::S;
                let ddb = self.ddb().await?;
                let r = ddb
                    .put_item()
                    .table_name(table)
                    .item("LockID", S(self.ddb_key()))
                    .item("LockId", S(info.id.clone()))
                    .item("Info", S(String::from_utf8_lossy(&body).into_owned()))
                    .condition_expression("attribute_not_exists(LockID)")
                    .send()
                    .await;
                conditional(r).map_err(|f| self.remote("lock", f.message))
            }
        }
    }

    /// Refreshes our lock's heartbeat. Ok(false) when the lock is no longer ours.
    pub(super) async fn refresh_lock(&self, info: &LockInfo) -> Result<bool, BackendError> {
        let mut fresh = info.clone();
        fresh.heartbeat = Some(now_rfc3339());
        let body =
            serde_json::to_vec_pretty(&fresh).map_err(|e| BackendError::Internal(e.to_string()))?;
        match &self.cfg.dynamodb_table {
            None => {
                let Some((current, etag)) = self.get_lock().await? else {
                    return Ok(false);
                };
                if current.id != info.id {
                    return Ok(false);
                }
                match self.put(&self.lock_key(), body, false, etag.as_deref()).await? {
                    Ok(_) => Ok(true),
                    // Changed between our read and write: look again next time.
                    Err(f) if f.precondition_failed() || f.conflict() => {
                        Ok(self.get_lock().await?.is_some_and(|(c, _)| c.id == info.id))
                    }
                    Err(f) => Err(self.remote("refresh lock", f.message)),
                }
            }
            Some(table) => {
                use aws_sdk_dynamodb::types::AttributeValue::S;
                let ddb = self.ddb().await?;
                let r = ddb
                    .update_item()
                    .table_name(table)
                    .key("LockID", S(self.ddb_key()))
                    .update_expression("SET Info = :info")
                    .condition_expression("LockId = :id")
                    .expression_attribute_values(
                        ":info",
                        S(String::from_utf8_lossy(&body).into_owned()),
                    )
                    .expression_attribute_values(":id", S(info.id.clone()))
                    .send()
                    .await;
                conditional(r).map_err(|f| self.remote("refresh lock", f.message))
            }
        }
    }

    /// Removes the lock if its id is `id`.
    pub(super) async fn remove_lock(&self, id: &str) -> Result<(), BackendError> {
        match &self.cfg.dynamodb_table {
            None => self.delete(&self.lock_key()).await,
            Some(table) => {
                use aws_sdk_dynamodb::types::AttributeValue::S;
                let ddb = self.ddb().await?;
                let r = ddb
                    .delete_item()
                    .table_name(table)
                    .key("LockID", S(self.ddb_key()))
                    .condition_expression("LockId = :id")
                    .expression_attribute_values(":id", S(id.to_string()))
                    .send()
                    .await;
                match conditional(r) {
                    Ok(true) => Ok(()),
                    Ok(false) => Err(self.lock_mismatch(id).await),
                    Err(f) => Err(self.remote("unlock", f.message)),
                }
            }
        }
    }

    pub(super) async fn lock_mismatch(&self, given: &str) -> BackendError {
        match self.get_lock().await {
            Ok(Some((holder, _))) => BackendError::LockIdMismatch {
                at: self.url(),
                given: given.into(),
                holder: Box::new(holder),
            },
            Ok(None) => BackendError::NotLocked { at: self.url(), detail: String::new() },
            Err(e) => e,
        }
    }

    pub(super) async fn lock(
        self: &Arc<Self>,
        mut info: LockInfo,
    ) -> Result<LockInfo, BackendError> {
        let ttl = self.cfg.lock_ttl.as_secs().max(1);
        info.ttl_seconds = Some(ttl);
        info.heartbeat = Some(info.created.clone());
        // A lock that vanishes between our failed create and our read: try again, a few times.
        for _ in 0..10 {
            let sent = std::time::Instant::now();
            if self.create_lock(&info).await? {
                let lease = Arc::new(Lease {
                    lost: AtomicBool::new(false),
                    refreshed: std::sync::Mutex::new(sent),
                });
                {
                    let mut s = self.session.lock().await;
                    s.held = Some(Held { info: info.clone(), lease: lease.clone() });
                    s.binding = Binding::default();
                }
                self.start_heartbeat(info.clone(), lease);
                self.warn_without_versioning().await;
                return Ok(info);
            }
            match self.get_lock().await? {
                // Our own create went through and the SDK's retry of it was refused.
                Some((holder, _)) if holder.id == info.id => continue,
                Some((holder, _)) => {
                    let stale = holder.is_stale();
                    return Err(BackendError::Locked {
                        at: self.url(),
                        holder: Box::new(holder),
                        stale,
                    });
                }
                None => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
        Err(self.remote("lock", "the lock kept changing hands; try again"))
    }

    pub(super) fn start_heartbeat(self: &Arc<Self>, info: LockInfo, lease: Arc<Lease>) {
        let every = (self.cfg.lock_ttl / 3).max(Duration::from_millis(500));
        // A weak reference: a dropped backend ends its heartbeat.
        let weak = Arc::downgrade(self);
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(inner) = weak.upgrade() else { return };
                let sent = std::time::Instant::now();
                let refreshed = tokio::time::timeout(every, inner.refresh_lock(&info))
                    .await
                    .unwrap_or_else(|_| Err(inner.remote("refresh lock", "timed out")));
                match refreshed {
                    Ok(true) => {
                        *lease.refreshed.lock().unwrap_or_else(|e| e.into_inner()) = sent;
                    }
                    Ok(false) => {
                        lease.lost.store(true, Ordering::SeqCst);
                        tracing::error!(
                            lock = %inner.lock_location(),
                            "the state lock is no longer ours (force-unlocked?): no further change will be acknowledged"
                        );
                        return;
                    }
                    // A transient failure: the TTL leaves room for the next attempt.
                    Err(e) => tracing::warn!(error = %e, "could not refresh the state lock"),
                }
            }
        });
        if let Some(old) = self.heartbeat.lock().unwrap_or_else(|e| e.into_inner()).replace(task) {
            old.abort();
        }
    }

    pub(super) fn stop_heartbeat(&self) {
        if let Some(h) = self.heartbeat.lock().unwrap_or_else(|e| e.into_inner()).take() {
            h.abort();
        }
    }

    pub(super) async fn unlock(&self, lock_id: &str) -> Result<(), BackendError> {
        let mut s = self.session.lock().await;
        match &s.held {
            Some(h) if h.info.id == lock_id => {}
            _ => {
                return Err(BackendError::NotLocked {
                    at: self.url(),
                    detail: format!(" by this process with id {lock_id}"),
                });
            }
        }
        self.stop_heartbeat();
        s.held = None;
        s.binding = Binding::default();
        match self.get_lock().await? {
            Some((h, _)) if h.id == lock_id => self.remove_lock(lock_id).await,
            Some((h, _)) => Err(BackendError::LockIdMismatch {
                at: self.url(),
                given: lock_id.into(),
                holder: Box::new(h),
            }),
            None => Err(BackendError::NotLocked {
                at: self.url(),
                detail: " any more: the lock was removed by someone else (force-unlock?)".into(),
            }),
        }
    }

    pub(super) async fn force_unlock(&self, lock_id: &str) -> Result<(), BackendError> {
        match self.get_lock().await? {
            Some((h, _)) if h.id == lock_id => {
                self.remove_lock(lock_id).await?;
                let mut s = self.session.lock().await;
                if s.held.as_ref().is_some_and(|h| h.info.id == lock_id) {
                    self.stop_heartbeat();
                    s.held = None;
                    s.binding = Binding::default();
                }
                Ok(())
            }
            Some((h, _)) => Err(BackendError::LockIdMismatch {
                at: self.url(),
                given: lock_id.into(),
                holder: Box::new(h),
            }),
            None => Err(BackendError::NotLocked { at: self.url(), detail: String::new() }),
        }
    }

    /// Removes `dead`'s lock, atomically conditioned on it still being that lock: DynamoDB's
    /// condition on the lock id, or S3's `If-Match` on the lock object's ETag (a lock taken
    /// over and re-taken in between has another ETag, so it is left alone).
    pub(super) async fn take_over(&self, dead: &LockInfo) -> Result<(), BackendError> {
        if self.cfg.dynamodb_table.is_some() {
            return self.remove_lock(&dead.id).await;
        }
        let (holder, etag) = self
            .get_lock()
            .await?
            .ok_or_else(|| BackendError::NotLocked { at: self.url(), detail: String::new() })?;
        if holder.id != dead.id {
            return Err(BackendError::LockIdMismatch {
                at: self.url(),
                given: dead.id.clone(),
                holder: Box::new(holder),
            });
        }
        let key = self.lock_key();
        let mut req = self.s3().await?.delete_object().bucket(&self.cfg.bucket).key(&key);
        if let Some(etag) = etag {
            req = req.if_match(etag);
        }
        match req.send().await {
            Ok(_) => Ok(()),
            Err(e) if failure(&e).precondition_failed() => Err(self.lock_mismatch(&dead.id).await),
            Err(e) => Err(self.remote(
                "take over lock",
                format!("s3://{}/{key}: {}", self.cfg.bucket, failure(&e).message),
            )),
        }
    }

    pub(super) fn check_held(&self, s: &Session) -> Result<LockInfo, BackendError> {
        match &s.held {
            None => Err(BackendError::NotLocked {
                at: self.url(),
                detail: ": take the lock before changing state".into(),
            }),
            Some(h) if h.lease.lost.load(Ordering::SeqCst) => Err(BackendError::NotLocked {
                at: self.url(),
                detail: " any more: the lock was removed or taken over (force-unlock?); nothing more is written".into(),
            }),
            // Self-fencing: others call the lock stale once its heartbeat is older than the
            // TTL; a holder that could not refresh it for 2/3 of that stops writing first.
            Some(h) if h.lease.age() > self.cfg.lock_ttl * 2 / 3 => Err(BackendError::NotLocked {
                at: self.url(),
                detail: format!(
                    " safely: the lock could not be refreshed for {}s (its TTL is {}s), so others may soon call it stale; nothing more is written until a refresh succeeds",
                    h.lease.age().as_secs(),
                    self.cfg.lock_ttl.as_secs()
                ),
            }),
            Some(h) => Ok(h.info.clone()),
        }
    }

    /// After a write: the lock must still be ours, or the write is not acknowledged.
    pub(super) async fn verify_held(
        &self,
        s: &mut Session,
        ours: &LockInfo,
    ) -> Result<(), BackendError> {
        let still = self.get_lock().await?.is_some_and(|(h, _)| h.id == ours.id);
        if !still {
            if let Some(h) = &s.held {
                h.lease.lost.store(true, Ordering::SeqCst);
            }
            s.binding = Binding::Unread("the lock was lost");
            return Err(BackendError::NotLocked {
                at: self.url(),
                detail: " any more: the lock was removed or taken over while writing (force-unlock?); the last change is not acknowledged — read the state again".into(),
            });
        }
        Ok(())
    }
}
