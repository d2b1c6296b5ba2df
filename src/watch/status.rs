//! What `/metrics` shows: the agent's counters and gauges ([`Status`]) in the Prometheus text
//! exposition format.
//!
//! **Invariant:** every metric is written with its `# HELP` and `# TYPE` lines, in a fixed
//! order, and label values are escaped, so a commit id or a reason can never break the format.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{drill, leader};

/// What `/metrics` shows.
#[derive(Debug, Default)]
pub struct Status {
    pub last_sync_commit: Option<String>,
    pub last_sync_unix: f64,
    pub syncs_total: u64,
    pub sync_errors_total: u64,
    pub last_apply_ok: Option<bool>,
    pub last_apply_seconds: f64,
    pub last_apply_commit: Option<String>,
    pub applies_ok: u64,
    pub applies_failed: u64,
    pub drift_resources: usize,
    pub drift_checks_total: u64,
    pub webhooks: BTreeMap<&'static str, u64>,
    /// Failed attempts in a row of the commit being retried; 0 after a success.
    pub consecutive_failures: u32,
    /// The error policy's delay before the next attempt of a failing commit; 0 when none waits.
    pub next_attempt_seconds: f64,
    /// Set with `--leader-elect`.
    pub leadership: Option<Arc<leader::Leadership>>,
}

fn escape_label(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

impl Status {
    /// The Prometheus text exposition.
    // Long because it lists every metric the agent exposes, each one call with its help text;
    // the list reads best whole, in the order a scrape shows it.
    pub fn render(&self, held: usize) -> String {
        let mut o = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, lines: Vec<(String, String)>| {
            o.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
            for (labels, v) in lines {
                o.push_str(&format!("{name}{labels} {v}\n"));
            }
        };
        let commit = self.last_sync_commit.as_deref().unwrap_or("");
        metric(
            "slipway_watch_last_sync_info",
            "gauge",
            "The commit of the last successful sync (label), always 1.",
            vec![(format!("{{commit=\"{}\"}}", escape_label(commit)), "1".into())],
        );
        metric(
            "slipway_watch_last_sync_timestamp_seconds",
            "gauge",
            "When the last successful sync finished (Unix time).",
            vec![(String::new(), format!("{}", self.last_sync_unix))],
        );
        metric(
            "slipway_watch_syncs_total",
            "counter",
            "Syncs attempted, by result.",
            vec![
                ("{result=\"ok\"}".into(), self.syncs_total.to_string()),
                ("{result=\"error\"}".into(), self.sync_errors_total.to_string()),
            ],
        );
        metric(
            "slipway_watch_last_apply_success",
            "gauge",
            "1 if the last apply succeeded, 0 if it failed, -1 before the first apply.",
            vec![(
                String::new(),
                match self.last_apply_ok {
                    Some(true) => "1",
                    Some(false) => "0",
                    None => "-1",
                }
                .into(),
            )],
        );
        metric(
            "slipway_watch_last_apply_duration_seconds",
            "gauge",
            "Duration of the last apply.",
            vec![(String::new(), format!("{:.3}", self.last_apply_seconds))],
        );
        metric(
            "slipway_watch_applies_total",
            "counter",
            "Applies, by result.",
            vec![
                ("{result=\"success\"}".into(), self.applies_ok.to_string()),
                ("{result=\"failure\"}".into(), self.applies_failed.to_string()),
            ],
        );
        metric(
            "slipway_watch_drift_resources",
            "gauge",
            "Resource instances that drifted, at the last drift check.",
            vec![(String::new(), self.drift_resources.to_string())],
        );
        metric(
            "slipway_watch_drift_checks_total",
            "counter",
            "Drift checks made.",
            vec![(String::new(), self.drift_checks_total.to_string())],
        );
        metric(
            "slipway_watch_held_plans",
            "gauge",
            "Plans waiting for approval.",
            vec![(String::new(), held.to_string())],
        );
        metric(
            "slipway_watch_consecutive_failures",
            "gauge",
            "Failed attempts in a row of the commit being retried (0 after a success).",
            vec![(String::new(), self.consecutive_failures.to_string())],
        );
        metric(
            "slipway_watch_next_attempt_seconds",
            "gauge",
            "Backoff before the next attempt of a failing commit, in seconds (0: none waiting).",
            vec![(String::new(), format!("{}", self.next_attempt_seconds))],
        );
        let hooks: Vec<(String, String)> =
            ["accepted", "ignored", "rejected", "replayed", "unauthorized"]
                .iter()
                .map(|r| {
                    (
                        format!("{{result=\"{r}\"}}"),
                        self.webhooks.get(r).copied().unwrap_or(0).to_string(),
                    )
                })
                .collect();
        metric(
            "slipway_watch_webhook_requests_total",
            "counter",
            "Webhook requests, by result (oversized bodies are refused before counting).",
            hooks,
        );
        // Without election the agent is alone and always acts: it counts as the leader.
        let (leading, transitions) = match &self.leadership {
            Some(l) => (l.is_leader(), l.transitions()),
            None => (true, 0),
        };
        metric(
            "slipway_watch_leader",
            "gauge",
            "1 while this agent holds the Lease and acts (always 1 without --leader-elect), else 0.",
            vec![(String::new(), u8::from(leading).to_string())],
        );
        metric(
            "slipway_watch_leader_transitions_total",
            "counter",
            "Changes of the Lease holder this agent has seen (its own acquisitions and losses included).",
            vec![(String::new(), transitions.to_string())],
        );
        o.push_str(&drill::render());
        o
    }
}
