//! `environments/prod` through the binary against a real moto server: three zones, three
//! control-plane nodes, a dedicated three-member etcd cluster on its own EBS volumes, three
//! workers, the NLB. One apply is shared by the tests (`fixture()`), which collects everything
//! the AWS API says about the result — user-data as EC2 hands it out, bundles from S3, security
//! groups, IAM policies, volumes — then destroys and records what is left. The tests check it
//! with real peers: `cloud-init schema`, the typed kubeadm structs of `cloud_config.rs`, `bash -n`
//! and shellcheck, and three real etcd processes running the members' configuration exactly as
//! the member instances received it (rebound to loopback ports).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;

use crate::cloud_config::{self, KubeadmDoc};
use crate::etcd;
use crate::moto::{FaultProxy, Moto, slipway_at};
use crate::util::{Run, TestDir};

const ZONES: [&str; 3] = ["us-east-1a", "us-east-1b", "us-east-1c"];
const CONTROL_PLANE: usize = 3;
const ETCD: usize = 3;
const WORKERS: usize = 3;
const PKI: &str = "/etc/kubernetes/pki";
const SCRIPT: &str = "/usr/local/sbin/slipway-bootstrap";

fn env_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("environments/prod")
}

fn slipway(moto: &Moto, state: &Path, args: &[&str]) -> Run {
    moto.slipway(&env_dir(), state, args)
}

fn strings(v: Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect()
}

/// What `plan --json` would create, counted per resource type (data sources are read, not
/// created).
fn counts_per_type(plan: &Run) -> BTreeMap<String, usize> {
    let doc = plan.json();
    let mut counts = BTreeMap::new();
    for c in doc["resource_changes"].as_array().expect("resource_changes") {
        if c["mode"] == "data" {
            continue;
        }
        assert_eq!(c["action"], "create", "{c}");
        *counts.entry(c["type"].as_str().unwrap().to_string()).or_insert(0) += 1;
    }
    counts
}

/// The counts per type the topology implies: `z` zones, `c` control-plane nodes, `e` etcd
/// members, `w` workers. Every node has a bundle, role, policy, profile and instance; every
/// etcd member a volume and an attachment, a policy reading the declared member list, and two certificates (server, peer) besides the seven
/// shared leaves (apiserver, kubelet client, etcd client, front-proxy client, healthcheck,
/// Prometheus's etcd metrics client, admin).
fn expected_counts(z: usize, c: usize, e: usize, w: usize) -> BTreeMap<String, usize> {
    let n = c + e + w;
    let leaves = 7 + 2 * e;
    [
        ("aws_vpc", 1),
        ("aws_internet_gateway", 1),
        ("aws_subnet", 2 * z),
        // A public table, and one per zone for the private subnets (a route through the zone's
        // NAT gateway, and the S3 endpoint's).
        ("aws_route_table", 1 + z),
        ("aws_route_table_association", 2 * z),
        ("aws_eip", z),
        ("aws_nat_gateway", z),
        ("aws_vpc_endpoint", 1),
        ("aws_lb", 1),
        ("aws_lb_target_group", 1),
        ("aws_lb_listener", 1),
        ("aws_lb_target_group_attachment", c),
        ("aws_security_group", 3),
        ("aws_s3_bucket", 1),
        // The bundles and the declared etcd member list.
        ("aws_s3_object", n + 1),
        ("aws_iam_role", n),
        // Each node's bundle policy; each etcd member's snapshot writer policy and its read of
        // the declared member list.
        ("aws_iam_role_policy", n + 2 * e),
        ("aws_s3_bucket_policy", 1),
        ("aws_s3_bucket_lifecycle_configuration", 1),
        ("aws_iam_instance_profile", n),
        ("aws_instance", n),
        ("aws_ebs_volume", e),
        ("aws_volume_attachment", e),
        ("random_id", 1),
        ("random_string", 1),
        ("random_password", 1),
        // The join token's rotation (modules/cluster).
        ("time_rotating", 1),
        ("tls_private_key", 3 + 1 + leaves),
        ("tls_self_signed_cert", 3),
        ("tls_cert_request", leaves),
        ("tls_locally_signed_cert", leaves),
    ]
    .into_iter()
    .map(|(t, n)| (t.to_string(), n))
    .collect()
}

/// An instance as EC2 describes it, with its user-data read back through
/// DescribeInstanceAttribute.
#[derive(Debug)]
struct Instance {
    name: String,
    role: String,
    zone: String,
    private_ip: String,
    security_groups: Vec<String>,
    profile_arn: String,
    user_data: String,
    /// Device name => volume id, from DescribeVolumes.
    volumes: BTreeMap<String, String>,
}

struct Fixture {
    /// Counts per type of the first plan, and of a plan with 5 etcd members and 4 workers.
    plan_counts: BTreeMap<String, usize>,
    plan_counts_5_4: BTreeMap<String, usize>,
    /// Distinct AWS types (resources and data sources) in the plan.
    aws_types: usize,
    plan: Run,
    apply: Run,
    noop_plan: Run,
    destroy: Run,
    token: String,
    cluster: Value,
    lb_dns: String,
    kubeconfig: String,
    kubeconfig_mode: u32,
    instances: Vec<Instance>,
    /// S3 key => bundle JSON.
    bundles: BTreeMap<String, Value>,
    /// The declared etcd member list (S3 nodes/etcd-members.json) the members' scripts read.
    declared_members: Value,
    /// A plan after the apply with etcd_member_count = 5.
    scale_plan: Run,
    /// Role name => (policy documents of its inline policies).
    policies: BTreeMap<String, Vec<Value>>,
    /// Instance profile ARN => role name.
    profiles: BTreeMap<String, String>,
    /// Security group name => its IpPermissions (ingress) and id.
    groups: BTreeMap<String, (String, Value)>,
    target_ids: BTreeSet<String>,
    /// STACK_OBJECTS before and after destroy.
    before_destroy: Vec<String>,
    left_after_destroy: Value,
}

/// What the stack may leave behind, by kind: EC2 objects carrying the ownership tag (terminated
/// instances stay visible for a while and do not count; moto's DescribeTags still lists deleted
/// objects, so each kind is described), every volume, load balancer, target group, IAM role and
/// profile, bucket (the emulator starts empty).
const STACK_OBJECTS: &str = "terminated = set()\n\
             for r in ec2.describe_instances()['Reservations']:\n    for i in r['Instances']:\n        if i['State']['Name'] == 'terminated':\n            terminated.add(i['InstanceId'])\n\
             tagged = [{'Name': 'tag-key', 'Values': ['slipway:stack']}]\n\
             for r in ec2.describe_instances(Filters=tagged)['Reservations']:\n    for i in r['Instances']:\n        if i['InstanceId'] not in terminated:\n            out.append('instance ' + i['InstanceId'])\n\
             for v in ec2.describe_vpcs(Filters=tagged)['Vpcs']:\n    out.append('vpc ' + v['VpcId'])\n\
             for x in ec2.describe_subnets(Filters=tagged)['Subnets']:\n    out.append('subnet ' + x['SubnetId'])\n\
             for x in ec2.describe_internet_gateways(Filters=tagged)['InternetGateways']:\n    out.append('igw ' + x['InternetGatewayId'])\n\
             for x in ec2.describe_route_tables(Filters=tagged)['RouteTables']:\n    out.append('route table ' + x['RouteTableId'])\n\
             for x in ec2.describe_security_groups(Filters=tagged)['SecurityGroups']:\n    out.append('security group ' + x['GroupId'])\n\
             for v in ec2.describe_volumes()['Volumes']:\n    out.append('volume ' + v['VolumeId'])\n\
             for lb in elbv2.describe_load_balancers()['LoadBalancers']:\n    out.append('lb ' + lb['LoadBalancerName'])\n\
             for tg in elbv2.describe_target_groups()['TargetGroups']:\n    out.append('target group ' + tg['TargetGroupName'])\n\
             for r in iam.list_roles()['Roles']:\n    out.append('role ' + r['RoleName'])\n\
             for p in iam.list_instance_profiles()['InstanceProfiles']:\n    out.append('profile ' + p['InstanceProfileName'])\n\
             for b in s3.list_buckets()['Buckets']:\n    out.append('bucket ' + b['Name'])\n\
             for a in ec2.describe_addresses(Filters=tagged)['Addresses']:\n    out.append('address ' + a['AllocationId'])\n\
             for g in ec2.describe_nat_gateways()['NatGateways']:\n    if g['State'] != 'deleted':\n        out.append('nat gateway ' + g['NatGatewayId'])\n\
             for e in ec2.describe_vpc_endpoints(Filters=tagged)['VpcEndpoints']:\n    if e['State'] != 'deleted':\n        out.append('endpoint ' + e['VpcEndpointId'])";

static FIXTURE: OnceLock<Fixture> = OnceLock::new();

fn fixture() -> &'static Fixture {
    FIXTURE.get_or_init(|| {
        let moto = Moto::start();
        let dir = TestDir::new();
        let state = dir.join("state");

        let plan = slipway(&moto, &state, &["plan", "ENV", "--json"]);
        plan.assert_code(0);
        let plan_counts = counts_per_type(&plan);
        let aws_types = plan.json()["resource_changes"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|c| c["type"].as_str())
            .filter(|t| t.starts_with("aws_"))
            .collect::<BTreeSet<_>>()
            .len();
        let bigger = slipway(
            &moto,
            &state,
            &[
                "plan",
                "ENV",
                "--json",
                "-var",
                "etcd_member_count=5",
                "-var",
                "worker_count=4",
            ],
        );
        bigger.assert_code(0);
        let plan_counts_5_4 = counts_per_type(&bigger);

        // At the most verbose log level: the logs, too, must not carry a secret.
        let apply = moto.slipway_with_env(
            &env_dir(),
            &state,
            &["apply", "ENV", "-auto-approve"],
            &[("SLIPWAY_LOG", "trace")],
        );
        apply.assert_code(0);
        let noop_plan = slipway(
            &moto,
            &state,
            &["plan", "ENV", "--detailed-exitcode", "--stats"],
        );
        let scale_plan = slipway(
            &moto,
            &state,
            &["plan", "ENV", "--json", "-var", "etcd_member_count=5"],
        );
        let token = slipway(
            &moto,
            &state,
            &["output", "bootstrap_token", "--dir", "ENV"],
        )
        .stdout
        .trim()
        .to_string();
        let cluster = slipway(&moto, &state, &["output", "cluster", "--json", "--dir", "ENV"]);
        cluster.assert_code(0);
        let cluster = cluster.json();
        let kubeconfig_path = dir.join("prod.kubeconfig");
        slipway(
            &moto,
            &state,
            &["kubeconfig", "ENV", "-o", kubeconfig_path.to_str().unwrap()],
        )
        .assert_code(0);
        let kubeconfig = std::fs::read_to_string(&kubeconfig_path).unwrap();
        let kubeconfig_mode = {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(&kubeconfig_path)
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };

        let described = moto.boto3(
            "vols = {}\n\
             for v in ec2.describe_volumes()['Volumes']:\n    for a in v['Attachments']:\n        vols.setdefault(a['InstanceId'], {})[a['Device']] = v['VolumeId']\n\
             for r in ec2.describe_instances()['Reservations']:\n    for i in r['Instances']:\n        if i['State']['Name'] == 'terminated':\n            continue\n        tags = {t['Key']: t['Value'] for t in i.get('Tags', [])}\n        a = ec2.describe_instance_attribute(InstanceId=i['InstanceId'], Attribute='userData')\n        out.append({'name': tags.get('Name'), 'role': tags.get('Role'), 'zone': i['Placement']['AvailabilityZone'], 'ip': i['PrivateIpAddress'], 'groups': [g['GroupId'] for g in i['SecurityGroups']], 'profile': i.get('IamInstanceProfile', {}).get('Arn', ''), 'user_data': base64.b64decode(a['UserData']['Value']).decode(), 'volumes': vols.get(i['InstanceId'], {}), 'id': i['InstanceId']})",
        );
        let mut instance_ids = BTreeMap::new();
        let instances: Vec<Instance> = described
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                instance_ids.insert(
                    i["id"].as_str().unwrap().to_string(),
                    i["name"].as_str().unwrap().to_string(),
                );
                Instance {
                    name: i["name"].as_str().unwrap().to_string(),
                    role: i["role"].as_str().unwrap_or_default().to_string(),
                    zone: i["zone"].as_str().unwrap().to_string(),
                    private_ip: i["ip"].as_str().unwrap().to_string(),
                    security_groups: strings(i["groups"].clone()),
                    profile_arn: i["profile"].as_str().unwrap().to_string(),
                    user_data: i["user_data"].as_str().unwrap().to_string(),
                    volumes: serde_json::from_value(i["volumes"].clone()).unwrap(),
                }
            })
            .collect();

        let bundles = moto.boto3(
            "for b in s3.list_buckets()['Buckets']:\n    for o in s3.list_objects_v2(Bucket=b['Name']).get('Contents', []):\n        out.append([o['Key'], s3.get_object(Bucket=b['Name'], Key=o['Key'])['Body'].read().decode()])",
        );
        let mut bundles: BTreeMap<String, Value> = bundles
            .as_array()
            .unwrap()
            .iter()
            .map(|kv| {
                (
                    kv[0].as_str().unwrap().to_string(),
                    serde_json::from_str(kv[1].as_str().unwrap()).unwrap(),
                )
            })
            .collect();
        let declared_members = bundles
            .remove("nodes/etcd-members.json")
            .expect("the declared etcd member list in S3");
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
        let profiles = moto.boto3(
            "for p in iam.list_instance_profiles()['InstanceProfiles']:\n    out.append([p['Arn'], [r['RoleName'] for r in p['Roles']]])",
        );
        let profiles = profiles
            .as_array()
            .unwrap()
            .iter()
            .map(|kv| {
                let roles = strings(kv[1].clone());
                assert_eq!(roles.len(), 1, "{kv}");
                (kv[0].as_str().unwrap().to_string(), roles[0].clone())
            })
            .collect();
        let groups = moto.boto3(
            "for g in ec2.describe_security_groups()['SecurityGroups']:\n    out.append([g['GroupName'], g['GroupId'], g['IpPermissions']])",
        );
        let groups = groups
            .as_array()
            .unwrap()
            .iter()
            .map(|g| {
                (
                    g[0].as_str().unwrap().to_string(),
                    (g[1].as_str().unwrap().to_string(), g[2].clone()),
                )
            })
            .collect();
        let lb = moto.boto3(
            "for lb in elbv2.describe_load_balancers()['LoadBalancers']:\n    out.append(lb['DNSName'])\n    for tg in elbv2.describe_target_groups(LoadBalancerArn=lb['LoadBalancerArn'])['TargetGroups']:\n        for h in elbv2.describe_target_health(TargetGroupArn=tg['TargetGroupArn'])['TargetHealthDescriptions']:\n            out.append('target:' + h['Target']['Id'])",
        );
        let lb = strings(lb);
        let lb_dns: Vec<&String> = lb.iter().filter(|s| !s.starts_with("target:")).collect();
        assert_eq!(lb_dns.len(), 1, "one load balancer: {lb:?}");
        let target_ids = lb
            .iter()
            .filter_map(|s| s.strip_prefix("target:"))
            .map(|id| instance_ids[id].clone())
            .collect();

        let before_destroy = strings(moto.boto3(STACK_OBJECTS));
        let destroy = slipway(&moto, &state, &["destroy", "ENV", "-auto-approve"]);
        let left_after_destroy = moto.boto3(STACK_OBJECTS);

        Fixture {
            plan_counts,
            plan_counts_5_4,
            aws_types,
            plan,
            apply,
            noop_plan,
            destroy,
            token,
            cluster,
            lb_dns: lb_dns[0].clone(),
            kubeconfig,
            kubeconfig_mode,
            instances,
            bundles,
            declared_members,
            scale_plan,
            policies,
            profiles,
            groups,
            target_ids,
            before_destroy,
            left_after_destroy,
        }
    })
}

fn by_role(role: &str) -> Vec<&'static Instance> {
    fixture().instances.iter().filter(|i| i.role == role).collect()
}

fn node_names(prefix: &str, n: usize) -> BTreeSet<String> {
    (0..n).map(|i| format!("prod-{prefix}-{}", (b'a' + i as u8) as char)).collect()
}

// ---------------------------------------------------------------------------------------------
// Plan, apply, re-plan, destroy

#[test]
fn prod_plan_lists_every_resource_with_counts_per_type_that_follow_the_variables() {
    let f = fixture();
    assert_eq!(f.plan_counts, expected_counts(ZONES.len(), CONTROL_PLANE, ETCD, WORKERS));
    assert_eq!(f.plan_counts.values().sum::<usize>(), 145);
    assert_eq!(f.plan.json()["summary"]["add"], 145, "{}", f.plan.stdout);
    // Five etcd members (the variable is validated odd) and four workers.
    assert_eq!(f.plan_counts_5_4, expected_counts(ZONES.len(), CONTROL_PLANE, 5, 4));
}

/// The instances (count per type) and EBS volumes (count and GiB per type) a `plan --json`
/// keeps or creates (`planned`), or that exist before it (`now`), read from its resource
/// changes: what the footprint must say.
fn billed_from_changes(
    doc: &serde_json::Value,
    side: &str,
) -> BTreeMap<(String, String), (u64, u64)> {
    let mut out = BTreeMap::new();
    for c in doc["resource_changes"].as_array().unwrap() {
        let o = &c[side];
        if c["mode"] == "data" || o.is_null() {
            continue;
        }
        let (category, kind, gib) = match c["type"].as_str().unwrap() {
            "aws_instance" => ("instances", o["instance_type"].as_str().unwrap(), 0),
            "aws_ebs_volume" => {
                ("volumes", o["type"].as_str().unwrap(), o["size"].as_u64().unwrap())
            }
            _ => continue,
        };
        let e = out.entry((category.to_string(), kind.to_string())).or_insert((0, 0));
        e.0 += 1;
        e.1 += gib;
    }
    out
}

fn footprint_of(doc: &serde_json::Value, side: &str) -> BTreeMap<(String, String), (u64, u64)> {
    doc["footprint"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| {
            l["category"] == "instances" || !l["kind"].as_str().unwrap_or("").ends_with(", root")
        })
        .filter(|l| l["category"] == "instances" || l["category"] == "volumes")
        .filter(|l| l[side]["count"].as_u64().unwrap() > 0)
        .map(|l| {
            (
                (
                    l["category"].as_str().unwrap().to_string(),
                    l["kind"].as_str().unwrap().to_string(),
                ),
                (l[side]["count"].as_u64().unwrap(), l[side]["gib"].as_u64().unwrap()),
            )
        })
        .collect()
}

/// `plan` shows the bill's shape: instances by type, volumes by type and size, load balancers,
/// now and once applied — the first plan from nothing, then a scaling plan from what runs.
#[test]
fn prod_plan_footprint_shows_instances_volumes_and_load_balancers_now_and_once_applied() {
    let f = fixture();
    let first = f.plan.json();
    assert_eq!(
        footprint_of(&first, "planned"),
        billed_from_changes(&first, "after"),
        "{}",
        first["footprint"]
    );
    assert!(footprint_of(&first, "now").is_empty(), "{}", first["footprint"]);
    let line = |doc: &serde_json::Value, category: &str| -> Vec<serde_json::Value> {
        doc["footprint"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["category"] == category)
            .cloned()
            .collect()
    };
    // One network load balancer; every instance has its root volume.
    let lbs = line(&first, "load balancers");
    assert_eq!(lbs.len(), 1, "{lbs:?}");
    assert_eq!(lbs[0]["planned"]["count"], 1);
    let instances: u64 =
        line(&first, "instances").iter().map(|l| l["planned"]["count"].as_u64().unwrap()).sum();
    let roots: u64 = line(&first, "volumes")
        .iter()
        .filter(|l| l["kind"].as_str().unwrap().ends_with(", root"))
        .map(|l| l["planned"]["count"].as_u64().unwrap())
        .sum();
    assert_eq!(instances, (CONTROL_PLANE + ETCD + WORKERS) as u64, "{}", first["footprint"]);
    assert_eq!(roots, instances);

    // After the apply, 3 → 5 etcd members: what runs now, and two more members with their
    // data volumes once applied.
    let scale = f.scale_plan.json();
    assert_eq!(footprint_of(&scale, "now"), billed_from_changes(&scale, "before"));
    assert_eq!(footprint_of(&scale, "planned"), billed_from_changes(&scale, "after"));
    let total = |side: &str, category: &str| -> u64 {
        line(&scale, category).iter().map(|l| l[side]["count"].as_u64().unwrap()).sum()
    };
    assert_eq!(total("now", "instances"), instances);
    assert_eq!(total("planned", "instances"), instances + 2);
    assert_eq!(total("planned", "volumes") - total("now", "volumes"), 4);
}

#[test]
fn prod_applies_against_moto_and_replans_empty_with_calls_bounded_by_types() {
    let f = fixture();
    assert!(
        f.apply.stdout.contains("Apply complete! Resources: 145 added, 0 changed, 0 destroyed."),
        "{}",
        f.apply.dump()
    );
    f.noop_plan.assert_code(0);
    assert!(f.noop_plan.stdout.contains("No changes."), "{}", f.noop_plan.dump());
    let calls = crate::moto::api_calls(&f.noop_plan.stderr);
    let total = calls.get("total").copied();
    let mut ops = 0;
    for (op, n) in calls.iter().filter(|(op, _)| *op != "total") {
        ops += 1;
        assert!(*n <= 1, "{op} called {n} times in a no-op plan: {}", f.noop_plan.stderr);
    }
    assert!(ops > 0, "no API call listed: {}", f.noop_plan.stderr);
    // 145 resources of 25 AWS types (data.aws_ami and data.aws_region included): a refresh
    // costs at most one call per type (no page is full at this size; aws_region makes none).
    assert_eq!(f.aws_types, 25);
    let total = total.expect("--stats prints a total");
    assert!(
        total <= f.aws_types as u64,
        "a no-op plan made {total} AWS calls for {} types: {}",
        f.aws_types,
        f.noop_plan.stderr
    );
}

#[test]
fn prod_destroy_leaves_nothing_of_the_stack() {
    let f = fixture();
    f.destroy.assert_code(0);
    assert!(
        f.destroy
            .stdout
            .contains("Destroy complete! Resources: 0 added, 0 changed, 145 destroyed."),
        "{}",
        f.destroy.dump()
    );
    // The query does see the stack while it exists.
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for o in &f.before_destroy {
        let kind = o.rsplit_once(' ').unwrap().0;
        *kinds.entry(kind.to_string()).or_insert(0) += 1;
    }
    let n = CONTROL_PLANE + ETCD + WORKERS;
    assert_eq!(
        kinds,
        BTreeMap::from(
            [
                ("instance", n),
                ("vpc", 1),
                ("subnet", 2 * ZONES.len()),
                ("igw", 1),
                ("route table", 1 + ZONES.len()),
                ("address", ZONES.len()),
                ("nat gateway", ZONES.len()),
                ("endpoint", 1),
                ("security group", 3),
                ("volume", n + ETCD),
                ("lb", 1),
                ("target group", 1),
                ("role", n),
                ("profile", n),
                ("bucket", 1),
            ]
            .map(|(k, v)| (k.to_string(), v))
        ),
        "{:?}",
        f.before_destroy
    );
    assert_eq!(f.left_after_destroy, serde_json::json!([]), "left after destroy");
}

// ---------------------------------------------------------------------------------------------
// Topology as AWS reports it

#[test]
fn prod_topology_three_zones_static_ips_and_the_cluster_output() {
    let f = fixture();
    assert_eq!(f.instances.len(), CONTROL_PLANE + ETCD + WORKERS);
    let cluster = &f.cluster;
    assert_eq!(cluster["endpoint"], format!("https://{}:6443", f.lb_dns), "{cluster}");
    for (role, key, prefix, n) in [
        ("control-plane", "control_plane", "cp", CONTROL_PLANE),
        ("etcd", "etcd_members", "etcd", ETCD),
        ("worker", "workers", "worker", WORKERS),
    ] {
        let nodes = by_role(role);
        let names: BTreeSet<String> = nodes.iter().map(|i| i.name.clone()).collect();
        assert_eq!(names, node_names(prefix, n), "{role}");
        // One node of each role per zone.
        let zones: BTreeSet<&str> = nodes.iter().map(|i| i.zone.as_str()).collect();
        assert_eq!(zones, ZONES.iter().copied().collect(), "{role}");
        // The IPs the output (and the certificates) name are the instances' IPs.
        let output: BTreeMap<String, String> =
            serde_json::from_value(cluster[key].clone()).unwrap();
        let actual: BTreeMap<String, String> =
            nodes.iter().map(|i| (i.name.clone(), i.private_ip.clone())).collect();
        assert_eq!(output, actual, "{role}");
    }
    let etcd_endpoints: BTreeSet<String> =
        by_role("etcd").iter().map(|i| format!("https://{}:2379", i.private_ip)).collect();
    let output_endpoints: BTreeSet<String> =
        strings(cluster["etcd_endpoints"].clone()).into_iter().collect();
    assert_eq!(output_endpoints, etcd_endpoints);
    assert_eq!(cluster["init_node"], "prod-cp-a");
    // The NLB targets are exactly the control plane.
    assert_eq!(f.target_ids, node_names("cp", CONTROL_PLANE));
    // The kubeconfig points at the NLB, is the owner's only, and holds the admin credentials.
    assert_eq!(f.kubeconfig_mode, 0o600);
    assert!(
        f.kubeconfig.contains(&format!("server: https://{}:6443", f.lb_dns)),
        "{}",
        f.kubeconfig
    );
    assert!(f.kubeconfig.contains("client-key-data: "));
}

#[test]
fn prod_etcd_members_have_their_own_volume_and_a_closed_security_group() {
    let f = fixture();
    let (cp_sg, _) = &f.groups["prod-control-plane"];
    let (etcd_sg, etcd_rules) = &f.groups["prod-etcd"];
    // Ingress: 2379 from the control plane's group only, 2380 from the members' own only; no
    // CIDR anywhere.
    let mut rules = BTreeSet::new();
    for p in etcd_rules.as_array().unwrap() {
        assert_eq!(p["IpProtocol"], "tcp", "{p}");
        assert_eq!(p["FromPort"], p["ToPort"], "{p}");
        assert!(
            p["IpRanges"].as_array().is_none_or(|r| r.is_empty()),
            "a CIDR source on the etcd group: {p}"
        );
        for pair in p["UserIdGroupPairs"].as_array().unwrap() {
            rules.insert((
                p["FromPort"].as_u64().unwrap(),
                pair["GroupId"].as_str().unwrap().to_string(),
            ));
        }
    }
    assert_eq!(rules, BTreeSet::from([(2379, cp_sg.clone()), (2380, etcd_sg.clone())]));
    let mut volumes = BTreeSet::new();
    for m in by_role("etcd") {
        assert_eq!(&m.security_groups, &vec![etcd_sg.clone()], "{}", m.name);
        // The root volume, and the data volume at the attachment's device.
        let devices: BTreeSet<&str> = m.volumes.keys().map(String::as_str).collect();
        assert_eq!(
            devices,
            BTreeSet::from(["/dev/sda1", "/dev/sdf"]),
            "{}: {:?}",
            m.name,
            m.volumes
        );
        let volume = &m.volumes["/dev/sdf"];
        assert!(volumes.insert(volume.clone()), "a volume shared: {volume}");
        // The member's script waits for exactly its own volume.
        let script = &cloud_config::write_files(&m.user_data)[SCRIPT].0;
        assert!(
            script.contains(&format!(
                "/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_{}",
                volume.replace('-', "")
            )),
            "{}: script does not name {volume}",
            m.name
        );
    }
    for cp in by_role("control-plane") {
        assert_eq!(&cp.security_groups, &vec![cp_sg.clone()], "{}", cp.name);
    }
}

#[test]
fn prod_each_node_role_reads_only_its_own_bundle() {
    let f = fixture();
    assert_eq!(f.bundles.len(), f.instances.len());
    for i in &f.instances {
        let key = format!("nodes/{}/bundle.json", i.name);
        assert!(f.bundles.contains_key(&key), "no bundle {key}");
        let role = &f.profiles[&i.profile_arn];
        assert_eq!(role, &i.name, "{}: instance profile of another role", i.name);
        // etcd members also write snapshots: PutObject under the snapshot prefix, nothing
        // else (tests/etcd_snapshot.rs evaluates it with the bucket policy).
        let (docs, writers): (Vec<&Value>, Vec<&Value>) = f.policies[role]
            .iter()
            .partition(|d| d["Statement"][0]["Action"] != serde_json::json!(["s3:PutObject"]));
        if i.name.contains("-etcd-") {
            assert_eq!(writers.len(), 1, "{role}: {writers:?}");
            let st = &writers[0]["Statement"];
            assert_eq!(st.as_array().unwrap().len(), 1);
            let res = strings(st[0]["Resource"].clone());
            assert!(
                res.len() == 1 && res[0].ends_with("/etcd-snapshots/*"),
                "{role} writes {res:?}"
            );
        } else {
            assert!(writers.is_empty(), "{role} may write snapshots: {writers:?}");
        }
        // An etcd member also reads the declared member list (its membership script).
        let mut expected = vec![key.clone()];
        if i.role == "etcd" {
            expected.push("nodes/etcd-members.json".to_string());
        }
        assert_eq!(docs.len(), expected.len(), "{role}: {docs:?}");
        let mut readable = Vec::new();
        for doc in docs {
            let statements = doc["Statement"].as_array().unwrap();
            assert_eq!(statements.len(), 1, "{role}");
            assert_eq!(statements[0]["Effect"], "Allow");
            assert_eq!(statements[0]["Action"], serde_json::json!(["s3:GetObject"]));
            let resources = strings(statements[0]["Resource"].clone());
            assert_eq!(resources.len(), 1, "{role}: {resources:?}");
            let object = resources[0]
                .strip_prefix("arn:aws:s3:::prod-slipway-bootstrap-")
                .and_then(|r| r.split_once('/'))
                .unwrap_or_else(|| panic!("{role} may read {resources:?}"))
                .1;
            readable.push(object.to_string());
        }
        readable.sort();
        expected.sort();
        assert_eq!(readable, expected, "{role}");
    }
}

// ---------------------------------------------------------------------------------------------
// Secrets

/// Every secret the bundles hold: the token's secret half and every base64 line of every
/// private key.
fn secrets(f: &Fixture) -> Vec<String> {
    let (_, token_secret) = f.token.split_once('.').expect("a kubeadm token");
    let mut out = vec![token_secret.to_string()];
    for b in f.bundles.values() {
        for pem in b["files"].as_object().unwrap().values() {
            let pem = pem.as_str().unwrap();
            if pem.contains("PRIVATE KEY") {
                out.extend(
                    pem.lines()
                        .filter(|l| !l.starts_with("-----") && l.len() >= 40)
                        .map(str::to_string),
                );
            }
        }
    }
    out
}

#[test]
fn prod_no_secret_in_user_data_plans_or_logs() {
    let f = fixture();
    assert!(f.token.len() == 23 && f.token.as_bytes()[6] == b'.', "token {:?}", f.token.len());
    let secrets = secrets(f);
    // The bundles do hold the secrets: each control-plane bundle keys and the token, each etcd
    // bundle its own keys and no token, each worker bundle the token and no key.
    assert!(secrets.len() > 100, "{} secret lines", secrets.len());
    for i in &f.instances {
        let b = &f.bundles[&format!("nodes/{}/bundle.json", i.name)];
        let files = b["files"].as_object().unwrap();
        let has_key = files.values().any(|p| p.as_str().unwrap().contains("PRIVATE KEY"));
        let has_token = b["bootstrap_token"].as_str() == Some(f.token.as_str());
        let expected = match i.role.as_str() {
            "control-plane" => (true, true),
            "etcd" => (true, false),
            "worker" => (false, true),
            other => panic!("role {other}"),
        };
        assert_eq!((has_key, has_token), expected, "{}", i.name);
    }
    // The apply ran with SLIPWAY_LOG=trace: the AWS SDK's request tracing is in its stderr.
    assert!(
        f.apply.stderr.lines().count() > 1000 && f.apply.stderr.contains("PutObject"),
        "apply did not log at trace level"
    );
    let logs = [
        ("plan", &f.plan),
        ("apply (SLIPWAY_LOG=trace)", &f.apply),
        ("no-op plan", &f.noop_plan),
        ("destroy", &f.destroy),
    ];
    // Decoded once per instance (compressed files included).
    let readable: Vec<(&str, String)> = f
        .instances
        .iter()
        .map(|i| (i.name.as_str(), crate::cloud_config::readable(&i.user_data)))
        .collect();
    for i in &f.instances {
        assert!(i.user_data.starts_with("#cloud-config\n"), "{}", i.name);
    }
    for (name, text) in &readable {
        assert!(!text.contains("PRIVATE KEY"), "{name}: a private key in user-data");
    }
    for s in &secrets {
        for (name, text) in &readable {
            assert!(!text.contains(s.as_str()), "{name}: a secret in user-data");
        }
        for (what, run) in logs {
            assert!(
                !run.stdout.contains(s.as_str()) && !run.stderr.contains(s.as_str()),
                "a secret in the output of {what}"
            );
        }
    }
    for (what, run) in logs {
        let all = format!("{}{}", run.stdout, run.stderr);
        assert!(!all.contains("PRIVATE KEY"), "a private key in {what}");
    }
    // The secrets are there, masked: the plan knows the bundles exist.
    assert!(f.plan.stdout.contains("aws_s3_object"));
}

// ---------------------------------------------------------------------------------------------
// Real peers: cloud-init, kubeadm types, shellcheck

#[test]
fn prod_user_data_passes_cloud_init_schema_and_kubeadm_types() {
    let f = fixture();
    let dir = TestDir::new();
    let lb = format!("{}:6443", f.lb_dns);
    let etcd_endpoints = strings(f.cluster["etcd_endpoints"].clone());
    let ca_hash = f.cluster["ca_cert_hash"].as_str().unwrap();
    let mut seen = BTreeMap::new();
    for i in &f.instances {
        // EC2 refuses user data over 16 KiB.
        assert!(i.user_data.len() < 16 * 1024, "{}", i.name);
        let file = dir.join(format!("{}.yaml", i.name));
        std::fs::write(&file, &i.user_data).unwrap();
        let r = cloud_config::cloud_init_schema(&file);
        assert_eq!(r.code, 0, "{}: cloud-init schema:\n{}", i.name, r.all());
        assert!(r.stdout.contains("Valid cloud-config"), "{}", r.all());

        let files = cloud_config::write_files(&i.user_data);
        let script = &files[SCRIPT].0;
        let script_file = dir.join(format!("{}.sh", i.name));
        std::fs::write(&script_file, script).unwrap();
        let n = cloud_config::run(Command::new("bash").arg("-n").arg(&script_file), None);
        assert_eq!(n.code, 0, "{}: bash -n: {}", i.name, n.all());
        let sc = cloud_config::run(Command::new("shellcheck").arg(&script_file), None);
        assert_eq!(sc.code, 0, "{}: shellcheck:\n{}", i.name, sc.all());

        let kubeadm: Vec<&String> = files
            .iter()
            .filter(|(p, _)| p.starts_with("/etc/kubernetes/kubeadm/"))
            .map(|(_, (c, _))| c)
            .collect();
        match i.role.as_str() {
            "etcd" => {
                assert!(kubeadm.is_empty(), "{}: kubeadm config on etcd", i.name);
                // The etcd release under systemd: no kubelet, no kubeadm run.
                for absent in ["kubeadm init", "kubeadm join", "kubelet=", "etcd-server="] {
                    assert!(!script.contains(absent), "{}: {absent}", i.name);
                }
                // The version the tests run, verified against its published digest.
                let version = crate::kubeutil::ETCD_VERSION;
                assert!(
                    script.contains(&format!("ETCD_VERSION='{version}'"))
                        && script.contains(
                            "amd64=ffe840ff9295808e88cce2794a18a5ac87f12a5203c8314d0bf6aa119b41bac5"
                        )
                        && script.contains("sha256sum --check --strict"),
                    "{}: etcd not pinned to {version} by checksum",
                    i.name
                );
            }
            role => {
                assert_eq!(kubeadm.len(), 1, "{}", i.name);
                // The real kubeadm accepts what the node runs (the token substituted, as its
                // script does); the typed checks below pin slipway's own choices.
                crate::kubeutil::assert_kubeadm_accepts(
                    &i.name,
                    kubeadm[0],
                    &f.token,
                    &dir.join("kubeadm"),
                );
                let docs = cloud_config::kubeadm_docs(kubeadm[0]);
                let kind = check_kubeadm(&i.name, role, &docs, &lb, &etcd_endpoints, ca_hash);
                *seen.entry(kind).or_insert(0) += 1;
                // The join branch waits for the apiserver behind the NLB before kubeadm join.
                let branch = script.find("control-plane-join | worker)").expect("join branch");
                let wait = script
                    .find(&format!("'https://{lb}/readyz'"))
                    .unwrap_or_else(|| panic!("{}: no readiness wait on {lb}", i.name));
                let join = script.find("kubeadm join --config").expect("kubeadm join");
                assert!(branch < wait && wait < join, "{}: wait out of place", i.name);
                if i.name == "prod-cp-a" {
                    // kubeadm init waits for the external etcd to be healthy.
                    for e in &etcd_endpoints {
                        assert!(script.contains(e), "init script does not wait for {e}");
                    }
                }
            }
        }
    }
    assert_eq!(seen, BTreeMap::from([("init", 1), ("join-control-plane", 2), ("join", WORKERS)]));
}

/// Checks one node's kubeadm documents; returns what kind of node they configure.
fn check_kubeadm(
    name: &str,
    role: &str,
    docs: &[KubeadmDoc],
    lb: &str,
    etcd_endpoints: &[String],
    ca_hash: &str,
) -> &'static str {
    match docs {
        [KubeadmDoc::Init(init), KubeadmDoc::Cluster(cluster)] => {
            assert_eq!((role, name), ("control-plane", "prod-cp-a"));
            assert_eq!(init.node_registration.name, name);
            assert_eq!(init.bootstrap_tokens.len(), 1);
            assert_eq!(cluster.control_plane_endpoint, lb);
            assert_eq!(cluster.cluster_name, "prod");
            assert!(cluster.etcd.local.is_none(), "stacked etcd in prod");
            let external = cluster.etcd.external.as_ref().expect("external etcd");
            assert_eq!(external.endpoints, etcd_endpoints);
            assert_eq!(external.cert_file, format!("{PKI}/apiserver-etcd-client.crt"));
            "init"
        }
        [KubeadmDoc::Join(join)] => {
            assert_eq!(join.node_registration.name, name);
            assert_eq!(join.discovery.bootstrap_token.api_server_endpoint, lb);
            assert_eq!(join.discovery.bootstrap_token.ca_cert_hashes, vec![ca_hash]);
            assert_eq!(join.discovery.bootstrap_token.token, "SLIPWAY_BOOTSTRAP_TOKEN");
            match (role, &join.control_plane) {
                ("control-plane", Some(_)) => "join-control-plane",
                ("worker", None) => "join",
                other => panic!("{name}: {other:?}"),
            }
        }
        other => panic!("{name}: unexpected kubeadm documents {other:?}"),
    }
}

#[test]
fn prod_etcd_member_script_installs_its_bundle_and_needs_no_kubeadm_config() {
    use std::os::unix::fs::PermissionsExt as _;
    let f = fixture();
    let member = by_role("etcd")[0];
    let script = &cloud_config::write_files(&member.user_data)[SCRIPT].0;
    assert!(script.contains("CONFIG=''"), "an etcd member names a kubeadm config");
    let program = crate::bootstrap::bundle_writer(script);
    // The member's bundle as S3 holds it, re-rooted under a temporary PKI directory.
    let tmp = TestDir::new();
    let pki = tmp.join("pki");
    let bundle = &f.bundles[&format!("nodes/{}/bundle.json", member.name)];
    let files: serde_json::Map<String, Value> = bundle["files"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(p, pem)| {
            let rel = p.strip_prefix(&format!("{PKI}/")).unwrap();
            (pki.join(rel).to_str().unwrap().to_string(), pem.clone())
        })
        .collect();
    assert_eq!(files.len(), 7, "{:?}", files.keys());
    let rerooted =
        serde_json::json!({"files": files, "bootstrap_token": bundle["bootstrap_token"]});
    std::fs::write(tmp.join("bundle.json"), rerooted.to_string()).unwrap();
    // The arguments the script passes: bundle, "$CONFIG" (empty), the rendered path, needs_token.
    let r = cloud_config::run(
        Command::new("python3")
            .arg("-")
            .arg(tmp.join("bundle.json"))
            .arg("")
            .arg(tmp.join("rendered.yaml"))
            .arg("false")
            .arg("SLIPWAY_BOOTSTRAP_TOKEN")
            .arg(&pki),
        Some(&program),
    );
    assert_eq!(r.code, 0, "bundle writer: {}", r.all());
    for (path, pem) in &files {
        let path = Path::new(path);
        assert_eq!(&std::fs::read_to_string(path).unwrap(), pem.as_str().unwrap());
        assert_eq!(
            std::fs::metadata(path).unwrap().permissions().mode() & 0o777,
            0o600,
            "{}",
            path.display()
        );
    }
    assert!(pki.join("etcd/peer.key").exists() && pki.join("etcd/server.key").exists());
    assert!(!tmp.join("rendered.yaml").exists(), "a kubeadm config was rendered");
}

// ---------------------------------------------------------------------------------------------
// The members' etcd configuration, run for real

#[test]
fn prod_etcd_members_run_their_delivered_configuration() {
    let f = fixture();
    let members = by_role("etcd");
    assert_eq!(members.len(), ETCD);
    let work = TestDir::new();
    let mut taken = Vec::new();
    let mut free_port = || {
        let port = crate::util::free_port(&["127.0.0.1"], &taken);
        taken.push(port);
        port
    };
    // Member IP => (client port, peer port) on loopback. Every member's certificates name
    // 127.0.0.1, so TLS (peers verify each other's addresses) holds after the rebinding.
    let ports: BTreeMap<String, (u16, u16)> =
        members.iter().map(|m| (m.private_ip.clone(), (free_port(), free_port()))).collect();
    let rebind = |text: &str| {
        let mut text = text.replace(&format!("{PKI}/etcd/"), "pki/");
        for (ip, (client, peer)) in &ports {
            text = text
                .replace(&format!("https://{ip}:2379"), &format!("https://127.0.0.1:{client}"))
                .replace(&format!("https://{ip}:2380"), &format!("https://127.0.0.1:{peer}"));
        }
        text
    };
    // The declared list as S3 holds it, rebound: what every member's script reads.
    let declared = work.join("etcd-members.json");
    std::fs::write(&declared, rebind(&f.declared_members.to_string())).unwrap();
    let mut dirs = BTreeMap::new();
    for m in &members {
        let files = cloud_config::write_files(&m.user_data);
        let (unit, _) = &files["/etc/systemd/system/etcd.service"];
        assert!(
            unit.contains("ExecStart=/usr/local/bin/etcd --config-file /etc/etcd/etcd.conf.yml")
                && unit.contains("AssertPathIsMountPoint=/var/lib/etcd"),
            "{}: {unit}",
            m.name
        );
        // etcd starts from the config the membership script's prepare writes, only after it.
        let (dropin, _) = &files["/etc/systemd/system/etcd.service.d/10-slipway-member.conf"];
        assert!(
            dropin.contains("Requires=slipway-etcd-member.service")
                && dropin.contains(
                    "ExecStart=/usr/local/bin/etcd --config-file /etc/etcd/etcd.member.conf.yml"
                ),
            "{}: {dropin}",
            m.name
        );
        let (config, _) = &files["/etc/etcd/etcd.conf.yml"];
        // Read as YAML (yamlencode quotes keys and strings, as Terraform's does).
        let doc = cloud_config::yaml_documents(config).remove(0);
        assert_eq!(doc["name"], m.name.as_str(), "{config}");
        assert_eq!(doc["client-transport-security"]["client-cert-auth"], true, "{config}");
        // Rebinding, and nothing else: the loopback listener (three members cannot share it),
        // then every member address, the data dir and the certificate directory.
        let mut rebound = rebind(&config.replace(",https://127.0.0.1:2379", ""));
        rebound = rebound
            .replace("\"data-dir\": \"/var/lib/etcd\"", "\"data-dir\": \"data\"")
            .replace(&format!("{PKI}/etcd/"), "pki/");
        for gone in ["10.30.", "/var/lib", "/etc/"] {
            assert!(!rebound.contains(gone), "{gone} left in\n{rebound}");
        }
        // A port is gone when no `:2379` ends there: a free port such as 23799 may start
        // with the same digits (a fresh-clone CI run drew exactly that).
        for gone in [":2379", ":2380"] {
            let left = rebound.match_indices(gone).any(|(at, _)| {
                !rebound[at + gone.len()..].starts_with(|c: char| c.is_ascii_digit())
            });
            assert!(!left, "{gone} left in\n{rebound}");
        }
        let dir = work.join(&m.name);
        std::fs::create_dir_all(dir.join("pki")).unwrap();
        std::fs::write(dir.join("etcd.conf.yml"), &rebound).unwrap();
        // The membership script, rebound the same way (paths relative to the member's directory).
        let (script, _) = &files["/usr/local/sbin/slipway-etcd-member"];
        std::fs::write(
            dir.join("member.sh"),
            rebind(script).replace("'/etc/etcd/", "'").replace("'/var/lib/etcd'", "'data'"),
        )
        .unwrap();
        // The member's bundle exactly as its instance role reads it from S3.
        let bundle = &f.bundles[&format!("nodes/{}/bundle.json", m.name)];
        for (path, pem) in bundle["files"].as_object().unwrap() {
            let file = path
                .strip_prefix(&format!("{PKI}/etcd/"))
                .unwrap_or_else(|| panic!("{}: {path} outside {PKI}/etcd", m.name));
            std::fs::write(dir.join("pki").join(file), pem.as_str().unwrap()).unwrap();
        }
        dirs.insert(m.name.clone(), dir);
    }

    // Each member's prepare, as its unit runs it before etcd: no declared peer has a leader yet,
    // so every one bootstraps with the declared list. etcd::start runs etcd.conf.yml: the
    // prepared config goes there, as the drop-in points etcd at it.
    for (name, dir) in &dirs {
        let path = format!(
            "{}:{}",
            crate::kubeutil::kube_bin_dir().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let r = etcd::run(
            Command::new("bash")
                .args(["member.sh", "prepare"])
                .current_dir(dir)
                .env("PATH", path)
                .env("SLIPWAY_ETCD_MEMBERS_FILE", &declared),
        )
        .ok(&format!("{name}: membership prepare"));
        assert!(r.stderr.contains("first bootstrap"), "{name}: {}", r.stderr);
        std::fs::copy(dir.join("etcd.member.conf.yml"), dir.join("etcd.conf.yml")).unwrap();
    }
    let mut cluster = etcd::start(&dirs);
    let endpoints: Vec<String> =
        ports.values().map(|(c, _)| format!("https://127.0.0.1:{c}")).collect();
    let first = &dirs["prod-etcd-a"];
    let (ca, hc_cert, hc_key) = (
        first.join("pki/ca.crt"),
        first.join("pki/healthcheck-client.crt"),
        first.join("pki/healthcheck-client.key"),
    );
    let healthcheck: [(&str, &Path); 3] = [("cacert", &ca), ("cert", &hc_cert), ("key", &hc_key)];
    etcd::wait_until("3 healthy members", Duration::from_secs(60), || {
        cluster.assert_running(&dirs);
        let r = etcd::etcdctl(&endpoints, &healthcheck, &["endpoint", "health", "--cluster"]);
        if r.code == 0 && r.all().matches("is healthy").count() == 3 {
            Ok(())
        } else {
            Err(r.all())
        }
    });

    // The apiservers' client certificate, from a control-plane bundle, writes and reads.
    let cp = &f.bundles["nodes/prod-cp-b/bundle.json"]["files"];
    let apiserver = work.join("apiserver");
    std::fs::create_dir_all(&apiserver).unwrap();
    for (file, name) in [
        ("apiserver-etcd-client.crt", "client.crt"),
        ("apiserver-etcd-client.key", "client.key"),
        ("etcd/ca.crt", "ca.crt"),
    ] {
        let pem = cp[format!("{PKI}/{file}")].as_str().unwrap();
        std::fs::write(apiserver.join(name), pem).unwrap();
    }
    let (a_ca, a_cert, a_key) =
        (apiserver.join("ca.crt"), apiserver.join("client.crt"), apiserver.join("client.key"));
    let client: [(&str, &Path); 3] = [("cacert", &a_ca), ("cert", &a_cert), ("key", &a_key)];
    etcd::etcdctl(&endpoints, &client, &["put", "/registry/prod", "v1"]).ok("put");

    // A worker has no certificate: without one, a client is refused.
    let r = etcd::etcdctl(&endpoints, &[("cacert", &a_ca)], &["get", "/registry/prod"]);
    assert_ne!(r.code, 0, "a client without certificate was served: {}", r.all());

    // Quorum survives one member's death: reads and writes go on through the other two.
    cluster.kill("prod-etcd-a");
    let rest: Vec<String> = endpoints
        .iter()
        .filter(|e| !e.ends_with(&format!(":{}", ports[&members[0].private_ip].0)))
        .cloned()
        .collect();
    assert_eq!(rest.len(), 2);
    etcd::wait_until("write after a kill", Duration::from_secs(30), || {
        let r = etcd::etcdctl(&rest, &client, &["put", "/registry/prod", "v2"]);
        if r.code == 0 { Ok(()) } else { Err(r.all()) }
    });
    let got =
        etcd::etcdctl(&rest, &client, &["get", "/registry/prod", "--print-value-only"]).ok("get");
    assert_eq!(got.stdout.trim(), "v2");
}

// ---------------------------------------------------------------------------------------------
// Graph

/// address => direct dependencies, from `graph --format json` (no cloud needed). A barrier
/// node (issue #18: one node standing for every instance of a resource, where that is fewer
/// edges than pairs) is read as the instances it stands for, so the graph is instance to
/// instance as before.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let r = crate::util::slipway_in(&env_dir(), ["graph", "--format", "json", "."]);
    r.assert_no_crash().assert_code(0);
    let doc = r.json();
    let nodes = doc["nodes"].as_array().unwrap();
    let deps = |n: &serde_json::Value| -> Vec<String> { strings(n["depends_on"].clone()) };
    let barriers: BTreeMap<String, Vec<String>> = nodes
        .iter()
        .filter(|n| n["barrier"] == true)
        .map(|n| (n["address"].as_str().unwrap().to_string(), deps(n)))
        .collect();
    nodes
        .iter()
        .filter(|n| n["barrier"] != true)
        .map(|n| {
            (
                n["address"].as_str().unwrap().to_string(),
                deps(n)
                    .into_iter()
                    .flat_map(|d| barriers.get(&d).cloned().unwrap_or(vec![d]))
                    .collect(),
            )
        })
        .collect()
}

/// Whether `to` depends, directly or not, on `from`.
fn path(g: &BTreeMap<String, BTreeSet<String>>, from: &str, to: &str) -> bool {
    assert!(g.contains_key(from), "no node {from}");
    assert!(g.contains_key(to), "no node {to}");
    let mut stack = vec![to.to_string()];
    let mut seen = BTreeSet::new();
    while let Some(n) = stack.pop() {
        if n == from {
            return true;
        }
        if seen.insert(n.clone()) {
            stack.extend(g[&n].iter().cloned());
        }
    }
    false
}

#[test]
fn prod_graph_is_acyclic_and_ordered_network_groups_lb_certificates_bundles_instances_targets() {
    let g = graph();
    // 145 resources, the AMI and region lookups, the join token's Secret (modules/cluster-addons),
    // and the in-cluster stack (cluster.hcl): 41 objects and
    // helpers of modules/observability (Flux and the agent need a repository, unset here).
    let in_cluster =
        g.keys().filter(|a| a.starts_with("module.addons.module.observability[0].")).count();
    assert_eq!(in_cluster, 41);
    assert_eq!(g.len(), 148 + in_cluster);
    // No cycle: Kahn's algorithm removes every node.
    let mut deps: BTreeMap<&str, usize> = g.iter().map(|(k, v)| (k.as_str(), v.len())).collect();
    let mut ready: Vec<&str> = deps.iter().filter(|(_, n)| **n == 0).map(|(k, _)| *k).collect();
    let mut removed = 0;
    while let Some(n) = ready.pop() {
        removed += 1;
        for (k, v) in &g {
            if v.contains(n) {
                let d = deps.get_mut(k.as_str()).unwrap();
                *d -= 1;
                if *d == 0 {
                    ready.push(k);
                }
            }
        }
    }
    assert_eq!(removed, g.len(), "the graph has a cycle");

    let vpc = "module.cluster.module.network.aws_vpc.this";
    let subnet = "module.cluster.module.network.aws_subnet.public[\"us-east-1b\"]";
    let sg = "module.cluster.aws_security_group.nodes[\"control_plane\"]";
    let etcd_sg = "module.cluster.module.etcd_nodes[0].aws_security_group.etcd";
    let lb = "module.cluster.module.apiserver_lb.aws_lb.api";
    let cert = "module.cluster.module.pki.tls_locally_signed_cert.leaf[\"apiserver\"]";
    let bundle =
        "module.cluster.module.control_plane.module.nodes.aws_s3_object.bundle[\"prod-cp-b\"]";
    let instance =
        "module.cluster.module.control_plane.module.nodes.aws_instance.node[\"prod-cp-b\"]";
    let target =
        "module.cluster.module.apiserver_lb.aws_lb_target_group_attachment.node[\"prod-cp-b\"]";
    let etcd_cert =
        "module.cluster.module.pki.tls_locally_signed_cert.leaf[\"etcd-peer/prod-etcd-c\"]";
    let etcd_bundle =
        "module.cluster.module.etcd_nodes[0].module.nodes.aws_s3_object.bundle[\"prod-etcd-c\"]";
    let etcd_volume = "module.cluster.module.etcd_nodes[0].aws_ebs_volume.data[\"prod-etcd-c\"]";
    let etcd_instance =
        "module.cluster.module.etcd_nodes[0].module.nodes.aws_instance.node[\"prod-etcd-c\"]";
    let etcd_attach =
        "module.cluster.module.etcd_nodes[0].aws_volume_attachment.data[\"prod-etcd-c\"]";
    // Nodes bootstrap from the internet and S3 at first boot: egress exists before they launch.
    let nat = "module.cluster.module.network.aws_nat_gateway.this[\"us-east-1b\"]";
    let private_route = "module.cluster.module.network.aws_route_table.private[\"us-east-1b\"]";
    let s3_endpoint = "module.cluster.module.network.aws_vpc_endpoint.s3";
    for (from, to) in [
        (nat, private_route),
        (private_route, s3_endpoint),
        (nat, instance),
        (s3_endpoint, instance),
        (nat, etcd_instance),
        (s3_endpoint, etcd_instance),
        (vpc, sg),
        (vpc, subnet),
        (subnet, lb),
        (sg, etcd_sg),
        (lb, cert),
        (cert, bundle),
        (bundle, instance),
        (sg, instance),
        (instance, target),
        (etcd_cert, etcd_bundle),
        (etcd_bundle, etcd_instance),
        (etcd_sg, etcd_instance),
        (etcd_volume, etcd_instance),
        (etcd_instance, etcd_attach),
    ] {
        assert!(path(&g, from, to), "{to} does not depend on {from}");
        assert!(!path(&g, to, from), "{from} depends on {to}");
    }
    // The control plane does not wait for etcd's instances: its init script waits for etcd's
    // health instead.
    assert!(!path(&g, etcd_instance, instance));
    // The in-cluster objects come after what the provider block names (the load balancer, the
    // admin certificate) and after the machines, so destroy removes them while the API server
    // still answers.
    let prometheus = "module.addons.module.observability[0].kubernetes_manifest.prometheus";
    let admin = "module.cluster.module.pki.tls_locally_signed_cert.leaf[\"admin\"]";
    for from in [lb, admin, instance, target, etcd_instance] {
        assert!(path(&g, from, prometheus), "{prometheus} does not depend on {from}");
        assert!(!path(&g, prometheus, from), "{from} depends on {prometheus}");
    }
}

#[test]
fn prod_etcd_scaling_to_five_replaces_no_running_member_and_rewrites_the_declared_list() {
    let f = fixture();
    f.scale_plan.assert_code(0);
    let plan = f.scale_plan.json();
    let actions: BTreeMap<String, String> = plan["resource_changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (c["address"].as_str().unwrap().to_string(), c["action"].as_str().unwrap().to_string())
        })
        .collect();
    let action = |address: &str| actions.get(address).map(String::as_str).unwrap_or("no-op");
    // Members a-c keep their user-data (a config naming only themselves, their own script): no
    // replacement, so the cluster is never down more than the new members' joins.
    for name in ["prod-etcd-a", "prod-etcd-b", "prod-etcd-c"] {
        for address in [
            format!(
                "module.cluster.module.etcd_nodes[0].module.nodes.aws_instance.node[\"{name}\"]"
            ),
            format!("module.cluster.module.etcd_nodes[0].aws_ebs_volume.data[\"{name}\"]"),
            format!("module.cluster.module.etcd_nodes[0].aws_volume_attachment.data[\"{name}\"]"),
        ] {
            assert_eq!(action(&address), "no-op", "{address}: {actions:?}");
        }
    }
    for name in ["prod-etcd-d", "prod-etcd-e"] {
        let address = format!(
            "module.cluster.module.etcd_nodes[0].module.nodes.aws_instance.node[\"{name}\"]"
        );
        assert_eq!(action(&address), "create", "{address}");
    }
    // Nor any control-plane node: the apiservers name the first three members only.
    for cp in by_role("control-plane") {
        let address = format!(
            "module.cluster.module.control_plane.module.nodes.aws_instance.node[\"{}\"]",
            cp.name
        );
        assert_eq!(action(&address), "no-op", "{address}: {actions:?}");
    }
    // The list the scripts read is rewritten in place.
    assert_eq!(
        action("module.cluster.module.etcd_nodes[0].aws_s3_object.declared_members"),
        "update",
        "{actions:?}"
    );
    // What the applied list holds: the three members, by static IP.
    let members = f.declared_members["members"].as_object().unwrap();
    assert_eq!(members.len(), ETCD);
    for m in by_role("etcd") {
        assert_eq!(
            members[&m.name]["peer_url"],
            format!("https://{}:2380", m.private_ip),
            "{}",
            m.name
        );
        assert_eq!(members[&m.name]["client_url"], format!("https://{}:2379", m.private_ip));
    }
}

#[test]
fn prod_etcd_member_count_must_be_odd_and_five_gives_five_members_with_volumes() {
    let even =
        crate::util::slipway_in(&env_dir(), ["validate", ".", "-var", "etcd_member_count=4"]);
    even.assert_no_crash().assert_code(1);
    assert!(even.stderr.contains("etcd_member_count must be odd"), "{}", even.dump());
    let r = crate::util::slipway_in(
        &env_dir(),
        ["graph", "--format", "json", ".", "-var", "etcd_member_count=5"],
    );
    r.assert_no_crash().assert_code(0);
    let addresses: Vec<String> = r.json()["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["address"].as_str().unwrap().to_string())
        .collect();
    for (kind, n) in [
        ("module.cluster.module.etcd_nodes[0].aws_ebs_volume.data[", 5),
        ("module.cluster.module.etcd_nodes[0].aws_volume_attachment.data[", 5),
        ("module.cluster.module.etcd_nodes[0].module.nodes.aws_instance.node[", 5),
        ("module.cluster.module.pki.tls_locally_signed_cert.leaf[\"etcd-peer/", 5),
    ] {
        assert_eq!(addresses.iter().filter(|a| a.starts_with(kind)).count(), n, "{kind}");
    }
}

// ---------------------------------------------------------------------------------------------
// Eventual consistency

/// Real AWS is eventually consistent: for a few seconds after a create, other calls may not see
/// the new object, and for a while after instances go, their groups and subnets cannot be
/// deleted. `aws-fault-proxy --propagation-ms` answers as AWS then does (the service's codes and
/// bodies). prod applies through it, re-plans empty, and destroys clean: no duplicate, no orphan.
#[test]
fn prod_applies_and_destroys_through_eventual_consistency_without_duplicates_or_orphans() {
    let moto = Moto::start();
    let dir = TestDir::new();
    let state = dir.join("state");
    let proxy = FaultProxy::start_with(&moto, dir.join("proxy.log"), &["--propagation-ms", "3000"]);
    let at = |args: &[&str]| slipway_at(&proxy.endpoint(), &env_dir(), &state, args);
    at(&["apply", "ENV", "-auto-approve"]).assert_code(0);
    let injected = |calls: &[crate::moto::Call]| -> BTreeMap<String, usize> {
        let mut n = BTreeMap::new();
        for c in calls.iter().filter(|c| c.fate.starts_with("Propagating")) {
            *n.entry(c.fate.clone()).or_insert(0) += 1;
        }
        n
    };
    let applied = proxy.calls();
    let during_apply = injected(&applied);
    eprintln!("injected during apply: {during_apply:?}");
    for code in
        ["InvalidInstanceID.NotFound", "InvalidGroup.NotFound", "InvalidInternetGatewayID.NotFound"]
    {
        assert!(
            during_apply.keys().any(|f| f.contains(code)),
            "{code} was never injected: {during_apply:?}"
        );
    }
    // Exactly the declared nodes: no create was repeated on an error that only meant "not yet".
    let objects = strings(moto.boto3(STACK_OBJECTS));
    let instances = objects.iter().filter(|o| o.starts_with("instance ")).count();
    assert_eq!(instances, CONTROL_PLANE + ETCD + WORKERS, "{objects:?}");
    let plan = at(&["plan", "ENV", "--detailed-exitcode"]);
    assert_eq!(plan.code, Some(0), "re-plan not empty: {}", plan.dump());

    at(&["destroy", "ENV", "-auto-approve"]).assert_code(0);
    let during_destroy = injected(&proxy.calls()[applied.len()..]);
    eprintln!("injected during destroy: {during_destroy:?}");
    assert!(during_destroy.keys().any(|f| f.contains("DependencyViolation")), "{during_destroy:?}");
    assert_eq!(moto.boto3(STACK_OBJECTS), serde_json::json!([]), "left after destroy");
}
