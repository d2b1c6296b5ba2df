//! The observability module's static Prometheus content, checked with the real tools:
//! `promtool check rules` and `promtool test rules` (Debian `prometheus`) on
//! `modules/observability/rules`, every alert covered by a unit test that fires and one that
//! stays silent, a broken threshold caught by those tests, and the Grafana dashboards checked as
//! dashboard JSON with every panel query parsed by promtool.
//!
//! The same rules and dashboards are queried against real data in `observability_data.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value as Json;

use crate::kubeutil::{Out, output};
use crate::util::TestDir;

const TOOLS_HINT: &str = "install Debian's `prometheus` package (scripts/install-deps does)";

/// `modules/observability`.
pub fn module_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("modules/observability")
}

/// A real Prometheus tool (`promtool`, `amtool`, `prometheus`) from PATH: missing fails the test.
pub fn prom_tool(name: &str) -> Command {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
        .unwrap_or(false);
    assert!(found, "`{name}` is not on PATH: {TOOLS_HINT}");
    Command::new(name)
}

/// The files `dir/*.{ext}`, sorted.
pub fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no *.{ext} in {}", dir.display());
    v
}

/// A YAML file as JSON, read by PyYAML (the tests' YAML reader; Rust has none in this tree).
pub fn yaml_file(path: &Path) -> Json {
    let out = output(Command::new("python3").args([
        "-c",
        "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
        &path.to_string_lossy(),
    ]))
    .ok("python3 with PyYAML (scripts/install-deps installs it)");
    serde_json::from_str(&out.stdout).unwrap()
}

/// Every alerting rule of the module's rule files: name → expression.
pub fn alerts() -> BTreeMap<String, String> {
    let mut all = BTreeMap::new();
    for f in files(&module_dir().join("rules"), "yaml") {
        for group in yaml_file(&f)["groups"].as_array().unwrap() {
            for rule in group["rules"].as_array().unwrap() {
                if let Some(name) = rule["alert"].as_str() {
                    let expr = rule["expr"].as_str().unwrap().to_string();
                    assert!(
                        all.insert(name.to_string(), expr).is_none(),
                        "alert {name} is defined twice"
                    );
                }
            }
        }
    }
    all
}

fn promtool(args: &[&str], dir: &Path) -> Out {
    output(prom_tool("promtool").args(args).current_dir(dir))
}

#[test]
fn alert_rules_pass_promtool_and_every_alert_has_a_firing_and_a_silent_unit_test() {
    let rules = module_dir().join("rules");
    let rule_files: Vec<String> = files(&rules, "yaml")
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let mut args = vec!["check", "rules"];
    args.extend(rule_files.iter().map(String::as_str));
    promtool(&args, &rules).ok("promtool check rules");

    let tests: Vec<PathBuf> = files(&rules.join("tests"), "yaml");
    let mut args = vec!["test".to_string(), "rules".to_string()];
    args.extend(tests.iter().map(|p| p.to_string_lossy().into_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = promtool(&args, &rules).ok("promtool test rules");
    assert_eq!(
        out.all().matches("SUCCESS").count(),
        tests.len(),
        "every test file passes:\n{}",
        out.all()
    );

    // Coverage: each alert is expected to fire somewhere, and expected silent somewhere (an
    // empty `exp_alerts` at an evaluation where its input series exist).
    let (mut fires, mut silent) = (BTreeSet::new(), BTreeSet::new());
    let mut tested_files = BTreeSet::new();
    for t in &tests {
        let doc = yaml_file(t);
        for f in doc["rule_files"].as_array().unwrap() {
            tested_files.insert(f.as_str().unwrap().trim_start_matches("../").to_string());
        }
        for case in doc["tests"].as_array().unwrap() {
            assert!(
                !case["input_series"].as_array().unwrap().is_empty(),
                "{}: a test without input series",
                t.display()
            );
            for a in case["alert_rule_test"].as_array().into_iter().flatten() {
                let name = a["alertname"].as_str().unwrap().to_string();
                match a["exp_alerts"].as_array() {
                    Some(v) if !v.is_empty() => fires.insert(name),
                    _ => silent.insert(name),
                };
            }
        }
    }
    let all: BTreeSet<String> = alerts().into_keys().collect();
    assert!(all.len() >= 30, "expected the full rule set, found {all:?}");
    let never_fires: Vec<_> = all.difference(&fires).collect();
    let never_silent: Vec<_> = all.difference(&silent).collect();
    assert!(never_fires.is_empty(), "alerts no unit test fires: {never_fires:?}");
    assert!(never_silent.is_empty(), "alerts no unit test keeps silent: {never_silent:?}");
    let unknown: Vec<_> = fires.union(&silent).filter(|a| !all.contains(*a)).collect();
    assert!(unknown.is_empty(), "tests of alerts that do not exist: {unknown:?}");
    let untested: Vec<_> = rule_files.iter().filter(|f| !tested_files.contains(*f)).collect();
    assert!(untested.is_empty(), "rule files without a unit-test file: {untested:?}");
}

/// The unit tests can fail: a Deployment-replicas alert whose threshold is off by one no
/// longer fires where the tests say it must, and promtool says so.
#[test]
fn a_wrong_alert_threshold_fails_its_promtool_unit_test() {
    let rules = module_dir().join("rules");
    let scratch = TestDir::new();
    let original = std::fs::read_to_string(rules.join("workloads.yaml")).unwrap();
    let broken = original.replace(
        "kube_deployment_spec_replicas > kube_deployment_status_replicas_available",
        "kube_deployment_spec_replicas > kube_deployment_status_replicas_available + 2",
    );
    assert_ne!(original, broken, "the mutation must apply");
    scratch.write("workloads.yaml", broken);
    let test = std::fs::read_to_string(rules.join("tests/workloads.yaml")).unwrap();
    scratch.write("tests/workloads.yaml", test);
    let out = promtool(&["test", "rules", "tests/workloads.yaml"], scratch.path());
    assert_ne!(out.code, 0, "promtool accepted a broken rule:\n{}", out.all());
    assert!(
        out.all().contains("KubeDeploymentReplicasMismatch"),
        "the failure names the alert:\n{}",
        out.all()
    );
}

/// Every panel of every dashboard: (dashboard file, panel title, expressions).
pub fn panels() -> Vec<(String, String, Vec<String>)> {
    let mut v = Vec::new();
    for f in files(&module_dir().join("dashboards"), "json") {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let doc: Json = serde_json::from_str(&std::fs::read_to_string(&f).unwrap())
            .unwrap_or_else(|e| panic!("{name} is not JSON: {e}"));
        for p in doc["panels"].as_array().unwrap() {
            if p["type"] == "row" {
                continue;
            }
            let exprs = p["targets"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["expr"].as_str().unwrap().to_string())
                .collect();
            v.push((name.clone(), p["title"].as_str().unwrap().to_string(), exprs));
        }
    }
    v
}

/// A dashboard expression with Grafana's template variables given concrete values.
pub fn concrete(expr: &str) -> String {
    expr.replace("$namespace", ".+").replace("$__rate_interval", "5m")
}

#[test]
fn dashboards_are_grafana_dashboard_json_and_every_panel_query_parses() {
    let mut uids = BTreeSet::new();
    let mut rules = String::from("groups:\n  - name: dashboard-panels\n    rules:\n");
    let mut count = 0;
    for f in files(&module_dir().join("dashboards"), "json") {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let doc: Json = serde_json::from_str(&std::fs::read_to_string(&f).unwrap())
            .unwrap_or_else(|e| panic!("{name} is not JSON: {e}"));
        // The fields Grafana's dashboard model requires to import and provision a dashboard.
        for key in ["uid", "title", "schemaVersion", "panels", "templating", "time"] {
            assert!(!doc[key].is_null(), "{name}: no `{key}`");
        }
        let uid = doc["uid"].as_str().unwrap();
        assert!(uid.len() <= 40, "{name}: Grafana uids are at most 40 characters");
        assert!(uids.insert(uid.to_string()), "{name}: uid {uid} used twice");
        assert!(doc["schemaVersion"].as_u64().unwrap() >= 36, "{name}: old schema");
        // Panels use the dashboard's datasource variable, so the dashboards work whatever uid
        // the provisioned Prometheus datasource has.
        let vars = doc["templating"]["list"].as_array().unwrap();
        assert!(
            vars.iter().any(|v| v["name"] == "datasource"
                && v["type"] == "datasource"
                && v["query"] == "prometheus"),
            "{name}: no Prometheus datasource variable"
        );
        let mut ids = BTreeSet::new();
        for p in doc["panels"].as_array().unwrap() {
            let title = p["title"].as_str().unwrap_or_else(|| panic!("{name}: untitled panel"));
            let id = p["id"].as_u64().unwrap();
            assert!(ids.insert(id), "{name}: panel id {id} twice");
            let g = &p["gridPos"];
            let (x, w) = (g["x"].as_u64().unwrap(), g["w"].as_u64().unwrap());
            assert!(
                x + w <= 24 && g["h"].as_u64().unwrap() > 0,
                "{name}/{title}: off the 24-column grid"
            );
            let kind = p["type"].as_str().unwrap();
            if kind == "row" {
                continue;
            }
            assert!(
                ["stat", "timeseries", "table", "gauge", "bargauge"].contains(&kind),
                "{name}/{title}: panel type {kind} is not a core Grafana panel"
            );
            assert_eq!(p["datasource"]["uid"], "${datasource}", "{name}/{title}");
            let targets = p["targets"].as_array().unwrap();
            assert!(!targets.is_empty(), "{name}/{title}: no query");
            for t in targets {
                let expr = t["expr"].as_str().unwrap();
                assert!(t["refId"].is_string(), "{name}/{title}: a target without refId");
                count += 1;
                rules.push_str(&format!(
                    "      - record: dashboard_panel_{count}\n        expr: {}\n",
                    serde_json::to_string(&concrete(expr)).unwrap()
                ));
            }
        }
    }
    assert!(count >= 30, "expected the full dashboards, found {count} queries");
    // promtool parses each expression exactly as Prometheus does (as a recording rule).
    let scratch = TestDir::new();
    scratch.write("panels.yaml", &rules);
    let out = promtool(&["check", "rules", "panels.yaml"], scratch.path())
        .ok("promtool check rules on the dashboards' queries");
    assert!(out.all().contains(&format!("SUCCESS: {count} rules found")), "{}", out.all());
    // And a query that does not parse is refused, so the check above means something.
    scratch.write(
        "bad.yaml",
        "groups:\n  - name: g\n    rules:\n      - record: bad\n        expr: 'sum by (namespace (up)'\n",
    );
    let bad = promtool(&["check", "rules", "bad.yaml"], scratch.path());
    assert_ne!(bad.code, 0, "promtool accepted a broken query");
}
