//! One sync of the agent: fetch the branch, export the commit, and reconcile it — plan, then
//! apply or hold by the policy (the [`super::reconcile`] contract: the outcome is an `Action`,
//! errors go to the retry policy).

use super::*;

impl Agent {
    /// Fetches the branch; on a new head (or a failing one whose backoff ran out), reconciles.
    pub(super) async fn sync(&mut self) {
        if !self.fence("fetch") {
            return;
        }
        let (mirror, url, branch) =
            (self.mirror.clone(), self.opts.repo.clone(), self.opts.branch.clone());
        let fetched = tokio::task::spawn_blocking(move || -> Result<String, String> {
            let refs = crate::git::fetch(&mirror, &url).map_err(|e| e.to_string())?;
            refs.get(&format!("refs/heads/{branch}"))
                .cloned()
                .ok_or_else(|| format!("{url} has no branch `{branch}`"))
        })
        .await
        .unwrap_or_else(|e| Err(e.to_string()));
        let head = match fetched {
            Ok(h) => h,
            Err(e) => {
                log(&format!("fetch failed: {e}"));
                self.record_sync("", false);
                return;
            }
        };
        if self.synced.as_ref().is_some_and(|(c, _)| *c == head) {
            return;
        }
        if self.retry.as_ref().is_some_and(|r| r.holds_back(&head, Instant::now())) {
            return;
        }
        match self.retry.as_ref() {
            Some(r) if r.commit == head => log(&format!(
                "commit {}: attempt {} after {:.1}s",
                short(&head),
                r.attempts + 1,
                r.delay.as_secs_f64()
            )),
            _ => log(&format!("new commit {}", short(&head))),
        }
        match self.reconcile(&head).await {
            Ok(_) => self.succeeded(),
            Err(e) => {
                self.record_sync(&head, false);
                self.failed(&head, &e);
            }
        }
    }

    /// `WORK/checkouts/<commit>/<path>`, exported once per commit.
    pub(super) async fn checkout(&self, commit: &str) -> Result<PathBuf, String> {
        let root = self.opts.work_dir.join("checkouts").join(commit);
        if !root.is_dir() {
            let (mirror, c, r) = (self.mirror.clone(), commit.to_string(), root.clone());
            tokio::task::spawn_blocking(move || crate::git::export_tree(&mirror, &c, &r))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
        }
        let env_dir = root.join(&self.opts.path);
        if !env_dir.is_dir() {
            return Err(format!("commit {} has no directory `{}`", short(commit), self.opts.path));
        }
        Ok(env_dir)
    }

    /// Opens a session on the environment ([`ops::open`]). A lock whose holder is provably
    /// dead (a killed agent or run) is taken over by the backend; any other lock is waited for
    /// (`--lock-timeout`), then reported.
    pub(super) async fn open(
        &self,
        env_dir: &Path,
        operation: &str,
    ) -> Result<Session, ReconcileError> {
        // First look without waiting, so that the wait is logged when there is one.
        let mut timeout = Duration::ZERO;
        loop {
            let opts = SessionOptions {
                state_dir: Some(self.opts.state_dir.clone()),
                lock_timeout: timeout,
                operation: operation.into(),
            };
            match ops::open(env_dir, &[], &opts).await {
                Ok(s) => return Ok(s),
                Err(OpenError::Backend(BackendError::Locked { .. }))
                    if timeout.is_zero() && !self.opts.lock_timeout.is_zero() =>
                {
                    log("the state is locked; waiting for it");
                    timeout = self.opts.lock_timeout;
                }
                Err(e @ OpenError::Backend(BackendError::Locked { .. })) => {
                    return Err(ReconcileError::Locked(e.render_plain()));
                }
                Err(e) => return Err(ReconcileError::Open(e.render_plain())),
            }
        }
    }

    /// [`ops::plan`], its errors rendered for the log.
    pub(super) async fn make_plan(s: &Session, options: PlanOptions) -> Result<Plan, String> {
        ops::plan(s, options)
            .await
            .map(|p| p.plan)
            .map_err(|d| crate::diag::render_terminal(&d, &s.env.sources, false))
    }

    /// Reconciles `commit`: plans it and applies or holds the plan per policy. Success
    /// (applied, in sync, held, or not the leader any more) waits for the next change.
    pub(super) async fn reconcile(&mut self, commit: &str) -> Result<Action, ReconcileError> {
        let env_dir = self.checkout(commit).await.map_err(|message| ReconcileError::Checkout {
            commit: short(commit).to_string(),
            message,
        })?;
        let outcome = self.plan_and_apply(commit, &env_dir).await?;
        if outcome != Outcome::NotLeader {
            // Not synced when the fence closed: whoever leads plans it.
            self.synced = Some((commit.to_string(), env_dir));
            self.record_sync(commit, true);
        }
        Ok(Action::AwaitChange)
    }

    pub(super) async fn plan_and_apply(
        &mut self,
        commit: &str,
        env_dir: &Path,
    ) -> Result<Outcome, ReconcileError> {
        // Before taking the state lock (a follower never holds it), and again after: waiting
        // for the lock can outlast the fence.
        if !self.fence("plan") {
            return Ok(Outcome::NotLeader);
        }
        let s = self.open(env_dir, "watch plan").await?;
        if !self.fence("plan") {
            s.abandon().await;
            return Ok(Outcome::NotLeader);
        }
        let options = PlanOptions { refresh: true, ..Default::default() };
        let p = match Self::make_plan(&s, options).await {
            Ok(p) => p,
            Err(e) => {
                s.abandon().await;
                return Err(ReconcileError::Plan(e));
            }
        };
        if !p.has_changes() {
            ops::finish_in_sync(s, &p, Some(commit))
                .await
                .map_err(|e| ReconcileError::Apply(e.to_string()))?;
            self.drop_held_except(None);
            log(&format!("commit {}: in sync, nothing to change", short(commit)));
            return Ok(Outcome::Done);
        }
        let destructive: Vec<String> = p
            .changes
            .iter()
            .filter(|c| matches!(c.action, plan::Action::Delete | plan::Action::Replace))
            .map(|c| format!("{} {}", c.action.symbol(), c.addr))
            .collect();
        let hold_reason = match self.opts.policy {
            Policy::Auto => None,
            Policy::Safe if destructive.is_empty() => None,
            Policy::Safe => Some(format!("deletes or replaces: {}", destructive.join(", "))),
            Policy::Manual => Some("policy manual".to_string()),
        };
        if let Some(reason) = hold_reason {
            let id = format!("{}-{}", short(commit), p.serial);
            let (add, change, destroy) = p.counts();
            let meta = HeldPlan {
                id: id.clone(),
                commit: commit.to_string(),
                created: now_rfc3339(),
                summary: format!("Plan: {add} to add, {change} to change, {destroy} to destroy."),
                reason,
            };
            let saved = ops::to_saved(&s, p, Vec::new());
            s.abandon().await;
            self.plans.hold(&meta, &saved).map_err(|e| ReconcileError::Hold(e.to_string()))?;
            self.drop_held_except(Some(&id));
            log(&format!(
                "commit {}: plan {id} held ({}; {}); approve with: slipway approve {id}",
                short(commit),
                meta.summary,
                meta.reason
            ));
            return Ok(Outcome::Done);
        }
        self.apply_in(s, &p, commit).await
    }

    /// Applies `p` in the open session `s` ([`ops::apply`]), then records `commit`.
    pub(super) async fn apply_in(
        &mut self,
        s: Session,
        p: &Plan,
        commit: &str,
    ) -> Result<Outcome, ReconcileError> {
        if !self.fence("apply") {
            s.abandon().await;
            return Ok(Outcome::NotLeader);
        }
        let (add, change, destroy) = p.counts();
        log(&format!(
            "commit {}: applying ({add} to add, {change} to change, {destroy} to destroy)",
            short(commit)
        ));
        let settings = ops::ApplySettings {
            parallelism: self.opts.parallelism,
            progress: log_progress(),
            tick: Duration::from_secs(10),
            commit: Some(commit.to_string()),
        };
        let applied = ops::apply(s, p, settings).await;
        let ok = applied.ok();
        if let Ok(mut st) = self.status.lock() {
            st.last_apply_ok = Some(ok);
            st.last_apply_seconds = applied.elapsed.as_secs_f64();
            if ok {
                st.applies_ok += 1;
                st.last_apply_commit = Some(commit.to_string());
            } else {
                st.applies_failed += 1;
            }
        }
        if ok {
            self.drop_held_except(None);
            log(&format!(
                "commit {}: applied in {:.2}s",
                short(commit),
                applied.elapsed.as_secs_f64()
            ));
            return Ok(Outcome::Done);
        }
        // The saving error wins: it is what the next run has to deal with first.
        Err(ReconcileError::Apply(match (&applied.report, &applied.saved) {
            (_, Err(e)) => e.to_string(),
            (Err(e), _) => e.to_string(),
            (Ok(r), _) => format!(
                "apply incomplete: {} failed, {} not attempted: {}",
                r.failed.len(),
                r.skipped.len(),
                r.failed.iter().map(|(a, m)| format!("{a}: {m}")).collect::<Vec<_>>().join("; ")
            ),
        }))
    }
}
