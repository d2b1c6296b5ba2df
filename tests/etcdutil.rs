//! What the etcd lab tests share (tests/etcd_membership.rs, tests/etcd_stacked.rs,
//! tests/dr_rebuild.rs): a lab's member processes on the loopback ([`Members`]), the rendered
//! membership script run as a node runs it, the cluster read back through etcdctl with the
//! healthcheck client, and certificates from modules/pki for the lab's addresses
//! ([`lab_bundles`]).
//!
//! Invariants: every etcd a [`Members`] starts is killed when it is dropped (and each one it
//! knows still runs when [`Members::assert_running`] says so, or the test fails with its log);
//! the client's key lives outside every member's directory, so wiping a member (a replaced
//! instance) never breaks the lab's own reads.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::etcd::{Run, etcdctl, run, wait_until};
use crate::etcd_membership::Tls;

/// `impl Deref<Target = Members>` (and `DerefMut`) for a lab type with a field `m: Members`,
/// so the lab's tests call the shared operations (`script`, `ctl`, `kill`, …) on the lab.
macro_rules! members_lab {
    ($lab:ty) => {
        impl std::ops::Deref for $lab {
            type Target = $crate::etcdutil::Members;
            fn deref(&self) -> &$crate::etcdutil::Members {
                &self.m
            }
        }

        impl std::ops::DerefMut for $lab {
            fn deref_mut(&mut self) -> &mut $crate::etcdutil::Members {
                &mut self.m
            }
        }
    };
}
pub(crate) use members_lab;

/// A member as `etcdctl member list` shows it: (id in hex, name, peer URL, learner).
pub(crate) type Member = (String, String, String, bool);

/// A lab's members: one directory each under a scratch directory, the declared list the
/// scripts read (an S3 object on EC2), and the etcd processes by name.
pub(crate) struct Members {
    work: tempfile::TempDir,
    /// The declared member list's file (`SLIPWAY_ETCD_MEMBERS_FILE`).
    pub(crate) declared: PathBuf,
    pub(crate) procs: BTreeMap<String, Child>,
    /// Said when etcd cannot be started: how to install it.
    install: &'static str,
}

impl Members {
    /// `client`: the healthcheck client's PEMs (`ca.crt`, `healthcheck-client.crt`,
    /// `healthcheck-client.key`) by file name.
    pub(crate) fn new(client: [(&str, &str); 3], install: &'static str) -> Members {
        let work = tempfile::tempdir().unwrap();
        let pki = work.path().join("client");
        std::fs::create_dir_all(&pki).unwrap();
        for (file, pem) in client {
            std::fs::write(pki.join(file), pem).unwrap();
        }
        let declared = work.path().join("etcd-members.json");
        Members { work, declared, procs: BTreeMap::new(), install }
    }

    pub(crate) fn dir(&self, name: &str) -> PathBuf {
        self.work.path().join(name)
    }

    /// The healthcheck client etcdctl authenticates with.
    pub(crate) fn tls(&self) -> Tls {
        let pki = self.work.path().join("client");
        [
            ("cacert", pki.join("ca.crt")),
            ("cert", pki.join("healthcheck-client.crt")),
            ("key", pki.join("healthcheck-client.key")),
        ]
    }

    pub(crate) fn ctl(&self, endpoints: &[String], args: &[&str]) -> Run {
        let tls = self.tls();
        let tls: Vec<(&str, &Path)> = tls.iter().map(|(k, p)| (*k, p.as_path())).collect();
        etcdctl(endpoints, &tls, args)
    }

    /// The member's script (`member.sh` in its directory) with its node's environment:
    /// etcdctl on PATH, the declared list's file.
    pub(crate) fn script_cmd(&self, name: &str, mode: &str) -> Command {
        let path = format!(
            "{}:{}",
            crate::kubeutil::kube_bin_dir().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut cmd = Command::new("bash");
        cmd.arg("member.sh")
            .arg(mode)
            .current_dir(self.dir(name))
            .env_clear()
            .env("PATH", path)
            .env("SLIPWAY_ETCD_MEMBERS_FILE", &self.declared);
        cmd
    }

    pub(crate) fn script(&self, name: &str, mode: &str) -> Run {
        run(&mut self.script_cmd(name, mode))
    }

    /// `script` started, not waited for: two nodes shutting down at the same moment.
    pub(crate) fn spawn_script(&self, name: &str, mode: &str) -> Child {
        self.script_cmd(name, mode)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// etcd in the member's directory with `args`, its output appended to `etcd.log` there.
    pub(crate) fn spawn_etcd<S: AsRef<std::ffi::OsStr>>(&mut self, name: &str, args: &[S]) {
        let child = spawn_etcd(&self.dir(name), args, self.install);
        self.procs.insert(name.to_string(), child);
    }

    /// SIGKILL, as when an instance dies.
    pub(crate) fn kill(&mut self, name: &str) {
        if let Some(mut child) = self.procs.remove(name) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The member list from any of `endpoints`, sorted (decimal IDs, as etcdctl's `--hex` JSON
    /// drops `isLearner`, shown in hex as etcdctl does).
    pub(crate) fn members(&self, endpoints: &[String]) -> Result<Vec<Member>, String> {
        let r = self.ctl(endpoints, &["member", "list", "-w", "json"]);
        if r.code != 0 {
            return Err(r.all());
        }
        let v: serde_json::Value = serde_json::from_str(&r.stdout).map_err(|e| e.to_string())?;
        let mut members: Vec<Member> = v["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    format!("{:x}", m["ID"].as_u64().unwrap_or_default()),
                    m["name"].as_str().unwrap_or_default().to_string(),
                    m["peerURLs"][0].as_str().unwrap_or_default().to_string(),
                    m["isLearner"].as_bool().unwrap_or(false),
                )
            })
            .collect();
        members.sort();
        Ok(members)
    }

    /// Waits until exactly `voters` — (name, peer URL, client URL) — are the members, all
    /// started voters, all healthy; the member list is read from `endpoints`.
    pub(crate) fn wait_voters(&mut self, voters: &[(&str, String, String)], endpoints: &[String]) {
        let mut want: Vec<(String, String)> =
            voters.iter().map(|(n, peer, _)| (n.to_string(), peer.clone())).collect();
        want.sort();
        let names: Vec<&str> = voters.iter().map(|v| v.0).collect();
        let clients: Vec<String> = voters.iter().map(|v| v.2.clone()).collect();
        wait_until(&format!("voters {names:?}"), Duration::from_secs(90), || {
            self.assert_running();
            let members = self.members(endpoints)?;
            let mut got: Vec<(String, String)> =
                members.iter().filter(|m| !m.3).map(|m| (m.1.clone(), m.2.clone())).collect();
            got.sort();
            if got != want || members.len() != voters.len() {
                return Err(format!("{members:?}"));
            }
            let health = self.ctl(&clients, &["endpoint", "health"]);
            if health.code != 0 {
                return Err(health.all());
            }
            Ok(())
        });
    }

    /// Panics with its log if a member still expected to run has exited.
    pub(crate) fn assert_running(&mut self) {
        for (name, child) in &mut self.procs {
            if let Some(status) = child.try_wait().unwrap() {
                let log = std::fs::read_to_string(self.work.path().join(name).join("etcd.log"))
                    .unwrap_or_default();
                panic!("etcd {name} exited with {status}\n{log}");
            }
        }
    }

    /// The member currently leading, by name, among `nodes` — (name, client URL).
    pub(crate) fn leader(&self, nodes: &[(&str, String)]) -> String {
        let endpoints: Vec<String> = nodes.iter().map(|n| n.1.clone()).collect();
        let r = self.ctl(&endpoints, &["endpoint", "status", "-w", "json"]);
        let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        for s in v.as_array().unwrap() {
            let status = &s["Status"];
            if status["leader"] == status["header"]["member_id"] && status["leader"] != 0 {
                let endpoint = s["Endpoint"].as_str().unwrap();
                return nodes.iter().find(|n| n.1 == endpoint).unwrap().0.to_string();
            }
        }
        panic!("no leader: {}", r.all());
    }
}

impl Drop for Members {
    fn drop(&mut self) {
        let names: Vec<String> = self.procs.keys().cloned().collect();
        for name in names {
            self.kill(&name);
        }
    }
}

/// etcd in `dir` with `args` and a clean environment (PATH only: the host cannot leak settings
/// in), its output appended to `dir/etcd.log`; `install` is said when etcd cannot be started.
pub(crate) fn spawn_etcd<S: AsRef<std::ffi::OsStr>>(
    dir: &Path,
    args: &[S],
    install: &str,
) -> Child {
    let log =
        std::fs::OpenOptions::new().create(true).append(true).open(dir.join("etcd.log")).unwrap();
    Command::new(crate::kubeutil::kube_bin("etcd"))
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start etcd ({e}); {install}"))
}

/// `shellcheck --shell=bash` of a rendered script passes (`what` names it in the failure).
pub(crate) fn assert_shellcheck(what: &str, script: &str, install: &str) {
    use std::io::Write as _;
    let mut child = Command::new("shellcheck")
        .args(["--shell=bash", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run shellcheck ({e}); {install}"));
    child.stdin.take().unwrap().write_all(script.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{what}: shellcheck:\n{}", String::from_utf8_lossy(&out.stdout));
}

/// Certificate bundles from modules/pki for the lab's addresses (node name → path → PEM), as
/// `environments/dev` calls it (the cloud ones name the nodes' 10.x addresses). Applied in
/// `root` (a scratch directory), with `nodes` — (name, IP) — as both the control-plane nodes
/// and the etcd members.
pub(crate) fn lab_bundles(
    root: &Path,
    nodes: &[(&str, &str)],
) -> BTreeMap<String, BTreeMap<String, String>> {
    crate::util::copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("modules/pki"),
        &root.join("modules/pki"),
    );
    let nodes: Vec<String> = nodes.iter().map(|(n, ip)| format!("    {n} = \"{ip}\"")).collect();
    let nodes = format!("{{\n{}\n  }}", nodes.join("\n"));
    std::fs::create_dir_all(root.join("environments/lab")).unwrap();
    std::fs::write(
        root.join("environments/lab/main.hcl"),
        format!(
            "module \"pki\" {{\n  source                = \"../../modules/pki\"\n  cluster_name          = \"dev\"\n  apiserver_lb_dns_name = \"k8s-api.test.internal\"\n  control_plane_nodes   = {nodes}\n  etcd_members          = {nodes}\n}}\n\noutput \"bundles\" {{\n  value     = module.pki.bundles\n  sensitive = true\n}}\n"
        ),
    )
    .unwrap();
    let local = |args: &[&str]| {
        run(Command::new(crate::util::slipway_bin())
            .args(args)
            .current_dir(root)
            .env("NO_COLOR", "1")
            .env_remove("SLIPWAY_STATE_DIR"))
    };
    local(&["apply", "environments/lab", "-auto-approve"]).ok("pki apply");
    let bundles = local(&["output", "bundles", "--json", "--dir", "environments/lab"])
        .ok("output bundles")
        .stdout;
    serde_json::from_str(&bundles).unwrap()
}
