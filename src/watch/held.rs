//! Held plans: saved plans waiting for approval, in a directory the agent and
//! `slipway approve` share.
//!
//! For plan `ID`: `ID.plan` (a saved plan, [`crate::plan::file`]: bound to the state's lineage
//! and serial and to the configuration digest), `ID.json` (what it is: commit, summary), and,
//! once approved, `ID.approved`. Files are written to a temporary name and renamed, so a reader
//! sees a whole file or none.
//!
//! **Invariant:** an id is `[0-9a-zA-Z-]{1,64}`, so an id from a command line or an HTTP path
//! can never name a file outside the directory.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// What a held plan is, for people and for the agent.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct HeldPlan {
    pub id: String,
    /// The commit whose configuration the plan was made from.
    pub commit: String,
    /// RFC 3339, UTC.
    pub created: String,
    /// `Plan: 1 to add, 0 to change, 2 to destroy.`
    pub summary: String,
    /// Why it was held (`policy manual`, `deletes or replaces: …`).
    pub reason: String,
}

pub fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

pub struct PlansDir {
    pub dir: PathBuf,
}

impl PlansDir {
    pub fn new(dir: &Path) -> PlansDir {
        PlansDir { dir: dir.to_path_buf() }
    }

    fn path(&self, id: &str, ext: &str) -> PathBuf {
        self.dir.join(format!("{id}.{ext}"))
    }

    pub fn plan_path(&self, id: &str) -> PathBuf {
        self.path(id, "plan")
    }

    /// Saves a held plan (the plan file first, then its description).
    pub fn hold(
        &self,
        meta: &HeldPlan,
        saved: &crate::plan::file::SavedPlan,
    ) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        crate::plan::file::write(&self.plan_path(&meta.id), saved)?;
        let tmp = self.path(&meta.id, "json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(meta)?)?;
        std::fs::rename(&tmp, self.path(&meta.id, "json"))
    }

    /// Every held plan, oldest first.
    pub fn list(&self) -> Vec<HeldPlan> {
        let Ok(rd) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut out: Vec<HeldPlan> = rd
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.extension().and_then(|x| x.to_str()) == Some("json"))
            .filter_map(|p| std::fs::read(p).ok())
            .filter_map(|b| serde_json::from_slice::<HeldPlan>(&b).ok())
            .filter(|h| valid_id(&h.id) && self.plan_path(&h.id).is_file())
            .collect();
        out.sort_by(|a, b| a.created.cmp(&b.created).then(a.id.cmp(&b.id)));
        out
    }

    pub fn get(&self, id: &str) -> Option<HeldPlan> {
        if !valid_id(id) {
            return None;
        }
        self.list().into_iter().find(|h| h.id == id)
    }

    /// Marks a held plan approved. Errors name the held plans when the id is unknown.
    pub fn approve(&self, id: &str) -> Result<HeldPlan, String> {
        let Some(h) = self.get(id) else {
            let held: Vec<String> = self.list().into_iter().map(|h| h.id).collect();
            return Err(if held.is_empty() {
                format!("no held plan `{id}` (no plan is held in {})", self.dir.display())
            } else {
                format!("no held plan `{id}`; held: {}", held.join(", "))
            });
        };
        std::fs::write(self.path(id, "approved"), b"approved\n")
            .map_err(|e| format!("cannot write approval in {}: {e}", self.dir.display()))?;
        Ok(h)
    }

    pub fn is_approved(&self, id: &str) -> bool {
        valid_id(id) && self.path(id, "approved").is_file()
    }

    /// The ids of the approved held plans.
    pub fn approved(&self) -> Vec<String> {
        self.list().into_iter().map(|h| h.id).filter(|id| self.is_approved(id)).collect()
    }

    /// Removes a held plan (applied, stale or superseded).
    pub fn remove(&self, id: &str) {
        if !valid_id(id) {
            return;
        }
        for ext in ["approved", "json", "plan"] {
            let _ = std::fs::remove_file(self.path(id, ext));
        }
    }
}

/// Turns approvals written by `slipway approve` (an `ID.approved` file, possibly by another
/// process or pod) into [`Trigger::Approved`] events, each approval once, until the loop's end
/// of the channel is gone.
///
/// It looks at the directory every `period` rather than subscribing to filesystem
/// notifications: the plans directory is often a volume shared with the pod or host where
/// `slipway approve` runs (NFS, a ReadWriteMany volume), where inotify does not see writes
/// made elsewhere, and the look is a cheap `readdir`. The reconcile loop itself never polls
/// for approvals; it selects on the channel, which `POST /approve/ID` feeds directly.
///
/// [`Trigger::Approved`]: super::http::Trigger::Approved
pub async fn watch_approvals(
    dir: PathBuf,
    events: tokio::sync::mpsc::Sender<super::http::Trigger>,
    period: std::time::Duration,
) {
    let plans = PlansDir::new(&dir);
    let mut seen = std::collections::BTreeSet::new();
    loop {
        let now: std::collections::BTreeSet<String> = plans.approved().into_iter().collect();
        for id in now.difference(&seen) {
            if events.send(super::http::Trigger::Approved(id.clone())).await.is_err() {
                return;
            }
        }
        // Forget what is gone (applied, dropped), so the set stays as small as the directory.
        seen = now;
        tokio::time::sleep(period).await;
    }
}

#[cfg(test)]
mod tests {
    use super::valid_id;

    #[test]
    fn ids_cannot_name_other_files() {
        assert!(valid_id("0123abcdef01-7"));
        for bad in ["", "../x", "a/b", "a.plan", &"a".repeat(65), "a b"] {
            assert!(!valid_id(bad), "{bad:?}");
        }
    }
}
