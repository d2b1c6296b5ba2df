//! `environments/dev` applied through the binary against a real moto server: the main job,
//! plus what only the AWS API can tell — user-data as EC2 hands it out holds no secret, each
//! node's secrets are in its S3 bundle, everything carries the ownership tags, and destroy
//! leaves nothing of the stack.

use std::path::Path;

use crate::moto::Moto;
use crate::util::{Run, TestDir};

fn slipway(moto: &Moto, state: &Path, args: &[&str]) -> Run {
    let env = Path::new(env!("CARGO_MANIFEST_DIR")).join("environments/dev");
    moto.slipway(&env, state, args)
}

#[test]
fn dev_environment_applies_against_moto_with_no_secret_in_user_data_and_destroys_cleanly() {
    let moto = Moto::start();
    let dir = TestDir::new();
    let state = dir.join("state");
    let apply = slipway(&moto, &state, &["apply", "ENV", "-auto-approve"]);
    apply.assert_code(0);
    assert!(apply.stdout.contains("Apply complete! Resources: 69 added"), "{}", apply.dump());
    // Egress (modules/network): the private subnet routes 0.0.0.0/0 through an available NAT
    // gateway that holds an Elastic IP, and S3 through the gateway endpoint on the same table.
    let egress = moto.boto3(
        "nats = {g['NatGatewayId']: g for g in ec2.describe_nat_gateways()['NatGateways'] if g['State'] == 'available'}\nprivate = ec2.describe_route_tables(Filters=[{'Name': 'tag:Name', 'Values': ['dev-private-*']}])['RouteTables']\nfor t in private:\n    for r in t['Routes']:\n        if r.get('DestinationCidrBlock') == '0.0.0.0/0':\n            g = nats.get(r.get('NatGatewayId'), {})\n            out.append(['nat', 'PublicIp' in g.get('NatGatewayAddresses', [{}])[0]])\nfor e in ec2.describe_vpc_endpoints()['VpcEndpoints']:\n    out.append([e['ServiceName'], e['RouteTableIds'] == [t['RouteTableId'] for t in private]])",
    );
    assert_eq!(
        egress,
        serde_json::json!([["nat", true], ["com.amazonaws.us-east-1.s3", true]]),
        "private subnets without egress"
    );
    // Refresh is batched: a no-op plan costs calls per resource type, not per resource.
    let plan = slipway(&moto, &state, &["plan", "ENV", "--detailed-exitcode", "--stats"]);
    plan.assert_code(0);
    let calls = crate::moto::api_calls(&plan.stderr);
    for (op, n) in calls.iter().filter(|(op, _)| *op != "total") {
        assert!(*n <= 1, "{op} called {n} times in a no-op plan: {}", plan.stderr);
    }
    let total = calls.get("total").copied();
    // 24 AWS resource and data-source types in environments/dev (aws_region makes no call), 69
    // resources: at most one call per type (no page is full at this size).
    let total = total.expect("--stats prints a total");
    assert!(total <= 23, "a no-op plan made {total} AWS calls: {}", plan.stderr);

    let token = slipway(&moto, &state, &["output", "bootstrap_token", "--dir", "ENV"])
        .stdout
        .trim()
        .to_string();
    assert_eq!(token.len(), 23, "a kubeadm token [a-z0-9]{{6}}.[a-z0-9]{{16}}: {token}");
    let (_, secret) = token.split_once('.').unwrap();

    // User-data exactly as EC2 returns it to anyone allowed DescribeInstanceAttribute.
    let user_data = moto.boto3(
        "for r in ec2.describe_instances()['Reservations']:\n    for i in r['Instances']:\n        a = ec2.describe_instance_attribute(InstanceId=i['InstanceId'], Attribute='userData')\n        out.append(base64.b64decode(a['UserData']['Value']).decode())",
    );
    let user_data: Vec<&str> =
        user_data.as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(user_data.len(), 2);
    let mut kubeadm_configs = 0;
    for ud in &user_data {
        assert!(ud.starts_with("#cloud-config"), "{ud}");
        let readable = crate::cloud_config::readable(ud);
        assert!(!readable.contains("PRIVATE KEY"), "a private key is in user-data");
        assert!(!readable.contains(secret), "the bootstrap token is in user-data");
        // What the node hands kubeadm (the token substituted, as its script does) is accepted by
        // the real kubeadm of the release the environment declares.
        for (path, (content, _)) in crate::cloud_config::write_files(ud) {
            if path.starts_with("/etc/kubernetes/kubeadm/") {
                crate::kubeutil::assert_kubeadm_accepts(
                    &path,
                    &content,
                    &token,
                    &dir.join("kubeadm"),
                );
                kubeadm_configs += 1;
            }
        }
    }
    // The stacked init node also carries the JoinConfiguration it takes when it was replaced
    // into a running cluster (modules/node-bootstrap init_joins): real kubeadm accepts it too.
    assert_eq!(kubeadm_configs, 3, "init and its join (control plane), join (worker)");
    // The secrets went to S3 instead, one bundle per node; beside them, the declared etcd
    // member list the control-plane nodes' membership scripts read (no secret in it).
    let bundles = moto.boto3(
        "for b in s3.list_buckets()['Buckets']:\n    for o in s3.list_objects_v2(Bucket=b['Name']).get('Contents', []):\n        if o['Key'].endswith('/bundle.json'):\n            out.append(s3.get_object(Bucket=b['Name'], Key=o['Key'])['Body'].read().decode())",
    );
    let declared = moto.boto3(
        "for b in s3.list_buckets()['Buckets']:\n    for o in s3.list_objects_v2(Bucket=b['Name']).get('Contents', []):\n        if o['Key'] == 'nodes/etcd-members.json':\n            out.append(s3.get_object(Bucket=b['Name'], Key=o['Key'])['Body'].read().decode())",
    );
    let declared = declared.as_array().unwrap();
    assert_eq!(declared.len(), 1, "{declared:?}");
    let declared = declared[0].as_str().unwrap();
    assert!(declared.contains("\"dev-cp-a\"") && !declared.contains(secret), "{declared}");
    let bundles: Vec<&str> =
        bundles.as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(bundles.len(), 2);
    assert!(bundles.iter().all(|b| b.contains(secret)), "each bundle carries the token");
    assert!(
        bundles.iter().any(|b| b.contains("PRIVATE KEY")),
        "the control-plane bundle carries its keys"
    );

    // Every instance carries the ownership tags.
    let tags = moto.boto3(
        "for r in ec2.describe_instances()['Reservations']:\n    for i in r['Instances']:\n        out.append({t['Key']: t['Value'] for t in i.get('Tags', [])})",
    );
    let mut addresses = std::collections::BTreeSet::new();
    for t in tags.as_array().unwrap() {
        assert!(t.get("slipway:stack").is_some(), "{t}");
        addresses.insert(t["slipway:address"].as_str().unwrap().to_string());
    }
    // Every node boots the newest Debian 12 image of Debian's account, the environment's
    // default as on real AWS (scripts/moto/debian-12-amis.json gives moto those images).
    let images = moto.boto3(
        "for r in ec2.describe_instances()['Reservations']:\n    for i in r['Instances']:\n        img = ec2.describe_images(ImageIds=[i['ImageId']])['Images'][0]\n        out.append([img['OwnerId'], img['Name']])",
    );
    for image in images.as_array().unwrap() {
        assert_eq!(
            image,
            &serde_json::json!(["136693071363", "debian-12-amd64-20250428-2096"]),
            "{images}"
        );
    }
    // The instances come from modules/kubeadm-nodes, once per role (through modules/nodes).
    assert_eq!(
        addresses,
        std::collections::BTreeSet::from([
            "module.cluster.module.control_plane.module.nodes.aws_instance.node[\"dev-cp-a\"]"
                .to_string(),
            "module.cluster.module.workers.module.nodes.aws_instance.node[\"dev-worker-a\"]"
                .to_string(),
        ])
    );

    let destroy = slipway(&moto, &state, &["destroy", "ENV", "-auto-approve"]);
    destroy.assert_code(0);
    assert!(
        destroy.stdout.contains("Destroy complete! Resources: 0 added, 0 changed, 69 destroyed."),
        "{}",
        destroy.dump()
    );
    let left = moto.boto3(
        "for r in ec2.describe_instances(Filters=[{'Name': 'tag-key', 'Values': ['slipway:stack']}])['Reservations']:\n    for i in r['Instances']:\n        if i['State']['Name'] != 'terminated':\n            out.append(i['InstanceId'])\nfor v in ec2.describe_vpcs(Filters=[{'Name': 'tag-key', 'Values': ['slipway:stack']}])['Vpcs']:\n    out.append(v['VpcId'])\nfor b in s3.list_buckets()['Buckets']:\n    out.append(b['Name'])\nfor a in ec2.describe_addresses()['Addresses']:\n    out.append(a['AllocationId'])\nfor g in ec2.describe_nat_gateways()['NatGateways']:\n    if g['State'] != 'deleted':\n        out.append(g['NatGatewayId'])\nfor e in ec2.describe_vpc_endpoints()['VpcEndpoints']:\n    if e['State'] != 'deleted':\n        out.append(e['VpcEndpointId'])",
    );
    assert_eq!(left, serde_json::json!([]), "objects of the stack left after destroy");
}
