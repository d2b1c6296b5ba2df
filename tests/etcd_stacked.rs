//! Quorum-safe membership of stacked etcd (issue #16 item 1, "same for stacked etcd"): on
//! `environments/dev` (`topology = "stacked"`) every control-plane node runs an etcd member in
//! kubeadm's static pod; kubeadm joins a new node's member as a learner and promotes it, and
//! modules/kubeadm-nodes (the control plane) adds modules/etcd's membership script (`remove-stale` before
//! `kubeadm join`, the `reconcile` timer), the pinned etcdctl and the declared member list in S3.
//!
//! The fixture applies `environments/dev` against a real moto server: 1 control-plane node, then
//! 3 (the plan in between must replace nothing), then 3 with two of them in `etcd_leaving` (the
//! first step of a scale-down: only the S3 list changes), then 3 again and 3 → 1 in one apply
//! (the list rewritten before the leaving instances are destroyed). The scripts and declared lists the
//! lab runs are the ones S3 hands out (each node's bundle carries its script: user-data would
//! pass EC2's 16 KiB; the reconcile units are in user-data), rebound to
//! the lab: each node's 10.20.x.y to 127.0.46.n, kubeadm's paths (`/var/lib/etcd`,
//! `/etc/kubernetes/pki/etcd`) to the member's directory. Every rebound string must be found, so
//! a change of the rendering fails here. The certificates come from modules/pki for the lab's
//! addresses (the dev ones name 10.20.x.y); the ports stay kubeadm's 2379/2380.
//!
//! The members run as kubeadm lays them out (its static pod's flags: name = node name, kubeadm's
//! cert files, data dir, client 2379 / peer 2380 on the node IP; the 127.0.0.1 listener is left
//! out, the lab's members share one loopback) and join as kubeadm 1.35 joins them: `member add
//! --learner`, start with `--initial-cluster-state=existing`, promote once in sync. The writer
//! and leader monitor are tests/etcd_membership.rs's ([`Load`]): no acknowledged write lost, no
//! monitor round without a leader. The tests share addresses and ports: one at a time.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;

use crate::etcd::{Run, wait_until};
use crate::etcd_membership::{Load, Rounds, Writes, summary};
use crate::etcdutil::{Member, Members, members_lab};

const NODES: [(&str, &str); 3] =
    [("dev-cp-a", "127.0.46.1"), ("dev-cp-b", "127.0.46.2"), ("dev-cp-c", "127.0.46.3")];
const PKI_ETCD: &str = "/etc/kubernetes/pki/etcd";
const SCRIPT: &str = "/usr/local/sbin/slipway-etcd-member";
const TIMER: &str = "/etc/systemd/system/slipway-etcd-reconcile.timer";
const LEAVE: &str = "/etc/systemd/system/slipway-etcd-leave.service";
/// The init node's JoinConfiguration (taken when init-or-join says "join").
const INIT_JOIN: &str = "/etc/kubernetes/kubeadm/control-plane-init-join.yaml";
const INSTALL: &str = "build etcd with `export SLIPWAY_KUBE_BIN=$(scripts/install-kube)`; \
                       install jq, flock and shellcheck (scripts/install-deps); \
                       moto via SLIPWAY_MOTO_SERVER";

type Texts = BTreeMap<String, String>;

/// What the dev environment hands its control-plane nodes, at each step.
struct Fixture {
    /// node name → user-data, after the apply with 1, 3, and 3 with b and c leaving.
    user_data_1: Texts,
    user_data_3: Texts,
    user_data_leaving: Texts,
    /// node name → private IP on EC2 (after the apply with 3).
    ips: Texts,
    /// node name → the membership script in its S3 bundle (after the apply with 3).
    delivered: Texts,
    /// node name → its bundle's keys (after the apply with 3).
    bundle_keys: BTreeMap<String, Vec<String>>,
    /// The S3 declared list after each apply (1, 3, leaving).
    declared_1: String,
    declared_3: String,
    declared_leaving: String,
    /// `plan --json` with control_plane_count=3 after the apply with 1; and with b, c leaving.
    plan_up: Value,
    plan_leaving: Value,
    /// The apply 3 → 1 in one step: its progress lines (its operations in the order they ran),
    /// the declared list after it, and the exit code of `plan -detailed-exitcode` after it.
    down_apply: String,
    declared_down: String,
    plan_after_down: Option<i32>,
    /// role name → its inline policy documents (after the apply with 3).
    policies: BTreeMap<String, Vec<Value>>,
    /// node name → its bundle (modules/pki for the lab's addresses): path → PEM.
    bundles: BTreeMap<String, Texts>,
}

fn dev() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("environments/dev")
}

/// The running control-plane instances as EC2 returns them: node name → (user-data, private IP).
fn control_plane_instances(moto: &crate::moto::Moto) -> BTreeMap<String, (String, String)> {
    let v = moto.boto3(
        "for r in ec2.describe_instances()['Reservations']:\n    for i in r['Instances']:\n        if i['State']['Name'] == 'terminated':\n            continue\n        tags = {t['Key']: t['Value'] for t in i.get('Tags', [])}\n        a = ec2.describe_instance_attribute(InstanceId=i['InstanceId'], Attribute='userData')\n        out.append([tags.get('Name'), base64.b64decode(a['UserData']['Value']).decode(), i['PrivateIpAddress']])",
    );
    v.as_array()
        .unwrap()
        .iter()
        .filter(|e| e[0].as_str().unwrap_or_default().starts_with("dev-cp-"))
        .map(|e| {
            let text = |k: usize| e[k].as_str().unwrap().to_string();
            (text(0), (text(1), text(2)))
        })
        .collect()
}

/// node name → user-data of the running control-plane instances.
fn control_plane_user_data(moto: &crate::moto::Moto) -> Texts {
    control_plane_instances(moto)
        .into_iter()
        .map(|(name, (user_data, _))| (name, user_data))
        .collect()
}

fn declared_in_s3(moto: &crate::moto::Moto) -> String {
    let v = moto.boto3(
        "for b in s3.list_buckets()['Buckets']:\n    for o in s3.list_objects_v2(Bucket=b['Name']).get('Contents', []):\n        if o['Key'] == 'nodes/etcd-members.json':\n            out.append(s3.get_object(Bucket=b['Name'], Key=o['Key'])['Body'].read().decode())",
    );
    let all = v.as_array().unwrap();
    assert_eq!(all.len(), 1, "one declared list in S3: {v}");
    all[0].as_str().unwrap().to_string()
}

/// node name → its bundle (`nodes/<name>/bundle.json`), as the node reads it from S3.
fn control_plane_bundles(moto: &crate::moto::Moto) -> BTreeMap<String, Value> {
    let v = moto.boto3(
        "for b in s3.list_buckets()['Buckets']:\n    for o in s3.list_objects_v2(Bucket=b['Name']).get('Contents', []):\n        if o['Key'].startswith('nodes/dev-cp-') and o['Key'].endswith('/bundle.json'):\n            out.append([o['Key'].split('/')[1], s3.get_object(Bucket=b['Name'], Key=o['Key'])['Body'].read().decode()])",
    );
    v.as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e[0].as_str().unwrap().to_string(),
                serde_json::from_str(e[1].as_str().unwrap()).unwrap(),
            )
        })
        .collect()
}

static FIXTURE: OnceLock<Fixture> = OnceLock::new();

fn fixture() -> &'static Fixture {
    FIXTURE.get_or_init(|| {
        let moto = crate::moto::Moto::start();
        let dir = crate::util::TestDir::new();
        let state = dir.join("state");
        let slipway = |args: &[&str]| moto.slipway(&dev(), &state, args);
        slipway(&["apply", "ENV", "-auto-approve"]).assert_code(0);
        let user_data_1 = control_plane_user_data(&moto);
        let declared_1 = declared_in_s3(&moto);
        let up = slipway(&["plan", "ENV", "--json", "-var", "control_plane_count=3"]);
        up.assert_code(0);
        let plan_up = up.json();
        slipway(&[
            "apply",
            "ENV",
            "-auto-approve",
            "-var",
            "control_plane_count=3",
        ])
        .assert_code(0);
        let instances_3 = control_plane_instances(&moto);
        let user_data_3: Texts = instances_3
            .iter()
            .map(|(name, (user_data, _))| (name.clone(), user_data.clone()))
            .collect();
        let ips: Texts = instances_3
            .into_iter()
            .map(|(name, (_, ip))| (name, ip))
            .collect();
        let declared_3 = declared_in_s3(&moto);
        let in_s3 = control_plane_bundles(&moto);
        let delivered = in_s3
            .iter()
            .map(|(name, b)| {
                let script = b["scripts"][SCRIPT]
                    .as_str()
                    .unwrap_or_else(|| panic!("{name}: no {SCRIPT} in the bundle"));
                (name.clone(), script.to_string())
            })
            .collect();
        let bundle_keys = in_s3
            .iter()
            .map(|(name, b)| (name.clone(), b.as_object().unwrap().keys().cloned().collect()))
            .collect();
        let policies = moto.boto3(
            "for r in iam.list_roles()['Roles']:\n    docs = []\n    for p in iam.list_role_policies(RoleName=r['RoleName'])['PolicyNames']:\n        d = iam.get_role_policy(RoleName=r['RoleName'], PolicyName=p)['PolicyDocument']\n        docs.append(json.loads(d) if isinstance(d, str) else d)\n    out.append([r['RoleName'], docs])",
        );
        let policies = policies
            .as_array()
            .unwrap()
            .iter()
            .map(|kv| {
                (
                    kv[0].as_str().unwrap().to_string(),
                    kv[1].as_array().unwrap().clone(),
                )
            })
            .collect();
        let leaving = [
            "-var",
            "control_plane_count=3",
            "-var",
            r#"etcd_leaving=["dev-cp-b","dev-cp-c"]"#,
        ];
        let plan = slipway(&[&["plan", "ENV", "--json"][..], &leaving[..]].concat());
        plan.assert_code(0);
        let plan_leaving = plan.json();
        slipway(&[&["apply", "ENV", "-auto-approve"][..], &leaving[..]].concat()).assert_code(0);
        let user_data_leaving = control_plane_user_data(&moto);
        let declared_leaving = declared_in_s3(&moto);
        // Back to 3 declared, then 3 → 1 in one apply: the order of its operations.
        slipway(&["apply", "ENV", "-auto-approve", "-var", "control_plane_count=3"])
            .assert_code(0);
        assert_eq!(declared_in_s3(&moto), declared_3);
        let down = slipway(&["apply", "ENV", "-auto-approve"]);
        down.assert_code(0);
        let down_apply = down.stdout.clone();
        let declared_down = declared_in_s3(&moto);
        let plan_after_down = slipway(&["plan", "ENV", "-detailed-exitcode"]).code;

        // Certificates for the lab's addresses, from modules/pki as dev uses it.
        let bundles = crate::etcdutil::lab_bundles(&dir.join("pki"), &NODES);
        Fixture {
            user_data_1,
            user_data_3,
            user_data_leaving,
            ips,
            delivered,
            bundle_keys,
            declared_1,
            declared_3,
            declared_leaving,
            plan_up,
            plan_leaving,
            down_apply,
            declared_down,
            plan_after_down,
            policies,
            bundles,
        }
    })
}

/// One lab at a time, with tests/etcd_membership.rs's (its lock): see there.
use crate::etcd_membership::serial;

fn lab_ip(name: &str) -> &'static str {
    NODES.iter().find(|(n, _)| *n == name).unwrap().1
}

/// `text` with `from` replaced by `to`; `from` must occur (a changed rendering fails here).
fn rebind(text: &str, pairs: &[(String, String)], what: &str) -> String {
    let mut out = text.to_string();
    for (from, to) in pairs {
        assert!(out.contains(from.as_str()), "{what}: no {from:?} in\n{out}");
        out = out.replace(from.as_str(), to);
    }
    out
}

impl Fixture {
    /// The node's EC2 address → the lab's, in URLs (the port follows the address).
    fn ip_pairs(&self, names: &[&str]) -> Vec<(String, String)> {
        names
            .iter()
            .map(|n| (format!("https://{}:", self.ips[*n]), format!("https://{}:", lab_ip(n))))
            .collect()
    }

    /// The membership script a node installs: from its S3 bundle (after the apply with 3).
    fn delivered_script(&self, name: &str) -> String {
        self.delivered[name].clone()
    }

    /// The delivered script, rebound to the lab's member directory and address.
    fn lab_script(&self, name: &str) -> String {
        let mut pairs = self.ip_pairs(&[name]);
        pairs.extend([
            ("'/var/lib/etcd'".to_string(), "'data'".to_string()),
            (format!("'{PKI_ETCD}/"), "'pki/".to_string()),
            (
                "'/etc/kubernetes/slipway-etcd-member.conf.yml'".to_string(),
                "'member.conf.yml'".to_string(),
            ),
        ]);
        rebind(&self.delivered_script(name), &pairs, name)
    }

    /// A declared list from S3, rebound to the lab's addresses.
    fn lab_declared(&self, json: &str) -> String {
        let v: Value = serde_json::from_str(json).unwrap();
        let names: Vec<&str> = v["members"]
            .as_object()
            .unwrap()
            .keys()
            .map(|k| NODES.iter().find(|(n, _)| n == k).unwrap().0)
            .collect();
        rebind(json, &self.ip_pairs(&names), "declared list")
    }
}

// ---------------------------------------------------------------------------------------------
// Stacked members on the loopback, as kubeadm runs and joins them

struct Lab {
    f: &'static Fixture,
    /// The processes, directories, script runs and etcdctl reads (tests/etcdutil.rs).
    m: Members,
}

members_lab!(Lab);

impl Lab {
    fn new() -> Lab {
        let f = fixture();
        for (name, ip) in NODES {
            for port in [2379, 2380] {
                if let Err(e) = std::net::TcpListener::bind((ip, port)) {
                    panic!("{name}: {ip}:{port} is taken ({e}): the lab needs kubeadm's ports");
                }
            }
        }
        // The healthcheck client (kubeadm's `etcd/healthcheck-client`).
        let client = ["ca.crt", "healthcheck-client.crt", "healthcheck-client.key"]
            .map(|file| (file, f.bundles["dev-cp-a"][&format!("{PKI_ETCD}/{file}")].as_str()));
        Lab { f, m: Members::new(client, INSTALL) }
    }

    fn client_url(name: &str) -> String {
        format!("https://{}:2379", lab_ip(name))
    }

    fn peer_url(name: &str) -> String {
        format!("https://{}:2380", lab_ip(name))
    }

    fn all_endpoints() -> Vec<String> {
        NODES.iter().map(|(n, _)| Lab::client_url(n)).collect()
    }

    /// The declared list the scripts read (an S3 object on EC2).
    fn declare(&self, json: &str) {
        std::fs::write(&self.declared, self.f.lab_declared(json)).unwrap();
    }

    /// A new instance of the node: its bundle's etcd files and the script from its user-data.
    fn install(&self, name: &str) {
        let dir = self.dir(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("pki")).unwrap();
        for (path, pem) in &self.f.bundles[name] {
            if let Some(file) = path.strip_prefix(&format!("{PKI_ETCD}/")) {
                std::fs::write(dir.join("pki").join(file), pem).unwrap();
            }
        }
        std::fs::write(dir.join("member.sh"), self.f.lab_script(name)).unwrap();
    }

    /// The cluster ID every running member reports (one value: one cluster).
    fn cluster_ids(&self, names: &[&str]) -> Vec<u64> {
        let endpoints: Vec<String> = names.iter().map(|n| Lab::client_url(n)).collect();
        let r = self.ctl(&endpoints, &["endpoint", "status", "-w", "json"]).ok("endpoint status");
        let v: Value = serde_json::from_str(&r.stdout).unwrap();
        let mut ids: Vec<u64> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["Status"]["header"]["cluster_id"].as_u64().unwrap())
            .collect();
        ids.dedup();
        ids
    }

    /// etcd with the flags of kubeadm's stacked static pod (paths relative to the member's dir).
    fn start(&mut self, name: &str, initial_cluster: &str, state: &str) {
        let (client, peer) = (Lab::client_url(name), Lab::peer_url(name));
        self.spawn_etcd(
            name,
            &[
                format!("--name={name}"),
                "--data-dir=data".to_string(),
                format!("--advertise-client-urls={client}"),
                format!("--listen-client-urls={client}"),
                format!("--initial-advertise-peer-urls={peer}"),
                format!("--listen-peer-urls={peer}"),
                format!("--initial-cluster={initial_cluster}"),
                format!("--initial-cluster-state={state}"),
                "--cert-file=pki/server.crt".to_string(),
                "--key-file=pki/server.key".to_string(),
                "--trusted-ca-file=pki/ca.crt".to_string(),
                "--client-cert-auth=true".to_string(),
                "--peer-cert-file=pki/peer.crt".to_string(),
                "--peer-key-file=pki/peer.key".to_string(),
                "--peer-trusted-ca-file=pki/ca.crt".to_string(),
                "--peer-client-cert-auth=true".to_string(),
                "--snapshot-count=10000".to_string(),
            ],
        );
    }

    /// The instance is gone with its disk; the replacement has the same name and IP.
    fn destroy(&mut self, name: &str) {
        self.kill(name);
        self.install(name);
    }

    /// `kubeadm init`: a one-member cluster.
    fn kubeadm_init(&mut self, name: &str) {
        self.install(name);
        self.start(name, &format!("{name}={}", Lab::peer_url(name)), "new");
        self.wait_voters(&[name]);
    }

    /// What bootstrap.sh does on a joining control-plane node: the script's `remove-stale`, then
    /// `kubeadm join`, which adds the member as a learner (retrying while etcd refuses: one
    /// learner at a time, the 5 s after a change), starts it with state `existing` and the
    /// cluster `member add` printed, and promotes it once in sync. Returns remove-stale's run.
    fn join(&mut self, name: &str, voters: &[&str]) -> Run {
        let stale = self.script(name, "remove-stale");
        if stale.code != 0 {
            // bootstrap.sh runs under `set -e`: kubeadm join does not run.
            return stale;
        }
        let endpoints: Vec<String> = voters.iter().map(|n| Lab::client_url(n)).collect();
        let peer = Lab::peer_url(name);
        // A timed-out add may have been applied: the learner with this peer URL is then ours
        // (kubeadm checks the member list the same way before adding).
        let mut id = String::new();
        wait_until("member add --learner", Duration::from_secs(180), || {
            if let Some(m) = self.members()?.into_iter().find(|m| m.2 == peer) {
                id = m.0;
                return Ok(());
            }
            let r = self.ctl(
                &endpoints,
                &["member", "add", name, &format!("--peer-urls={peer}"), "--learner"],
            );
            Err(r.all())
        });
        // The cluster `member add` prints: every member under its name, this one under its own.
        let cluster = self
            .members()
            .unwrap()
            .iter()
            .map(|m| format!("{}={}", if m.0 == id { name } else { m.1.as_str() }, m.2))
            .collect::<Vec<_>>()
            .join(",");
        self.start(name, &cluster, "existing");
        wait_until("member promote", Duration::from_secs(180), || {
            let r = self.ctl(&endpoints, &["member", "promote", &id]);
            if r.code == 0 { Ok(()) } else { Err(r.all()) }
        });
        stale
    }

    /// kubeadm init on a, then b and c join (each with remove-stale first, a no-op here).
    fn bootstrap(&mut self) {
        self.declare(&self.f.declared_3.clone());
        self.kubeadm_init("dev-cp-a");
        for (name, voters) in
            [("dev-cp-b", &["dev-cp-a"][..]), ("dev-cp-c", &["dev-cp-a", "dev-cp-b"][..])]
        {
            self.install(name);
            let stale = self.join(name, voters);
            let stale = stale.ok(&format!("{name} remove-stale on a fresh join"));
            assert!(!stale.stderr.contains("removing"), "{}", stale.stderr);
        }
        self.wait_voters(&["dev-cp-a", "dev-cp-b", "dev-cp-c"]);
    }

    /// (id, name, peer URL, learner) from the running members.
    fn members(&self) -> Result<Vec<Member>, String> {
        self.m.members(&Lab::all_endpoints())
    }

    /// Waits until exactly `names` are the members, all voters, all healthy.
    fn wait_voters(&mut self, names: &[&str]) {
        let voters: Vec<(&str, String, String)> =
            names.iter().map(|n| (*n, Lab::peer_url(n), Lab::client_url(n))).collect();
        self.m.wait_voters(&voters, &Lab::all_endpoints());
    }

    /// `endpoint`'s own member list (a serializable read: no quorum needed) has `n` members:
    /// nothing was removed while quorum was lost.
    fn assert_local_members(&self, endpoint: &[String], node: &str, n: usize) {
        let own = self
            .ctl(endpoint, &["member", "list", "--consistency=s", "-w", "simple"])
            .ok(&format!("{node}'s own member list"));
        assert_eq!(own.stdout.lines().count(), n, "{}", own.stdout);
    }

    /// `init-or-join` on `node` succeeds, answers `answer` and says why (`because`, in its log).
    fn assert_init_or_join(&self, node: &str, answer: &str, because: &str, what: &str) {
        let r = self.script(node, "init-or-join").ok(what);
        assert_eq!(r.stdout.trim(), answer, "{}", r.all());
        assert!(r.stderr.contains(because), "{}", r.stderr);
    }

    /// Makes `name` the leader (an operator's `move-leader`), unless it leads already.
    fn lead(&self, name: &str) {
        let members = self.members().unwrap();
        let id = &members.iter().find(|m| m.1 == name).unwrap().0;
        let leader = self.leader();
        if leader != name {
            self.ctl(&[Lab::client_url(&leader)], &["move-leader", id])
                .ok(&format!("move-leader to {name}"));
        }
    }

    /// Stops the load and checks every acknowledged write (tests/etcd_membership.rs's).
    fn finish(&self, load: Load, what: &str) -> (Writes, Rounds) {
        load.finish_on(&Lab::all_endpoints(), &self.tls(), what)
    }

    /// The member currently leading, by name.
    fn leader(&self) -> String {
        let nodes: Vec<(&str, String)> =
            NODES.iter().map(|(n, _)| (*n, Lab::client_url(n))).collect();
        self.m.leader(&nodes)
    }

    /// The reconcile timer firing on every node once; returns each run's stderr, by node.
    fn reconcile_round(&self, names: &[&str]) -> Vec<(String, Run)> {
        names.iter().map(|n| (n.to_string(), self.script(n, "reconcile"))).collect()
    }

    fn load(&self) -> Load {
        Load::start_on(Lab::all_endpoints(), self.tls())
    }
}

/// The init node's JoinConfiguration: a control-plane join on its own address, the CA pinned,
/// the token a placeholder in user-data; and the bootstrap script's own python (run for real on
/// a scratch bundle) writes it with the bundle's token, next to the init config.
fn check_init_join_config(config: &str, bootstrap: &str, ip: &str) {
    let docs = crate::cloud_config::yaml_documents(config);
    assert_eq!(docs.len(), 1, "{config}");
    let join = &docs[0];
    assert_eq!(join["kind"], "JoinConfiguration", "{config}");
    assert_eq!(join["nodeRegistration"]["name"], "dev-cp-a", "{config}");
    assert_eq!(join["controlPlane"]["localAPIEndpoint"]["advertiseAddress"], ip, "{config}");
    let discovery = &join["discovery"]["bootstrapToken"];
    assert_eq!(discovery["token"], "SLIPWAY_BOOTSTRAP_TOKEN", "{config}");
    assert!(
        discovery["caCertHashes"][0].as_str().is_some_and(|h| h.starts_with("sha256:")),
        "{config}"
    );

    let start = bootstrap.find("<<'PY'\n").expect("the bundle python") + "<<'PY'\n".len();
    let end = start + bootstrap[start..].find("\nPY\n").unwrap();
    let line_start = bootstrap[..start].rfind("\npython3 ").unwrap();
    let call = &bootstrap[line_start..start];
    assert!(
        call.contains(
            "'/etc/kubernetes/kubeadm/control-plane-init-join.yaml' \"$WORK/kubeadm-join.yaml\""
        ),
        "{call}"
    );
    let dir = tempfile::tempdir().unwrap();
    let d = |f: &str| dir.path().join(f).display().to_string();
    let token = "abcdef.0123456789abcdef";
    let pki = d("pki");
    let bundle = serde_json::json!({
        "files": { format!("{pki}/ca.crt"): "CA" },
        "bootstrap_token": token,
    });
    std::fs::write(d("bundle.json"), bundle.to_string()).unwrap();
    std::fs::write(d("init.yaml"), "token: SLIPWAY_BOOTSTRAP_TOKEN\n").unwrap();
    std::fs::write(d("join.yaml"), config).unwrap();
    let r = crate::cloud_config::run(
        Command::new("python3").args([
            "-",
            &d("bundle.json"),
            &d("init.yaml"),
            &d("kubeadm.yaml"),
            "true",
            "SLIPWAY_BOOTSTRAP_TOKEN",
            &pki,
            &d("join.yaml"),
            &d("kubeadm-join.yaml"),
        ]),
        Some(&bootstrap[start..end]),
    )
    .ok("the bootstrap script's python");
    let rendered = std::fs::read_to_string(d("kubeadm-join.yaml")).unwrap();
    assert!(
        rendered.contains(token) && !rendered.contains("SLIPWAY_BOOTSTRAP_TOKEN"),
        "{rendered}\n{}",
        r.all()
    );
    assert_eq!(std::fs::read_to_string(d("kubeadm.yaml")).unwrap(), format!("token: {token}\n"));
}

// ---------------------------------------------------------------------------------------------
// Tests

#[test]
fn etcd_stacked_dev_control_plane_carries_membership_and_scaling_to_three_replaces_nothing() {
    let f = fixture();
    // Every control-plane node: the script (in its S3 bundle: user-data stays under 16 KiB), the
    // reconcile units, the bootstrap script that installs etcdctl, writes the bundle's scripts,
    // runs remove-stale before the join and starts the timer.
    for (name, ud) in &f.user_data_3 {
        if ud.len() >= 16 * 1024 {
            std::fs::write(format!("/tmp/stacked-ud-{name}.yaml"), ud).unwrap();
        }
        assert!(ud.len() < 16 * 1024, "{name}: user-data is {} bytes", ud.len());
        let files = crate::cloud_config::write_files(ud);
        assert!(!files.contains_key(SCRIPT), "{name}: the script is in user-data too");
        assert_eq!(f.bundle_keys[name], ["bootstrap_token", "files", "scripts"], "{name}");
        let script = f.delivered_script(name);
        assert!(
            script.contains(&format!("NAME='{name}'"))
                && script.contains(&format!("PEER_URL='https://{}:2380'", f.ips[name]))
                && script.contains(&format!("CLIENT_URL='https://{}:2379'", f.ips[name]))
                && script.contains("CERT='/etc/kubernetes/pki/etcd/healthcheck-client.crt'")
                && script.contains("DATA_DIR='/var/lib/etcd'")
                && script.contains("/nodes/etcd-members.json'"),
            "{name}: {script}"
        );
        let timer = &files.get(TIMER).unwrap_or_else(|| panic!("{name}: no timer")).0;
        assert!(timer.contains("OnUnitActiveSec=1min"), "{timer}");
        let service = &files["/etc/systemd/system/slipway-etcd-reconcile.service"].0;
        assert!(service.contains(&format!("ExecStart={SCRIPT} reconcile")), "{service}");
        let bootstrap = &files["/usr/local/sbin/slipway-bootstrap"].0;
        for needle in [
            "install_etcd_release etcdctl etcdutl",
            "ETCD_VERSION='3.6.14'",
            "amd64=ffe840ff9295808e88cce2794a18a5ac87f12a5203c8314d0bf6aa119b41bac5",
            "systemctl enable --now slipway-etcd-reconcile.timer",
            "bundle.get(\"scripts\")",
        ] {
            assert!(bootstrap.contains(needle), "{name}: no {needle:?}");
        }
        // The leave unit: its ExecStop runs before the kubelet and containerd stop.
        let leave = &files.get(LEAVE).unwrap_or_else(|| panic!("{name}: no {LEAVE}")).0;
        assert!(
            leave.contains(&format!("ExecStop={SCRIPT} leave"))
                && leave.contains("After=network-online.target kubelet.service containerd.service"),
            "{leave}"
        );
        assert!(
            bootstrap.contains(
                "systemctl enable --now slipway-etcd-reconcile.timer slipway-etcd-leave.service"
            ),
            "{name}"
        );
        let r = crate::cloud_config::run(
            Command::new("shellcheck").args(["--shell=bash", "-"]),
            Some(bootstrap),
        );
        assert_eq!(r.code, 0, "{name}: shellcheck of bootstrap.sh: {}", r.all());
        // Only the init node decides between kubeadm init and join, and carries a join config.
        let decides = bootstrap.contains(&format!("ETCD_PATH=$({SCRIPT} init-or-join)"));
        assert_eq!(decides, name == "dev-cp-a", "{name}: init-or-join");
        assert_eq!(files.contains_key(INIT_JOIN), name == "dev-cp-a", "{name}");
        if name == "dev-cp-a" {
            let branch = format!(
                "if [ \"$ETCD_PATH\" = join ]; then\n      {SCRIPT} remove-stale\n      kubeadm join --config \"$WORK/kubeadm-join.yaml\"\n    else\n      kubeadm init --config \"$WORK/kubeadm.yaml\"\n    fi"
            );
            assert!(bootstrap.contains(&branch), "{name}: no {branch:?} in\n{bootstrap}");
            check_init_join_config(&files[INIT_JOIN].0, bootstrap, &f.ips[name]);
        }
        // On a joining node, remove-stale runs (under `set -e`) right before kubeadm join.
        let hook = format!(
            "if [ \"$ROLE\" = control-plane-join ]; then {SCRIPT} remove-stale; fi\n\n    kubeadm join"
        );
        assert!(bootstrap.contains(&hook), "{name}: no {hook:?} in\n{bootstrap}");
        let readable = crate::cloud_config::readable(ud);
        assert!(!readable.contains("PRIVATE KEY"), "{name}: a key in user-data");
        // Shellcheck of what the node runs.
        crate::etcdutil::assert_shellcheck(name, &script, INSTALL);
    }
    assert_eq!(f.user_data_3.len(), 3);

    // 1 → 3: the init node is not replaced (its user-data is the same bytes), b and c are
    // created, the declared list is rewritten in place.
    let actions = |plan: &Value| -> BTreeMap<String, String> {
        plan["resource_changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["address"].as_str().unwrap().to_string(),
                    c["action"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let up = actions(&f.plan_up);
    let action = |actions: &BTreeMap<String, String>, address: &str| {
        actions.get(address).cloned().unwrap_or("no-op".to_string())
    };
    let instance = |n: &str| {
        format!("module.cluster.module.control_plane.module.nodes.aws_instance.node[\"{n}\"]")
    };
    assert_eq!(action(&up, &instance("dev-cp-a")), "no-op", "{up:?}");
    assert_eq!(action(&up, &instance("dev-cp-b")), "create", "{up:?}");
    assert_eq!(action(&up, &instance("dev-cp-c")), "create", "{up:?}");
    assert_eq!(
        action(&up, "module.cluster.module.control_plane.aws_s3_object.etcd_members[0]"),
        "update",
        "{up:?}"
    );
    // No cloud resource is replaced or deleted (modules/pki re-issues the apiserver certificate
    // for the new nodes' addresses: a local resource, it reaches cp-a's bundle object only).
    let cloud_changes: Vec<(&String, &String)> = up
        .iter()
        .filter(|(address, a)| {
            address.contains("aws_") && (a.contains("replace") || a.as_str() == "delete")
        })
        .collect();
    assert!(cloud_changes.is_empty(), "1 → 3 replaces or deletes: {cloud_changes:?}");
    assert_eq!(f.user_data_1["dev-cp-a"], f.user_data_3["dev-cp-a"]);

    // The declared list follows the count: names and EC2 addresses of the nodes.
    let members = |json: &str| -> BTreeMap<String, Value> {
        let v: Value = serde_json::from_str(json).unwrap();
        v["members"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    };
    assert_eq!(members(&f.declared_1).keys().collect::<Vec<_>>(), ["dev-cp-a"]);
    let three = members(&f.declared_3);
    assert_eq!(three.len(), 3);
    for (name, m) in &three {
        assert_eq!(m["peer_url"], format!("https://{}:2380", f.ips[name]));
        assert_eq!(m["client_url"], format!("https://{}:2379", f.ips[name]));
    }
    // First step of a scale-down (etcd_leaving): only the list changes, no node.
    let mut leaving = actions(&f.plan_leaving);
    leaving.retain(|_, a| a != "no-op");
    assert_eq!(
        leaving.keys().collect::<Vec<_>>(),
        ["module.cluster.module.control_plane.aws_s3_object.etcd_members[0]"],
        "{leaving:?}"
    );
    assert_eq!(f.user_data_leaving, f.user_data_3);
    assert_eq!(members(&f.declared_leaving).keys().collect::<Vec<_>>(), ["dev-cp-a"]);

    // Each control-plane role reads the list, through its bundle policy (which modules/nodes
    // destroys only after the instance: a node leaving at shutdown still reads it).
    let readers: Vec<&String> = f
        .policies
        .iter()
        .filter(|(_, docs)| {
            docs.iter().any(|d| {
                let statement = &d["Statement"][0];
                let resources: Vec<&str> = statement["Resource"]
                    .as_array()
                    .map(|r| r.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                statement["Action"][0] == "s3:GetObject"
                    && resources.iter().any(|r| r.ends_with("/bundle.json"))
                    && resources.iter().any(|r| r.ends_with("/nodes/etcd-members.json"))
            })
        })
        .map(|(role, _)| role)
        .collect();
    assert_eq!(readers.len(), 3, "{:?}", f.policies);
    assert!(readers.iter().all(|r| r.contains("cp")), "{readers:?}");

    // 3 → 1 in one apply succeeds (it was "the changes form a dependency cycle": the
    // apiserver certificate, which names every node, is replaced, and destroy-first it had to
    // go both after the leaving nodes and before the list's rewrite), and its progress lines
    // prove the order a leaving node's `leave` relies on: the declared list is rewritten before
    // any leaving instance is destroyed, and each bundle policy (through which the node reads
    // the list at shutdown) goes only after its instance.
    let down = &f.down_apply;
    let at = |needle: &str| down.find(needle).unwrap_or_else(|| panic!("no {needle:?} in\n{down}"));
    let list_written = at(
        "module.cluster.module.control_plane.aws_s3_object.etcd_members[0]: Modifications complete",
    );
    for n in ["dev-cp-b", "dev-cp-c"] {
        let destroying = at(&format!(
            "module.cluster.module.control_plane.module.nodes.aws_instance.node[\"{n}\"]: Destroying..."
        ));
        assert!(list_written < destroying, "{n} went before the list's rewrite:\n{down}");
        let gone = at(&format!(
            "module.cluster.module.control_plane.module.nodes.aws_instance.node[\"{n}\"]: Destruction complete"
        ));
        let policy = at(&format!(
            "module.cluster.module.control_plane.module.nodes.aws_iam_role_policy.bundle[\"{n}\"]: Destroying..."
        ));
        assert!(gone < policy, "{n}'s policy went first:\n{down}");
    }
    let cert = "module.cluster.module.pki.tls_locally_signed_cert.leaf[\"apiserver\"]";
    assert!(
        at(&format!("{cert}: Creation complete")) < at(&format!("{cert}: Destroying...")),
        "the apiserver certificate is created before the old one goes:\n{down}"
    );
    let declared: Value = serde_json::from_str(&f.declared_down).unwrap();
    assert_eq!(
        declared["members"].as_object().unwrap().keys().collect::<Vec<_>>(),
        ["dev-cp-a"],
        "{}",
        f.declared_down
    );
    assert_eq!(f.plan_after_down, Some(0), "the plan after 3 → 1 is empty");
}

#[test]
fn etcd_stacked_replaced_node_is_removed_then_rejoins_as_learner_under_writes() {
    let _serial = serial();
    let mut lab = Lab::new();
    lab.bootstrap();
    let before = lab.members().unwrap();
    let load = lab.load();

    // A follower's instance dies with its disk; its replacement has the same name and IP, and
    // boots: remove-stale (the dead voter goes: the two others are healthy), then kubeadm join.
    let leader = lab.leader();
    let victim = NODES.iter().map(|(n, _)| *n).find(|n| *n != leader).unwrap();
    let voters: Vec<&str> = NODES.iter().map(|(n, _)| *n).filter(|n| *n != victim).collect();
    let old_id = before.iter().find(|m| m.1 == victim).unwrap().0.clone();
    lab.destroy(victim);
    let stale = lab.join(victim, &voters).ok("remove-stale of the replaced node");
    assert!(
        stale.stderr.contains(&format!("removing stale voter {old_id} ({victim}")),
        "{}",
        stale.stderr
    );
    lab.wait_voters(&["dev-cp-a", "dev-cp-b", "dev-cp-c"]);
    let after = lab.members().unwrap();
    assert_eq!(after.len(), 3, "no duplicate: {after:?}");
    let new_id = &after.iter().find(|m| m.1 == victim).unwrap().0;
    assert_ne!(new_id, &old_id, "the replacement is a new member");
    // Once joined, remove-stale and the reconcile timer leave the declared cluster alone.
    lab.script(victim, "remove-stale").ok("remove-stale with data");
    for (name, r) in lab.reconcile_round(&["dev-cp-a", "dev-cp-b", "dev-cp-c"]) {
        let r = r.ok(&format!("{name} reconcile"));
        assert!(!r.stderr.contains("removing"), "{name}: {}", r.stderr);
    }
    assert_eq!(lab.members().unwrap(), after);
    let (writes, rounds) = lab.finish(load, "replace a node");
    eprintln!("stacked replace: {}", summary(&writes, &rounds));
}

#[test]
fn etcd_stacked_scale_down_removes_leaving_members_one_per_run_under_writes() {
    let _serial = serial();
    let mut lab = Lab::new();
    lab.bootstrap();
    let load = lab.load();

    // Step 1 (etcd_leaving = [b, c]): the list names a alone; every node still runs. The timer
    // fires on every node; only the leader acts, one removal per run, each leaving a quorum of
    // healthy voters (3 → 2 → 1). An undeclared leader hands leadership over first.
    // c leads (an operator's move-leader, or chance): a leaving leader hands over first.
    lab.lead("dev-cp-c");
    lab.declare(&lab.f.declared_leaving.clone());
    let mut removals = 0;
    let mut handovers = 0;
    let all = ["dev-cp-a", "dev-cp-b", "dev-cp-c"];
    wait_until("reconcile down to dev-cp-a", Duration::from_secs(180), || {
        for (name, r) in lab.reconcile_round(&all) {
            let n = r.stderr.matches("removed undeclared member").count();
            assert!(n <= 1, "{name}: more than one removal in a run: {}", r.stderr);
            removals += n;
            handovers += r.stderr.matches("moving leadership").count();
        }
        let members = lab.members()?;
        if members.len() == 1 && members[0].1 == "dev-cp-a" {
            Ok(())
        } else {
            Err(format!("{members:?}"))
        }
    });
    assert_eq!(removals, 2, "one removal per leaving member");
    assert!(handovers >= 1, "the leaving leader did not hand over");
    // Step 2 (control_plane_count = 1): the instances go; they are no members any more.
    lab.kill("dev-cp-b");
    lab.kill("dev-cp-c");
    lab.wait_voters(&["dev-cp-a"]);
    let (writes, rounds) = lab.finish(load, "3 → 1 in two steps");
    eprintln!("stacked 3→1: {}, {handovers} leader handovers", summary(&writes, &rounds));
}

#[test]
fn etcd_stacked_changes_refused_while_another_voter_is_down() {
    let _serial = serial();
    let mut lab = Lab::new();
    lab.bootstrap();
    let before = lab.members().unwrap();
    let all = ["dev-cp-a", "dev-cp-b", "dev-cp-c"];

    // c is down (not replaced); b's instance is replaced: a alone of three voters has no
    // quorum, so neither removing stale b nor adding the new b can commit. remove-stale refuses
    // (naming the unhealthy voters), the node does not join, nothing changes.
    lab.kill("dev-cp-c");
    lab.destroy("dev-cp-b");
    let r = lab.join("dev-cp-b", &["dev-cp-a"]);
    assert_ne!(r.code, 0, "replacement accepted: {}", r.all());
    assert!(
        r.stderr.contains("refusing to join")
            && r.stderr.contains("quorum is lost")
            && r.stderr.contains("dev-cp-c ("),
        "unclear refusal: {}",
        r.stderr
    );
    assert!(!lab.procs.contains_key("dev-cp-b"), "kubeadm join ran");
    // Its data is there: etcd ignores the initial-cluster flags, as on a kubelet restart.
    lab.start("dev-cp-c", "dev-cp-c=https://127.0.46.3:2380", "existing");
    wait_until("a and c back", Duration::from_secs(60), || {
        let m = lab.members()?;
        if m == before { Ok(()) } else { Err(format!("{m:?}")) }
    });
    // c back: the same boot now replaces b.
    let stale = lab.join("dev-cp-b", &["dev-cp-a", "dev-cp-c"]).ok("remove-stale, c back");
    assert!(stale.stderr.contains("removing stale voter"), "{}", stale.stderr);
    lab.wait_voters(&all);

    // The reconcile refuses too: c undeclared (list a, b), b down. Removing c would leave a
    // alone healthy of two voters.
    let declared: Value = serde_json::from_str(&lab.f.declared_3).unwrap();
    let mut two = declared.clone();
    two["members"].as_object_mut().unwrap().remove("dev-cp-c");
    lab.declare(&two.to_string());
    lab.kill("dev-cp-b");
    let members = lab.members().unwrap();
    let mut refused = false;
    for _ in 0..3 {
        for (name, r) in lab.reconcile_round(&["dev-cp-a", "dev-cp-c"]) {
            assert!(!r.stderr.contains("removed undeclared"), "{name}: {}", r.stderr);
            refused |= r.stderr.contains("refusing to remove undeclared voter");
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    assert!(refused, "no clear refusal from the leader's reconcile");
    assert_eq!(lab.members().unwrap(), members, "membership changed");

    // What the two-step rule prevents: destroying two of three voters at once (3 → 1 in one
    // apply) loses quorum, and no node can repair it — a's reconcile does nothing. Here c is
    // killed too: a alone, no leader.
    lab.kill("dev-cp-c");
    let a = vec![Lab::client_url("dev-cp-a")];
    wait_until("a without quorum", Duration::from_secs(30), || {
        let r = lab.ctl(&a, &["endpoint", "health"]);
        if r.code != 0 { Ok(()) } else { Err(r.all()) }
    });
    let r = lab.script("dev-cp-a", "reconcile");
    assert!(!r.stderr.contains("removed undeclared"), "{}", r.stderr);
    lab.assert_local_members(&a, "a", 3);
}

#[test]
fn etcd_stacked_replaced_init_node_joins_the_running_cluster_instead_of_starting_a_second() {
    let _serial = serial();
    let mut lab = Lab::new();
    let all = ["dev-cp-a", "dev-cp-b", "dev-cp-c"];

    // First creation: the init node boots while the others wait for its apiserver, so no
    // declared peer answers: kubeadm init.
    lab.declare(&lab.f.declared_3.clone());
    lab.install("dev-cp-a");
    lab.assert_init_or_join(
        "dev-cp-a",
        "init",
        "no declared peer answers",
        "init-or-join at first creation",
    );

    lab.bootstrap();
    let before = lab.members().unwrap();
    let cluster = lab.cluster_ids(&all);
    assert_eq!(cluster.len(), 1, "{cluster:?}");
    let load = lab.load();

    // dev-cp-a's instance is replaced (same name and IP, empty disk) while b and c run: its
    // bootstrap asks the script, which says "join"; remove-stale drops the dead voter, kubeadm
    // join adds the new member as a learner and promotes it. No kubeadm init: one cluster.
    let old_id = before.iter().find(|m| m.1 == "dev-cp-a").unwrap().0.clone();
    // Leadership elsewhere first: the monitor counts a leader's crash as a leaderless round,
    // which is not what this test is about.
    if lab.leader() == "dev-cp-a" {
        let b_id = before.iter().find(|m| m.1 == "dev-cp-b").unwrap().0.clone();
        lab.ctl(&[Lab::client_url("dev-cp-a")], &["move-leader", &b_id])
            .ok("move-leader to dev-cp-b");
    }
    lab.destroy("dev-cp-a");
    lab.assert_init_or_join(
        "dev-cp-a",
        "join",
        "this node was replaced",
        "init-or-join of the replaced init node",
    );
    let stale = lab
        .join("dev-cp-a", &["dev-cp-b", "dev-cp-c"])
        .ok("remove-stale of the replaced init node");
    assert!(
        stale.stderr.contains(&format!("removing stale voter {old_id} (dev-cp-a")),
        "{}",
        stale.stderr
    );
    lab.wait_voters(&all);
    let after = lab.members().unwrap();
    assert_eq!(after.len(), 3, "no duplicate: {after:?}");
    assert_ne!(
        after.iter().find(|m| m.1 == "dev-cp-a").unwrap().0,
        old_id,
        "the replacement is a new member"
    );
    assert_eq!(lab.cluster_ids(&all), cluster, "a second cluster");
    let (writes, rounds) = lab.finish(load, "replace the init node");
    eprintln!("stacked init replace: {}", summary(&writes, &rounds));

    // A node holding etcd data while its peers run a cluster (a restore into a live cluster)
    // neither inits nor joins.
    let r = lab.script("dev-cp-a", "init-or-join");
    assert_ne!(r.code, 0, "{}", r.all());
    assert!(
        r.stderr.contains("refusing kubeadm init and join") && r.stderr.contains("holds a member"),
        "{}",
        r.stderr
    );

    // Replaced again while c is down: b alone of three voters has no leader. Neither init (a
    // second cluster) nor join (a learner nobody can commit): a clear refusal, nothing changes.
    lab.kill("dev-cp-c");
    lab.destroy("dev-cp-a");
    let b = vec![Lab::client_url("dev-cp-b")];
    wait_until("b without quorum", Duration::from_secs(30), || {
        let r = lab.ctl(&b, &["endpoint", "health"]);
        if r.code != 0 { Ok(()) } else { Err(r.all()) }
    });
    let r = lab.script("dev-cp-a", "init-or-join");
    assert_ne!(r.code, 0, "{}", r.all());
    assert!(r.stdout.trim().is_empty(), "a decision: {}", r.stdout);
    assert!(
        r.stderr.contains("refusing kubeadm init and join")
            && r.stderr.contains("quorum is lost")
            && r.stderr.contains("dev-cp-c ("),
        "unclear refusal: {}",
        r.stderr
    );
    assert!(!lab.dir("dev-cp-a").join("data").exists(), "etcd ran on a");
    lab.assert_local_members(&b, "b", 3);
}

#[test]
fn etcd_stacked_scale_down_in_one_apply_each_destroyed_node_leaves_at_shutdown_under_writes() {
    let _serial = serial();
    let mut lab = Lab::new();
    lab.bootstrap();
    let all = ["dev-cp-a", "dev-cp-b", "dev-cp-c"];

    // control_plane_count 3 → 1 in one apply, with the declared list rewritten (to a alone,
    // below) before b and c shut down: the order the apply keeps (test (d) checks it on a
    // real 3 → 1 apply), and the case `leave` handles.

    // A leave that would break quorum is refused: with the list {a, b} and b down, c leaving
    // would leave a alone healthy of two voters. (An undeclared voter down may be leaving at
    // the same moment: a leave waits for it, up to its attempts, before refusing.)
    let declared: Value = serde_json::from_str(&lab.f.declared_3).unwrap();
    let mut two = declared.clone();
    two["members"].as_object_mut().unwrap().remove("dev-cp-c");
    lab.declare(&two.to_string());
    lab.kill("dev-cp-b");
    let members = lab.members().unwrap();
    let r = lab.script("dev-cp-c", "leave");
    assert_ne!(r.code, 0, "{}", r.all());
    assert!(
        r.stderr.contains("refusing to leave") && r.stderr.contains("dev-cp-b ("),
        "{}",
        r.stderr
    );
    assert_eq!(lab.members().unwrap(), members, "membership changed");
    lab.start("dev-cp-b", "dev-cp-b=https://127.0.46.2:2380", "existing");
    lab.wait_voters(&all);
    lab.declare(&lab.f.declared_1.clone());

    // c leads: a leaving leader hands over first.
    lab.lead("dev-cp-c");
    let load = lab.load();
    // b and c shut down at the same moment (their instances destroyed in one apply), a keeps
    // running (still declared: its leave is a no-op).
    let stay = lab.script("dev-cp-a", "leave").ok("a's leave");
    assert!(stay.stderr.contains("still declared"), "{}", stay.stderr);
    let leaving: Vec<(&str, Child)> =
        ["dev-cp-b", "dev-cp-c"].into_iter().map(|n| (n, lab.spawn_script(n, "leave"))).collect();
    let mut handovers = 0;
    for (name, child) in leaving {
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{name} leave: {stderr}");
        assert!(stderr.contains("left: removed member"), "{name}: {stderr}");
        handovers += stderr.matches("moving leadership").count();
        // The shutdown goes on: the instance is gone.
        lab.kill(name);
    }
    assert!(handovers >= 1, "the leaving leader did not hand over");
    lab.wait_voters(&["dev-cp-a"]);
    let (writes, rounds) = lab.finish(load, "3 → 1 in one apply");
    eprintln!(
        "stacked 3→1 in one apply: {}, {handovers} leader handovers",
        summary(&writes, &rounds)
    );
}
