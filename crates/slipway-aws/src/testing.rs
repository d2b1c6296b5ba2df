//! Test harness: a real moto server per test, and a provider configured against it.
//!
//! The server (`scripts/install-moto` installs it: moto_server with conditional writes made
//! atomic, as on AWS) is found via `SLIPWAY_MOTO_SERVER`,
//! `$HOME/.cache/moto-venv/bin/slipway-moto-server`, or `PATH`. When it is missing the test **fails** with install instructions: an AWS provider
//! whose tests silently skip is untested. Each test gets its own server on a free port (no
//! shared state between tests), killed on drop. Validation that moto leaves off by default
//! (AMI ids, instance types, key pairs) is switched on, so bad input fails as on AWS.
//!
//! Credentials and region go into the provider block, never into the test process's
//! environment (tests run in parallel threads of one process).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::AwsProvider;
use crate::addr::ResourceInstanceAddr;
use crate::provider::{CreateRequest, Provider, ProviderContext, ProviderError, ReadRequest};
use crate::value::Value;

pub const INSTALL_HINT: &str = "slipway-moto-server not found. Install it with:\n  \
    scripts/install-moto\n\
    or point SLIPWAY_MOTO_SERVER at the path it prints";

/// An AMI id moto knows (Amazon Linux 2023, from moto's bundled list).
pub const AMI: &str = "ami-0d27e0fb3bac4d724";

fn find_moto() -> PathBuf {
    if let Some(p) = std::env::var_os("SLIPWAY_MOTO_SERVER") {
        return PathBuf::from(p);
    }
    if let Some(home) = std::env::var_os("HOME") {
        let p = PathBuf::from(home).join(".cache/moto-venv/bin/slipway-moto-server");
        if p.exists() {
            return p;
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let p = dir.join("slipway-moto-server");
            if p.exists() {
                return p;
            }
        }
    }
    panic!("{INSTALL_HINT}");
}

pub struct Moto {
    child: Child,
    recording: PathBuf,
    pub endpoint: String,
    port: u16,
}

impl Moto {
    pub fn start() -> Moto {
        let bin = find_moto();
        // Bind port 0 to get a free port, then release it for moto. A race with another
        // process is possible but harmless: moto would fail to bind and the wait times out.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("no free port")
            .port();
        let recording = std::env::temp_dir()
            .join(format!("slipway-moto-recording-{}-{port}", std::process::id()));
        let _ = std::fs::remove_file(&recording);
        let child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("MOTO_ENABLE_AMI_VALIDATION", "true")
            .env("MOTO_EC2_ENABLE_INSTANCE_TYPE_VALIDATION", "true")
            .env("MOTO_ENABLE_KEYPAIR_VALIDATION", "true")
            // The request recorder appends to a file (default: ./moto_recording, shared by
            // every server): one file per server, removed on drop.
            .env("MOTO_RECORDER_FILEPATH", &recording)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}\n{INSTALL_HINT}", bin.display()));
        let mut moto =
            Moto { child, recording, endpoint: format!("http://127.0.0.1:{port}"), port };
        moto.wait_ready();
        moto
    }

    fn wait_ready(&mut self) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(60) {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("moto_server exited early with {status}");
            }
            if self.http("GET", "/moto-api/").is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("moto_server did not answer on port {} within 60 s", self.port);
    }

    /// A minimal HTTP/1.0 request to moto's control API; the response body, if any answer.
    pub fn http(&self, method: &str, path: &str) -> Option<String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
        write!(s, "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n")
            .ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        out.starts_with("HTTP/").then_some(out)
    }

    /// A provider configured against this server for `stack`, with fast polling.
    pub async fn provider(&self, stack: &str) -> AwsProvider {
        self.provider_with(stack, &[]).await
    }

    pub async fn provider_with(&self, stack: &str, extra: &[(&str, Value)]) -> AwsProvider {
        let p = AwsProvider::new();
        let mut config: BTreeMap<String, Value> = [
            ("region", Value::string("us-east-1")),
            ("endpoint", Value::string(self.endpoint.clone())),
            ("access_key", Value::string("testing")),
            ("secret_key", Value::string("testing")),
            ("poll_interval_seconds", Value::Number(0.2)),
            ("ready_timeout_seconds", Value::Number(30.0)),
            // moto answers some unsupported calls with HTML 500s: do not wait long on them.
            ("max_retries", Value::Number(2.0)),
            ("requests_per_second", Value::Number(200.0)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        for (k, v) in extra {
            config.insert(k.to_string(), v.clone());
        }
        p.configure(
            &ProviderContext { stack_id: stack.to_string(), environment: "test".to_string() },
            &Value::Map(config),
        )
        .await
        .expect("configure against moto");
        p
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.recording);
    }
}

// ---- helpers for provider tests ----

pub fn s(v: &str) -> Value {
    Value::string(v)
}

pub fn n(v: f64) -> Value {
    Value::Number(v)
}

pub fn obj(pairs: &[(&str, Value)]) -> Value {
    Value::Map(pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect())
}

pub fn list(items: &[Value]) -> Value {
    Value::List(items.to_vec())
}

pub fn addr(a: &str) -> ResourceInstanceAddr {
    ResourceInstanceAddr::parse(a).expect("address")
}

pub fn attr(v: &Value, k: &str) -> Value {
    v.get_attr(k).unwrap_or_else(|| panic!("{k} missing from {v:?}"))
}

pub fn attr_str(v: &Value, k: &str) -> String {
    attr(v, k).as_str().unwrap_or_else(|| panic!("{k} is not a string in {v:?}")).to_string()
}

/// Plans (as the engine would: provider normalization) and creates.
pub async fn create(
    p: &AwsProvider,
    rtype: &str,
    address: &str,
    config: Value,
) -> Result<Value, ProviderError> {
    create_with_token(p, rtype, address, "tok-1", config).await
}

pub async fn create_with_token(
    p: &AwsProvider,
    rtype: &str,
    address: &str,
    token: &str,
    config: Value,
) -> Result<Value, ProviderError> {
    let planned = p.plan(rtype, None, config)?.planned;
    let a = addr(address);
    p.create(
        rtype,
        CreateRequest {
            address: &a,
            client_token: token,
            ownership_tags: &BTreeMap::new(),
            planned: &planned,
            resuming: true,
        },
    )
    .await
}

/// Reads many objects of one type in one batch.
pub async fn read(p: &AwsProvider, rtype: &str, priors: &[(&str, &Value)]) -> Vec<Option<Value>> {
    let reqs: Vec<ReadRequest> =
        priors.iter().map(|(a, v)| ReadRequest { address: addr(a), prior: (*v).clone() }).collect();
    p.read(rtype, &reqs).await.expect("read")
}

/// Plans an update from `prior` with a new configuration and applies it.
pub async fn update(p: &AwsProvider, rtype: &str, prior: &Value, config: Value) -> Value {
    // The engine merges prior computed values under the configuration; do the same.
    let mut proposed = prior.as_map().cloned().unwrap_or_default();
    proposed.extend(config.as_map().cloned().unwrap_or_default());
    let planned = p.plan(rtype, Some(prior), Value::Map(proposed)).expect("plan").planned;
    p.update(rtype, prior, &planned).await.expect("update")
}

/// Calls counted since `before`, for one `service:Operation`.
pub fn calls_since(p: &AwsProvider, before: &BTreeMap<String, u64>, op: &str) -> u64 {
    p.call_stats().get(op).copied().unwrap_or(0) - before.get(op).copied().unwrap_or(0)
}

/// Plans as the engine would after a refresh and says whether anything would change.
pub fn plan_is_noop(p: &AwsProvider, rtype: &str, refreshed: &Value, config: Value) -> bool {
    let mut proposed = refreshed.as_map().cloned().unwrap_or_default();
    proposed.extend(config.as_map().cloned().unwrap_or_default());
    let planned = p.plan(rtype, Some(refreshed), Value::Map(proposed)).expect("plan").planned;
    if &planned != refreshed {
        eprintln!("plan differs:\n planned {planned:?}\n state   {refreshed:?}");
    }
    &planned == refreshed
}
