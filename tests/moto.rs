//! A real moto server (PyPI `moto[server]`, installed by `scripts/install-moto`) on a free
//! loopback port, with moto's validation switches on; killed when dropped. Every test that needs
//! the AWS API starts its own, so tests never share cloud state.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{Cmd, Run};

pub struct Moto {
    child: Child,
    pub port: u16,
    python: PathBuf,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn moto_server() -> PathBuf {
    let p = std::env::var_os("SLIPWAY_MOTO_SERVER").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var("HOME").unwrap_or_default())
            .join(".cache/moto-venv/bin/slipway-moto-server")
    });
    assert!(
        p.exists(),
        "moto_server not found at {}: run scripts/install-moto (or set SLIPWAY_MOTO_SERVER)",
        p.display()
    );
    p
}

impl Moto {
    pub fn start() -> Moto {
        let server = moto_server();
        let port = crate::util::free_port_on("127.0.0.1");
        // The images real AWS has for the environments' defaults (Debian 12 from Debian's
        // account) beside moto's own: written by scripts/install-moto.
        let amis = server.parent().unwrap().parent().unwrap().join("slipway-amis.json");
        assert!(amis.is_file(), "{} not found: run scripts/install-moto", amis.display());
        let child = Command::new(&server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("MOTO_AMIS_PATH", &amis)
            .env("MOTO_ENABLE_AMI_VALIDATION", "true")
            .env("MOTO_EC2_ENABLE_INSTANCE_TYPE_VALIDATION", "true")
            .env("MOTO_ENABLE_KEYPAIR_VALIDATION", "true")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        let python = server.parent().unwrap().join("python");
        let moto = Moto { child, port, python };
        let t = Instant::now();
        // Python's start-up alone takes seconds when the machine is busy building.
        while t.elapsed() < Duration::from_secs(90) {
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
                let _ = s.write_all(b"GET /moto-api/ HTTP/1.0\r\n\r\n");
                let mut b = String::new();
                if s.read_to_string(&mut b).is_ok() && b.starts_with("HTTP/1") {
                    return moto;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("moto did not start on 127.0.0.1:{port}");
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Runs a boto3 snippet (moto's venv has boto3) with `ec2`, `s3`, `elbv2`, `iam` and `out` (a list printed
    /// as JSON) in scope.
    pub fn boto3(&self, body: &str) -> serde_json::Value {
        let script = format!(
            "import base64, json, boto3\nkw = dict(endpoint_url='{}', region_name='us-east-1', aws_access_key_id='testing', aws_secret_access_key='testing')\nec2 = boto3.client('ec2', **kw)\ns3 = boto3.client('s3', **kw)\nelbv2 = boto3.client('elbv2', **kw)\niam = boto3.client('iam', **kw)\nout = []\n{body}\nprint(json.dumps(out))\n",
            self.endpoint()
        );
        let o = Command::new(&self.python).args(["-c", &script]).output().expect("moto's python");
        assert!(o.status.success(), "boto3 failed: {}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice(&o.stdout).unwrap()
    }

    /// Runs the binary against this server, with state under `state`; an argument `ENV` is
    /// replaced by `env`'s path.
    pub fn slipway(&self, env: &Path, state: &Path, args: &[&str]) -> Run {
        self.slipway_with_env(env, state, args, &[])
    }

    /// `slipway` with extra environment variables (e.g. `SLIPWAY_LOG`).
    pub fn slipway_with_env(
        &self,
        env: &Path,
        state: &Path,
        args: &[&str],
        vars: &[(&str, &str)],
    ) -> Run {
        slipway_at_with_env(&self.endpoint(), env, state, args, vars)
    }
}

/// The binary pointed at an AWS endpoint (moto, or a proxy in front of it).
pub fn slipway_at(endpoint: &str, env: &Path, state: &Path, args: &[&str]) -> Run {
    slipway_at_with_env(endpoint, env, state, args, &[])
}

fn slipway_at_with_env(
    endpoint: &str,
    env: &Path,
    state: &Path,
    args: &[&str],
    vars: &[(&str, &str)],
) -> Run {
    let mut c = Cmd::new();
    c.args(args.iter().map(|a| if *a == "ENV" { env.to_str().unwrap() } else { a }));
    aws_env(&mut c, endpoint, state);
    for (k, v) in vars {
        c.env(k, v);
    }
    // Longer than a manifest's default readiness wait (300 s): a stuck apply then ends with
    // slipway's own message naming what it waited for, not with this kill.
    c.timeout(Duration::from_secs(600));
    c.run()
}

/// The same, spawned: for tests that kill it.
pub fn spawn_slipway_at(endpoint: &str, env: &Path, state: &Path, args: &[&str]) -> Child {
    let mut c = Command::new(crate::util::slipway_bin());
    c.args(args.iter().map(|a| if *a == "ENV" { env.to_str().unwrap() } else { a }))
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("SLIPWAY_STATE_DIR", state)
        .env("SLIPWAY_VAR_install_addons", "false")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c.spawn().expect("spawn slipway")
}

fn aws_env(c: &mut Cmd, endpoint: &str, state: &Path) {
    c.env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("SLIPWAY_STATE_DIR", state)
        // No API server answers behind the emulator's load balancer: the environments' in-cluster
        // stack is tested against scripts/local-cluster instead (tests/addons.rs). Undeclared in
        // the other configurations, where it is ignored like any unused SLIPWAY_VAR_.
        .env("SLIPWAY_VAR_install_addons", "false");
}

/// `aws-fault-proxy` (src/bin) in front of a moto server: latency, refused calls and lost
/// responses, with a log of every request. Killed when dropped.
pub struct FaultProxy {
    child: Child,
    pub port: u16,
    pub log: PathBuf,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request as the proxy logged it.
#[derive(Debug, Clone)]
pub struct Call {
    pub operation: String,
    pub fate: String,
    /// The HTTP status the client got.
    pub status: u64,
    pub params: serde_json::Map<String, serde_json::Value>,
    pub arrived_ms: f64,
    pub done_ms: f64,
}

impl FaultProxy {
    /// `fault_rate`: calls refused (throttling / 503); `lost_rate`: calls carried out whose
    /// answer is replaced by a 500.
    pub fn start(
        moto: &Moto,
        log: PathBuf,
        latency_ms: u64,
        fault_rate: f64,
        lost_rate: f64,
        seed: u64,
    ) -> FaultProxy {
        FaultProxy::start_with(
            moto,
            log,
            &[
                "--latency-ms",
                &latency_ms.to_string(),
                "--fault-rate",
                &fault_rate.to_string(),
                "--lost-response-rate",
                &lost_rate.to_string(),
                "--seed",
                &seed.to_string(),
            ],
        )
    }

    /// The proxy with these options (`--upstream` and `--log` are added).
    pub fn start_with(moto: &Moto, log: PathBuf, options: &[&str]) -> FaultProxy {
        let mut child = Command::new(env!("CARGO_BIN_EXE_aws-fault-proxy"))
            .args(["--upstream", &format!("127.0.0.1:{}", moto.port)])
            .args(["--log", log.to_str().unwrap()])
            .args(options)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start aws-fault-proxy");
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        let port = line
            .trim()
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("aws-fault-proxy said {line:?}"));
        FaultProxy { child, port, log }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `run`'s exit code asserted; when it differs, the wire history of every operation whose
    /// last answer was an error is shown too (fate and status per attempt: was it the proxy,
    /// or the endpoint?).
    pub fn assert_code(&self, run: &crate::util::Run, code: i32) {
        if run.code == Some(code) {
            return;
        }
        let calls = self.calls();
        let mut last: std::collections::BTreeMap<(String, String), &Call> = Default::default();
        for c in &calls {
            last.insert((c.operation.clone(), serde_json::to_string(&c.params).unwrap()), c);
        }
        let mut history = String::new();
        for ((op, params), _) in last.iter().filter(|(_, c)| c.status >= 400) {
            history.push_str(&format!("{op} {params}:\n"));
            for c in calls.iter().filter(|c| {
                &c.operation == op && &serde_json::to_string(&c.params).unwrap() == params
            }) {
                let at = c.arrived_ms;
                history.push_str(&format!("  {at:>9.0} ms  {} {}\n", c.status, c.fate));
            }
        }
        panic!(
            "unexpected exit status of {}\n{}\n--- calls whose last answer was an error:\n{history}",
            run.describe,
            run.dump()
        );
    }

    /// Every request logged so far.
    pub fn calls(&self) -> Vec<Call> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .map(|d| Call {
                operation: d["operation"].as_str().unwrap_or("").to_string(),
                fate: d["fate"].as_str().unwrap_or("").to_string(),
                status: d["status"].as_u64().unwrap_or(0),
                params: d["params"].as_object().cloned().unwrap_or_default(),
                arrived_ms: d["arrived_ms"].as_f64().unwrap_or(0.0),
                done_ms: d["done_ms"].as_f64().unwrap_or(0.0),
            })
            .collect()
    }
}

/// The table `--stats` prints on stderr: calls per `service:Operation`, and `total`.
pub fn api_calls(stderr: &str) -> std::collections::BTreeMap<String, u64> {
    stderr
        .lines()
        .skip_while(|l| !l.starts_with("API calls"))
        .skip(1)
        .map_while(|l| {
            let mut p = l.split_whitespace();
            Some((p.next()?.to_string(), p.next()?.parse().ok()?))
        })
        .collect()
}
