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
use super::resource::Ctx;
use crate::provider::ProviderError;

/// The code RunInstances answers while another interface holds the requested address.
pub const IN_USE: &str = "InvalidIPAddress.InUse";

/// Runs RunInstances (`f`) for an instance on private address `ip` (None: AWS picks one),
/// waiting out `InvalidIPAddress.InUse` while the address's previous holder is released.
pub async fn run_instances<T, E, F, Fut>(
    cx: &Ctx,
    ip: Option<&str>,
    f: F,
) -> Result<T, ProviderError>
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
async fn being_released(cx: &Ctx, ip: &str) -> Result<bool, ProviderError> {
    if cx.clients.released(ip) {
        return Ok(true);
    }
    let ec2 = &cx.clients.ec2;
    let out = cx
        .clients
        .run("ec2:DescribeInstances", || {
            ec2.describe_instances()
                .filters(
                    Filter::builder()
                        .name("private-ip-address")
                        .values(ip)
                        .build(),
                )
                .filters(
                    Filter::builder()
                        .name("instance-state-name")
                        .values("shutting-down")
                        .build(),
                )
                .send()
        })
        .await?;
    Ok(out.reservations().iter().any(|r| !r.instances().is_empty()))
}
