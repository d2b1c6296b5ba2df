//! Shared AWS clients: built once at `configure`, used by every resource type.
//!
//! Every API call goes through [`Clients::call`], which
//! - waits for a token from a per-API token bucket (client-side rate limit, so a large apply
//!   does not trip AWS's own throttling for the whole account),
//! - classifies failures: throttling, 5xx and transport faults are retried with exponential
//!   backoff and full jitter; everything else (InvalidAMIID.*, InvalidParameterValue, quota, …)
//!   fails fast as [`ProviderError::fatal`] carrying the AWS error code and message.
//!
//! - inside [`propagating`] (a create or update and the reads that follow it), retries the
//!   errors AWS returns while something just created is not yet visible everywhere — its
//!   eventual consistency: a referenced group, subnet, route table, instance, gateway, VPC,
//!   Elastic IP allocation, NAT gateway or VPC endpoint "not found", a profile "invalid", an `IncorrectState` — when the error names an object this
//!   run created ([`Clients::note_created`]), for at most [`CallPolicy::propagation_timeout`]
//!   (2 min, as Terraform's AWS provider), then fails with the code. A reference to anything
//!   else (a typo, an object deleted outside) fails at once, and outside a create a "not
//!   found" means gone.
//!
//! The SDK's own retry loop is disabled so that retries pass through the token bucket and are
//! bounded in one place. A [`CallCounter`] interceptor counts every HTTP attempt per
//! `service:Operation`; [`Clients::call_stats`] exposes the counts (refresh cost is measured,
//! not assumed — design invariant 3).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    AfterDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef, Output,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpResponse, Metadata};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use rand::Rng;

use crate::provider::ProviderError;

/// Counts HTTP attempts per `service:Operation`. One instance per service client; all share
/// the same map.
#[derive(Debug, Clone)]
pub struct CallCounter {
    service: &'static str,
    counts: Arc<Mutex<BTreeMap<String, u64>>>,
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "slipway-call-counter"
    }

    // Runs once per attempt (retries included), so the count is what AWS actually sees.
    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let op = cfg
            .load::<Metadata>()
            .map(|m| m.name().to_string())
            .unwrap_or_else(|| "unknown".to_string());
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        *counts.entry(format!("{}:{op}", self.service)).or_insert(0) += 1;
        Ok(())
    }
}

/// Records the ids that create calls return (EC2 objects, IAM instance profiles), as they
/// return them: a create of one type makes follow-up calls naming the new object before it
/// returns (ModifyVpcAttribute after CreateVpc), and AWS may not know it there yet.
#[derive(Debug, Clone)]
struct CreatedIds(Arc<Mutex<HashSet<String>>>);

impl Intercept for CreatedIds {
    fn name(&self) -> &'static str {
        "slipway-created-ids"
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Ok(out) = context.output_or_error() {
            let ids = created_ids(out);
            if !ids.is_empty() {
                let mut created = self.0.lock().unwrap_or_else(|e| e.into_inner());
                created.extend(ids);
            }
        }
        Ok(())
    }
}

/// The ids a create call's answer names as new.
fn created_ids(out: &Output) -> Vec<String> {
    use aws_sdk_ec2::operation as ec2;
    let one = |id: Option<&str>| id.map(str::to_string).into_iter().collect();
    if let Some(o) = out.downcast_ref::<ec2::create_vpc::CreateVpcOutput>() {
        return one(o.vpc().and_then(|v| v.vpc_id()));
    }
    if let Some(o) = out.downcast_ref::<ec2::create_subnet::CreateSubnetOutput>() {
        return one(o.subnet().and_then(|v| v.subnet_id()));
    }
    if let Some(o) = out.downcast_ref::<ec2::create_security_group::CreateSecurityGroupOutput>() {
        return one(o.group_id());
    }
    if let Some(o) = out.downcast_ref::<ec2::create_route_table::CreateRouteTableOutput>() {
        return one(o.route_table().and_then(|r| r.route_table_id()));
    }
    if let Some(o) = out.downcast_ref::<ec2::create_internet_gateway::CreateInternetGatewayOutput>()
    {
        return one(o.internet_gateway().and_then(|g| g.internet_gateway_id()));
    }
    if let Some(o) = out.downcast_ref::<ec2::allocate_address::AllocateAddressOutput>() {
        return one(o.allocation_id());
    }
    if let Some(o) = out.downcast_ref::<ec2::create_nat_gateway::CreateNatGatewayOutput>() {
        return one(o.nat_gateway().and_then(|g| g.nat_gateway_id()));
    }
    if let Some(o) = out.downcast_ref::<ec2::create_vpc_endpoint::CreateVpcEndpointOutput>() {
        return one(o.vpc_endpoint().and_then(|e| e.vpc_endpoint_id()));
    }
    if let Some(o) = out.downcast_ref::<ec2::create_volume::CreateVolumeOutput>() {
        return one(o.volume_id());
    }
    if let Some(o) = out.downcast_ref::<ec2::run_instances::RunInstancesOutput>() {
        return o.instances().iter().filter_map(|i| i.instance_id()).map(str::to_string).collect();
    }
    if let Some(o) = out.downcast_ref::<
        aws_sdk_iam::operation::create_instance_profile::CreateInstanceProfileOutput,
    >() {
        return one(o.instance_profile().map(|p| p.instance_profile_name()));
    }
    Vec::new()
}

/// Retry and rate-limit settings (provider block: `max_retries`, `requests_per_second`).
#[derive(Debug, Clone)]
pub struct CallPolicy {
    /// Attempts after the first one, for retryable failures only.
    pub max_retries: u32,
    /// First backoff; doubles per attempt, capped at `max_backoff`, with full jitter.
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// Sustained rate per API (`ec2:DescribeInstances`), and the burst allowed above it.
    pub requests_per_second: f64,
    pub burst: f64,
    /// How long waiters (instance running, LB active) poll before giving up.
    pub ready_timeout: Duration,
    pub poll_interval: Duration,
    /// How long an error of something just created not being visible yet is retried.
    pub propagation_timeout: Duration,
}

impl Default for CallPolicy {
    fn default() -> Self {
        CallPolicy {
            max_retries: 8,
            base_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(20),
            // Below EC2's documented per-action buckets for mutating calls, so one slipway
            // run leaves headroom for everything else in the account.
            requests_per_second: 10.0,
            burst: 20.0,
            ready_timeout: Duration::from_secs(600),
            poll_interval: Duration::from_secs(5),
            propagation_timeout: Duration::from_secs(120),
        }
    }
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// The service clients plus shared accounting.
pub struct Clients {
    pub ec2: aws_sdk_ec2::Client,
    pub elb: aws_sdk_elasticloadbalancingv2::Client,
    pub iam: aws_sdk_iam::Client,
    pub s3: aws_sdk_s3::Client,
    pub region: String,
    pub policy: CallPolicy,
    counts: Arc<Mutex<BTreeMap<String, u64>>>,
    buckets: Mutex<HashMap<String, Bucket>>,
    /// The ids of objects this run created: AWS may not show them everywhere yet.
    created: Arc<Mutex<HashSet<String>>>,
    /// The private addresses of instances this run terminated: their interfaces may hold them
    /// a little longer.
    released: Mutex<HashSet<String>>,
}

/// An AWS failure, classified.
#[derive(Debug, Clone)]
pub struct AwsFailure {
    pub code: String,
    pub message: String,
    pub retryable: bool,
    /// The request may have been carried out although the answer says it failed (a 500, a
    /// gateway error, a connection lost after sending). Retrying a create blindly would make a
    /// second object; see [`converging`].
    pub ambiguous: bool,
}

impl AwsFailure {
    pub fn is_not_found(&self) -> bool {
        self.code.contains("NotFound")
            || self.code == "NoSuchEntity"
            || self.code == "NoSuchBucket"
            || self.code == "NoSuchKey"
    }
}

/// Error codes AWS uses for throttling and transient faults across EC2, ELBv2, IAM and S3.
const RETRYABLE_CODES: &[&str] = &[
    "RequestLimitExceeded",
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "SlowDown",
    "InternalError",
    "InternalFailure",
    "ServiceUnavailable",
    "Unavailable",
    "RequestTimeout",
    "RequestTimeoutException",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
];

pub fn classify<E>(err: &SdkError<E, HttpResponse>) -> AwsFailure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match err {
        SdkError::ServiceError(_) | SdkError::ResponseError(_) => {
            let code = err.code().unwrap_or("").to_string();
            let status = err.raw_response().map(|r| r.status().as_u16()).unwrap_or(0);
            let message = err
                .message()
                .map(str::to_string)
                .unwrap_or_else(|| format!("HTTP {status}: {}", display_chain(err)));
            let throttled = RETRYABLE_CODES.contains(&code.as_str())
                && !matches!(code.as_str(), "InternalError" | "InternalFailure");
            let retryable = throttled || status >= 500;
            // Throttling and 503 mean "not carried out"; other server errors may hide success.
            let ambiguous = retryable && !throttled && status != 503;
            AwsFailure {
                code: if code.is_empty() { format!("HTTP{status}") } else { code },
                message,
                retryable,
                ambiguous,
            }
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => AwsFailure {
            code: "Transport".to_string(),
            message: display_chain(err),
            retryable: true,
            // Whether the request left before the connection failed is unknowable here.
            ambiguous: true,
        },
        _ => AwsFailure {
            code: "Client".to_string(),
            message: display_chain(err),
            retryable: false,
            ambiguous: false,
        },
    }
}

/// Whether AWS gives this error while a change propagates (and so it may heal in seconds):
/// a reference to something just created that this endpoint does not know yet.
pub fn is_propagation(f: &AwsFailure) -> bool {
    matches!(
        f.code.as_str(),
        "InvalidGroup.NotFound"
            | "InvalidSubnetID.NotFound"
            | "InvalidRouteTableID.NotFound"
            | "InvalidInstanceID.NotFound"
            | "InvalidInternetGatewayID.NotFound"
            | "InvalidVpcID.NotFound"
            | "InvalidNetworkInterfaceID.NotFound"
            | "InvalidAllocationID.NotFound"
            | "NatGatewayNotFound"
            | "InvalidVpcEndpointId.NotFound"
            | "IncorrectState"
    ) || (f.code == "InvalidParameterValue" && f.message.contains("iamInstanceProfile"))
}

tokio::task_local! {
    static CONVERGING: ();
    static PROPAGATING: ();
}

/// Runs `f` (a create or an update with the reads that wait for it and read it back) so that
/// errors of something just created not being visible yet ([`is_propagation`]) are retried
/// for up to [`CallPolicy::propagation_timeout`]. Only there: elsewhere such an error is an
/// answer (a read or a delete of something gone).
pub async fn propagating<F: Future>(f: F) -> F::Output {
    PROPAGATING.scope((), f).await
}

fn inside_propagating() -> bool {
    PROPAGATING.try_with(|_| ()).is_ok()
}

/// Runs `f` (a create or an update) so that an ambiguous failure of any call inside it is
/// returned at once instead of retried: the caller ([`super::resource::create`],
/// [`super::resource::update`]) reads what AWS now has — adopting the object by its ownership
/// tags or derived id if a create did land — and goes on from there. A blind retry would
/// duplicate an object on an API that ignores client tokens, or fail with "already exists" /
/// "already associated" on one that does not.
pub async fn converging<F: Future>(f: F) -> F::Output {
    CONVERGING.scope((), f).await
}

fn inside_converging() -> bool {
    CONVERGING.try_with(|_| ()).is_ok()
}

fn display_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

impl Clients {
    pub fn new(sdk: &aws_config::SdkConfig, region: String, policy: CallPolicy) -> Clients {
        let counts = Arc::new(Mutex::new(BTreeMap::new()));
        let counter = |service| CallCounter { service, counts: counts.clone() };
        let created = Arc::new(Mutex::new(HashSet::new()));
        let ec2 = aws_sdk_ec2::config::Builder::from(sdk)
            .interceptor(counter("ec2"))
            .interceptor(CreatedIds(created.clone()))
            .build();
        let elb = aws_sdk_elasticloadbalancingv2::config::Builder::from(sdk)
            .interceptor(counter("elbv2"))
            .build();
        let iam = aws_sdk_iam::config::Builder::from(sdk)
            .interceptor(counter("iam"))
            .interceptor(CreatedIds(created.clone()))
            .build();
        // Path-style keeps bucket names out of the host name, which emulators need and AWS
        // accepts.
        let s3 = aws_sdk_s3::config::Builder::from(sdk)
            .interceptor(counter("s3"))
            .force_path_style(sdk.endpoint_url().is_some())
            .build();
        Clients {
            ec2: aws_sdk_ec2::Client::from_conf(ec2),
            elb: aws_sdk_elasticloadbalancingv2::Client::from_conf(elb),
            iam: aws_sdk_iam::Client::from_conf(iam),
            s3: aws_sdk_s3::Client::from_conf(s3),
            region,
            policy,
            counts,
            buckets: Mutex::new(HashMap::new()),
            created,
            released: Mutex::default(),
        }
    }

    /// Records that this run created (or adopted just now) the object `id` (create calls'
    /// answers are recorded as they arrive): an error that names it as not found (or not
    /// ready) inside [`propagating`] is AWS's eventual consistency, and retried.
    pub fn note_created(&self, id: &str) {
        let mut created = self.created.lock().unwrap_or_else(|e| e.into_inner());
        created.insert(id.to_string());
    }

    /// Records that this run terminated the instance that held private address `ip`.
    pub fn note_released(&self, ip: &str) {
        let mut released = self.released.lock().unwrap_or_else(|e| e.into_inner());
        released.insert(ip.to_string());
    }

    /// Whether this run terminated an instance that held private address `ip`.
    pub fn released(&self, ip: &str) -> bool {
        let released = self.released.lock().unwrap_or_else(|e| e.into_inner());
        released.contains(ip)
    }

    /// Whether `failure` names an object this run created.
    fn names_created_object(&self, failure: &AwsFailure) -> bool {
        let created = self.created.lock().unwrap_or_else(|e| e.into_inner());
        created.iter().any(|id| failure.message.contains(id.as_str()))
    }

    /// HTTP attempts so far, by `service:Operation`.
    pub fn call_stats(&self) -> BTreeMap<String, u64> {
        self.counts.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Waits until the bucket of `api` holds a token, then takes it.
    async fn acquire(&self, api: &str) {
        loop {
            let wait = {
                let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
                let now = Instant::now();
                let b = buckets
                    .entry(api.to_string())
                    .or_insert(Bucket { tokens: self.policy.burst, last: now });
                let elapsed = now.duration_since(b.last).as_secs_f64();
                b.tokens =
                    (b.tokens + elapsed * self.policy.requests_per_second).min(self.policy.burst);
                b.last = now;
                if b.tokens >= 1.0 {
                    b.tokens -= 1.0;
                    return;
                }
                Duration::from_secs_f64((1.0 - b.tokens) / self.policy.requests_per_second)
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// Runs one API call with rate limiting and retries. `api` names it in errors
    /// (`ec2:RunInstances`); `f` builds and sends the request afresh for each attempt.
    pub async fn call<T, E, F, Fut>(&self, api: &str, f: F) -> Result<T, AwsFailure>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let mut attempt = 0u32;
        let started = Instant::now();
        let mut waits = 0u32;
        loop {
            self.acquire(api).await;
            match f().await {
                Ok(v) => return Ok(v),
                Err(e) => {
                    let mut failure = classify(&e);
                    if is_propagation(&failure)
                        && inside_propagating()
                        && self.names_created_object(&failure)
                    {
                        let elapsed = started.elapsed();
                        if elapsed < self.policy.propagation_timeout {
                            // Doubling from the base backoff to 5 s: a few seconds is usual.
                            let sleep = self
                                .policy
                                .base_backoff
                                .saturating_mul(1u32 << waits.min(16))
                                .min(Duration::from_secs(5))
                                .min(self.policy.propagation_timeout - elapsed);
                            tracing::info!(api, code = %failure.code, waits, "not visible everywhere yet; retrying");
                            tokio::time::sleep(sleep).await;
                            waits += 1;
                            continue;
                        }
                        failure.message = format!(
                            "{} (still so after {}s: not a propagation delay)",
                            failure.message,
                            elapsed.as_secs()
                        );
                    }
                    if !failure.retryable
                        || attempt >= self.policy.max_retries
                        || (failure.ambiguous && inside_converging())
                    {
                        tracing::debug!(api, code = %failure.code, attempt, "AWS call failed");
                        return Err(failure);
                    }
                    let cap = self
                        .policy
                        .base_backoff
                        .saturating_mul(1u32 << attempt.min(16))
                        .min(self.policy.max_backoff);
                    // Full jitter: spreads retries of many parallel calls apart.
                    let sleep = rand::rng().random_range(0.0..=cap.as_secs_f64());
                    tracing::debug!(api, code = %failure.code, attempt, sleep, "retrying AWS call");
                    tokio::time::sleep(Duration::from_secs_f64(sleep)).await;
                    attempt += 1;
                }
            }
        }
    }

    /// Like [`Clients::call`], with failures turned into provider errors naming the API.
    pub async fn run<T, E, F, Fut>(&self, api: &str, f: F) -> Result<T, ProviderError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        self.call(api, f).await.map_err(|e| to_provider_error(api, e))
    }
}

pub fn to_provider_error(api: &str, f: AwsFailure) -> ProviderError {
    let message = format!("{api} failed: {}: {}", f.code, f.message);
    if f.retryable { ProviderError::retryable(message) } else { ProviderError::fatal(message) }
}

#[cfg(test)]
mod tests {
    //! The retry and rate-limit policy, with failures made locally: moto never throttles.

    use std::sync::atomic::{AtomicU32, Ordering};

    use aws_sdk_ec2::error::ErrorMetadata;
    use aws_sdk_ec2::operation::describe_vpcs::DescribeVpcsError;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;

    use super::*;

    fn clients(policy: CallPolicy) -> Clients {
        let sdk = aws_config::SdkConfig::builder()
            .region(aws_config::Region::new("us-east-1"))
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        Clients::new(&sdk, "us-east-1".into(), policy)
    }

    fn fast() -> CallPolicy {
        CallPolicy {
            max_retries: 3,
            base_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(5),
            requests_per_second: 1000.0,
            burst: 1000.0,
            ..CallPolicy::default()
        }
    }

    fn failure(status: u16, code: &str) -> SdkError<DescribeVpcsError, HttpResponse> {
        failure_with(status, code, &format!("{code} happened"))
    }

    fn failure_with(
        status: u16,
        code: &str,
        message: &str,
    ) -> SdkError<DescribeVpcsError, HttpResponse> {
        let err = DescribeVpcsError::generic(
            ErrorMetadata::builder().code(code).message(message).build(),
        );
        let raw = HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::empty());
        SdkError::service_error(err, raw)
    }

    /// Fails with (status, code) `fails` times, then succeeds; counts attempts.
    async fn run(
        c: &Clients,
        fails: u32,
        status: u16,
        code: &str,
    ) -> (Result<u32, ProviderError>, u32) {
        let attempts = AtomicU32::new(0);
        let r = c
            .run("ec2:DescribeVpcs", || {
                let n = attempts.fetch_add(1, Ordering::SeqCst);
                let code = code.to_string();
                async move { if n < fails { Err(failure(status, &code)) } else { Ok(n) } }
            })
            .await;
        (r, attempts.load(Ordering::SeqCst))
    }

    /// Fails with `fail()` `fails` times, then succeeds; counts attempts.
    async fn run_with(
        c: &Clients,
        fails: u32,
        fail: impl Fn() -> SdkError<DescribeVpcsError, HttpResponse>,
    ) -> (Result<u32, ProviderError>, u32) {
        let attempts = AtomicU32::new(0);
        let r = c
            .run("ec2:DescribeVpcs", || {
                let n = attempts.fetch_add(1, Ordering::SeqCst);
                let result = if n < fails { Err(fail()) } else { Ok(n) };
                async move { result }
            })
            .await;
        (r, attempts.load(Ordering::SeqCst))
    }

    #[tokio::test]
    async fn throttling_and_5xx_are_retried_then_succeed() {
        let c = clients(fast());
        let (r, attempts) = run(&c, 2, 400, "RequestLimitExceeded").await;
        assert_eq!(r.unwrap(), 2);
        assert_eq!(attempts, 3);
        let (r, attempts) = run(&c, 1, 503, "").await;
        assert!(r.is_ok());
        assert_eq!(attempts, 2);
    }

    #[tokio::test]
    async fn validation_errors_fail_fast_with_code_and_message() {
        let c = clients(fast());
        let (r, attempts) = run(&c, 10, 400, "InvalidAMIID.NotFound").await;
        let e = r.unwrap_err();
        assert_eq!(attempts, 1);
        assert!(!e.retryable);
        assert!(e.message.contains("ec2:DescribeVpcs"), "{e:?}");
        assert!(e.message.contains("InvalidAMIID.NotFound"), "{e:?}");
        assert!(e.message.contains("InvalidAMIID.NotFound happened"), "{e:?}");
    }

    #[tokio::test]
    async fn propagation_errors_are_retried_only_inside_a_create_for_fresh_objects_and_a_bounded_time()
     {
        let c = clients(CallPolicy { propagation_timeout: Duration::from_millis(200), ..fast() });
        c.note_created("subnet-1");
        c.note_created("vpc-1");
        let not_found = |code: &'static str, id: &'static str| {
            move || failure_with(400, code, &format!("The ID '{id}' does not exist"))
        };
        // Outside a create, "not found" is an answer.
        let (r, attempts) =
            run_with(&c, 2, not_found("InvalidSubnetID.NotFound", "subnet-1")).await;
        assert!(!r.unwrap_err().retryable);
        assert_eq!(attempts, 1);
        // Inside, about an object this run created, it heals: retried until visible, not
        // counted against max_retries (3).
        let (r, attempts) =
            propagating(run_with(&c, 5, not_found("InvalidSubnetID.NotFound", "subnet-1"))).await;
        assert_eq!(r.unwrap(), 5);
        assert_eq!(attempts, 6);
        // About anything else (a typo, a deleted object): at once.
        let (r, attempts) =
            propagating(run_with(&c, 5, not_found("InvalidSubnetID.NotFound", "subnet-2"))).await;
        assert!(r.is_err());
        assert_eq!(attempts, 1);
        // A fresh reference that never appears fails once the window is over, saying so.
        let (r, attempts) =
            propagating(run_with(&c, u32::MAX, not_found("InvalidVpcID.NotFound", "vpc-1"))).await;
        let e = r.unwrap_err();
        assert!(!e.retryable);
        assert!(e.message.contains("InvalidVpcID.NotFound"), "{e:?}");
        assert!(e.message.contains("not a propagation delay"), "{e:?}");
        assert!((2..200).contains(&attempts), "{attempts}");
        // Other validation errors fail at once inside too.
        let (r, attempts) =
            propagating(run_with(&c, 5, not_found("InvalidParameterValue", "subnet-1"))).await;
        assert!(r.is_err());
        assert_eq!(attempts, 1);
    }

    #[tokio::test]
    async fn retries_are_bounded() {
        let c = clients(fast());
        let (r, attempts) = run(&c, 100, 400, "Throttling").await;
        let e = r.unwrap_err();
        assert_eq!(attempts, 4, "first attempt plus max_retries");
        assert!(e.retryable, "still throttled: the caller may try later");
    }

    #[tokio::test]
    async fn token_bucket_limits_each_api() {
        let c = clients(CallPolicy { requests_per_second: 50.0, burst: 1.0, ..fast() });
        let start = Instant::now();
        for _ in 0..6 {
            c.acquire("ec2:DescribeVpcs").await;
        }
        // One from the burst, then five at 50/s: at least ~100 ms.
        assert!(start.elapsed() >= Duration::from_millis(90), "{:?}", start.elapsed());
        // Another API has its own bucket.
        let start = Instant::now();
        c.acquire("ec2:DescribeSubnets").await;
        assert!(start.elapsed() < Duration::from_millis(50));
    }
}
