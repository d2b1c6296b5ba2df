//! The agent as a reconciler, in the shape of kube-rs's `Controller`: `reconcile(commit)`
//! returns an [`Action`] or a [`ReconcileError`]; the [`error_policy`] turns an error into
//! the delay before the same commit is tried again.
//!
//! **Invariants:**
//! - [`error_policy`] is a pure function of the error, the number of consecutive failed
//!   attempts of the commit, and the [`RetryPolicy`]: the delay doubles from `initial` with each
//!   failure, capped at `max`. A commit whose apply fails is therefore retried with growing
//!   gaps, never at every poll.
//! - Backoff belongs to one commit ([`Retry::commit`]): a new head is reconciled at once, however
//!   long the failing one still has to wait, and a success clears it.
//! - A busy state lock is not the commit's fault: it is retried at the next poll (the lock
//!   wait, `--lock-timeout`, already paced the attempt) and does not grow the delay.

use std::time::{Duration, Instant};

/// What the loop does after a reconcile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Reconcile the same commit again after this long (unless a new commit comes first).
    Requeue(Duration),
    /// Nothing to do until something changes: a new commit, an approval, drift.
    AwaitChange,
}

/// Why reconciling a commit failed.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("checkout of {commit} failed: {message}")]
    Checkout { commit: String, message: String },
    /// Someone else holds the state lock (after `--lock-timeout`).
    #[error("{0}")]
    Locked(String),
    /// The configuration or the backend refused to open a session.
    #[error("{0}")]
    Open(String),
    #[error("{0}")]
    Plan(String),
    #[error("saving held plan: {0}")]
    Hold(String),
    /// An operation failed or the state could not be saved afterwards.
    #[error("{0}")]
    Apply(String),
}

/// How long to wait before trying a failing commit again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The delay after the first failure; each further failure doubles it.
    pub initial: Duration,
    /// The longest delay.
    pub max: Duration,
    /// The polling interval: when a busy lock is retried (zero: webhooks only).
    pub poll: Duration,
}

impl RetryPolicy {
    /// The delay after `attempts` consecutive failures (`attempts` ≥ 1).
    pub fn delay(&self, attempts: u32) -> Duration {
        let doublings = attempts.saturating_sub(1).min(31);
        self.initial.checked_mul(1u32 << doublings).unwrap_or(self.max).min(self.max)
    }
}

/// The error policy: what to do after the `attempts`-th consecutive failure of a commit.
pub fn error_policy(error: &ReconcileError, attempts: u32, policy: &RetryPolicy) -> Action {
    match error {
        // Not a failure of the commit; webhooks-only agents have no poll to wait for.
        ReconcileError::Locked(_) if !policy.poll.is_zero() => Action::Requeue(policy.poll),
        ReconcileError::Locked(_) => Action::Requeue(policy.initial.min(policy.max)),
        _ => Action::Requeue(policy.delay(attempts)),
    }
}

/// A commit that failed, and when it is tried again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Retry {
    pub commit: String,
    /// Consecutive failed attempts.
    pub attempts: u32,
    pub delay: Duration,
    pub at: Instant,
}

impl Retry {
    /// The retry after a failure of `commit`: the count goes on for the same commit and starts
    /// again for another one.
    pub fn after_failure(
        previous: Option<&Retry>,
        commit: &str,
        error: &ReconcileError,
        policy: &RetryPolicy,
        now: Instant,
    ) -> Retry {
        let attempts = match previous {
            Some(r) if r.commit == commit => r.attempts.saturating_add(1),
            _ => 1,
        };
        let delay = match error_policy(error, attempts, policy) {
            Action::Requeue(d) => d,
            Action::AwaitChange => Duration::MAX,
        };
        Retry {
            commit: commit.to_string(),
            attempts,
            delay,
            at: now.checked_add(delay).unwrap_or(now),
        }
    }

    /// Whether `commit` must still wait at `now`.
    pub fn holds_back(&self, commit: &str, now: Instant) -> bool {
        self.commit == commit && now < self.at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    fn policy() -> RetryPolicy {
        RetryPolicy { initial: S(10), max: S(300), poll: S(60) }
    }

    fn failed() -> ReconcileError {
        ReconcileError::Apply("random_id.a: failed".into())
    }

    #[test]
    fn a_failing_commit_waits_twice_as_long_after_each_failure_up_to_the_cap() {
        let delays: Vec<Action> = (1..=8).map(|n| error_policy(&failed(), n, &policy())).collect();
        let want: Vec<Action> = [10, 20, 40, 80, 160, 300, 300, 300]
            .into_iter()
            .map(|s| Action::Requeue(S(s)))
            .collect();
        assert_eq!(delays, want);
    }

    #[test]
    fn the_delay_never_overflows_and_never_exceeds_the_cap() {
        for n in [0, 1, 31, 32, 33, 1000, u32::MAX] {
            let d = policy().delay(n);
            assert!(d <= S(300) && d >= S(10), "{n}: {d:?}");
        }
        let huge = RetryPolicy { initial: Duration::MAX, max: Duration::MAX, poll: S(1) };
        assert_eq!(huge.delay(5), Duration::MAX);
    }

    #[test]
    fn a_busy_lock_is_retried_at_the_next_poll_without_growing_the_delay() {
        let locked = ReconcileError::Locked("the state is locked by someone".into());
        for n in [1, 2, 7] {
            assert_eq!(error_policy(&locked, n, &policy()), Action::Requeue(S(60)));
        }
        let webhooks_only = RetryPolicy { poll: Duration::ZERO, ..policy() };
        assert_eq!(error_policy(&locked, 4, &webhooks_only), Action::Requeue(S(10)));
    }

    #[test]
    fn attempts_count_per_commit_and_a_new_commit_is_not_held_back() {
        let now = Instant::now();
        let p = policy();
        let r1 = Retry::after_failure(None, "c1", &failed(), &p, now);
        assert_eq!((r1.attempts, r1.delay), (1, S(10)));
        let r2 = Retry::after_failure(Some(&r1), "c1", &failed(), &p, now);
        assert_eq!((r2.attempts, r2.delay), (2, S(20)));
        assert!(r2.holds_back("c1", now + S(19)));
        assert!(!r2.holds_back("c1", now + S(20)));
        // Another commit is tried at once, and its count starts again.
        assert!(!r2.holds_back("c2", now));
        let other = Retry::after_failure(Some(&r2), "c2", &failed(), &p, now);
        assert_eq!((other.attempts, other.delay), (1, S(10)));
    }
}
