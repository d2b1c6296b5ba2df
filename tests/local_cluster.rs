//! `scripts/local-cluster`, the real control plane the Kubernetes tests and the demo use: it
//! comes up on one loopback address, its kwok nodes are Ready, the scheduler binds pods and kwok
//! runs them, so a Deployment becomes Available and a Job completes — without a kubelet — and
//! `down` stops every process it started.

use std::time::Duration;

use crate::kubeutil::{LocalCluster, wait_until};

#[test]
fn local_cluster_runs_workloads_on_kwok_nodes_and_stops_everything_it_started() {
    let cluster = LocalCluster::start("127.0.0.31", 2);
    let ready = cluster.kubectl(&["get", "--raw", "/readyz"]).ok("readyz");
    assert_eq!(ready.stdout.trim(), "ok");

    wait_until("two kwok nodes Ready", Duration::from_secs(60), || {
        let out = cluster.kubectl(&[
            "get",
            "nodes",
            "-o",
            r#"jsonpath={range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}"#,
        ]);
        let ready = out.stdout.lines().filter(|l| *l == "True").count();
        if ready == 2 { Ok(()) } else { Err(out.all()) }
    });

    let manifest = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: registry.example/web:1}]
---
apiVersion: batch/v1
kind: Job
metadata: {name: once, namespace: default}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: once, image: registry.example/once:1}]
"#;
    let file = cluster.dir().join("workloads.yaml");
    std::fs::write(&file, manifest).unwrap();
    cluster.kubectl(&["apply", "-f", file.to_str().unwrap()]).ok("kubectl apply");
    // Available needs the scheduler (binding), kwok (pod Running/Ready) and the controller
    // manager (ReplicaSet, Deployment status).
    cluster
        .kubectl(&["wait", "--for=condition=Available", "deployment/web", "--timeout=120s"])
        .ok("deployment Available");
    cluster
        .kubectl(&["wait", "--for=condition=Complete", "job/once", "--timeout=120s"])
        .ok("job Complete");

    // A controller that exits is restarted, as a kubelet restarts a static pod: killed here, the
    // controller manager comes back under a new pid and rolls out a scaled Deployment.
    let child = |c: &str| -> i32 {
        std::fs::read_to_string(cluster.dir().join("pids").join(format!("{c}.child")))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let first = child("kube-controller-manager");
    // SAFETY: sends SIGKILL to the controller manager this cluster started.
    assert_eq!(unsafe { libc::kill(first, libc::SIGKILL) }, 0);
    wait_until("controller manager restarted", Duration::from_secs(30), || {
        let now = child("kube-controller-manager");
        // SAFETY: signal 0 only checks that the pid exists.
        if now != first && unsafe { libc::kill(now, 0) } == 0 {
            Ok(())
        } else {
            Err(format!("still {now}"))
        }
    });
    cluster.kubectl(&["scale", "deployment/web", "--replicas=5"]).ok("scale");
    wait_until("five replicas available", Duration::from_secs(120), || {
        let out = cluster.kubectl(&[
            "get",
            "deployment/web",
            "-o",
            "jsonpath={.status.availableReplicas}",
        ]);
        if out.stdout.trim() == "5" { Ok(()) } else { Err(out.all()) }
    });

    // `down` stops every process `up` recorded: each component, and the restarted controllers'
    // own processes beside their supervisors.
    let mut files: Vec<(String, i32)> = std::fs::read_dir(cluster.dir().join("pids"))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let pid = std::fs::read_to_string(e.path()).unwrap().trim().parse().unwrap();
            (e.file_name().to_string_lossy().into_owned(), pid)
        })
        .collect();
    files.sort();
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "etcd",
            "kube-apiserver",
            "kube-controller-manager",
            "kube-controller-manager.child",
            "kube-scheduler",
            "kube-scheduler.child",
            "kwok",
            "kwok.child"
        ]
    );
    let pids: Vec<i32> = files.into_iter().map(|(_, pid)| pid).collect();
    drop(cluster);
    for pid in pids {
        // A killed process reparented to init may linger as a zombie until reaped: that is dead.
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let zombie = state.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('Z'));
        // SAFETY: kill with signal 0 only checks that the pid exists.
        let exists = unsafe { libc::kill(pid, 0) } == 0;
        assert!(!exists || zombie, "process {pid} of the local cluster is still running");
    }
}
