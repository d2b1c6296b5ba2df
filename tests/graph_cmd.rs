//! `slipway graph`: DOT and JSON output of the resource-instance graph for the valid fixtures.

use std::collections::{BTreeMap, BTreeSet};

use crate::util::{TestDir, slipway_in};
use crate::validate::fixture;

/// address → depends_on, from `graph --format json`.
fn nodes(t: &TestDir, extra: &[&str]) -> BTreeMap<String, BTreeSet<String>> {
    let mut args = vec!["graph", "--format", "json"];
    args.extend_from_slice(extra);
    args.push(".");
    let r = slipway_in(&t.join("env"), args);
    r.assert_no_crash().assert_code(0);
    let doc = r.json();
    assert_eq!(doc["format_version"], "1.0");
    doc["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| {
            let deps = n["depends_on"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_str().unwrap().to_string())
                .collect();
            (n["address"].as_str().unwrap().to_string(), deps)
        })
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn graph_json_lists_module_for_each_and_count_instances_with_dependencies() {
    let t = fixture("platform");
    let n = nodes(&t, &[]);
    let x_api = "module.a.random_id.x[\"api\"]";
    let x_web = "module.a.random_id.x[\"web\"]";
    let s_api = "module.a.random_string.suffix[\"api\"]";
    let s_web = "module.a.random_string.suffix[\"web\"]";
    let expected: BTreeSet<String> = set(&[
        "time_static.created",
        "module.ca.tls_private_key.ca",
        "module.ca.tls_self_signed_cert.ca",
        x_api,
        x_web,
        s_api,
        s_web,
        "random_password.db[0]",
        "random_password.db[1]",
    ]);
    assert_eq!(n.keys().cloned().collect::<BTreeSet<_>>(), expected);
    assert_eq!(n[x_api], set(&[]));
    assert_eq!(n["module.ca.tls_self_signed_cert.ca"], set(&["module.ca.tls_private_key.ca"]));
    // `for_each = random_id.x` depends on the whole collection.
    assert_eq!(n[s_api], set(&[x_api, x_web]));
    // Through a module output built by a `for` over all suffixes.
    assert_eq!(n["random_password.db[1]"], set(&[s_api, s_web]));
    assert_eq!(n["time_static.created"], set(&[]));
}

#[test]
fn graph_json_follows_variables_for_count_and_for_each() {
    let t = fixture("platform");
    let n = nodes(&t, &["-var", "replicas=3", "-var", "services=[\"api\", \"x\"]"]);
    assert!(n.contains_key("random_password.db[2]"), "{n:?}");
    assert!(n.contains_key("module.a.random_id.x[\"x\"]"), "{n:?}");
    assert!(!n.contains_key("module.a.random_id.x[\"web\"]"), "{n:?}");
}

#[test]
fn graph_json_inherits_module_depends_on_into_every_instance() {
    let t = fixture("depends");
    let n = nodes(&t, &[]);
    assert_eq!(n["random_string.second"], set(&["random_id.first"]));
    assert_eq!(n["module.workers[0].random_id.w"], set(&["random_string.second"]));
    assert_eq!(n["module.workers[1].random_id.w"], set(&["random_string.second"]));
    assert_eq!(n.len(), 4);
}

/// Nodes and edges of a DOT document, checking its shape on the way.
fn parse_dot(dot: &str) -> (BTreeSet<String>, BTreeSet<(String, String)>) {
    let mut lines = dot.lines();
    assert_eq!(lines.next(), Some("digraph slipway {"));
    assert_eq!(dot.lines().last(), Some("}"));
    let unquote = |s: &str| -> String {
        let s = s.trim();
        assert!(s.starts_with('"') && s.ends_with('"'), "unquoted id {s:?}");
        s[1..s.len() - 1].replace("\\\"", "\"")
    };
    let (mut nodes, mut edges) = (BTreeSet::new(), BTreeSet::new());
    for line in dot.lines().skip(1) {
        let line = line.trim();
        if line == "}" || line.starts_with("rankdir") || line.starts_with("node [") {
            continue;
        }
        let stmt = line.strip_suffix(';').unwrap_or_else(|| panic!("no `;`: {line}"));
        match stmt.split_once(" -> ") {
            Some((a, b)) => {
                edges.insert((unquote(a), unquote(b)));
            }
            None => {
                nodes.insert(unquote(stmt));
            }
        }
    }
    for (a, b) in &edges {
        assert!(nodes.contains(a) && nodes.contains(b), "edge to undeclared node {a} -> {b}");
    }
    (nodes, edges)
}

#[test]
fn graph_dot_is_well_formed_and_arrows_read_depends_on() {
    let t = fixture("platform");
    let r = slipway_in(&t.join("env"), ["graph", "."]);
    r.assert_no_crash().assert_code(0);
    let (nodes, edges) = parse_dot(&r.stdout);
    assert_eq!(nodes.len(), 9);
    assert_eq!(edges.len(), 9);
    assert!(edges.contains(&(
        "module.ca.tls_self_signed_cert.ca".to_string(),
        "module.ca.tls_private_key.ca".to_string()
    )));
    assert!(edges.contains(&(
        "random_password.db[0]".to_string(),
        "module.a.random_string.suffix[\"web\"]".to_string()
    )));
}

#[test]
fn graph_with_errors_exits_1_and_prints_no_graph() {
    let t = TestDir::new();
    t.write("env/main.hcl", "resource \"random_id\" \"a\" {\n  byte_length = local.nope\n}\n");
    let r = slipway_in(&t.join("env"), ["graph", "."]);
    r.assert_no_crash().assert_code(1);
    assert!(r.stdout.is_empty(), "{}", r.dump());
    assert!(r.stderr.contains("main.hcl:2:17"), "{}", r.dump());
}

use crate::dense;

/// `edge_count` and the nodes of `graph --format json` for the dense shape: `stages` chained
/// modules of `width` instances, each instance reading the previous module's output map.
fn dense_graph(stages: usize, width: usize) -> (usize, Vec<serde_json::Value>) {
    let t = TestDir::new();
    dense::write_dense(t.path(), stages, width);
    let r =
        slipway_in(t.path(), ["graph", "--format", "json", "-var", &format!("width={width}"), "."]);
    r.assert_no_crash().assert_code(0);
    let doc = r.json();
    let nodes = doc["nodes"].as_array().expect("nodes").clone();
    (doc["edge_count"].as_u64().expect("edge_count") as usize, nodes)
}

/// Issue #18: every instance of a module depended on every instance of the previous module
/// (one edge per pair: width² per stage, two million at 10,000 instances). A whole-resource
/// dependency is now one edge to a barrier node, so the edge count grows linearly both with the
/// number of stages and with the instances per stage.
#[test]
fn regression_18_dense_chain_edges_are_linear_in_the_configuration() {
    let (e_base, nodes) = dense_graph(10, 20);
    let (e_stages, _) = dense_graph(20, 20);
    let (e_width, _) = dense_graph(10, 40);
    // Per stage after the first: its 20 instances into the barrier, the barrier out to the
    // next stage's 20 (pairs would be 20 × 20).
    assert_eq!(e_base, 9 * (20 + 20), "edges at 10 stages × 20");
    assert!(e_stages as f64 <= 2.2 * e_base as f64, "2× stages: {e_stages} edges vs {e_base}");
    assert!(
        e_width as f64 <= 2.2 * e_base as f64,
        "2× width: {e_width} edges vs {e_base} (pairs would grow 4×)"
    );
    // The barriers are listed as nodes and stand for exactly their resource's instances.
    let barriers: Vec<&serde_json::Value> = nodes.iter().filter(|n| n["barrier"] == true).collect();
    assert_eq!(barriers.len(), 9, "one barrier per stage read by the next");
    let b = barriers
        .iter()
        .find(|n| n["address"] == "module.s0003.random_id.node")
        .expect("barrier of stage 3");
    assert_eq!(b["depends_on"].as_array().unwrap().len(), 20);
    let dependent = nodes
        .iter()
        .find(|n| n["address"] == "module.s0004.random_id.node[\"n0007\"]")
        .expect("an instance of stage 4");
    assert_eq!(dependent["depends_on"], serde_json::json!(["module.s0003.random_id.node"]));
    // Instance nodes are unchanged in number: 10 × 20.
    assert_eq!(nodes.len() - barriers.len(), 200);
}

/// `depends_on = [module.x]` waits for every resource of `x` and of the modules `x` calls, as in
/// Terraform — including those no output of `x` refers to (a load balancer's target
/// attachments, say): destroy then removes the dependent first.
#[test]
fn depends_on_a_module_means_every_resource_in_it_not_only_its_outputs() {
    let t = TestDir::new();
    t.write(
        "env/main.hcl",
        r#"
module "lb" {
  source = "./lb"
}

resource "random_id" "after_module" {
  byte_length = 2
  depends_on  = [module.lb]
}

module "addons" {
  source     = "./addons"
  depends_on = [module.lb]
}
"#,
    );
    t.write(
        "env/lb/main.hcl",
        r#"
resource "random_id" "lb" {
  byte_length = 2
}

# Named by no output.
resource "random_id" "attachment" {
  count       = 2
  byte_length = 2
}

module "inner" {
  source = "./inner"
}

output "dns_name" {
  value = random_id.lb.hex
}
"#,
    );
    t.write("env/lb/inner/main.hcl", "resource \"random_id\" \"deep\" {\n  byte_length = 2\n}\n");
    t.write("env/addons/main.hcl", "resource \"random_id\" \"object\" {\n  byte_length = 2\n}\n");
    let n = nodes(&t, &[]);
    let whole_lb = set(&[
        "module.lb.random_id.lb",
        "module.lb.random_id.attachment[0]",
        "module.lb.random_id.attachment[1]",
        "module.lb.module.inner.random_id.deep",
    ]);
    for dependent in ["random_id.after_module", "module.addons.random_id.object"] {
        let deps = &n[dependent];
        assert!(
            whole_lb.is_subset(deps),
            "{dependent} depends on {deps:?}, not on all of {whole_lb:?}"
        );
    }
}
