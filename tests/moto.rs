//! A real moto server (PyPI `moto[server]`, installed by `scripts/install-moto`) on a free
//! loopback port, with moto's validation switches on; killed when dropped. Every test that needs
//! the AWS API starts its own, so tests never share cloud state.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
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
    let p = std::env::var_os("SLIPWAY_MOTO_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default())
                .join(".cache/moto-venv/bin/moto_server")
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
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(&server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("MOTO_ENABLE_AMI_VALIDATION", "true")
            .env("MOTO_EC2_ENABLE_INSTANCE_TYPE_VALIDATION", "true")
            .env("MOTO_ENABLE_KEYPAIR_VALIDATION", "true")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        let python = server.parent().unwrap().join("python");
        let moto = Moto {
            child,
            port,
            python,
        };
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(30) {
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
        let o = Command::new(&self.python)
            .args(["-c", &script])
            .output()
            .expect("moto's python");
        assert!(
            o.status.success(),
            "boto3 failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
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
        let mut c = Cmd::new();
        for (k, v) in vars {
            c.env(k, v);
        }
        c.args(args.iter().map(|a| {
            if *a == "ENV" {
                env.to_str().unwrap()
            } else {
                a
            }
        }))
        .env("AWS_ENDPOINT_URL", self.endpoint())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("SLIPWAY_STATE_DIR", state)
        .timeout(Duration::from_secs(300));
        c.run()
    }
}
