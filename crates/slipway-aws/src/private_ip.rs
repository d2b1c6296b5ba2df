//! A launch on a static private address that an instance just replaced still holds.
//!
//! Replacing a node that keeps its address (modules/placement gives nodes static IPs) deletes
//! the old instance first; even once it is `terminated`, its network interface may keep the
//! address a little longer, and RunInstances answers `InvalidIPAddress.InUse`. [`run_instances`]
//! waits that out — but only while the address's last holder is known to be going: an
//! instance this run terminated ([`Clients::note_released`](super::client::Clients)), or one
//! still `shutting-down` (an earlier, interrupted run terminated it). Any other holder (an
//! interface made outside slipway, a typo in the address) is permanent: the launch fails at
//! once with an error naming the address.
//!
//! **Invariants:** the wait is bounded by `propagation_timeout_seconds` (as the other
//! propagation retries); a failure other than `InvalidIPAddress.InUse` is returned unchanged.

use std::time::Instant;

use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::types::Filter;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

use super::client::to_provider_error;
use super::resource::{Ctx, Result};
use crate::provider::ProviderError;

/// The code RunInstances answers while another interface holds the requested address.
pub const IN_USE: &str = "InvalidIPAddress.InUse";

/// Runs RunInstances (`f`) for an instance on private address `ip` (None: AWS picks one),
/// waiting out `InvalidIPAddress.InUse` while the address's previous holder is released.
pub async fn run_instances<T, E, F, Fut>(cx: &Ctx, ip: Option<&str>, f: F) -> Result<T>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    const API: &str = "ec2:RunInstances";
    let start = Instant::now();
    loop {
        let failure = match cx.clients.call(API, &f).await {
            Ok(out) => return Ok(out),
            Err(e) if e.code == IN_USE => e,
            Err(e) => return Err(to_provider_error(API, e)),
        };
        let Some(ip) = ip else {
            return Err(to_provider_error(API, failure));
        };
        let limit = cx.clients.policy.propagation_timeout;
        let releasing = being_released(cx, ip).await?;
        if releasing && start.elapsed() < limit {
            tracing::info!(
                ip,
                "private address still held by the interface of a terminated instance; waiting"
            );
            tokio::time::sleep(cx.clients.policy.poll_interval).await;
            continue;
        }
        let why = if releasing {
            format!(
                "it is still held {}s after its previous instance was terminated (raise propagation_timeout_seconds if AWS is slow to release it)",
                start.elapsed().as_secs()
            )
        } else {
            "another network interface holds it (not an instance this run replaced, nor one shutting down): choose another address or release that interface".to_string()
        };
        return Err(ProviderError::fatal(format!(
            "{API} failed: private IP {ip} is in use: {why} ({}: {})",
            failure.code, failure.message
        )));
    }
}

/// Whether `ip`'s holder is an instance on its way out: terminated by this run, or still
/// shutting down.
async fn being_released(cx: &Ctx, ip: &str) -> Result<bool> {
    if cx.clients.released(ip) {
        return Ok(true);
    }
    let filter = |k: &str, v: &str| Filter::builder().name(k).values(v).build();
    let req = cx.clients.ec2.describe_instances().filters(filter("private-ip-address", ip));
    let req = req.filters(filter("instance-state-name", "shutting-down"));
    let out = cx.clients.run("ec2:DescribeInstances", || req.clone().send()).await?;
    Ok(out.reservations().iter().any(|r| !r.instances().is_empty()))
}

#[cfg(test)]
mod tests {
    //! Against a real moto server (the check for an instance shutting down), with RunInstances'
    //! answers made locally: moto never answers InUse, and never frees an address.

    use std::sync::atomic::{AtomicU32, Ordering};

    use aws_sdk_ec2::error::ErrorMetadata;
    use aws_sdk_ec2::operation::run_instances::RunInstancesError;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;

    use super::*;
    use crate::testing::{Moto, n};

    fn in_use(ip: &str) -> SdkError<RunInstancesError, HttpResponse> {
        let meta = ErrorMetadata::builder()
            .code(IN_USE)
            .message(format!("Address {ip} is in use."))
            .build();
        let raw = HttpResponse::new(StatusCode::try_from(400).unwrap(), SdkBody::empty());
        SdkError::service_error(RunInstancesError::generic(meta), raw)
    }

    /// A launch on `ip` refused `fails` times; the result and the number of attempts.
    async fn launch(cx: &Ctx, ip: &str, fails: u32) -> (Result<u32>, u32) {
        let attempts = AtomicU32::new(0);
        let r = run_instances(cx, Some(ip), || {
            let k = attempts.fetch_add(1, Ordering::SeqCst);
            let r = if k < fails { Err(in_use(ip)) } else { Ok(k) };
            async move { r }
        })
        .await;
        (r, attempts.load(Ordering::SeqCst))
    }

    #[tokio::test]
    async fn a_released_address_is_waited_for_boundedly_and_any_other_holder_fails_fast() {
        let moto = Moto::start();
        let p = moto.provider_with("stack-ip", &[("propagation_timeout_seconds", n(1.0))]).await;
        let cx = p.context().unwrap();
        // Held by an interface this run did not release: one attempt, an error naming it.
        let (r, attempts) = launch(&cx, "10.0.1.10", 3).await;
        let e = r.unwrap_err();
        assert_eq!(attempts, 1);
        assert!(!e.retryable);
        assert!(
            e.message.contains("private IP 10.0.1.10 is in use")
                && e.message.contains("another network interface")
                && e.message.contains(IN_USE),
            "{e:?}"
        );
        // Its instance terminated by this run: tried again until the launch goes through.
        cx.clients.note_released("10.0.1.10");
        let (r, attempts) = launch(&cx, "10.0.1.10", 3).await;
        assert_eq!(r.unwrap(), 3);
        assert_eq!(attempts, 4);
        // Not forever: past propagation_timeout_seconds, it says so.
        let (r, attempts) = launch(&cx, "10.0.1.10", u32::MAX).await;
        let e = r.unwrap_err();
        assert!(e.message.contains("still held"), "{e:?}");
        assert!((2..100).contains(&attempts), "{attempts}");
        // The release of 10.0.1.10 says nothing about 10.0.1.1.
        let (r, attempts) = launch(&cx, "10.0.1.1", 3).await;
        assert!(r.is_err());
        assert_eq!(attempts, 1);
    }
}
