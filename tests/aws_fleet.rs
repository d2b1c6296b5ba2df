//! The AWS provider end to end, through the binary, against a real moto server: a two-zone
//! network (with its NAT gateways, Elastic IPs and S3 endpoint), six instances, an EBS volume, security groups and rules, and an NLB with a target
//! group and listener (`tests/fixtures/aws-fleet`). What AWS holds is always counted through the
//! AWS API (boto3), never taken from slipway's own state.
//!
//! - faults: `aws-fault-proxy` refuses 20% of calls (RequestLimitExceeded, Throttling, SlowDown,
//!   503) and loses the answer of another 10% after moto carried them out; apply converges, no
//!   object is duplicated, and destroy deletes in the order AWS requires (checked on the proxy's
//!   log: moto itself accepts wrong orders);
//! - SIGKILL at 20 moments of an apply: no duplicate, no orphan;
//! - drift made outside slipway is planned and repaired; a listener deleted outside fails
//!   the batched read by ARN (as AWS does, through the proxy) and is found missing through
//!   its load balancer;
//! - a volume grows in place, and a smaller size plans a replacement (AWS never shrinks one);
//! - errors that won't heal fail fast with the address and AWS's message; state stays
//!   consistent.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::moto::{Call, FaultProxy, Moto, slipway_at, spawn_slipway_at};
use crate::util::{Run, TestDir};

fn fleet() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/aws-fleet")
}

/// `slipway ARGS` on the fleet (`ENV`) through `endpoint`, with state under `state`.
fn in_fleet(endpoint: &str, state: &Path, args: &[&str]) -> Run {
    slipway_at(endpoint, &fleet(), state, args)
}

/// Every object in moto that carries the `slipway:stack` tag and is not deleted, as
/// (kind, address) — listeners are counted per load balancer instead (moto keeps no tags on
/// them).
fn inventory(moto: &Moto) -> Vec<(String, String)> {
    let out = moto.boto3(
        r#"
def tags(ts):
    return {t['Key']: t['Value'] for t in (ts or [])}
def add(kind, ts):
    t = tags(ts)
    if 'slipway:stack' in t:
        out.append([kind, t.get('slipway:address', '?')])
for r in ec2.describe_instances()['Reservations']:
    for i in r['Instances']:
        if i['State']['Name'] not in ('terminated', 'shutting-down'):
            add('instance', i.get('Tags'))
for v in ec2.describe_vpcs()['Vpcs']: add('vpc', v.get('Tags'))
for s in ec2.describe_subnets()['Subnets']: add('subnet', s.get('Tags'))
for g in ec2.describe_security_groups()['SecurityGroups']: add('security_group', g.get('Tags'))
for v in ec2.describe_volumes()['Volumes']:
    # Root volumes carry their instance's tags (and address).
    root = any(t['Key'] == 'slipway:address' and t['Value'].startswith('aws_instance.') for t in v.get('Tags', []))
    add('root_volume' if root else 'volume', v.get('Tags'))
for g in ec2.describe_internet_gateways()['InternetGateways']: add('internet_gateway', g.get('Tags'))
for t in ec2.describe_route_tables()['RouteTables']: add('route_table', t.get('Tags'))
for a in ec2.describe_addresses()['Addresses']: add('elastic_ip', a.get('Tags'))
for g in ec2.describe_nat_gateways()['NatGateways']:
    if g['State'] != 'deleted': add('nat_gateway', g.get('Tags'))
for e in ec2.describe_vpc_endpoints()['VpcEndpoints']:
    if e['State'] != 'deleted': add('vpc_endpoint', e.get('Tags'))
arns = [l['LoadBalancerArn'] for l in elbv2.describe_load_balancers()['LoadBalancers']]
arns += [g['TargetGroupArn'] for g in elbv2.describe_target_groups()['TargetGroups']]
if arns:
    for d in elbv2.describe_tags(ResourceArns=arns)['TagDescriptions']:
        add('target_group' if ':targetgroup/' in d['ResourceArn'] else 'load_balancer', d['Tags'])
"#,
    );
    out.as_array()
        .unwrap()
        .iter()
        .map(|p| (p[0].as_str().unwrap().to_string(), p[1].as_str().unwrap().to_string()))
        .collect()
}

/// Objects that carry the same address more than once (duplicates).
fn duplicates(inv: &[(String, String)]) -> Vec<(String, String)> {
    let mut seen = BTreeMap::new();
    for i in inv {
        *seen.entry(i.clone()).or_insert(0) += 1;
    }
    seen.into_iter().filter(|(_, n)| *n > 1).map(|(k, _)| k).collect()
}

fn state_list(endpoint: &str, state: &Path) -> BTreeSet<String> {
    let list = in_fleet(endpoint, state, &["state", "list", "--dir", "ENV"]);
    list.assert_code(0);
    list.stdout.lines().map(str::to_string).collect()
}

/// Objects in AWS that state does not know (orphans).
fn orphans(inv: &[(String, String)], state: &BTreeSet<String>) -> Vec<(String, String)> {
    inv.iter().filter(|(_, a)| !state.contains(a)).cloned().collect()
}

fn assert_fleet_complete(moto: &Moto, state: &Path) {
    let inv = inventory(moto);
    assert_eq!(duplicates(&inv), vec![], "duplicated objects: {inv:?}");
    let count = |k: &str| inv.iter().filter(|(kind, _)| kind == k).count();
    assert_eq!(count("instance"), 6, "{inv:?}");
    assert_eq!(count("vpc"), 1, "{inv:?}");
    assert_eq!(count("subnet"), 4, "{inv:?}");
    assert_eq!(count("security_group"), 3, "{inv:?}");
    assert_eq!(count("volume"), 1, "{inv:?}");
    assert_eq!(count("root_volume"), 6, "{inv:?}");
    assert_eq!(count("load_balancer"), 1, "{inv:?}");
    assert_eq!(count("target_group"), 1, "{inv:?}");
    // modules/network's egress: a NAT gateway and its address per zone, one S3 endpoint.
    assert_eq!(count("elastic_ip"), 2, "{inv:?}");
    assert_eq!(count("nat_gateway"), 2, "{inv:?}");
    assert_eq!(count("vpc_endpoint"), 1, "{inv:?}");
    let listeners = moto.boto3(
        "for l in elbv2.describe_load_balancers()['LoadBalancers']:\n    out.append(len(elbv2.describe_listeners(LoadBalancerArn=l['LoadBalancerArn'])['Listeners']))",
    );
    assert_eq!(listeners, serde_json::json!([1]));
    let in_state = state_list(&moto.endpoint(), state);
    assert_eq!(orphans(&inv, &in_state), vec![], "objects state does not know");
}

fn plan_is_empty(moto: &Moto, state: &Path) {
    let plan = in_fleet(&moto.endpoint(), state, &["plan", "ENV", "--detailed-exitcode"]);
    assert_eq!(plan.code, Some(0), "re-plan not empty: {}", plan.dump());
}

/// Deletes of `first` must all have finished before any delete of `then` started.
fn assert_before(calls: &[Call], first: &str, then: &str) {
    let done = calls
        .iter()
        .filter(|c| c.operation == first && c.fate != "Refused")
        .map(|c| c.done_ms)
        .fold(f64::NEG_INFINITY, f64::max);
    let start = calls
        .iter()
        .filter(|c| c.operation == then)
        .map(|c| c.arrived_ms)
        .fold(f64::INFINITY, f64::min);
    assert!(done.is_finite() && start.is_finite(), "destroy made no {first} or no {then} call");
    assert!(
        done <= start,
        "{then} started at {start:.0} ms, before the last {first} finished at {done:.0} ms"
    );
}

/// Deletes of `first` must all have finished before `then` started on any of `ids`.
fn assert_before_on(calls: &[Call], first: &str, then: &str, then_key: &str, ids: &[String]) {
    let done = calls
        .iter()
        .filter(|c| c.operation == first && c.fate != "Refused")
        .map(|c| c.done_ms)
        .fold(f64::NEG_INFINITY, f64::max);
    let on: Vec<&Call> = calls
        .iter()
        .filter(|c| {
            c.operation == then
                && c.params
                    .get(then_key)
                    .and_then(|v| v.as_str())
                    .is_some_and(|id| ids.iter().any(|i| i == id))
        })
        .collect();
    assert!(done.is_finite(), "destroy made no {first} call");
    assert_eq!(
        on.iter()
            .filter_map(|c| c.params.get(then_key).and_then(|v| v.as_str()))
            .collect::<BTreeSet<_>>()
            .len(),
        ids.len(),
        "not every one of {ids:?} got a {then}"
    );
    for c in on {
        assert!(
            done <= c.arrived_ms,
            "{then} {:?} started at {:.0} ms, before the last {first} finished at {done:.0} ms",
            c.params.get(then_key),
            c.arrived_ms
        );
    }
}

/// Per object: `first` calls naming `key = id` all finished before the `then` call naming the
/// same id in `then_key` started.
fn assert_before_per_id(calls: &[Call], first: &str, key: &str, then: &str, then_key: &str) {
    let mut checked = 0;
    for t in calls.iter().filter(|c| c.operation == then) {
        let Some(id) = t.params.get(then_key).and_then(|v| v.as_str()) else {
            continue;
        };
        for f in calls.iter().filter(|c| {
            c.operation == first
                && c.fate != "Refused"
                && c.params.get(key).and_then(|v| v.as_str()) == Some(id)
        }) {
            assert!(
                f.done_ms <= t.arrived_ms,
                "{then} of {id} started before {first} of it finished"
            );
            checked += 1;
        }
    }
    assert!(checked > 0, "no {first} → {then} pair on the same id");
}

#[test]
fn fleet_converges_through_throttling_and_lost_responses_then_destroys_in_dependency_order() {
    let moto = Moto::start();
    let dir = TestDir::new();
    let state = dir.join("state");
    let proxy = FaultProxy::start(&moto, dir.join("proxy.log"), 5, 0.2, 0.1, 11);

    let apply = in_fleet(&proxy.endpoint(), &state, &["apply", "ENV", "-auto-approve"]);
    proxy.assert_code(&apply, 0);
    assert!(apply.stdout.contains("Apply complete! Resources: 39 added"), "{}", apply.dump());
    let calls = proxy.calls();
    let refused = calls.iter().filter(|c| c.fate == "Refused").count();
    let lost = calls.iter().filter(|c| c.fate == "ResponseLost").count();
    // The faults really happened, creates among them.
    assert!(
        refused * 10 >= calls.len() && lost * 20 >= calls.len(),
        "{refused} refused and {lost} lost of {} calls",
        calls.len()
    );
    assert!(
        calls.iter().any(|c| c.fate == "ResponseLost" && !c.operation.starts_with("Describe")),
        "no mutating call lost its answer"
    );
    assert_fleet_complete(&moto, &state);
    plan_is_empty(&moto, &state);

    let ids = moto.boto3(
        r#"
def addr(i):
    return {t['Key']: t['Value'] for t in i.get('Tags', [])}.get('slipway:address', '')
out.append([g['GroupId'] for g in ec2.describe_security_groups()['SecurityGroups'] if addr(g) in ('aws_security_group.node', 'aws_security_group.service')])
out.append([s['SubnetId'] for s in ec2.describe_subnets()['Subnets'] if '.private[' in addr(s)])
out.append([s['SubnetId'] for s in ec2.describe_subnets()['Subnets'] if '.public[' in addr(s)])
"#,
    );
    let ids: Vec<Vec<String>> = serde_json::from_value(ids).unwrap();
    let (instance_groups, private_subnets, public_subnets) = (&ids[0], &ids[1], &ids[2]);
    assert_eq!((instance_groups.len(), private_subnets.len(), public_subnets.len()), (2, 2, 2));
    // Each route table of the stack with its associations (public, and one per private subnet).
    let tables = moto.boto3(
        "for t in ec2.describe_route_tables(Filters=[{'Name': 'tag-key', 'Values': ['slipway:stack']}])['RouteTables']:\n    out.append([t['RouteTableId']] + [a['RouteTableAssociationId'] for a in t['Associations'] if not a.get('Main')])",
    );
    let tables: Vec<Vec<String>> = serde_json::from_value(tables).unwrap();
    assert_eq!(tables.len(), 3, "{tables:?}");
    let before = proxy.calls().len();
    let destroy = in_fleet(&proxy.endpoint(), &state, &["destroy", "ENV", "-auto-approve"]);
    proxy.assert_code(&destroy, 0);
    assert!(destroy.stdout.contains("39 destroyed"), "{}", destroy.dump());
    assert_eq!(inventory(&moto), vec![], "destroy left objects of the stack");

    let calls: Vec<Call> = proxy.calls().split_off(before);
    // Listeners before target groups and load balancers; targets deregistered before the
    // target group goes; volumes detached before they are deleted and before their instance
    // terminates; instances gone before their security groups and subnets; the load balancer
    // before its subnets; rules naming a group before that group; everything in the VPC
    // before the VPC; the gateway detached before it is deleted.
    assert_before(&calls, "DeleteListener", "DeleteTargetGroup");
    assert_before(&calls, "DeleteListener", "DeleteLoadBalancer");
    assert_before(&calls, "DeregisterTargets", "DeleteTargetGroup");
    assert_before_per_id(&calls, "DetachVolume", "VolumeId", "DeleteVolume", "VolumeId");
    assert_before_per_id(
        &calls,
        "DetachVolume",
        "InstanceId",
        "TerminateInstances",
        "InstanceId.1",
    );
    assert_before_per_id(
        &calls,
        "DeregisterTargets",
        "Targets.member.1.Id",
        "TerminateInstances",
        "InstanceId.1",
    );
    assert_before_on(
        &calls,
        "TerminateInstances",
        "DeleteSecurityGroup",
        "GroupId",
        instance_groups,
    );
    assert_before_on(&calls, "TerminateInstances", "DeleteSubnet", "SubnetId", private_subnets);
    assert_before_on(&calls, "DeleteLoadBalancer", "DeleteSubnet", "SubnetId", public_subnets);
    assert_before(&calls, "RevokeSecurityGroupIngress", "DeleteSecurityGroup");
    // Each table is deleted once its own associations are gone.
    let named = |c: &Call, k: &str, ids: &[String]| {
        c.params.get(k).and_then(|v| v.as_str()).is_some_and(|id| ids.iter().any(|i| i == id))
    };
    for t in &tables {
        let (table, associations) = t.split_first().unwrap();
        let done = calls
            .iter()
            .filter(|c| c.operation == "DisassociateRouteTable" && c.fate != "Refused")
            .filter(|c| named(c, "AssociationId", associations))
            .map(|c| c.done_ms)
            .fold(f64::NEG_INFINITY, f64::max);
        let start = calls
            .iter()
            .filter(|c| c.operation == "DeleteRouteTable")
            .filter(|c| named(c, "RouteTableId", std::slice::from_ref(table)))
            .map(|c| c.arrived_ms)
            .fold(f64::INFINITY, f64::min);
        assert!(
            done.is_finite() && start.is_finite() && done <= start,
            "{table} deleted at {start:.0} ms, its last association gone at {done:.0} ms"
        );
    }
    assert_before(&calls, "DetachInternetGateway", "DeleteInternetGateway");
    for first in [
        "DeleteSubnet",
        "DeleteSecurityGroup",
        "DeleteRouteTable",
        "DetachInternetGateway",
        "DeleteLoadBalancer",
        "DeleteTargetGroup",
    ] {
        assert_before(&calls, first, "DeleteVpc");
    }
}

#[test]
fn sigkill_at_twenty_moments_of_an_aws_apply_leaves_no_duplicate_and_no_orphan() {
    let moto = Moto::start();
    let dir = TestDir::new();
    let state = dir.join("state");
    // Latency stretches an apply over a few seconds, so kills land all through it.
    let proxy = FaultProxy::start(&moto, dir.join("proxy.log"), 15, 0.0, 0.0, 1);
    let endpoint = proxy.endpoint();
    let apply =
        || spawn_slipway_at(&endpoint, &fleet(), &state, &["apply", "ENV", "-auto-approve"]);

    let t = Instant::now();
    assert!(apply().wait().unwrap().success());
    let full = t.elapsed();
    in_fleet(&endpoint, &state, &["destroy", "ENV", "-auto-approve"]).assert_code(0);

    let mut next = crate::util::xorshift(0x00c0_ffee);
    let mut kills_mid_apply = 0;
    let mut attempts = 0;
    let mut window = (full.as_millis() as u64).max(50);
    while kills_mid_apply < 20 {
        attempts += 1;
        assert!(attempts <= 60, "only {kills_mid_apply} kills landed mid-apply");
        // Every other kill starts from nothing; the others resume what the last one left.
        if kills_mid_apply % 2 == 0 {
            // The last kill's lock is taken over: no run is refused for it.
            in_fleet(&endpoint, &state, &["destroy", "ENV", "-auto-approve"]).assert_code(0);
        }
        let mut child = apply();
        std::thread::sleep(Duration::from_millis(next() % window));
        let finished = child.try_wait().unwrap().is_some();
        unsafe {
            libc::kill(child.id() as i32, libc::SIGKILL);
        }
        child.wait().unwrap();
        let list = in_fleet(&endpoint, &state, &["state", "list", "--dir", "ENV"]);
        assert_eq!(list.code, Some(0), "state unreadable after a kill: {}", list.dump());
        // No force-unlock: the next run takes over the lock the kill left.
        if finished {
            // The apply won the race (what was left was quick): aim earlier next time.
            window = (window / 2).max(50);
        } else {
            kills_mid_apply += 1;
        }
    }
    let done = in_fleet(&endpoint, &state, &["apply", "ENV", "-auto-approve"]);
    done.assert_code(0);
    assert_fleet_complete(&moto, &state);
    plan_is_empty(&moto, &state);
}

fn drift_plan(moto: &Moto, state: &Path) -> Run {
    in_fleet(&moto.endpoint(), state, &["plan", "ENV", "--detailed-exitcode"])
}

#[test]
fn changes_made_outside_slipway_show_as_drift_and_apply_repairs_them() {
    let moto = Moto::start();
    let dir = TestDir::new();
    let state = dir.join("state");
    let endpoint = moto.endpoint();
    in_fleet(&endpoint, &state, &["apply", "ENV", "-auto-approve"]).assert_code(0);

    // Refresh is batched and shared: a no-op plan costs at most one call per AWS type of the
    // fleet (19, data.aws_ami and data.aws_region included; aws_region makes none), one per
    // operation.
    let noop = in_fleet(&endpoint, &state, &["plan", "ENV", "--detailed-exitcode", "--stats"]);
    assert_eq!(noop.code, Some(0), "{}", noop.dump());
    let calls = crate::moto::api_calls(&noop.stderr);
    let total = calls.get("total").copied().expect("--stats prints a total");
    assert!(total <= 18, "{total} calls for 18 types: {}", noop.stderr);
    for (op, n) in calls.iter().filter(|(op, _)| *op != "total") {
        assert_eq!(*n, 1, "{op} called {n} times: {}", noop.stderr);
    }

    // Behind slipway's back: an instance terminated, a rule added to and a rule removed from a
    // group with inline rules, a separate rule revoked, a tag changed, a target deregistered,
    // the listener deleted, the volume detached, a subnet's route table association removed.
    moto.boto3(
        r#"
def by_addr(items, addr):
    return [i for i in items if {t['Key']: t['Value'] for t in i.get('Tags', [])}.get('slipway:address') == addr][0]
vol = by_addr(ec2.describe_volumes()['Volumes'], 'aws_ebs_volume.data')
ec2.detach_volume(VolumeId=vol['VolumeId'], InstanceId=vol['Attachments'][0]['InstanceId'])
rt = by_addr(ec2.describe_route_tables()['RouteTables'], 'module.network.aws_route_table.public')
ec2.disassociate_route_table(AssociationId=[a for a in rt['Associations'] if not a.get('Main')][0]['RouteTableAssociationId'])
insts = [i for r in ec2.describe_instances()['Reservations'] for i in r['Instances'] if i['State']['Name'] == 'running']
ec2.terminate_instances(InstanceIds=[by_addr(insts, 'aws_instance.node[5]')['InstanceId']])
sgs = ec2.describe_security_groups()['SecurityGroups']
node = by_addr(sgs, 'aws_security_group.node')['GroupId']
ec2.authorize_security_group_ingress(GroupId=node, IpPermissions=[{'IpProtocol': 'tcp', 'FromPort': 8080, 'ToPort': 8080, 'IpRanges': [{'CidrIp': '0.0.0.0/0'}]}])
ec2.revoke_security_group_ingress(GroupId=node, IpPermissions=[{'IpProtocol': 'tcp', 'FromPort': 22, 'ToPort': 22, 'IpRanges': [{'CidrIp': '10.30.0.0/16'}]}])
service = by_addr(sgs, 'aws_security_group.service')['GroupId']
clients = by_addr(sgs, 'aws_security_group.lb_clients')['GroupId']
ec2.revoke_security_group_ingress(GroupId=service, IpPermissions=[{'IpProtocol': 'tcp', 'FromPort': 6443, 'ToPort': 6443, 'UserIdGroupPairs': [{'GroupId': clients}]}])
vpc = by_addr(ec2.describe_vpcs()['Vpcs'], 'module.network.aws_vpc.this')['VpcId']
ec2.create_tags(Resources=[vpc], Tags=[{'Key': 'Name', 'Value': 'renamed-by-hand'}])
tg = elbv2.describe_target_groups()['TargetGroups'][0]['TargetGroupArn']
elbv2.deregister_targets(TargetGroupArn=tg, Targets=[{'Id': by_addr(insts, 'aws_instance.node[1]')['InstanceId']}])
lb = elbv2.describe_load_balancers()['LoadBalancers'][0]['LoadBalancerArn']
for l in elbv2.describe_listeners(LoadBalancerArn=lb)['Listeners']:
    elbv2.delete_listener(ListenerArn=l['ListenerArn'])
"#,
    );

    let plan = drift_plan(&moto, &state);
    assert_eq!(plan.code, Some(2), "{}", plan.dump());
    let (drift, actions) = plan
        .stdout
        .split_once("slipway will perform the following actions")
        .unwrap_or_else(|| panic!("no action section: {}", plan.stdout));
    assert!(drift.contains("changes made outside of slipway"), "no drift section: {}", plan.stdout);
    for what in [
        "aws_instance.node[5]",
        "aws_security_group.node",
        "aws_security_group_rule.service_from_clients",
        "module.network.aws_vpc.this",
        "module.lb.aws_lb_target_group_attachment.node[\"node-1\"]",
        "module.lb.aws_lb_listener.api",
        "aws_volume_attachment.data",
        "module.network.aws_route_table_association.public[",
    ] {
        assert!(drift.contains(what), "drift section misses {what}: {drift}");
        assert!(actions.contains(what), "no action repairs {what}: {actions}");
    }
    assert!(drift.contains("renamed-by-hand"), "{drift}");
    assert!(drift.contains("8080"), "{drift}");

    in_fleet(&endpoint, &state, &["apply", "ENV", "-auto-approve"]).assert_code(0);
    plan_is_empty(&moto, &state);
    assert_fleet_complete(&moto, &state);
    let after = moto.boto3(
        r#"
def by_addr(items, addr):
    return [i for i in items if {t['Key']: t['Value'] for t in i.get('Tags', [])}.get('slipway:address') == addr][0]
sgs = ec2.describe_security_groups()['SecurityGroups']
node = by_addr(sgs, 'aws_security_group.node')
out.append(sorted(p.get('FromPort', -1) for p in node['IpPermissions']))
service = by_addr(sgs, 'aws_security_group.service')
out.append(sorted(p.get('FromPort', -1) for p in service['IpPermissions']))
vpc = by_addr(ec2.describe_vpcs()['Vpcs'], 'module.network.aws_vpc.this')
out.append({t['Key']: t['Value'] for t in vpc['Tags']}['Name'])
tg = elbv2.describe_target_groups()['TargetGroups'][0]['TargetGroupArn']
out.append(len(elbv2.describe_target_health(TargetGroupArn=tg)['TargetHealthDescriptions']))
vol = by_addr(ec2.describe_volumes()['Volumes'], 'aws_ebs_volume.data')
out.append([a['State'] for a in vol['Attachments']])
rt = by_addr(ec2.describe_route_tables()['RouteTables'], 'module.network.aws_route_table.public')
out.append(len([a for a in rt['Associations'] if not a.get('Main')]))
"#,
    );
    assert_eq!(
        after,
        serde_json::json!([[22], [6443], "fleet", 6, ["attached"], 2]),
        "what AWS holds after the repair"
    );
}

#[test]
fn errors_that_will_not_heal_fail_fast_with_the_address_and_keep_state_consistent() {
    let moto = Moto::start();
    let dir = TestDir::new();
    let state = dir.join("state");
    let env = dir.join("env");
    std::fs::create_dir_all(&env).unwrap();
    std::fs::write(
        env.join("main.hcl"),
        r#"
provider "aws" {
  region = "us-east-1"
}

resource "aws_vpc" "main" {
  cidr_block = "10.40.0.0/16"
}

resource "aws_vpc" "bad_cidr" {
  cidr_block = "10.41.0.0/33"
}

resource "aws_subnet" "ok" {
  vpc_id            = aws_vpc.main.id
  cidr_block        = "10.40.1.0/24"
  availability_zone = "us-east-1a"
}

resource "aws_subnet" "outside_vpc" {
  vpc_id            = aws_vpc.main.id
  cidr_block        = "10.99.1.0/24"
  availability_zone = "us-east-1a"
}

resource "aws_instance" "bad_ami" {
  ami           = "ami-0123456789abcdef0"
  instance_type = "t3.micro"
  subnet_id     = aws_subnet.ok.id
}

resource "aws_instance" "missing_subnet" {
  ami           = "ami-0d27e0fb3bac4d724"
  instance_type = "t3.micro"
  subnet_id     = "subnet-0123456789abcdef0"
}

resource "aws_instance" "in_outside_subnet" {
  ami           = "ami-0d27e0fb3bac4d724"
  instance_type = "t3.micro"
  subnet_id     = aws_subnet.outside_vpc.id
}
"#,
    )
    .unwrap();
    let endpoint = moto.endpoint();
    let apply = slipway_at(&endpoint, &env, &state, &["apply", "ENV", "-auto-approve", "--stats"]);
    assert_eq!(apply.code, Some(1), "{}", apply.dump());
    for (addr, code) in [
        ("aws_instance.bad_ami", "InvalidAMIID.NotFound"),
        ("aws_instance.missing_subnet", "InvalidSubnetID.NotFound"),
        ("aws_vpc.bad_cidr", "InvalidParameterValue"),
        ("aws_subnet.outside_vpc", "InvalidSubnet.Range"),
    ] {
        assert!(
            apply
                .stderr
                .lines()
                .any(|l| l.contains(addr) && l.contains("failed") && l.contains(code)),
            "no error naming {addr} with {code}: {}",
            apply.dump()
        );
    }
    assert!(
        apply.stderr.contains("skipped: aws_instance.in_outside_subnet (a dependency failed)"),
        "{}",
        apply.dump()
    );
    // Fail fast: no retry of an error that will not heal (one attempt per failed create).
    let stats = crate::moto::api_calls(&apply.stderr);
    assert_eq!(stats.get("ec2:RunInstances"), Some(&2), "{}", apply.stderr);
    assert_eq!(stats.get("ec2:CreateSubnet"), Some(&2), "{}", apply.stderr);
    assert_eq!(stats.get("ec2:CreateVpc"), Some(&2), "{}", apply.stderr);

    // State holds what exists, plus an intent for each failed create (a create that failed
    // late may have made something, which the next run adopts rather than duplicates); the
    // next plan resumes exactly the failed and skipped ones.
    let list = slipway_at(&endpoint, &env, &state, &["state", "list", "--dir", "ENV"]);
    list.assert_code(0);
    assert_eq!(
        list.stdout.lines().collect::<Vec<_>>(),
        vec![
            "aws_instance.bad_ami",
            "aws_instance.missing_subnet",
            "aws_subnet.ok",
            "aws_subnet.outside_vpc",
            "aws_vpc.bad_cidr",
            "aws_vpc.main"
        ]
    );
    let plan = slipway_at(&endpoint, &env, &state, &["plan", "ENV"]);
    plan.assert_code(0);
    assert!(plan.stdout.contains("Plan: 5 to add, 0 to change, 0 to destroy."), "{}", plan.dump());
    assert_eq!(plan.stdout.matches("did not finish creating it").count(), 4, "{}", plan.stdout);
    let live = moto.boto3(
        "out.append(len([i for r in ec2.describe_instances()['Reservations'] for i in r['Instances']]))\nout.append(len([v for v in ec2.describe_vpcs()['Vpcs'] if not v['IsDefault']]))",
    );
    assert_eq!(live, serde_json::json!([0, 1]), "nothing half-made in AWS");
}

#[test]
fn a_create_before_destroy_replacement_makes_a_new_object_instead_of_adopting_the_old_one() {
    let moto = Moto::start();
    let dir = TestDir::new();
    let state = dir.join("state");
    let env = dir.join("env");
    std::fs::create_dir_all(&env).unwrap();
    let write = |cidr: &str| {
        std::fs::write(
            env.join("main.hcl"),
            format!(
                "provider \"aws\" {{\n  region = \"us-east-1\"\n}}\n\nresource \"aws_vpc\" \"main\" {{\n  cidr_block = \"{cidr}\"\n  lifecycle {{\n    create_before_destroy = true\n  }}\n}}\n"
            ),
        )
        .unwrap()
    };
    let endpoint = moto.endpoint();
    write("10.50.0.0/16");
    slipway_at(&endpoint, &env, &state, &["apply", "ENV", "-auto-approve"]).assert_code(0);
    // A new CIDR forces a replacement; the new VPC carries the same address tag as the old one.
    write("10.51.0.0/16");
    let apply = slipway_at(&endpoint, &env, &state, &["apply", "ENV", "-auto-approve"]);
    apply.assert_code(0);
    assert!(apply.stdout.contains("1 added, 0 changed, 1 destroyed"), "{}", apply.dump());
    let vpcs = moto.boto3(
        "for v in ec2.describe_vpcs()['Vpcs']:\n    if not v['IsDefault']:\n        out.append(v['CidrBlock'])",
    );
    assert_eq!(vpcs, serde_json::json!(["10.51.0.0/16"]));
    let plan = slipway_at(&endpoint, &env, &state, &["plan", "ENV", "--detailed-exitcode"]);
    assert_eq!(plan.code, Some(0), "{}", plan.dump());
}

/// Two listeners on one load balancer, for the batched listener read.
const TWO_LISTENERS: &str = r#"
provider "aws" {
  region = "us-east-1"
}

resource "aws_vpc" "v" {
  cidr_block = "10.60.0.0/16"
}

resource "aws_subnet" "zone" {
  for_each          = { a = "10.60.1.0/24", b = "10.60.2.0/24" }
  vpc_id            = aws_vpc.v.id
  cidr_block        = each.value
  availability_zone = "us-east-1${each.key}"
}

resource "aws_lb" "api" {
  internal = true
  subnets  = [for s in aws_subnet.zone : s.id]
}

resource "aws_lb_target_group" "api" {
  port   = 6443
  vpc_id = aws_vpc.v.id
}

resource "aws_lb_listener" "port" {
  for_each          = toset(["6443", "9345"])
  load_balancer_arn = aws_lb.api.arn
  port              = tonumber(each.key)
  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.api.arn
  }
}
"#;

/// AWS fails a DescribeListeners by ARNs whole when one listener is gone; refresh then reads
/// the load balancer's listeners, once per load balancer, and plans the missing one again.
/// (moto lists the others instead; `aws-fault-proxy` answers as AWS does.)
#[test]
fn a_listener_deleted_outside_fails_the_batched_read_and_is_found_missing_through_its_load_balancer()
 {
    let moto = Moto::start();
    let dir = TestDir::new();
    dir.write("environments/listeners/main.hcl", TWO_LISTENERS);
    let (env, state) = (dir.join("environments/listeners"), dir.join("state"));
    let proxy = FaultProxy::start_with(&moto, dir.join("proxy.log"), &[]);
    let at = |args: &[&str]| slipway_at(&proxy.endpoint(), &env, &state, args);
    at(&["apply", "ENV", "-auto-approve"]).assert_code(0);
    at(&["plan", "ENV", "--detailed-exitcode"]).assert_code(0);

    moto.boto3(
        r#"
lb = elbv2.describe_load_balancers()['LoadBalancers'][0]['LoadBalancerArn']
for l in elbv2.describe_listeners(LoadBalancerArn=lb)['Listeners']:
    if l['Port'] == 9345:
        elbv2.delete_listener(ListenerArn=l['ListenerArn'])
"#,
    );
    let before = proxy.calls().len();
    let plan = at(&["plan", "ENV", "--detailed-exitcode"]);
    assert_eq!(plan.code, Some(2), "{}", plan.dump());
    let (drift, actions) = plan
        .stdout
        .split_once("slipway will perform the following actions")
        .unwrap_or_else(|| panic!("no action section: {}", plan.stdout));
    let (gone, kept) = ("aws_lb_listener.port[\"9345\"]", "aws_lb_listener.port[\"6443\"]");
    assert!(drift.contains(gone) && actions.contains(gone), "{}", plan.stdout);
    assert!(!drift.contains(kept) && !actions.contains(kept), "{}", plan.stdout);
    assert!(plan.stdout.contains("1 to add, 0 to change, 0 to destroy"), "{}", plan.stdout);
    // The batch by ARN, refused as AWS refuses it; then one listing of the load balancer.
    let reads: Vec<(String, Vec<String>)> = proxy.calls()[before..]
        .iter()
        .filter(|c| c.operation == "DescribeListeners")
        .map(|c| (c.fate.clone(), c.params.keys().cloned().collect()))
        .collect();
    assert_eq!(reads.len(), 2, "{reads:?}");
    assert_eq!(reads[0].0, "Stricter(\"ListenerNotFound\")", "{reads:?}");
    assert!(reads[0].1.iter().filter(|k| k.starts_with("ListenerArns.member.")).count() == 2);
    assert_eq!(reads[1].0, "Forwarded", "{reads:?}");
    assert!(reads[1].1.contains(&"LoadBalancerArn".to_string()), "{reads:?}");

    at(&["apply", "ENV", "-auto-approve"]).assert_code(0);
    at(&["plan", "ENV", "--detailed-exitcode"]).assert_code(0);
    let ports = moto.boto3(
        "lb = elbv2.describe_load_balancers()['LoadBalancers'][0]['LoadBalancerArn']\nout.extend(sorted(l['Port'] for l in elbv2.describe_listeners(LoadBalancerArn=lb)['Listeners']))",
    );
    assert_eq!(ports, serde_json::json!([6443, 9345]));
}

/// AWS grows a volume in place (ModifyVolume) but never shrinks one: a smaller size plans a
/// replacement, as Terraform does, instead of an update AWS would refuse at apply.
#[test]
fn a_volume_grows_in_place_and_a_smaller_size_plans_a_replacement() {
    let moto = Moto::start();
    let dir = TestDir::new();
    let (env, state) = (dir.join("env"), dir.join("state"));
    let write = |size: u32| {
        let hcl = format!(
            "provider \"aws\" {{\n  region = \"us-east-1\"\n}}\n\nresource \"aws_ebs_volume\" \"data\" {{\n  availability_zone = \"us-east-1a\"\n  size              = {size}\n}}\n"
        );
        dir.write("env/main.hcl", hcl);
    };
    let at = |args: &[&str]| slipway_at(&moto.endpoint(), &env, &state, args);
    let sizes =
        || moto.boto3("out.extend(sorted(v['Size'] for v in ec2.describe_volumes()['Volumes']))");
    write(20);
    at(&["apply", "ENV", "-auto-approve"]).assert_code(0);
    write(40);
    let grow = at(&["apply", "ENV", "-auto-approve"]);
    grow.assert_code(0);
    assert!(grow.stdout.contains("0 added, 1 changed, 0 destroyed"), "{}", grow.dump());
    assert_eq!(sizes(), serde_json::json!([40]));

    write(10);
    let plan = at(&["plan", "ENV", "--detailed-exitcode"]);
    assert_eq!(plan.code, Some(2), "{}", plan.dump());
    assert!(plan.stdout.contains("must be replaced"), "{}", plan.stdout);
    assert!(plan.stdout.contains("# forces replacement"), "{}", plan.stdout);
    assert!(plan.stdout.contains("1 to add, 0 to change, 1 to destroy"), "{}", plan.stdout);
    at(&["apply", "ENV", "-auto-approve"]).assert_code(0);
    assert_eq!(sizes(), serde_json::json!([10]));
    at(&["plan", "ENV", "--detailed-exitcode"]).assert_code(0);
}
