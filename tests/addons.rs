//! The environments' in-cluster stack (`modules/cluster-addons`, called by `modules/environment/main.hcl`, the base the environments extend): one graph from the VPC to
//! what runs inside the cluster.
//!
//! - Against the AWS emulator alone, no API server answers behind the load balancer: the
//!   stack is planned (its objects "known after apply", the provider configured from the load
//!   balancer's name and the admin certificate of the same apply), and no cluster is contacted.
//! - With `kubeconfig` pointing at a real control plane (`scripts/local-cluster`, as the demo
//!   does), one apply builds the infrastructure in the emulator and installs the stack into the
//!   API server — the observability stack, Flux and the slipway agent when a repository and an
//!   agent image are given; the next plan is empty.

use std::path::{Path, PathBuf};

use crate::kubeutil::LocalCluster;
use crate::moto::Moto;
use crate::util::TestDir;

fn env(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("environments").join(name)
}

/// Workloads of the in-cluster stack, as `kind/namespace/name`.
const WORKLOADS: &[&str] = &[
    "deployment/flux-system/source-controller",
    "deployment/flux-system/kustomize-controller",
    "deployment/flux-system/helm-controller",
    "deployment/flux-system/notification-controller",
    "deployment/slipway/slipway-agent",
    "gitrepository.source.toolkit.fluxcd.io/flux-system/flux-system",
    "deployment/monitoring/grafana",
    "deployment/monitoring/kube-state-metrics",
    "daemonset/monitoring/node-exporter",
    "statefulset/monitoring/prometheus",
    "statefulset/monitoring/alertmanager",
];

#[test]
fn dev_and_prod_plan_the_in_cluster_stack_without_contacting_a_cluster() {
    let moto = Moto::start();
    for name in ["dev", "prod"] {
        let dir = TestDir::new();
        let plan = moto.slipway_with_env(
            &env(name),
            &dir.join("state"),
            &["plan", "ENV", "--stats"],
            &[("SLIPWAY_VAR_install_addons", "true")],
        );
        plan.assert_code(0);
        let out = &plan.stdout;
        for object in [
            "module.addons.module.observability[0].kubernetes_manifest.namespace",
            "module.addons.module.observability[0].kubernetes_manifest.prometheus",
        ] {
            assert!(
                out.contains(&format!("# {object} will be created")),
                "{name}: {object} not planned:\n{}",
                plan.dump()
            );
        }
        // The provider's configuration is known only after apply: nothing was asked of a
        // cluster, and the plan says why.
        assert!(
            !plan.stderr.contains("kubernetes:"),
            "{name}: a cluster was contacted at plan time:\n{}",
            plan.stderr
        );
        assert!(
            plan.stderr.contains("provider \"kubernetes\""),
            "{name}: no word of the deferred provider:\n{}",
            plan.stderr
        );
    }
}

#[test]
fn dev_applies_infrastructure_and_in_cluster_stack_in_one_run_then_plans_empty() {
    let moto = Moto::start();
    let cluster = LocalCluster::start("127.0.0.93", 2);
    let dir = TestDir::new();
    let state = dir.join("state");
    let kubeconfig = cluster.kubeconfig.to_string_lossy().into_owned();
    let vars = [
        ("SLIPWAY_VAR_install_addons", "true"),
        ("SLIPWAY_VAR_kubeconfig", kubeconfig.as_str()),
        // Flux and the agent follow a repository; kwok runs neither, so any URL serves here.
        ("SLIPWAY_VAR_gitops_repository", "ssh://git@127.0.0.1/example/infrastructure.git"),
        ("SLIPWAY_VAR_agent_image", "ghcr.io/example/slipway:0.1.0"),
    ];
    let apply =
        moto.slipway_with_env(&env("dev"), &state, &["apply", "ENV", "-auto-approve"], &vars);
    apply.assert_code(0);
    assert!(
        apply
            .stdout
            .contains("module.addons.module.observability[0].kubernetes_manifest.prometheus: Creation complete"),
        "{}",
        apply.dump()
    );
    for w in WORKLOADS {
        let (kind, rest) = w.split_once('/').unwrap();
        let (ns, name) = rest.split_once('/').unwrap();
        cluster
            .kubectl(&["get", kind, name, "-n", ns])
            .ok(&format!("{w} installed by the environment's apply"));
    }
    // The EC2 side is there too: the same run.
    let out = moto.slipway_with_env(&env("dev"), &state, &["state", "list", "--dir", "ENV"], &vars);
    out.assert_code(0);
    assert!(out.stdout.contains("module.cluster.module.control_plane."), "{}", out.dump());
    // No secret of the stack in what was printed: no private key (Flux's deploy key, the etcd
    // client key), nor the agent's webhook secret.
    assert!(!apply.stdout.contains("PRIVATE KEY"), "{}", apply.dump());
    let secret = moto.slipway_with_env(
        &env("dev"),
        &state,
        &["output", "agent_webhook_secret", "--dir", "ENV"],
        &vars,
    );
    secret.assert_code(0);
    let secret = secret.stdout.trim();
    assert_eq!(secret.len(), 40, "the webhook secret");
    assert!(!apply.stdout.contains(secret) && !apply.stderr.contains(secret));
    let key = moto.slipway_with_env(
        &env("dev"),
        &state,
        &["output", "gitops_deploy_key", "--dir", "ENV"],
        &vars,
    );
    assert!(key.stdout.starts_with("ssh-ed25519 "), "{}", key.dump());

    // The join token in the nodes' bundles is a bootstrap token the real API server accepts
    // (kubeadm init's would expire after 24 h): the Secret is in kube-system, valid beyond now,
    // and the token authenticates as kubeadm's joining nodes do.
    let token = moto.slipway_with_env(
        &env("dev"),
        &state,
        &["output", "bootstrap_token", "--dir", "ENV"],
        &vars,
    );
    token.assert_code(0);
    let token = token.stdout.trim().to_string();
    let (id, _) = token.split_once('.').expect("token id.secret");
    let expiration = cluster
        .kubectl(&[
            "get",
            "secret",
            &format!("bootstrap-token-{id}"),
            "-n",
            "kube-system",
            "-o",
            "jsonpath={.data.expiration}",
        ])
        .ok("the join token's Secret")
        .stdout;
    let expiration = String::from_utf8(
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, expiration.trim())
            .unwrap(),
    )
    .unwrap();
    let in_12h = time_in(12 * 3600);
    assert!(
        expiration.as_str() > in_12h.as_str(),
        "the token expires at {expiration}, before {in_12h}"
    );
    let ca = cluster.dir().join("pki/ca.crt");
    let whoami = crate::kubeutil::kubectl(&[
        "--kubeconfig",
        "/dev/null",
        "--server",
        &cluster.server(),
        "--certificate-authority",
        ca.to_str().unwrap(),
        "--token",
        &token,
        "auth",
        "whoami",
        "-o",
        "jsonpath={.status.userInfo.username} {.status.userInfo.groups}",
    ])
    .ok("the join token authenticates")
    .stdout;
    assert!(
        whoami.starts_with(&format!("system:bootstrap:{id} "))
            && whoami.contains("system:bootstrappers:kubeadm:default-node-token"),
        "{whoami}"
    );
    assert!(!apply.stdout.contains(&token) && !apply.stderr.contains(&token));

    let plan =
        moto.slipway_with_env(&env("dev"), &state, &["plan", "ENV", "--detailed-exitcode"], &vars);
    assert_eq!(plan.code, Some(0), "second plan not empty:\n{}", plan.dump());
}

/// The UTC time `secs` from now, as RFC 3339 (`2026-12-02T08:00:00Z`): comparable as text
/// with the Secret's expiration, which has the same form.
fn time_in(secs: u64) -> String {
    let out = std::process::Command::new("date")
        .args(["-u", "-d", &format!("+{secs} seconds"), "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}
