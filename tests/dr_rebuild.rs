//! The node side of `slipway dr rebuild`: the restore script `modules/node-bootstrap` renders
//! for each etcd member (variable `etcd_restore`), run for real.
//!
//! Three real etcd 3.6 members on 127.0.43.1–3 run modules/etcd's configuration with
//! modules/pki's certificates (relative `pki`/`data` directories, one directory per member, as
//! in tests/etcd.rs). Keys are written, a snapshot is taken with `etcdctl snapshot save`, more
//! keys are written; every member is stopped and its data wiped; then each member's RENDERED
//! restore script runs (the S3 download replaced by the local snapshot through the script's
//! test-only `SLIPWAY_RESTORE_SNAPSHOT_FILE`): the restarted cluster serves the keys from before
//! the snapshot and not those after, and its revision is above every revision the old cluster
//! served (`--bump-revision`), which is what keeps Kubernetes resourceVersions from going
//! backwards. A truncated snapshot is refused and nothing is restored. The rendered script
//! passes shellcheck.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::etcd::{etcdctl, run, start, wait_until};

const MEMBERS: [(&str, &str); 3] =
    [("etcd-a", "127.0.43.1"), ("etcd-b", "127.0.43.2"), ("etcd-c", "127.0.43.3")];
const ENV: &str = "environments/restore";
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

/// A port free on the three members' addresses (and not in `avoid`).
fn free_port(avoid: &[u16]) -> u16 {
    crate::util::free_port(&MEMBERS.map(|(_, ip)| ip), avoid)
}

fn environment(client_port: u16, peer_port: u16) -> String {
    let members: Vec<String> =
        MEMBERS.iter().map(|(n, ip)| format!("    {n} = \"{ip}\"")).collect();
    let members = members.join("\n");
    format!(
        r#"
variable "restore_sha256" {{
  type    = string
  default = "0000000000000000000000000000000000000000000000000000000000000000"
}}

locals {{
  members = {{
{members}
  }}
}}

module "pki" {{
  source                = "../../modules/pki"
  apiserver_lb_dns_name = "k8s-api.test.internal"
  control_plane_nodes   = {{ cp-a = "127.0.43.10" }}
  etcd_members          = local.members
}}

module "etcd" {{
  source                = "../../modules/etcd"
  cluster_name          = "restore"
  topology              = "external"
  members               = local.members
  client_port           = {client_port}
  peer_port             = {peer_port}
  listen_on_localhost   = false
  data_dir              = "data"
  pki_dir               = "pki"
  initial_cluster_token = "slipway-restore-test"
  control_plane_cidrs   = ["127.0.43.10/32"]
}}

# What modules/etcd-nodes renders for each member, with a restore set.
module "bootstrap" {{
  source       = "../../modules/node-bootstrap"
  for_each     = local.members
  cluster_name = "restore"
  role         = "etcd"
  node_name    = each.key
  node_ip      = each.value
  etcd_service = {{
    config_path      = "/etc/etcd/etcd.conf.yml"
    config_file      = module.etcd.config_files[each.key]
    systemd_unit     = module.etcd.systemd_units[each.key]
    data_dir         = "data"
    data_volume_id   = "vol-0123456789abcdef0"
    data_device_name = "/dev/sdf"
  }}
  bundle_s3_uri      = "s3://restore-bundles/nodes/${{each.key}}/bundle.json"
  pki_files          = module.pki.bundles[each.key]
  kubernetes_version = "0.0.0"
  containerd_version = "none"
  apiserver_endpoint = "none"
  etcd = {{
    topology  = "external"
    endpoints = [for n in sort(keys(local.members)) : "https://${{local.members[n]}}:{client_port}" if n != each.key]
  }}
  pod_cidr     = "0.0.0.0/0"
  etcd_restore = {{ bucket = "restore-bundles", key = "etcd/snapshots/daily/20261201T000000Z-etcd-a.db", sha256 = var.restore_sha256 }}
}}

output "bundles" {{
  value     = module.pki.bundles
  sensitive = true
}}

output "config_files" {{
  value = module.etcd.config_files
}}

output "endpoints" {{
  value = module.etcd.endpoints
}}

output "admin_kubeconfig" {{
  value     = module.pki.admin_kubeconfig
  sensitive = true
}}

output "restore_scripts" {{
  value = {{ for n, b in module.bootstrap : n => b.etcd_restore_script }}
}}

output "user_data" {{
  value = {{ for n, b in module.bootstrap : n => b.user_data }}
}}
"#
    )
}

fn slipway(root: &Path, args: &[&str]) -> crate::etcd::Run {
    run(Command::new(crate::util::slipway_bin())
        .args(args)
        .current_dir(root)
        .env("NO_COLOR", "1")
        .env_remove("SLIPWAY_STATE_DIR"))
}

fn output<T: serde::de::DeserializeOwned>(root: &Path, name: &str) -> T {
    let out = slipway(root, &["output", name, "--json", "--dir", ENV]).ok("output");
    serde_json::from_str(&out.stdout).unwrap()
}

fn sha256_hex(path: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(path).unwrap()))
}

/// Runs one member's rendered restore script in its directory (its relative paths are there).
fn restore(dir: &Path, script: &str, snapshot: &Path) -> crate::etcd::Run {
    let path = dir.join("slipway-etcd-restore");
    std::fs::write(&path, script).unwrap();
    let bin = crate::kubeutil::kube_bin_dir();
    let search = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    run(Command::new("bash")
        .arg(&path)
        .current_dir(dir)
        .env("PATH", search)
        .env("SLIPWAY_RESTORE_SNAPSHOT_FILE", snapshot))
}

const APISERVER_IP: &str = "127.0.43.10";

/// A real kube-apiserver on the members, with the control-plane node's files from modules/pki
/// (its etcd client certificate, serving certificate, service-account keys).
fn apiserver(root: &Path, pki: &Path, endpoints: &[String], port: u16) -> crate::kubeutil::Proc {
    let p = |f: &str| pki.join(f).display().to_string();
    let args = [
        format!("--etcd-servers={}", endpoints.join(",")),
        format!("--etcd-cafile={}", p("etcd/ca.crt")),
        format!("--etcd-certfile={}", p("apiserver-etcd-client.crt")),
        format!("--etcd-keyfile={}", p("apiserver-etcd-client.key")),
        format!("--bind-address={APISERVER_IP}"),
        format!("--advertise-address={APISERVER_IP}"),
        format!("--secure-port={port}"),
        format!("--tls-cert-file={}", p("apiserver.crt")),
        format!("--tls-private-key-file={}", p("apiserver.key")),
        format!("--client-ca-file={}", p("ca.crt")),
        // Storage is what is tested here; RBAC is control_plane.rs's business.
        "--authorization-mode=AlwaysAllow".to_string(),
        "--service-cluster-ip-range=10.96.0.0/12".to_string(),
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local".to_string(),
        format!("--service-account-key-file={}", p("sa.pub")),
        format!("--service-account-signing-key-file={}", p("sa.key")),
        "--endpoint-reconciler-type=none".to_string(),
        format!("--cert-dir={}", root.join("apiserver-certs").display()),
    ];
    crate::kubeutil::Proc::spawn(
        Command::new(crate::kubeutil::kube_bin("kube-apiserver")).args(&args),
        root.join(format!("kube-apiserver-{}.log", std::process::id())),
    )
}

fn kubectl(kubeconfig: &Path, port: u16, args: &[&str]) -> crate::etcd::Run {
    run(Command::new(crate::kubeutil::kube_bin("kubectl"))
        .arg(format!("--kubeconfig={}", kubeconfig.display()))
        .arg(format!("--server=https://{APISERVER_IP}:{port}"))
        .args(args))
}

fn ready(api: &mut crate::kubeutil::Proc, kubeconfig: &Path, port: u16) {
    wait_until("kube-apiserver /readyz", Duration::from_secs(120), || {
        api.alive()?;
        let r = kubectl(kubeconfig, port, &["get", "--raw", "/readyz"]);
        if r.code == 0 && r.stdout.trim() == "ok" { Ok(()) } else { Err(r.all()) }
    });
}

fn resource_version(kubeconfig: &Path, port: u16, name: &str) -> u64 {
    kubectl(
        kubeconfig,
        port,
        &["get", "configmap", name, "-n", "default", "-o", "jsonpath={.metadata.resourceVersion}"],
    )
    .ok("get resourceVersion")
    .stdout
    .trim()
    .parse()
    .unwrap()
}

#[test]
fn dr_rebuild_rendered_restore_brings_back_the_snapshot_with_revisions_above_the_old_ones() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    let modules = Path::new(env!("CARGO_MANIFEST_DIR")).join("modules");
    for m in ["pki", "etcd", "node-bootstrap"] {
        copy_dir(&modules.join(m), &root.join("modules").join(m));
    }
    let client_port = free_port(&[]);
    let peer_port = free_port(&[client_port]);
    std::fs::create_dir_all(root.join(ENV)).unwrap();
    std::fs::write(root.join(ENV).join("main.hcl"), environment(client_port, peer_port)).unwrap();
    slipway(root, &["apply", ENV, "-auto-approve"]).ok("apply");
    let bundles: BTreeMap<String, BTreeMap<String, String>> = output(root, "bundles");
    let configs: BTreeMap<String, String> = output(root, "config_files");
    let endpoints: Vec<String> = output(root, "endpoints");
    let cp_pki = root.join("cp-a");
    for (path, pem) in &bundles["cp-a"] {
        let file = cp_pki.join(path.strip_prefix("/etc/kubernetes/pki/").unwrap());
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, pem).unwrap();
    }
    let kubeconfig = root.join("admin.kubeconfig");
    let text: String = output(root, "admin_kubeconfig");
    std::fs::write(&kubeconfig, text).unwrap();
    let api_port = crate::util::free_port_on(APISERVER_IP);

    let dirs: BTreeMap<String, PathBuf> = MEMBERS
        .iter()
        .map(|(name, _)| {
            let dir = root.join("members").join(name);
            std::fs::create_dir_all(dir.join("pki")).unwrap();
            for (path, pem) in &bundles[*name] {
                let file = path.strip_prefix(&format!("{PKI_ETCD}/")).unwrap();
                std::fs::write(dir.join("pki").join(file), pem).unwrap();
            }
            std::fs::write(dir.join("etcd.conf.yml"), &configs[*name]).unwrap();
            (name.to_string(), dir)
        })
        .collect();
    let pki = dirs["etcd-a"].join("pki");
    let (ca, cert, key) = (
        pki.join("ca.crt"),
        pki.join("healthcheck-client.crt"),
        pki.join("healthcheck-client.key"),
    );
    let tls: [(&str, &Path); 3] = [("cacert", &ca), ("cert", &cert), ("key", &key)];
    let healthy = |cluster: &mut crate::etcd::Cluster| {
        wait_until("3 healthy members", Duration::from_secs(60), || {
            cluster.assert_running(&dirs);
            let r = etcdctl(&endpoints, &tls, &["endpoint", "health", "--cluster"]);
            if r.code == 0 && r.all().matches("is healthy").count() == 3 {
                Ok(())
            } else {
                Err(r.all())
            }
        });
    };
    let revision = || -> u64 {
        let r =
            etcdctl(&endpoints[..1], &tls, &["get", "/", "--prefix", "--keys-only", "-w", "json"])
                .ok("get");
        let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        v["header"]["revision"].as_u64().unwrap()
    };

    // The old cluster: objects before the snapshot, the snapshot, objects after it.
    let mut cluster = start(&dirs);
    healthy(&mut cluster);
    let mut api = apiserver(root, &cp_pki, &endpoints, api_port);
    ready(&mut api, &kubeconfig, api_port);
    for i in 0..5 {
        let name = format!("before-{i}");
        kubectl(&kubeconfig, api_port, &["create", "configmap", &name, "-n", "default"])
            .ok("create");
    }
    for i in 0..20 {
        etcdctl(&endpoints, &tls, &["put", &format!("/registry/before/{i}"), "v"]).ok("put");
    }
    let snapshot = root.join("snapshot.db");
    etcdctl(&endpoints[..1], &tls, &["snapshot", "save", snapshot.to_str().unwrap()])
        .ok("snapshot save");
    for i in 0..20 {
        etcdctl(&endpoints, &tls, &["put", &format!("/registry/after/{i}"), "v"]).ok("put");
    }
    for i in 0..5 {
        let name = format!("after-{i}");
        kubectl(&kubeconfig, api_port, &["create", "configmap", &name, "-n", "default"])
            .ok("create");
    }
    let highest_rv = resource_version(&kubeconfig, api_port, "after-4");
    let highest_before = revision();
    drop(api);
    drop(cluster);
    for dir in dirs.values() {
        std::fs::remove_dir_all(dir.join("data")).unwrap();
    }

    // Rendered for this snapshot's digest, as `dr rebuild` sets etcd_restore.
    let sha = sha256_hex(&snapshot);
    slipway(root, &["apply", ENV, "-auto-approve", "-var", &format!("restore_sha256={sha}")])
        .ok("apply with the snapshot's digest");
    let scripts: BTreeMap<String, String> = output(root, "restore_scripts");
    let user_data: BTreeMap<String, String> = output(root, "user_data");
    for (name, script) in &scripts {
        assert!(script.contains(&sha), "{name}: {script}");
        assert!(script.contains("--bump-revision \"$BUMP_REVISION\" --mark-compacted"));
        let ud = &user_data[name];
        assert!(ud.contains("/usr/local/sbin/slipway-etcd-restore"), "{ud}");
        assert!(!crate::cloud_config::readable(ud).contains("PRIVATE KEY"), "a key in user-data");
    }

    // c) shellcheck on what is rendered.
    let sc_file = root.join("restore.sh");
    std::fs::write(&sc_file, &scripts["etcd-a"]).unwrap();
    let sc = run(Command::new("shellcheck").arg(&sc_file));
    assert_eq!(sc.code, 0, "shellcheck: {}", sc.all());

    // A truncated snapshot is refused and nothing is restored.
    let bytes = std::fs::read(&snapshot).unwrap();
    let truncated = root.join("truncated.db");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let r = restore(&dirs["etcd-a"], &scripts["etcd-a"], &truncated);
    assert_ne!(r.code, 0, "{}", r.all());
    assert!(r.stderr.contains("refusing to restore"), "{}", r.all());
    assert!(!dirs["etcd-a"].join("data/member").exists());
    // A corrupted one whose digest matches (rendered for it) is refused by etcdutl's own hash.
    let mut corrupt = bytes.clone();
    let mid = corrupt.len() / 2;
    corrupt[mid] ^= 0xff;
    let corrupted = root.join("corrupted.db");
    std::fs::write(&corrupted, &corrupt).unwrap();
    let script = scripts["etcd-a"].replace(&sha, &sha256_hex(&corrupted));
    let r = restore(&dirs["etcd-a"], &script, &corrupted);
    assert_ne!(r.code, 0, "{}", r.all());
    assert!(!dirs["etcd-a"].join("data/member").exists(), "{}", r.all());

    // Every member restores the same snapshot, then the cluster starts on it.
    for (name, dir) in &dirs {
        let r = restore(dir, &scripts[name], &snapshot);
        assert_eq!(r.code, 0, "{name}: {}", r.all());
        assert!(dir.join("data/member").is_dir());
    }
    // Run again on restored data: it keeps it.
    let again = restore(&dirs["etcd-a"], &scripts["etcd-a"], &snapshot);
    assert!(again.stdout.contains("keeps its data"), "{}", again.all());

    let mut cluster = start(&dirs);
    healthy(&mut cluster);
    let keys = |prefix: &str| -> usize {
        etcdctl(&endpoints, &tls, &["get", prefix, "--prefix", "--keys-only"])
            .ok("get")
            .stdout
            .lines()
            .filter(|l| !l.is_empty())
            .count()
    };
    assert_eq!(keys("/registry/before/"), 20, "objects before the snapshot");
    assert_eq!(keys("/registry/after/"), 0, "objects after the snapshot");
    etcdctl(&endpoints, &tls, &["put", "/registry/new", "v"]).ok("put after restore");
    let now = revision();
    assert!(
        now > highest_before && now >= 1_000_000_000,
        "revision {now} is not above {highest_before}"
    );

    // The API server on the restored members: what was created before the snapshot is served,
    // what came after is not, and new resourceVersions are above every one handed out before.
    let mut api = apiserver(root, &cp_pki, &endpoints, api_port);
    ready(&mut api, &kubeconfig, api_port);
    let names =
        kubectl(&kubeconfig, api_port, &["get", "configmaps", "-n", "default", "-o", "name"])
            .ok("list");
    for i in 0..5 {
        assert!(names.stdout.contains(&format!("configmap/before-{i}\n")), "{}", names.stdout);
        assert!(!names.stdout.contains(&format!("configmap/after-{i}")), "{}", names.stdout);
    }
    kubectl(&kubeconfig, api_port, &["create", "configmap", "restored", "-n", "default"])
        .ok("create after restore");
    let rv = resource_version(&kubeconfig, api_port, "restored");
    assert!(rv > highest_rv, "resourceVersion {rv} is not above {highest_rv}");
    drop(api);
    drop(cluster);
}

/// (bucket, prefix without a trailing slash) of the environment's `etcd_snapshots` output: where
/// the members' timer writes snapshots.
fn snapshot_location(moto: &crate::moto::Moto, env: &Path, state: &Path) -> (String, String) {
    let loc = moto.slipway(env, state, &["output", "etcd_snapshots", "--json", "--dir", "ENV"]);
    loc.assert_code(0);
    let loc = loc.json();
    let bucket = loc["bucket"].as_str().unwrap().to_string();
    let prefix = loc["prefix"].as_str().unwrap().trim_end_matches('/');
    (bucket, prefix.to_string())
}

/// `environments/prod` copied into a scratch repository (modules linked: the base it extends,
/// modules/environment, declares the `etcd_snapshots` output snap's part reads).
fn prod_copy(root: &Path) -> PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::os::unix::fs::symlink(repo.join("modules"), root.join("modules")).unwrap();
    let env = root.join("environments/prod");
    copy_dir(&repo.join("environments/prod"), &env);
    env
}

/// Tags, ids and user data of the live instances, through the AWS API.
fn instances(moto: &crate::moto::Moto) -> Vec<serde_json::Value> {
    moto.boto3(
        "for r in ec2.describe_instances(Filters=[{'Name': 'instance-state-name', 'Values': ['pending', 'running']}])['Reservations']:\n    for i in r['Instances']:\n        ud = ec2.describe_instance_attribute(InstanceId=i['InstanceId'], Attribute='userData')['UserData'].get('Value', '')\n        out.append({'id': i['InstanceId'], 'tags': {t['Key']: t['Value'] for t in i.get('Tags', [])}, 'user_data': base64.b64decode(ud).decode()})",
    )
    .as_array()
    .unwrap()
    .clone()
}

/// Public halves of the keys and CAs in state, by address (`show --json`; secrets are masked).
fn kept_keys(moto: &crate::moto::Moto, env: &Path, state: &Path) -> BTreeMap<String, String> {
    let show = moto.slipway(env, state, &["show", "ENV", "--json"]);
    show.assert_code(0);
    let doc = show.json();
    doc["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| matches!(r["type"].as_str(), Some("tls_private_key" | "tls_self_signed_cert")))
        .map(|r| {
            let v = &r["values"];
            let public = v["public_key_pem"]
                .as_str()
                .or(v["cert_pem"].as_str())
                .unwrap_or_default()
                .to_string();
            (r["address"].as_str().unwrap().to_string(), public)
        })
        .collect()
}

#[test]
fn dr_rebuild_recreates_the_nodes_restoring_the_latest_snapshot_and_keeps_the_cas() {
    let moto = crate::moto::Moto::start();
    let dir = crate::util::TestDir::new();
    let env = prod_copy(dir.path());
    let state = dir.join("state");
    moto.slipway(&env, &state, &["apply", "ENV", "-auto-approve"]).assert_code(0);
    let keys_before = kept_keys(&moto, &env, &state);
    assert!(keys_before.keys().any(|a| a.contains("tls_self_signed_cert")), "{keys_before:?}");
    let before = instances(&moto);
    let etcd_before = before.iter().filter(|i| i["tags"]["Role"] == "etcd").count();
    assert_eq!(etcd_before, 3);

    // Snapshots as the members' timer writes them (an older one and the latest, with their
    // metadata), where the environment's `etcd_snapshots` output says.
    let (bucket, prefix) = snapshot_location(&moto, &env, &state);
    // moto answers 403 to these puts under the bucket's snapshot policy (even with SSE): the
    // test removes the policy, and the rebuild's plan puts it back.
    let out = moto.boto3(&format!(
        "import hashlib\ns3.delete_bucket_policy(Bucket='{bucket}')\nfor stamp in ['20261130T000000Z', '20261201T001500Z']:\n    body = ('snapshot ' + stamp).encode()\n    s3.put_object(Bucket='{bucket}', Key='{prefix}/frequent/' + stamp + '-etcd-a.db', Body=body, ServerSideEncryption='AES256', Metadata={{'sha256': hashlib.sha256(body).hexdigest(), 'revision': '42', 'total-keys': '7', 'hash': '1', 'canary': stamp, 'member': 'etcd-a'}})\n    out.append(hashlib.sha256(body).hexdigest())"
    ));
    let sha = out[1].as_str().unwrap().to_string();
    let key = format!("{prefix}/frequent/20261201T001500Z-etcd-a.db");
    let key = key.as_str();

    // The disaster: every instance terminated, every data volume deleted.
    moto.boto3(
        "ids = [i['InstanceId'] for r in ec2.describe_instances()['Reservations'] for i in r['Instances']]\nfor v in ec2.describe_volumes()['Volumes']:\n    for a in v.get('Attachments', []):\n        ec2.detach_volume(VolumeId=v['VolumeId'], InstanceId=a['InstanceId'])\nec2.terminate_instances(InstanceIds=ids)\nfor v in ec2.describe_volumes()['Volumes']:\n    ec2.delete_volume(VolumeId=v['VolumeId'])",
    );
    // moto never releases a terminated instance's private IP (only when its Python object is
    // collected), and the nodes' IPs are static: the zones' private subnets go too (moto lets
    // them), and the rebuild recreates them as well — a wider loss than AWS would need.
    moto.boto3(
        "for s in ec2.describe_subnets()['Subnets']:\n    if any(t['Key'] == 'Name' and '-private-' in t['Value'] for t in s.get('Tags', [])):\n        ec2.delete_subnet(SubnetId=s['SubnetId'])",
    );
    assert!(instances(&moto).is_empty());

    let rebuild = moto.slipway(
        &env,
        &state,
        &["dr", "rebuild", "ENV", "--snapshot", "latest", "-auto-approve"],
    );
    rebuild.assert_code(0);
    for step in [
        "configuration loaded",
        &format!("snapshot s3://{bucket}/{key}"),
        "refresh and plan",
        "apply:",
        "total",
    ] {
        assert!(
            rebuild.stdout.contains(step) || rebuild.stderr.contains(step),
            "step {step}: {}",
            rebuild.dump()
        );
    }

    // Instances and volumes are back, new; the etcd members' user data restores that object.
    let after = instances(&moto);
    assert_eq!(after.len(), before.len(), "{}", rebuild.dump());
    let old_ids: Vec<&str> = before.iter().map(|i| i["id"].as_str().unwrap()).collect();
    assert!(after.iter().all(|i| !old_ids.contains(&i["id"].as_str().unwrap())));
    let volumes = moto.boto3("out.extend(v['VolumeId'] for v in ec2.describe_volumes()['Volumes'] if v['State'] != 'deleted' and any(t['Key'] == 'slipway:address' and 'aws_ebs_volume.data' in t['Value'] for t in v.get('Tags', [])))");
    assert_eq!(volumes.as_array().unwrap().len(), 3, "data volumes recreated");
    let etcd: Vec<&serde_json::Value> =
        after.iter().filter(|i| i["tags"]["Role"] == "etcd").collect();
    assert_eq!(etcd.len(), 3);
    for i in &etcd {
        let ud = i["user_data"].as_str().unwrap();
        let script = crate::cloud_config::write_files(ud)
            .into_iter()
            .find(|(p, _)| p.as_str() == "/usr/local/sbin/slipway-etcd-restore")
            .map(|(_, (c, _))| c)
            .unwrap_or_else(|| panic!("no restore script in {ud}"));
        assert!(script.contains(&format!("s3://{bucket}/{key}")), "{script}");
        assert!(script.contains(&sha), "{script}");
        let readable = crate::cloud_config::readable(ud);
        assert!(readable.contains("/usr/local/sbin/slipway-etcd-restore\n"), "the hook runs it");
        assert!(!readable.contains("PRIVATE KEY"));
    }
    // The etcd roles may read exactly that object while the restore is set.
    let policies = moto.boto3("for r in iam.list_roles()['Roles']:\n    for n in iam.list_role_policies(RoleName=r['RoleName'])['PolicyNames']:\n        out.append([r['RoleName'], json.dumps(iam.get_role_policy(RoleName=r['RoleName'], PolicyName=n)['PolicyDocument'])])");
    let snapshot_arn = format!("arn:aws:s3:::{bucket}/{key}");
    let readers: Vec<String> = policies
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p[1].as_str().unwrap().contains(&snapshot_arn))
        .map(|p| p[0].as_str().unwrap().to_string())
        .collect();
    assert_eq!(readers.len(), 3, "only the three members' roles: {readers:?}");
    assert!(readers.iter().all(|r| r.contains("etcd")), "{readers:?}");

    // CAs and the service-account key are the same objects.
    assert_eq!(kept_keys(&moto, &env, &state), keys_before);

    // The restore variable is kept (written next to the environment): the next plan is empty.
    let vars = std::fs::read_to_string(env.join("etcd-restore.vars.hcl")).unwrap();
    assert!(vars.contains(&sha), "{vars}");
    moto.slipway(&env, &state, &["plan", "ENV", "--detailed-exitcode"]).assert_code(0);
}

/// The stacked init node's lab address (this test's own; kubeadm's ports 2379/2380).
const STACKED_IP: &str = "127.0.44.1";

/// etcd as kubeadm's stacked static pod runs it on the init node (paths relative to `dir`).
fn start_stacked(dir: &Path, data: &str) -> std::process::Child {
    let log =
        std::fs::OpenOptions::new().create(true).append(true).open(dir.join("etcd.log")).unwrap();
    let (client, peer) =
        (format!("https://{STACKED_IP}:2379"), format!("https://{STACKED_IP}:2380"));
    Command::new(crate::kubeutil::kube_bin("etcd"))
        .args([
            "--name=dev-cp-a".to_string(),
            format!("--data-dir={data}"),
            format!("--advertise-client-urls={client}"),
            format!("--listen-client-urls={client}"),
            format!("--initial-advertise-peer-urls={peer}"),
            format!("--listen-peer-urls={peer}"),
            format!("--initial-cluster=dev-cp-a={peer}"),
            "--initial-cluster-state=new".to_string(),
            "--cert-file=pki/server.crt".to_string(),
            "--key-file=pki/server.key".to_string(),
            "--trusted-ca-file=pki/ca.crt".to_string(),
            "--client-cert-auth=true".to_string(),
            "--peer-cert-file=pki/peer.crt".to_string(),
            "--peer-key-file=pki/peer.key".to_string(),
            "--peer-trusted-ca-file=pki/ca.crt".to_string(),
            "--peer-client-cert-auth=true".to_string(),
        ])
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start etcd ({e}); build it with scripts/install-kube"))
}

/// `dr rebuild` of a stacked environment (dev, 3 control-plane nodes) end to end: against moto,
/// the rebuild gives the restore to the init node only (its user-data runs it only when its
/// init-or-join says "init"; its role alone may read the snapshot), keeps the CAs, and the next
/// plan is empty. Then the node side for real: the init node's delivered membership script and
/// rendered restore script, rebound to the loopback, decide "init" (no peer answers), restore a
/// real snapshot, and the member kubeadm starts serves the keys from before it, not after, with
/// the revision bumped.
#[test]
fn dr_rebuild_of_stacked_dev_restores_on_the_init_node_which_then_inits_from_the_snapshot() {
    let moto = crate::moto::Moto::start();
    let dir = crate::util::TestDir::new();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::os::unix::fs::symlink(repo.join("modules"), dir.path().join("modules")).unwrap();
    let env = dir.path().join("environments/dev");
    copy_dir(&repo.join("environments/dev"), &env);
    let state = dir.join("state");
    let three = ["-var", "control_plane_count=3"];
    let slipway_dev = |args: &[&str]| moto.slipway(&env, &state, &[args, &three[..]].concat());
    slipway_dev(&["apply", "ENV", "-auto-approve"]).assert_code(0);
    let keys_before = kept_keys(&moto, &env, &state);
    let cp = |all: &[serde_json::Value]| -> BTreeMap<String, serde_json::Value> {
        all.iter()
            .filter_map(|i| {
                let name = i["tags"]["Name"].as_str()?;
                name.starts_with("dev-cp-").then(|| (name.to_string(), i.clone()))
            })
            .collect()
    };
    let before = cp(&instances(&moto));
    assert_eq!(before.len(), 3, "{before:?}");
    let ips: BTreeMap<String, String> = moto
        .boto3("for r in ec2.describe_instances()['Reservations']:\n    for i in r['Instances']:\n        tags = {t['Key']: t['Value'] for t in i.get('Tags', [])}\n        out.append([tags.get('Name', ''), i['PrivateIpAddress']])")
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p[0].as_str().unwrap().to_string(), p[1].as_str().unwrap().to_string()))
        .collect();

    // A snapshot where the environment's `etcd_snapshots` output says (the bucket policy goes
    // for the put, as in the prod test; the rebuild's plan puts it back).
    let (bucket, prefix) = snapshot_location(&moto, &env, &state);
    let out = moto.boto3(&format!(
        "import hashlib\ns3.delete_bucket_policy(Bucket='{bucket}')\nbody = b'snapshot 20261201T001500Z'\ns3.put_object(Bucket='{bucket}', Key='{prefix}/frequent/20261201T001500Z-dev-cp-a.db', Body=body, ServerSideEncryption='AES256', Metadata={{'sha256': hashlib.sha256(body).hexdigest(), 'revision': '42', 'total-keys': '7', 'hash': '1', 'canary': 'x', 'member': 'dev-cp-a'}})\nout.append(hashlib.sha256(body).hexdigest())"
    ));
    let sha = out[0].as_str().unwrap().to_string();
    let key = format!("{prefix}/frequent/20261201T001500Z-dev-cp-a.db");

    // Every node gone (dev's nodes have no data volumes: stacked etcd lives on the root disk).
    moto.boto3(
        "ids = [i['InstanceId'] for r in ec2.describe_instances()['Reservations'] for i in r['Instances']]\nec2.terminate_instances(InstanceIds=ids)",
    );
    moto.boto3(
        "for s in ec2.describe_subnets()['Subnets']:\n    if any(t['Key'] == 'Name' and '-private-' in t['Value'] for t in s.get('Tags', [])):\n        ec2.delete_subnet(SubnetId=s['SubnetId'])",
    );
    let rebuild = slipway_dev(&["dr", "rebuild", "ENV", "--snapshot", "latest", "-auto-approve"]);
    rebuild.assert_code(0);
    assert!(
        rebuild.stdout.contains(&format!("snapshot s3://{bucket}/{key}"))
            || rebuild.stderr.contains(&format!("snapshot s3://{bucket}/{key}")),
        "{}",
        rebuild.dump()
    );
    let after = cp(&instances(&moto));
    assert_eq!(after.len(), 3, "{}", rebuild.dump());
    let restore_path = "/usr/local/sbin/slipway-etcd-restore";
    let mut restore_script = String::new();
    for (name, i) in &after {
        assert_ne!(i["id"], before[name]["id"], "{name} is new");
        let ud = i["user_data"].as_str().unwrap();
        assert!(ud.len() < 16 * 1024, "{name}: user-data is {} bytes", ud.len());
        let files = crate::cloud_config::write_files(ud);
        let bootstrap = &files["/usr/local/sbin/slipway-bootstrap"].0;
        if name == "dev-cp-a" {
            restore_script = files[restore_path].0.clone();
            assert!(restore_script.contains(&format!("s3://{bucket}/{key}")), "{restore_script}");
            assert!(restore_script.contains(&sha), "{restore_script}");
            // The restore runs only on the "init" path: a replaced init node joins instead.
            let hook = format!("if [ \"$ETCD_PATH\" = init ]; then {restore_path}; fi");
            assert!(bootstrap.contains(&hook), "no {hook:?} in\n{bootstrap}");
            let decide = bootstrap.find("init-or-join)").unwrap();
            assert!(decide < bootstrap.find(&hook).unwrap(), "{bootstrap}");
        } else {
            assert!(!files.contains_key(restore_path), "{name} restores");
            assert!(!bootstrap.contains(restore_path), "{name} restores");
        }
        assert!(!crate::cloud_config::readable(ud).contains("PRIVATE KEY"));
    }
    let policies = moto.boto3("for r in iam.list_roles()['Roles']:\n    for n in iam.list_role_policies(RoleName=r['RoleName'])['PolicyNames']:\n        out.append([r['RoleName'], json.dumps(iam.get_role_policy(RoleName=r['RoleName'], PolicyName=n)['PolicyDocument'])])");
    let snapshot_arn = format!("arn:aws:s3:::{bucket}/{key}");
    let readers: Vec<String> = policies
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p[1].as_str().unwrap().contains(&snapshot_arn))
        .map(|p| p[0].as_str().unwrap().to_string())
        .collect();
    assert_eq!(readers.len(), 1, "the init node's role only: {readers:?}");
    assert!(readers[0].contains("dev-cp-a"), "{readers:?}");
    assert_eq!(kept_keys(&moto, &env, &state), keys_before);
    slipway_dev(&["plan", "ENV", "--detailed-exitcode"]).assert_code(0);

    // The init node's membership script, from its bundle in S3, and the declared list.
    let delivered = moto.boto3(&format!(
        "b = json.loads(s3.get_object(Bucket='{bucket}', Key='nodes/dev-cp-a/bundle.json')['Body'].read())\nout.append(b['scripts']['/usr/local/sbin/slipway-etcd-member'])\nout.append(s3.get_object(Bucket='{bucket}', Key='nodes/etcd-members.json')['Body'].read().decode())"
    ));
    let member_script = delivered[0].as_str().unwrap().to_string();
    let declared = delivered[1].as_str().unwrap().to_string();

    // The node side, for real. Certificates for the lab address from modules/pki.
    let root = dir.join("lab");
    let bundles = crate::etcdutil::lab_bundles(&root, &[("dev-cp-a", STACKED_IP)]);
    let node = root.join("dev-cp-a");
    std::fs::create_dir_all(node.join("pki")).unwrap();
    for (path, pem) in &bundles["dev-cp-a"] {
        if let Some(file) = path.strip_prefix(&format!("{PKI_ETCD}/")) {
            std::fs::write(node.join("pki").join(file), pem).unwrap();
        }
    }
    let tls_files = [
        ("cacert", node.join("pki/ca.crt")),
        ("cert", node.join("pki/healthcheck-client.crt")),
        ("key", node.join("pki/healthcheck-client.key")),
    ];
    let tls: Vec<(&str, &Path)> = tls_files.iter().map(|(k, p)| (*k, p.as_path())).collect();
    let endpoint = vec![format!("https://{STACKED_IP}:2379")];
    let ctl = |args: &[&str]| etcdctl(&endpoint, &tls, args);

    // The lost cluster: keys, the snapshot, a key after it.
    let mut old = start_stacked(&node, "old");
    wait_until("the old member", Duration::from_secs(60), || {
        let r = ctl(&["put", "/before", "1"]);
        if r.code == 0 { Ok(()) } else { Err(r.all()) }
    });
    let old_revision = |r: &crate::etcd::Run| -> u64 {
        let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        v["header"]["revision"].as_u64().unwrap()
    };
    let snapshot = node.join("snapshot.db");
    ctl(&["snapshot", "save", &snapshot.display().to_string()]).ok("snapshot save");
    ctl(&["put", "/after", "1"]).ok("put after");
    let last = old_revision(&ctl(&["get", "/after", "-w", "json"]).ok("get after"));
    let _ = old.kill();
    let _ = old.wait();
    std::fs::remove_dir_all(node.join("old")).unwrap();

    // The new init node: init-or-join (no declared peer answers: "init"), then the restore.
    let lab_ip = |n: &str| {
        if n == "dev-cp-a" {
            STACKED_IP.to_string()
        } else {
            format!("127.0.44.{}", if n == "dev-cp-b" { 2 } else { 3 })
        }
    };
    let mut rebound = member_script.clone();
    let mut lab_declared = declared.clone();
    for (n, ip) in &ips {
        if !n.starts_with("dev-cp-") {
            continue;
        }
        let (from, to) = (format!("https://{ip}:"), format!("https://{}:", lab_ip(n)));
        assert!(lab_declared.contains(&from), "{lab_declared}");
        lab_declared = lab_declared.replace(&from, &to);
        if n == "dev-cp-a" {
            assert!(rebound.contains(&from), "{rebound}");
            rebound = rebound.replace(&from, &to);
        }
    }
    for (from, to) in [
        ("'/var/lib/etcd'", "'data'"),
        (&format!("'{PKI_ETCD}/") as &str, "'pki/"),
        ("'/etc/kubernetes/slipway-etcd-member.conf.yml'", "'member.conf.yml'"),
    ] {
        assert!(rebound.contains(from), "{from}: {rebound}");
        rebound = rebound.replace(from, to);
    }
    std::fs::write(node.join("member.sh"), rebound).unwrap();
    std::fs::write(node.join("etcd-members.json"), lab_declared).unwrap();
    let bin = crate::kubeutil::kube_bin_dir();
    let search = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let decision = run(Command::new("bash")
        .args(["member.sh", "init-or-join"])
        .current_dir(&node)
        .env_clear()
        .env("PATH", &search)
        .env("SLIPWAY_ETCD_MEMBERS_FILE", node.join("etcd-members.json")))
    .ok("init-or-join after dr rebuild");
    assert_eq!(decision.stdout.trim(), "init", "{}", decision.all());

    let a_ip = &ips["dev-cp-a"];
    let mut script = restore_script.clone();
    for (from, to) in [
        (format!("https://{a_ip}:"), format!("https://{STACKED_IP}:")),
        ("'/var/lib/etcd'".to_string(), "'data'".to_string()),
        (sha.clone(), sha256_hex(&snapshot)),
    ] {
        assert!(script.contains(&from), "{from}: {script}");
        script = script.replace(&from, &to);
    }
    let restored = restore(&node, &script, &snapshot).ok("the init node's restore");
    assert!(restored.stdout.contains("restored"), "{}", restored.all());
    assert!(node.join("data/member").is_dir());

    // kubeadm init's etcd on the restored data: one member, the keys of the snapshot.
    let mut member = start_stacked(&node, "data");
    wait_until("the restored member", Duration::from_secs(60), || {
        let r = ctl(&["endpoint", "health"]);
        if r.code == 0 { Ok(()) } else { Err(r.all()) }
    });
    let before_key = ctl(&["get", "/before", "-w", "json"]).ok("get before");
    assert!(before_key.stdout.contains("\"kvs\""), "{}", before_key.stdout);
    let revision = old_revision(&before_key);
    assert!(revision > last && revision >= 1_000_000_000, "revision {revision} not above {last}");
    let after_key = ctl(&["get", "/after", "--print-value-only"]).ok("get after");
    assert!(after_key.stdout.trim().is_empty(), "a key from after the snapshot");
    let members = ctl(&["member", "list", "-w", "simple"]).ok("member list");
    assert_eq!(members.stdout.lines().count(), 1, "{}", members.stdout);
    assert!(members.stdout.contains("dev-cp-a"), "{}", members.stdout);
    let _ = member.kill();
    let _ = member.wait();
}

/// `dr rebuild --commit REF` reads the configuration committed at REF, the base the
/// environment extends included (issue #17 item 5): with the working tree's base broken, the
/// commit's still loads (the run goes on to the state, which this repository has none of),
/// while the working tree's configuration is refused at the broken base file.
#[test]
fn dr_rebuild_at_a_commit_reads_the_base_the_environment_extends_from_that_commit() {
    let dir = crate::util::TestDir::new();
    let repo = crate::gitutil::Repo::new(dir.path());
    repo.write("environments/x/main.hcl", "slipway {\n  extends = \"../../modules/base\"\n}\n");
    repo.write("modules/base/main.hcl", "variable \"etcd_restore\" {\n  default = null\n}\n");
    repo.commit_push("an environment and its base");
    repo.write("modules/base/main.hcl", "variable \"etcd_restore\" {\n");
    let env = repo.work.join("environments/x");
    let rebuild = |extra: &[&str]| {
        let mut args = vec!["dr", "rebuild", ".", "--auto-approve"];
        args.extend_from_slice(extra);
        crate::util::slipway_in(&env, args)
    };

    let at_commit = rebuild(&["--commit", "main"]);
    at_commit.assert_no_crash().assert_code(1);
    assert!(at_commit.stderr.contains("the environment has no state"), "{}", at_commit.dump());
    assert!(!at_commit.stderr.contains("syntax error"), "{}", at_commit.dump());

    let worktree = rebuild(&[]);
    worktree.assert_no_crash().assert_code(1);
    assert!(
        worktree.stderr.contains("syntax error") && worktree.stderr.contains("main.hcl:"),
        "{}",
        worktree.dump()
    );
    assert!(worktree.stderr.contains("modules/base/main.hcl"), "{}", worktree.dump());
}
