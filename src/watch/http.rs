//! The agent's HTTP side (axum): webhook triggers, approvals, `/healthz` and `/metrics`.
//!
//! - `POST /webhook/github`: GitHub-style push hook. `X-Hub-Signature-256: sha256=<hex>` is the
//!   HMAC-SHA256 of the raw body under the webhook secret, verified in constant time;
//!   `X-GitHub-Delivery` must be new (a replay is refused with 409).
//! - `POST /webhook`: generic trigger, `Authorization: Bearer <secret>` (constant-time compare).
//! - `POST /approve/{id}`: approves a held plan, `Authorization: Bearer <secret>`.
//! - `GET /healthz`, `GET /metrics` (Prometheus text format).
//!
//! **Invariant:** a request is checked completely — size (413), authentication (401), replay
//! (409) — before it has any effect. A webhook is only a *trigger*: the agent then fetches the
//! branch itself and applies its head, never a commit named in the body, so even an accepted
//! replay could at most cause a redundant fetch.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use tokio::sync::mpsc;

use super::Status;
use super::held::PlansDir;

/// What the HTTP side asks of the reconcile loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// Fetch the branch and sync now.
    Sync,
    /// Held plan `id` was approved (`POST /approve/ID`, or `slipway approve ID` seen by the
    /// plans-directory watcher, [`super::held::watch_approvals`]).
    Approved(String),
}

/// How many delivery ids are remembered for replay detection.
const SEEN_DELIVERIES: usize = 10_000;

pub struct HttpState {
    pub secret: Option<Vec<u8>>,
    pub branch: String,
    pub status: Arc<Mutex<Status>>,
    pub plans: PlansDir,
    pub triggers: mpsc::Sender<Trigger>,
    seen: Mutex<(HashSet<String>, VecDeque<String>)>,
}

impl HttpState {
    pub fn new(
        secret: Option<Vec<u8>>,
        branch: String,
        status: Arc<Mutex<Status>>,
        plans: PlansDir,
        triggers: mpsc::Sender<Trigger>,
    ) -> HttpState {
        HttpState {
            secret,
            branch,
            status,
            plans,
            triggers,
            seen: Mutex::new((HashSet::new(), VecDeque::new())),
        }
    }

    fn count(&self, result: &'static str) {
        if let Ok(mut s) = self.status.lock() {
            *s.webhooks.entry(result).or_default() += 1;
        }
    }

    /// Records a delivery id; false when it was seen before.
    fn first_delivery(&self, id: &str) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.0.contains(id) {
            return false;
        }
        seen.0.insert(id.to_string());
        seen.1.push_back(id.to_string());
        while seen.1.len() > SEEN_DELIVERIES {
            if let Some(old) = seen.1.pop_front() {
                seen.0.remove(&old);
            }
        }
        true
    }

    fn bearer_ok(&self, headers: &HeaderMap) -> bool {
        let Some(secret) = &self.secret else {
            return false;
        };
        let Some(given) = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        else {
            return false;
        };
        // ct_eq on slices of different lengths is false without looking at the contents.
        bool::from(given.as_bytes().ct_eq(secret))
    }
}

/// Verifies `sha256=<hex>` over `body` in constant time.
pub fn signature_ok(secret: &[u8], body: &[u8], header: Option<&str>) -> bool {
    let Some(hex_sig) = header.and_then(|h| h.strip_prefix("sha256=")) else {
        return false;
    };
    let Ok(sig) = hex::decode(hex_sig.trim()) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

pub fn router(state: Arc<HttpState>, max_body: usize) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .route("/webhook/github", post(github))
        .route("/webhook", post(generic))
        .route("/approve/{id}", post(approve))
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(state)
}

fn reply(code: StatusCode, text: &str) -> Response {
    (code, format!("{text}\n")).into_response()
}

async fn metrics(State(st): State<Arc<HttpState>>) -> Response {
    let held = st.plans.list().len();
    let text = st.status.lock().map(|s| s.render(held)).unwrap_or_default();
    ([("content-type", "text/plain; version=0.0.4")], text).into_response()
}

async fn github(State(st): State<Arc<HttpState>>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(secret) = &st.secret else {
        st.count("unauthorized");
        return reply(StatusCode::UNAUTHORIZED, "no webhook secret is configured");
    };
    let sig = headers.get("x-hub-signature-256").and_then(|v| v.to_str().ok());
    if !signature_ok(secret, &body, sig) {
        st.count("unauthorized");
        return reply(StatusCode::UNAUTHORIZED, "bad signature");
    }
    let Some(delivery) = headers
        .get("x-github-delivery")
        .and_then(|v| v.to_str().ok())
        .filter(|d| !d.is_empty() && d.len() <= 128)
    else {
        st.count("rejected");
        return reply(StatusCode::BAD_REQUEST, "missing X-GitHub-Delivery");
    };
    if !st.first_delivery(delivery) {
        st.count("replayed");
        return reply(StatusCode::CONFLICT, "delivery already received");
    }
    let event = headers.get("x-github-event").and_then(|v| v.to_str().ok()).unwrap_or("push");
    if event == "ping" {
        st.count("accepted");
        return reply(StatusCode::OK, "pong");
    }
    // Only the branch name is read from the body; what to apply comes from the fetch.
    let wanted = format!("refs/heads/{}", st.branch);
    let pushed = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("ref").and_then(|r| r.as_str()).map(str::to_string));
    if pushed.as_deref().is_some_and(|r| r != wanted) {
        st.count("ignored");
        return reply(StatusCode::ACCEPTED, "another branch; ignored");
    }
    st.count("accepted");
    let _ = st.triggers.try_send(Trigger::Sync);
    reply(StatusCode::ACCEPTED, "sync queued")
}

async fn generic(State(st): State<Arc<HttpState>>, headers: HeaderMap, _body: Bytes) -> Response {
    if !st.bearer_ok(&headers) {
        st.count("unauthorized");
        return reply(StatusCode::UNAUTHORIZED, "bad or missing bearer token");
    }
    st.count("accepted");
    let _ = st.triggers.try_send(Trigger::Sync);
    reply(StatusCode::ACCEPTED, "sync queued")
}

async fn approve(
    State(st): State<Arc<HttpState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    _body: Bytes,
) -> Response {
    if !st.bearer_ok(&headers) {
        st.count("unauthorized");
        return reply(StatusCode::UNAUTHORIZED, "bad or missing bearer token");
    }
    match st.plans.approve(&id) {
        Ok(h) => {
            let _ = st.triggers.try_send(Trigger::Approved(h.id.clone()));
            reply(StatusCode::ACCEPTED, &format!("approved {} (commit {})", h.id, h.commit))
        }
        Err(e) => reply(StatusCode::NOT_FOUND, &e),
    }
}

#[cfg(test)]
mod tests {
    use super::signature_ok;
    use hmac::{Hmac, Mac};
    use sha2::Sha256;

    fn sign(secret: &[u8], body: &[u8]) -> String {
        let mut m = Hmac::<Sha256>::new_from_slice(secret).unwrap();
        m.update(body);
        format!("sha256={}", hex::encode(m.finalize().into_bytes()))
    }

    #[test]
    fn github_signatures_verify_only_with_the_secret_and_body() {
        let good = sign(b"s3cret", b"{}");
        assert!(signature_ok(b"s3cret", b"{}", Some(&good)));
        assert!(!signature_ok(b"other", b"{}", Some(&good)));
        assert!(!signature_ok(b"s3cret", b"{ }", Some(&good)));
        assert!(!signature_ok(b"s3cret", b"{}", None));
        assert!(!signature_ok(b"s3cret", b"{}", Some("sha256=zz")));
        assert!(!signature_ok(b"s3cret", b"{}", Some(&good[..20])));
        assert!(!signature_ok(b"s3cret", b"{}", Some(&good.replace("sha256=", "sha1="))));
    }
}
