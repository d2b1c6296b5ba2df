//! Snapshots of a real etcd 3.6 cluster into a real moto S3 (issue #16): `slipway etcd snapshot`
//! on demand and `slipway etcd snapshots` listing, the nodes' rendered snapshot script run for
//! real against the same members (the real `aws` CLI pointed at moto with AWS_ENDPOINT_URL), and
//! the S3 prefix's rendered policies applied to moto and read back.
//!
//! Each test runs its own three members (modules/etcd's rendered configs, modules/pki's
//! certificates, tests/etcd.rs's process helpers) on its own loopback addresses in
//! 127.0.42.0/24, and its own moto. `etcd`, `etcdctl`, `etcdutl` (SLIPWAY_KUBE_BIN), `aws`,
//! `shellcheck` and moto are required: these tests fail, not skip, without them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::moto::Moto;

pub(crate) const ENV: &str = "environments/test";
pub(crate) const PREFIX: &str = "etcd-snapshots/test";
const PKI_ETCD: &str = "/etc/kubernetes/pki/etcd";

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn environment(members: &[(&str, &str)], client_port: u16, peer_port: u16, bucket: &str) -> String {
    let body: Vec<String> = members.iter().map(|(k, v)| format!("    {k} = \"{v}\"")).collect();
    let members = format!("{{\n{}\n  }}", body.join("\n"));
    format!(
        r#"
locals {{
  members = {members}
  first   = sort(keys(local.members))[0]
}}

module "pki" {{
  source                = "../../modules/pki"
  apiserver_lb_dns_name = "k8s-api.test.internal"
  control_plane_nodes   = {{ cp-a = "127.0.42.250" }}
  etcd_members          = local.members
}}

module "etcd" {{
  source                = "../../modules/etcd"
  cluster_name          = "test"
  topology              = "external"
  members               = local.members
  client_port           = {client_port}
  peer_port             = {peer_port}
  listen_on_localhost   = false
  data_dir              = "data"
  pki_dir               = "pki"
  initial_cluster_token = "slipway-etcd-snap"
  control_plane_cidrs   = ["127.0.42.250/32"]
}}

# What a dedicated member's user-data carries, rendered for each member: the snapshot script.
module "bootstrap" {{
  source       = "../../modules/node-bootstrap"
  for_each     = local.members
  cluster_name = "test"
  role         = "etcd"
  node_name    = each.key
  node_ip      = each.value
  etcd_service = {{
    config_path      = "/etc/etcd/etcd.conf.yml"
    config_file      = module.etcd.config_files[each.key]
    systemd_unit     = module.etcd.systemd_units[each.key]
    data_dir         = "/var/lib/etcd"
    data_volume_id   = "vol-0123456789abcdef0"
    data_device_name = "/dev/sdf"
  }}
  bundle_s3_uri      = "s3://{bucket}/nodes/${{each.key}}/bundle.json"
  pki_files          = module.pki.bundles[each.key]
  kubernetes_version = "0.0.0"
  containerd_version = "none"
  apiserver_endpoint = "none"
  etcd               = {{ topology = "external", endpoints = [] }}
  pod_cidr           = "0.0.0.0/0"
  etcd_snapshots = {{
    bucket      = "{bucket}"
    prefix      = "{PREFIX}"
    interval    = "15min"
    client_port = {client_port}
  }}
}}

output "bundles" {{
  value     = module.pki.bundles
  sensitive = true
}}

output "config_files" {{
  value = module.etcd.config_files
}}

output "user_data" {{
  value = {{ for n, b in module.bootstrap : n => b.user_data }}
}}

output "snapshot_scripts" {{
  value = {{ for n, b in module.bootstrap : n => b.etcd_snapshot_script }}
}}

output "etcd_endpoints" {{
  value = module.etcd.endpoints
}}

output "etcd_client" {{
  value = {{
    ca_certificate     = module.pki.etcd_ca_cert_pem
    client_certificate = module.pki.bundles[local.first]["/etc/kubernetes/pki/etcd/healthcheck-client.crt"]
    client_key         = module.pki.bundles[local.first]["/etc/kubernetes/pki/etcd/healthcheck-client.key"]
  }}
  sensitive = true
}}

output "etcd_snapshots" {{
  value = {{ bucket = "{bucket}", prefix = "{PREFIX}" }}
}}
"#
    )
}

/// A running three-member cluster, its applied environment and a moto with the bucket.
pub(crate) struct SnapEnv {
    pub root: PathBuf,
    pub state: PathBuf,
    pub moto: Moto,
    pub bucket: String,
    pub endpoints: Vec<String>,
    /// A PKI directory laid out as on a node: `etcd/ca.crt`, `etcd/healthcheck-client.*`.
    pub pki: PathBuf,
    pub members: Vec<String>,
    pub cluster: crate::etcd::Cluster,
    dirs: BTreeMap<String, PathBuf>,
}

impl Drop for SnapEnv {
    fn drop(&mut self) {
        // The members are killed by Cluster's own Drop, right after.
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

impl SnapEnv {
    /// `slipway ARGS` with the moto endpoint, the state and the etcd binaries.
    pub fn slipway(&self, args: &[&str]) -> crate::util::Run {
        self.slipway_with(args, &[])
    }

    pub fn slipway_with(&self, args: &[&str], extra: &[(&str, &str)]) -> crate::util::Run {
        let bin = crate::kubeutil::kube_bin_dir();
        let mut vars: Vec<(&str, &str)> = vec![("SLIPWAY_ETCD_BIN", bin.to_str().unwrap())];
        vars.extend_from_slice(extra);
        self.moto.slipway_with_env(&self.root.join(ENV), &self.state, args, &vars)
    }

    pub fn etcdctl(&self, args: &[&str]) -> crate::etcd::Run {
        let ca = self.pki.join("etcd/ca.crt");
        let cert = self.pki.join("etcd/healthcheck-client.crt");
        let key = self.pki.join("etcd/healthcheck-client.key");
        crate::etcd::etcdctl(
            &self.endpoints,
            &[("cacert", ca.as_path()), ("cert", cert.as_path()), ("key", key.as_path())],
            args,
        )
    }

    pub fn output<T: serde::de::DeserializeOwned>(&self, name: &str) -> T {
        let r = self.slipway(&["output", name, "-json", "--dir", "ENV"]);
        r.assert_code(0);
        serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("output {name}: {e}"))
    }

    /// The snapshot objects in moto: key => (metadata, SSE, size).
    pub fn objects(&self) -> BTreeMap<String, serde_json::Value> {
        let out = self.moto.boto3(&format!(
            "for o in s3.list_objects_v2(Bucket='{}', Prefix='{PREFIX}/').get('Contents', []):\n    h = s3.head_object(Bucket='{}', Key=o['Key'])\n    out.append({{'key': o['Key'], 'meta': h.get('Metadata', {{}}), 'sse': h.get('ServerSideEncryption'), 'size': o['Size']}})",
            self.bucket, self.bucket
        ));
        out.as_array()
            .unwrap()
            .iter()
            .map(|o| (o["key"].as_str().unwrap().to_string(), o.clone()))
            .collect()
    }

    pub fn assert_running(&mut self) {
        self.cluster.assert_running(&self.dirs);
    }
}

/// Applies the environment (members on `ips`), starts the members and waits for a healthy
/// cluster with a leader.
pub(crate) fn snap_env(tag: &str, ips: [&str; 3]) -> SnapEnv {
    let scratch = Path::new(env!("CARGO_TARGET_TMPDIR"));
    crate::util::remove_stale_dirs(scratch, &format!("snap-{tag}-"));
    let root = scratch.join(format!("snap-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let names = ["etcd-a", "etcd-b", "etcd-c"];
    let members: Vec<(&str, &str)> = names.iter().copied().zip(ips).collect();
    let client_port = crate::util::free_port(&ips, &[]);
    let peer_port = crate::util::free_port(&ips, &[client_port]);
    let bucket = format!("slipway-snap-{tag}");
    let modules = Path::new(env!("CARGO_MANIFEST_DIR")).join("modules");
    for module in ["pki", "etcd", "node-bootstrap"] {
        copy_dir(&modules.join(module), &root.join("modules").join(module));
    }
    std::fs::create_dir_all(root.join(ENV)).unwrap();
    std::fs::write(
        root.join(ENV).join("main.hcl"),
        environment(&members, client_port, peer_port, &bucket),
    )
    .unwrap();
    let moto = Moto::start();
    moto.boto3(&format!("s3.create_bucket(Bucket='{bucket}')"));
    let state = root.join("state");
    let mut env = SnapEnv {
        root: root.clone(),
        state,
        moto,
        bucket,
        endpoints: Vec::new(),
        pki: root.join("node-pki"),
        members: names.iter().map(|s| s.to_string()).collect(),
        cluster: crate::etcd::start(&BTreeMap::new()),
        dirs: BTreeMap::new(),
    };
    env.slipway(&["apply", "ENV", "-auto-approve"]).assert_code(0);
    let bundles: BTreeMap<String, BTreeMap<String, String>> = env.output("bundles");
    let configs: BTreeMap<String, String> = env.output("config_files");
    env.endpoints = env.output("etcd_endpoints");
    for (name, _) in &members {
        let dir = root.join("members").join(name);
        std::fs::create_dir_all(dir.join("pki")).unwrap();
        for (path, pem) in &bundles[*name] {
            let file = path.strip_prefix(&format!("{PKI_ETCD}/")).unwrap();
            std::fs::write(dir.join("pki").join(file), pem).unwrap();
        }
        std::fs::write(dir.join("etcd.conf.yml"), &configs[*name]).unwrap();
        env.dirs.insert(name.to_string(), dir);
    }
    std::fs::create_dir_all(env.pki.join("etcd")).unwrap();
    for f in ["ca.crt", "healthcheck-client.crt", "healthcheck-client.key"] {
        std::fs::write(
            env.pki.join("etcd").join(f),
            &bundles["etcd-a"][&format!("{PKI_ETCD}/{f}")],
        )
        .unwrap();
    }
    env.cluster = crate::etcd::start(&env.dirs);
    let dirs = env.dirs.clone();
    crate::etcd::wait_until("the etcd cluster is healthy", Duration::from_secs(60), || {
        env.cluster.assert_running(&dirs);
        let r = env.etcdctl(&["endpoint", "health", "--cluster"]);
        if r.code == 0 { Ok(()) } else { Err(r.all()) }
    });
    env
}

fn sha256_hex(data: &[u8]) -> String {
    let out = Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(data)?;
            c.wait_with_output()
        })
        .expect("sha256sum");
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap_or("").to_string()
}

fn key_re_ok(key: &str, class: &str) -> bool {
    // <prefix>/<class>/<YYYYmmddTHHMMSSZ>-<member>.db
    let Some(rest) = key.strip_prefix(&format!("{PREFIX}/{class}/")) else {
        return false;
    };
    let Some(stem) = rest.strip_suffix(".db") else {
        return false;
    };
    let (stamp, member) = stem.split_at(16.min(stem.len()));
    stamp.len() == 16
        && stamp.as_bytes()[8] == b'T'
        && stamp.ends_with('Z')
        && stamp[..8].bytes().all(|b| b.is_ascii_digit())
        && member.starts_with("-etcd-")
}

#[test]
fn etcd_snapshot_on_demand_uploads_the_layout_and_lists_newest_first() {
    let mut env = snap_env("ondemand", ["127.0.42.11", "127.0.42.12", "127.0.42.13"]);
    for i in 0..50 {
        env.etcdctl(&["put", &format!("/app/k{i}"), &format!("v{i}")]);
    }
    let r = env.slipway(&["etcd", "snapshot", "ENV", "-json"]);
    r.assert_code(0);
    let taken: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let key = taken["key"].as_str().unwrap().to_string();
    assert!(key_re_ok(&key, "frequent"), "key {key} is not the layout");
    assert!(taken["verified_with_etcdutl"].as_bool().unwrap());
    // The secret key never reaches the output.
    assert!(!r.stdout.contains("PRIVATE KEY") && !r.stderr.contains("PRIVATE KEY"));

    let objects = env.objects();
    let o = &objects[&key];
    assert_eq!(o["sse"], "AES256", "{o}");
    let meta = &o["meta"];
    for k in ["sha256", "revision", "total-keys", "hash", "canary", "member"] {
        assert!(meta[k].as_str().is_some_and(|v| !v.is_empty()), "metadata {k} missing: {meta}");
    }
    // The member is the leader's name; the canary is what etcd holds now.
    assert!(env.members.contains(&meta["member"].as_str().unwrap().to_string()));
    let canary = env.etcdctl(&["get", "/slipway/canary", "--print-value-only"]);
    assert_eq!(canary.stdout.trim(), meta["canary"].as_str().unwrap());
    // sha256 is the whole object's; the object is a whole snapshot (revision ≥ the 50 puts).
    let body = env.moto.boto3(&format!(
        "import hashlib\nb = s3.get_object(Bucket='{}', Key='{key}')['Body'].read()\nout.append(hashlib.sha256(b).hexdigest())\nout.append(len(b))",
        env.bucket
    ));
    assert_eq!(body[0], meta["sha256"]);
    assert_eq!(body[1].as_u64().unwrap(), o["size"].as_u64().unwrap());
    assert!(meta["revision"].as_str().unwrap().parse::<i64>().unwrap() >= 51);
    assert!(meta["total-keys"].as_str().unwrap().parse::<i64>().unwrap() >= 51);

    // A second one, daily: the listing has both, newest first, with class, age, size, revision.
    std::thread::sleep(Duration::from_millis(1100));
    env.slipway(&["etcd", "snapshot", "ENV", "--class", "daily"]).assert_code(0);
    let r = env.slipway(&["etcd", "snapshots", "ENV", "-json"]);
    r.assert_code(0);
    let list: Vec<serde_json::Value> = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(list.len(), 2, "{}", r.stdout);
    assert_eq!(list[0]["class"], "daily");
    assert_eq!(list[1]["class"], "frequent");
    assert_eq!(list[1]["key"], key.as_str());
    assert!(list[0]["taken_at"].as_str() > list[1]["taken_at"].as_str());
    for s in &list {
        assert!(s["size"].as_i64().unwrap() > 0);
        assert!(s["age_seconds"].as_i64().unwrap() >= 0);
        assert!(s["metadata"]["revision"].as_i64().unwrap() >= 51);
    }
    let human = env.slipway(&["etcd", "snapshots", "ENV", "--class", "frequent"]);
    human.assert_code(0);
    assert!(human.stdout.contains("frequent") && !human.stdout.contains("daily/"));
    env.assert_running();
}

#[test]
fn etcd_node_snapshot_script_uploads_once_from_the_leader() {
    let mut env = snap_env("script", ["127.0.42.21", "127.0.42.22", "127.0.42.23"]);
    let scripts: BTreeMap<String, String> = env.output("snapshot_scripts");
    let user_data: BTreeMap<String, String> = env.output("user_data");
    assert_eq!(scripts.len(), 3);
    for (name, ud) in &user_data {
        // The timer and the service are in the member's user-data, the hook starts the timer.
        assert!(ud.contains("slipway-etcd-snapshot.timer"), "{name}");
        assert!(ud.contains("OnUnitActiveSec=15min"), "{name}");
        assert!(
            crate::cloud_config::readable(ud)
                .contains("systemctl enable --now slipway-etcd-snapshot.timer"),
            "{name}"
        );
    }
    let dir = env.root.join("scripts");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, script) in &scripts {
        let path = dir.join(name);
        std::fs::write(&path, script).unwrap();
        let sc = Command::new("shellcheck")
            .arg(&path)
            .output()
            .expect("shellcheck (scripts/install-deps)");
        assert!(sc.status.success(), "shellcheck {name}:\n{}", String::from_utf8_lossy(&sc.stdout));
    }
    // Run every member's script once, as its timer would: the real etcdctl/etcdutl and the real
    // aws CLI (AWS_ENDPOINT_URL: moto). Only the leader uploads.
    let bin = crate::kubeutil::kube_bin_dir();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let mut logs = String::new();
    for name in scripts.keys() {
        let o = Command::new("bash")
            .arg(dir.join(name))
            .env("PATH", &path)
            .env("SLIPWAY_PKI_DIR", &env.pki)
            .env("AWS_ENDPOINT_URL", env.moto.endpoint())
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .output()
            .expect("bash");
        let out =
            format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        assert!(o.status.success(), "{name}'s snapshot script failed:\n{out}");
        logs.push_str(&out);
    }
    let objects = env.objects();
    assert_eq!(objects.len(), 1, "one upload, from the leader:\n{logs}\n{objects:?}");
    let (key, o) = objects.iter().next().unwrap();
    let class = key.split('/').nth(2).unwrap();
    assert!(["frequent", "hourly", "daily"].contains(&class));
    assert!(key_re_ok(key, class), "{key}");
    assert_eq!(o["sse"], "AES256");
    let meta = &o["meta"];
    let leader = env.etcdctl(&["endpoint", "status", "--cluster", "-w", "json"]);
    let statuses: serde_json::Value = serde_json::from_str(&leader.stdout).unwrap();
    let leader_id = statuses[0]["Status"]["leader"].as_u64().unwrap();
    let leader_ep = statuses
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Status"]["header"]["member_id"].as_u64() == Some(leader_id))
        .unwrap()["Endpoint"]
        .as_str()
        .unwrap()
        .to_string();
    let leader_name = env
        .members
        .iter()
        .zip(&env.endpoints)
        .find(|(_, e)| e.as_str() == leader_ep)
        .map(|(n, _)| n.clone())
        .unwrap();
    assert_eq!(meta["member"], leader_name.as_str());
    let canary = env.etcdctl(&["get", "/slipway/canary", "--print-value-only"]);
    assert_eq!(canary.stdout.trim(), meta["canary"].as_str().unwrap());
    let body = env.moto.boto3(&format!(
        "b = s3.get_object(Bucket='{}', Key='{key}')['Body'].read()\nout.append(base64.b64encode(b).decode())",
        env.bucket
    ));
    use base64::Engine as _;
    let bytes =
        base64::engine::general_purpose::STANDARD.decode(body[0].as_str().unwrap()).unwrap();
    assert_eq!(sha256_hex(&bytes), meta["sha256"].as_str().unwrap());
    // The layout reader sees it.
    let r = env.slipway(&["etcd", "snapshots", "ENV", "-json"]);
    r.assert_code(0);
    let list: Vec<serde_json::Value> = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["member"], leader_name.as_str());
    env.assert_running();
}

// ---------------------------------------------------------------------------------------------
// The S3 prefix's policies, applied to moto and read back

fn policy_environment(bucket: &str) -> String {
    format!(
        r#"
provider "aws" {{
  region = "us-east-1"
}}

resource "aws_s3_bucket" "b" {{
  bucket        = "{bucket}"
  force_destroy = true
}}

resource "aws_iam_role" "node" {{
  for_each = toset(["etcd-a", "etcd-b", "etcd-c", "cp-a", "worker-a"])
  name     = each.key
  assume_role_policy = jsonencode({{
    Version   = "2012-10-17"
    Statement = [{{ Effect = "Allow", Principal = {{ Service = "ec2.amazonaws.com" }}, Action = "sts:AssumeRole" }}]
  }})
}}

# What modules/nodes gives every node: its own bundle, nothing else.
resource "aws_iam_role_policy" "bundle" {{
  for_each = aws_iam_role.node
  name     = "read-own-bundle"
  role     = each.value.name
  policy = jsonencode({{
    Version   = "2012-10-17"
    Statement = [{{ Effect = "Allow", Action = ["s3:GetObject"], Resource = ["arn:aws:s3:::${{aws_s3_bucket.b.bucket}}/nodes/${{each.key}}/bundle.json"] }}]
  }})
}}

module "snapshots" {{
  source                  = "../../modules/etcd-snapshots"
  bucket                  = aws_s3_bucket.b.bucket
  writer_roles            = {{ for n in ["etcd-a", "etcd-b", "etcd-c"] : n => aws_iam_role.node[n].name }}
  denied_reader_role_arns = [for r in aws_iam_role.node : r.arn]
  retention_days          = {{ frequent = 1, hourly = 7, daily = 30 }}
}}
"#
    )
}

/// IAM's evaluation for the cases the rendered policies use: an explicit Deny wins, then an
/// Allow of the identity policy. Actions and resources match with `*` wildcards.
fn glob(pattern: &str, s: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == s,
        Some((head, tail)) => {
            s.starts_with(head)
                && (0..=s.len() - head.len()).any(|i| glob(tail, &s[head.len() + i..]))
        }
    }
}

fn strings(v: &serde_json::Value) -> Vec<String> {
    match v {
        serde_json::Value::String(s) => vec![s.clone()],
        serde_json::Value::Array(a) => {
            a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect()
        }
        _ => Vec::new(),
    }
}

fn statement_matches(st: &serde_json::Value, action: &str, resource: &str) -> bool {
    strings(&st["Action"]).iter().any(|a| glob(a, action))
        && strings(&st["Resource"]).iter().any(|r| glob(r, resource))
}

/// May `role_arn` (with these identity policies) do `action` on `resource` given the bucket
/// policy? (`encrypted`: the request carries x-amz-server-side-encryption.)
fn allowed(
    identity: &[serde_json::Value],
    bucket_policy: &serde_json::Value,
    role_arn: &str,
    action: &str,
    resource: &str,
    encrypted: bool,
) -> bool {
    for st in bucket_policy["Statement"].as_array().unwrap() {
        if st["Effect"] != "Deny" || !statement_matches(st, action, resource) {
            continue;
        }
        let cond = &st["Condition"];
        let applies = if let Some(arns) = cond.get("ArnEquals") {
            strings(&arns["aws:PrincipalArn"]).iter().any(|a| a == role_arn)
        } else if let Some(null) = cond.get("Null") {
            null["s3:x-amz-server-side-encryption"] == "true" && !encrypted
        } else {
            cond.is_null()
        };
        if applies {
            return false;
        }
    }
    identity.iter().any(|p| {
        p["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .any(|st| st["Effect"] == "Allow" && statement_matches(st, action, resource))
    })
}

#[test]
fn etcd_snapshot_prefix_policies_let_only_members_put_encrypted() {
    let root =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("snap-policy-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let modules = Path::new(env!("CARGO_MANIFEST_DIR")).join("modules");
    copy_dir(&modules.join("etcd-snapshots"), &root.join("modules/etcd-snapshots"));
    std::fs::create_dir_all(root.join(ENV)).unwrap();
    let bucket = "slipway-snap-policy";
    std::fs::write(root.join(ENV).join("main.hcl"), policy_environment(bucket)).unwrap();
    let moto = Moto::start();
    let state = root.join("state");
    let env = root.join(ENV);
    moto.slipway(&env, &state, &["apply", "ENV", "-auto-approve"]).assert_code(0);
    // A second plan is empty: the new types read back what they wrote.
    let r = moto.slipway(&env, &state, &["plan", "ENV", "-detailed-exitcode"]);
    r.assert_code(0);

    // Read what AWS (moto) holds, not what slipway thinks it wrote.
    let got = moto.boto3(&format!(
        "import json\nout.append(json.loads(s3.get_bucket_policy(Bucket='{bucket}')['Policy']))\nroles = {{}}\nfor r in iam.list_roles()['Roles']:\n    docs = []\n    for n in iam.list_role_policies(RoleName=r['RoleName'])['PolicyNames']:\n        d = iam.get_role_policy(RoleName=r['RoleName'], PolicyName=n)['PolicyDocument']\n        docs.append(json.loads(d) if isinstance(d, str) else d)\n    roles[r['RoleName']] = {{'arn': r['Arn'], 'docs': docs}}\nout.append(roles)\nout.append(s3.get_bucket_lifecycle_configuration(Bucket='{bucket}')['Rules'])"
    ));
    let bucket_policy = &got[0];
    let roles = got[1].as_object().unwrap();
    let snap =
        format!("arn:aws:s3:::{bucket}/{PREFIX_DEFAULT}/frequent/20261201T000000Z-etcd-a.db");
    for (name, role) in roles {
        let arn = role["arn"].as_str().unwrap();
        let docs = role["docs"].as_array().unwrap();
        let member = name.starts_with("etcd-");
        assert_eq!(
            allowed(docs, bucket_policy, arn, "s3:PutObject", &snap, true),
            member,
            "{name}: encrypted PutObject under the prefix"
        );
        // Nobody may put unencrypted, read, delete or list there.
        assert!(!allowed(docs, bucket_policy, arn, "s3:PutObject", &snap, false), "{name}");
        for action in ["s3:GetObject", "s3:DeleteObject"] {
            assert!(
                !allowed(docs, bucket_policy, arn, action, &snap, true),
                "{name} may {action} a snapshot"
            );
        }
        assert!(!allowed(
            docs,
            bucket_policy,
            arn,
            "s3:ListBucket",
            &format!("arn:aws:s3:::{bucket}"),
            true
        ));
        // A member may write nothing outside the prefix.
        assert!(!allowed(
            docs,
            bucket_policy,
            arn,
            "s3:PutObject",
            &format!("arn:aws:s3:::{bucket}/nodes/{name}/bundle.json"),
            true
        ));
        // And the nodes still read their own bundle (the deny is scoped to the prefix).
        assert!(allowed(
            docs,
            bucket_policy,
            arn,
            "s3:GetObject",
            &format!("arn:aws:s3:::{bucket}/nodes/{name}/bundle.json"),
            true
        ));
    }
    // Retention: one expiration rule per class prefix.
    let rules: BTreeMap<String, i64> = got[2]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["Filter"]["Prefix"].as_str().unwrap().to_string(),
                r["Expiration"]["Days"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rules,
        BTreeMap::from([
            (format!("{PREFIX_DEFAULT}/daily/"), 30),
            (format!("{PREFIX_DEFAULT}/frequent/"), 1),
            (format!("{PREFIX_DEFAULT}/hourly/"), 7),
        ])
    );
    moto.slipway(&env, &state, &["destroy", "ENV", "-auto-approve"]).assert_code(0);
    let _ = std::fs::remove_dir_all(&root);
}

/// modules/etcd-snapshots' default prefix.
const PREFIX_DEFAULT: &str = "etcd-snapshots";
