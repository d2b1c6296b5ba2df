//! Leader election for `slipway watch --leader-elect`, on a `coordination.k8s.io/v1` Lease.
//!
//! Several agents (the replicas of one Deployment) follow the same repository; only the one
//! holding the Lease fetches, plans and applies. The protocol is client-go's
//! (`tools/leaderelection`): every `retry_period` each agent reads the Lease; the holder renews
//! it (`renewTime`), the others wait until the record has stayed unchanged for
//! `leaseDurationSeconds` *as measured on their own monotonic clock since they last saw it
//! change* (so clock skew between nodes does not matter), then take it over (`holderIdentity`,
//! `acquireTime`, `leaseTransitions + 1`). Every write is a `replace` carrying the
//! `resourceVersion` that was read, so two agents racing for an expired Lease cannot both win:
//! the API server refuses the second with a conflict.
//!
//! **Invariants:**
//! - An agent acts ([`Leadership::is_leader`]) only while its last successful renewal *started*
//!   less than `renew_deadline` ago on `CLOCK_MONOTONIC` (`Instant`). The renewal's start is
//!   before the server wrote `renewTime`, and followers count the lease duration from when they
//!   saw that write, so with `renew_deadline < lease_duration` a leader stops acting before any
//!   follower may take over. `CLOCK_MONOTONIC` keeps running while a process is stopped
//!   (SIGSTOP, a frozen VM guest aside), so a paused leader that resumes finds its fence
//!   expired and starts no new work.
//! - The fence guards the *start* of work (fetch, plan, apply); an apply already under way is
//!   not cut off. The state lock (S3 or local backend) is the second fence: two agents never
//!   apply at once even if the first fence were passed by both.
//! - On a graceful stop (SIGTERM) the holder releases the Lease (empty `holderIdentity`), so a
//!   follower takes over at its next retry instead of after the lease duration.
//! - A webhook may reach a follower (the Service balances over every replica). The follower
//!   does not fetch; it relays the trigger by writing the annotation [`SYNC_REQUESTED`] on the
//!   Lease (metadata, not the spec, so it does not look like a renewal to anyone), and the
//!   leader syncs when it sees the value change at its next renewal.
//! - Logs go through `tracing` (target `slipway::watch::leader`), once per change of leader,
//!   not once per retry.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, ObjectMeta, PostParams};

/// How the agent takes part in the election.
#[derive(Clone, Debug)]
pub struct LeaderOptions {
    pub lease_name: String,
    pub lease_namespace: String,
    /// This agent's name in `holderIdentity` (the pod name in a cluster).
    pub identity: String,
    pub lease_duration: Duration,
    pub renew_deadline: Duration,
    pub retry_period: Duration,
    /// A kubeconfig; `None`: `KUBECONFIG`, `~/.kube/config` or the in-cluster service account.
    pub kubeconfig: Option<PathBuf>,
}

/// Why the election could not start.
#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    #[error(
        "leader election needs --retry-period < --renew-deadline < --lease-duration \
         (got {retry:?}, {renew:?}, {lease:?}) and a lease duration of at least 1s"
    )]
    Timing { retry: Duration, renew: Duration, lease: Duration },
    #[error(
        "leader election: no Kubernetes configuration ({0}); pass --kubeconfig, set KUBECONFIG, or run in a pod with a service account token"
    )]
    Config(String),
}

impl LeaderOptions {
    /// Checks the timings the protocol depends on.
    pub fn check(&self) -> Result<(), LeaderError> {
        if self.retry_period.is_zero()
            || self.retry_period >= self.renew_deadline
            || self.renew_deadline >= self.lease_duration
            || self.lease_duration < Duration::from_secs(1)
        {
            return Err(LeaderError::Timing {
                retry: self.retry_period,
                renew: self.renew_deadline,
                lease: self.lease_duration,
            });
        }
        Ok(())
    }

    /// `leaseDurationSeconds`: whole seconds, rounded up so followers never wait less.
    fn lease_seconds(&self) -> i32 {
        let d = self.lease_duration;
        let s = d.as_secs() + u64::from(d.subsec_nanos() > 0);
        i32::try_from(s).unwrap_or(i32::MAX)
    }
}

/// The identity of this process: `POD_NAME` in a pod, else `hostname_pid`.
pub fn default_identity() -> String {
    match std::env::var("POD_NAME") {
        Ok(p) if !p.is_empty() => p,
        _ => format!("{}_{}", crate::backend::hostname(), std::process::id()),
    }
}

/// The Lease annotation a follower writes to pass a webhook's trigger to the leader.
pub const SYNC_REQUESTED: &str = "slipway.dev/sync-requested";

#[derive(Debug, Default)]
struct Shared {
    /// A trigger received while following, not yet written to the Lease.
    relay_pending: bool,
    /// A trigger relayed by a follower, seen by the leader, not yet taken by the agent's loop.
    sync_requested: bool,
    /// When the last successful acquire or renew started (monotonic).
    renewed_at: Option<Instant>,
    /// The holder last seen in the Lease (`None`: nobody holds it).
    holder: Option<String>,
    /// Changes of holder seen by this agent (its own acquisitions and losses included).
    transitions: u64,
}

/// What the agent's loop and `/metrics` read; written by the election task.
#[derive(Debug)]
pub struct Leadership {
    identity: String,
    renew_deadline: Duration,
    shared: Mutex<Shared>,
}

impl Leadership {
    fn new(identity: String, renew_deadline: Duration) -> Leadership {
        Leadership { identity, renew_deadline, shared: Mutex::new(Shared::default()) }
    }

    /// The fence: true while the last renewal started less than `renew_deadline` ago.
    pub fn is_leader(&self) -> bool {
        self.shared
            .lock()
            .ok()
            .and_then(|s| s.renewed_at)
            .is_some_and(|t| t.elapsed() < self.renew_deadline)
    }

    /// How long ago the last renewal started, if this agent ever led.
    pub fn since_renewal(&self) -> Option<Duration> {
        self.shared.lock().ok().and_then(|s| s.renewed_at).map(|t| t.elapsed())
    }

    pub fn holder(&self) -> Option<String> {
        self.shared.lock().ok().and_then(|s| s.holder.clone())
    }

    pub fn transitions(&self) -> u64 {
        self.shared.lock().map(|s| s.transitions).unwrap_or(0)
    }

    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// A follower got a trigger: pass it on to the leader through the Lease.
    pub fn relay_sync(&self) {
        if let Ok(mut s) = self.shared.lock() {
            s.relay_pending = true;
        }
    }

    /// True once after a follower relayed a trigger to this (leading) agent.
    pub fn take_sync_request(&self) -> bool {
        self.shared.lock().map(|mut s| std::mem::take(&mut s.sync_requested)).unwrap_or(false)
    }
}

/// The result of one attempt.
enum Attempt {
    Leading,
    Following(Option<String>),
    /// This agent's renewal lost a race with another write (a relayed trigger): no renewal
    /// this round; the fence alone says whether it still leads.
    Conflict,
}

/// One agent's side of the election: reads and writes the Lease.
pub struct Elector {
    api: Api<Lease>,
    opts: LeaderOptions,
    /// The Lease spec last seen, and when (monotonic) it was first seen in that form.
    observed: Option<(LeaseSpec, Instant)>,
    leadership: Arc<Leadership>,
    /// Whether the last log line said this agent leads (to log once per change).
    logged_leading: bool,
    logged_holder: Option<Option<String>>,
    /// The last [`SYNC_REQUESTED`] value seen (`None`: none seen yet).
    seen_request: Option<Option<String>>,
}

impl Elector {
    /// Loads the Kubernetes configuration and makes the client; no request yet.
    pub async fn connect(opts: LeaderOptions) -> Result<Elector, LeaderError> {
        opts.check()?;
        let config = match &opts.kubeconfig {
            Some(path) => {
                use kube::config::{KubeConfigOptions, Kubeconfig};
                let kc = Kubeconfig::read_from(path)
                    .map_err(|e| LeaderError::Config(format!("{}: {e}", path.display())))?;
                kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
                    .await
                    .map_err(|e| LeaderError::Config(format!("{}: {e}", path.display())))?
            }
            None => kube::Config::infer().await.map_err(|e| LeaderError::Config(e.to_string()))?,
        };
        let client =
            kube::Client::try_from(config).map_err(|e| LeaderError::Config(e.to_string()))?;
        Ok(Elector {
            api: Api::namespaced(client, &opts.lease_namespace),
            leadership: Arc::new(Leadership::new(opts.identity.clone(), opts.renew_deadline)),
            opts,
            observed: None,
            logged_leading: false,
            logged_holder: None,
            seen_request: None,
        })
    }

    pub fn leadership(&self) -> Arc<Leadership> {
        self.leadership.clone()
    }

    /// Tries every `retry_period` until `stop` fires; then releases the Lease if held.
    pub async fn run(mut self, mut stop: tokio::sync::watch::Receiver<bool>) {
        tracing::info!(
            identity = %self.opts.identity,
            lease = %format!("{}/{}", self.opts.lease_namespace, self.opts.name()),
            "leader election: starting"
        );
        loop {
            let started = Instant::now();
            // A hung request must not outlive the deadline: a leader that cannot reach the API
            // server in time has to find out, not wait.
            let r =
                tokio::time::timeout(self.opts.renew_deadline, self.try_acquire_or_renew(started))
                    .await
                    .unwrap_or_else(|_| Err("the API server did not answer in time".into()));
            self.record(r, started);
            if !self.leadership.is_leader() {
                self.relay().await;
            }
            tokio::select! {
                _ = tokio::time::sleep(self.opts.retry_period) => {}
                _ = stop.changed() => break,
            }
        }
        self.release().await;
    }

    fn record(&mut self, r: Result<Attempt, String>, started: Instant) {
        let (leading, holder) = match r {
            Ok(Attempt::Leading) => {
                if let Ok(mut s) = self.leadership.shared.lock() {
                    s.renewed_at = Some(started);
                }
                (true, Some(self.opts.identity.clone()))
            }
            Ok(Attempt::Following(h)) => (false, h),
            Ok(Attempt::Conflict) => {
                tracing::debug!("leader election: renewal raced another write; retrying");
                (self.leadership.is_leader(), self.leadership.holder())
            }
            Err(e) => {
                // Not renewed: leadership lapses by itself once the fence expires.
                tracing::warn!(error = %e, "leader election: cannot read or write the Lease");
                (self.leadership.is_leader(), self.leadership.holder())
            }
        };
        let leading = leading && self.leadership.is_leader();
        if let Ok(mut s) = self.leadership.shared.lock()
            && s.holder != holder
        {
            s.transitions += 1;
            s.holder = holder.clone();
        }
        if leading && !self.logged_leading {
            tracing::info!(identity = %self.opts.identity, "leader election: leading; this agent applies");
        } else if !leading && self.logged_leading {
            tracing::warn!(
                identity = %self.opts.identity,
                renew_deadline = ?self.opts.renew_deadline,
                "leader election: lost the lease; not applying"
            );
        }
        if !leading && self.logged_holder.as_ref() != Some(&holder) {
            match &holder {
                Some(h) if *h != self.opts.identity => {
                    tracing::info!(leader = %h, "leader election: following; {h} leads")
                }
                Some(_) => {
                    tracing::info!("leader election: following; the lease is changing hands")
                }
                None => tracing::info!("leader election: following; no leader yet"),
            }
            self.logged_holder = Some(holder);
        } else if leading {
            self.logged_holder = None;
        }
        self.logged_leading = leading;
    }

    /// client-go's `tryAcquireOrRenew`.
    async fn try_acquire_or_renew(&mut self, now_mono: Instant) -> Result<Attempt, String> {
        let name = self.opts.name().to_string();
        let now = Some(MicroTime(k8s_openapi::jiff::Timestamp::now()));
        let me = self.opts.identity.clone();
        let Some(lease) = self.api.get_opt(&name).await.map_err(|e| e.to_string())? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(name.clone()),
                    namespace: Some(self.opts.lease_namespace.clone()),
                    ..Default::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(me),
                    lease_duration_seconds: Some(self.opts.lease_seconds()),
                    acquire_time: now.clone(),
                    renew_time: now,
                    lease_transitions: Some(0),
                    ..Default::default()
                }),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(made) => {
                    self.observed = Some((made.spec.unwrap_or_default(), now_mono));
                    Ok(Attempt::Leading)
                }
                // Someone else created it first: read it at the next retry.
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(Attempt::Following(None)),
                Err(e) => Err(e.to_string()),
            };
        };
        let request =
            lease.metadata.annotations.as_ref().and_then(|a| a.get(SYNC_REQUESTED)).cloned();
        let spec = lease.spec.clone().unwrap_or_default();
        if self.observed.as_ref().is_none_or(|(o, _)| *o != spec) {
            self.observed = Some((spec.clone(), now_mono));
        }
        let observed_at = self.observed.as_ref().map_or(now_mono, |(_, t)| *t);
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        let held_by_me = holder.as_deref() == Some(me.as_str());
        let duration = spec
            .lease_duration_seconds
            .and_then(|s| u64::try_from(s).ok())
            .map_or(self.opts.lease_duration, Duration::from_secs);
        if let Some(h) = &holder
            && !held_by_me
            && now_mono < observed_at + duration
        {
            return Ok(Attempt::Following(Some(h.clone())));
        }
        let mut next = LeaseSpec {
            holder_identity: Some(me),
            lease_duration_seconds: Some(self.opts.lease_seconds()),
            renew_time: now.clone(),
            ..spec.clone()
        };
        if !held_by_me {
            next.acquire_time = now;
            next.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
        }
        let mut updated = lease;
        updated.spec = Some(next);
        // `replace` sends the resourceVersion read above: a concurrent write makes it fail.
        match self.api.replace(&name, &PostParams::default(), &updated).await {
            Ok(l) => {
                // A relayed trigger counts only for an agent that already led: a new leader
                // syncs at once anyway.
                if held_by_me
                    && self.seen_request.as_ref().is_some_and(|seen| *seen != request)
                    && let Ok(mut s) = self.leadership.shared.lock()
                {
                    s.sync_requested = true;
                }
                self.seen_request = Some(request);
                if !held_by_me {
                    tracing::info!(
                        previous = holder.as_deref().unwrap_or(""),
                        transitions = l.spec.as_ref().and_then(|s| s.lease_transitions),
                        "leader election: acquired the lease"
                    );
                }
                self.observed = Some((l.spec.unwrap_or_default(), now_mono));
                Ok(Attempt::Leading)
            }
            Err(kube::Error::Api(s)) if s.code == 409 && held_by_me => Ok(Attempt::Conflict),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(Attempt::Following(holder)),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Writes a pending trigger into the Lease's [`SYNC_REQUESTED`] annotation (this agent's
    /// identity and the time: a new value each time). A conflict leaves it pending for the
    /// next retry.
    async fn relay(&mut self) {
        let pending = self.leadership.shared.lock().map(|s| s.relay_pending).unwrap_or(false);
        if !pending {
            return;
        }
        let name = self.opts.name().to_string();
        let Ok(Some(mut lease)) = self.api.get_opt(&name).await else {
            return;
        };
        let value = format!("{} {}", k8s_openapi::jiff::Timestamp::now(), self.opts.identity);
        lease.metadata.annotations.get_or_insert_default().insert(SYNC_REQUESTED.into(), value);
        match self.api.replace(&name, &PostParams::default(), &lease).await {
            Ok(_) => {
                if let Ok(mut s) = self.leadership.shared.lock() {
                    s.relay_pending = false;
                }
                tracing::info!("leader election: trigger relayed to the leader");
            }
            Err(e) => tracing::debug!(error = %e, "leader election: relaying the trigger"),
        }
    }

    /// Gives the Lease up (empty holder) if this agent holds it, so a follower need not wait
    /// for it to expire.
    async fn release(&mut self) {
        let was_leader = self.leadership.is_leader();
        if let Ok(mut s) = self.leadership.shared.lock() {
            s.renewed_at = None;
        }
        if !was_leader {
            return;
        }
        let name = self.opts.name().to_string();
        let Ok(Some(mut lease)) = self.api.get_opt(&name).await else {
            return;
        };
        let Some(spec) = lease.spec.as_mut() else {
            return;
        };
        if spec.holder_identity.as_deref() != Some(self.opts.identity.as_str()) {
            return;
        }
        let now = Some(MicroTime(k8s_openapi::jiff::Timestamp::now()));
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = now.clone();
        spec.acquire_time = now;
        match self.api.replace(&name, &PostParams::default(), &lease).await {
            Ok(_) => tracing::info!("leader election: released the lease"),
            Err(e) => tracing::warn!(error = %e, "leader election: cannot release the lease"),
        }
    }
}

impl LeaderOptions {
    fn name(&self) -> &str {
        &self.lease_name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(lease: u64, renew: u64, retry: u64) -> LeaderOptions {
        LeaderOptions {
            lease_name: "l".into(),
            lease_namespace: "n".into(),
            identity: "me".into(),
            lease_duration: Duration::from_millis(lease),
            renew_deadline: Duration::from_millis(renew),
            retry_period: Duration::from_millis(retry),
            kubeconfig: None,
        }
    }

    #[test]
    fn timings_must_nest_retry_renew_lease() {
        assert!(opts(15_000, 10_000, 2_000).check().is_ok());
        assert!(opts(15_000, 15_000, 2_000).check().is_err());
        assert!(opts(15_000, 2_000, 2_000).check().is_err());
        assert!(opts(900, 500, 100).check().is_err());
        assert_eq!(opts(1_500, 1_000, 200).lease_seconds(), 2);
        assert_eq!(opts(15_000, 10_000, 2_000).lease_seconds(), 15);
    }

    #[test]
    fn the_fence_closes_after_the_renew_deadline() {
        let l = Leadership::new("me".into(), Duration::from_millis(50));
        assert!(!l.is_leader());
        l.shared.lock().unwrap().renewed_at = Some(Instant::now());
        assert!(l.is_leader());
        std::thread::sleep(Duration::from_millis(60));
        assert!(!l.is_leader());
    }
}
