//! `environments/dev` and `prod` as inputs of `modules/cluster` (issue #17 item 5): state applied
//! with the layout before it — the same wiring written at each environment's root — moves under
//! `module.cluster` / `module.addons` with the environments' `moved` blocks, and the first plan
//! changes nothing but addresses: every instance the old layout created is a no-op move (same
//! attribute values), nothing is created, replaced or deleted but what the environments changed
//! on purpose since (`changed_since_the_layout`). The old layout is read from Git at the last
//! commit that had it, and applied against a real moto server with today's modules
//! (and, for the node groups folded into modules/kubeadm-nodes since, theirs from that commit).
//!
//! Then the next step: the environments as inputs of one base, `modules/environment`, which they
//! extend (`slipway { extends = … }`): state applied with each environment's own copy of the
//! wiring (LAYOUT_OWN_COPIES) plans no change at all, not even a move.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::moto::Moto;
use crate::util::TestDir;

/// The last commit whose environments wired every module at their root.
const LAYOUT_BEFORE: &str = "19a8d8b";

/// The last commit whose environments each held their own copy of the wiring (providers, the
/// two module calls, variables, outputs, moves) before they became inputs of the base
/// `modules/environment` (`slipway { extends = … }`).
const LAYOUT_OWN_COPIES: &str = "cd181d0";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn git(args: &[&str]) -> String {
    let out = Command::new("git").arg("-C").arg(repo()).args(args).output().expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}\n(hint: this test reads the old layout from the repository's history; fetch commit {LAYOUT_BEFORE}, e.g. `git fetch --unshallow`)",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// `environments/<name>` of `commit`, written to `to` (the files only: modules come from the
/// working tree, linked beside it).
fn write_env_at(commit: &str, name: &str, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    std::fs::create_dir_all(to).unwrap();
    let dir = format!("environments/{name}/");
    for file in git(&["ls-tree", "--name-only", commit, &dir]).lines() {
        let base = Path::new(file).file_name().unwrap();
        std::fs::write(to.join(base), git(&["show", &format!("{commit}:{file}")])).unwrap();
    }
}

/// Today's modules, plus those the old layout called that are gone since (modules/control-plane
/// and modules/workers, folded into modules/kubeadm-nodes) as they were at LAYOUT_BEFORE: both
/// layouts then share every module that still exists, so only the wiring differs.
fn write_modules(to: &Path) {
    crate::util::copy_dir(&repo().join("modules"), to);
    for file in git(&["ls-tree", "-r", "--name-only", LAYOUT_BEFORE, "modules/"]).lines() {
        let module = file.split('/').nth(1).unwrap();
        if repo().join("modules").join(module).exists() {
            continue;
        }
        let dest = to.join(file.strip_prefix("modules/").unwrap());
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::write(dest, git(&["show", &format!("{LAYOUT_BEFORE}:{file}")])).unwrap();
    }
}

fn write_env_now(name: &str, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    crate::util::copy_dir(&repo().join("environments").join(name), to);
}

/// Applies `name` as it was at LAYOUT_BEFORE, then plans today's: only moves. Applies today's
/// and plans again: empty. Returns the moves' count.
fn old_layout_moves_without_changes(name: &str, extra: &[&str]) -> usize {
    let moto = Moto::start();
    let dir = TestDir::new();
    let state = dir.join("state");
    write_modules(&dir.join("modules"));
    let env = dir.join("environments").join(name);
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend_from_slice(extra);
        moto.slipway(&env, &state, &all)
    };

    write_env_at(LAYOUT_BEFORE, name, &env);
    run(&["apply", "ENV", "-auto-approve"]).assert_code(0);
    let old: Vec<String> = run(&["state", "list", "--dir", "ENV"])
        .stdout
        .lines()
        .filter(|a| !a.starts_with("data.") && !a.contains(".data."))
        .map(str::to_string)
        .collect();
    assert!(old.len() > 50, "{old:?}");

    write_env_now(name, &env);
    let plan = run(&["plan", "ENV", "--json"]);
    plan.assert_code(0);
    let plan = plan.json();
    let changes = plan["resource_changes"].as_array().unwrap();
    let mut moved_from: Vec<String> = Vec::new();
    // Every unexpected change is listed at once: one failure tells the whole difference.
    let unexpected: Vec<String> = changes
        .iter()
        .filter(|c| c["mode"] != "data")
        .filter(|c| {
            let action = c["action"].as_str().unwrap();
            action != "no-op" && !changed_since_the_layout(c["address"].as_str().unwrap(), action)
        })
        .map(|c| format!("{} ({}) would {}", c["address"], c["moved_from"], c["action"]))
        .collect();
    assert!(
        unexpected.is_empty(),
        "the layouts differ in more than addresses:\n{}",
        unexpected.join("\n")
    );
    for c in changes {
        if c["mode"] == "data" {
            continue;
        }
        let action = c["action"].as_str().unwrap();
        if action == "create" {
            continue;
        }
        let from =
            c["moved_from"].as_str().unwrap_or_else(|| panic!("{} is not a move", c["address"]));
        assert!(
            c["address"].as_str().unwrap().starts_with("module.cluster.")
                || c["address"].as_str().unwrap().starts_with("module.addons."),
            "{}",
            c["address"]
        );
        moved_from.push(from.to_string());
    }
    moved_from.sort();
    let mut old_sorted = old.clone();
    old_sorted.sort();
    assert_eq!(moved_from, old_sorted, "every instance moves, once");

    // The moves are recorded by the next apply, which changes nothing in the cloud but what
    // `changed_since_the_layout` lists (no instance, no network object).
    let apply = run(&["apply", "ENV", "-auto-approve"]);
    apply.assert_code(0);
    run(&["plan", "ENV", "--detailed-exitcode"]).assert_code(0);
    run(&["destroy", "ENV", "-auto-approve"]).assert_code(0);
    moved_from.len()
}

/// What the environments changed on purpose after the layout moved, each with its reason:
/// the plan of the old state may do exactly these besides moving.
/// - The join token rotates (`time_rotating.bootstrap_token`, a new object; the token's
///   random parts gained `keepers`, so they are made again once), and the node bundles (S3
///   objects, not user-data: no instance changes) carry the new token.
fn changed_since_the_layout(address: &str, action: &str) -> bool {
    match action {
        "create" => address == "module.cluster.time_rotating.bootstrap_token",
        "replace" => [
            "module.cluster.random_string.bootstrap_token_id",
            "module.cluster.random_password.bootstrap_token_secret",
        ]
        .contains(&address),
        // Each node's bundle, by its node's key.
        "update" => address.contains(".aws_s3_object.bundle["),
        _ => false,
    }
}

#[test]
fn dev_state_of_the_root_layout_moves_under_module_cluster_without_any_change() {
    let moves = old_layout_moves_without_changes("dev", &[]);
    // dev's 69 resources but the join token's rotation, created new (the old layout is applied
    // with today's modules/network, so its egress moves too).
    assert_eq!(moves, 68);
}

#[test]
fn prod_state_of_the_root_layout_moves_under_module_cluster_without_any_change() {
    old_layout_moves_without_changes("prod", &[]);
}

/// Applies `name` as it was at LAYOUT_OWN_COPIES (its own copy of the wiring), then plans
/// today's (the same wiring, read from the base it extends): nothing to do, no move either.
fn own_copies_plan_no_change_from_the_base(name: &str) {
    let moto = Moto::start();
    let dir = TestDir::new();
    let state = dir.join("state");
    write_modules(&dir.join("modules"));
    let env = dir.join("environments").join(name);
    let run = |args: &[&str]| moto.slipway(&env, &state, args);

    write_env_at(LAYOUT_OWN_COPIES, name, &env);
    assert!(
        !env.join(format!("{name}.vars.hcl")).exists() && env.join("variables.hcl").exists(),
        "{LAYOUT_OWN_COPIES} is the layout with its own variables.hcl"
    );
    run(&["apply", "ENV", "-auto-approve"]).assert_code(0);
    let applied = run(&["state", "list", "--dir", "ENV"])
        .stdout
        .lines()
        .filter(|a| !a.starts_with("data.") && !a.contains(".data."))
        .count();
    assert!(applied > 50, "{applied}");

    write_env_now(name, &env);
    let plan = run(&["plan", "ENV", "--json"]);
    plan.assert_code(0);
    let plan = plan.json();
    let mut seen = 0;
    for c in plan["resource_changes"].as_array().unwrap() {
        if c["mode"] == "data" {
            continue;
        }
        let address = c["address"].as_str().unwrap();
        assert_eq!(c["action"], "no-op", "{address}: {c}");
        assert!(c["moved_from"].is_null(), "{address} moves: {c}");
        seen += 1;
    }
    assert_eq!(seen, applied, "every instance in state is planned, at the same address");
    run(&["plan", "ENV", "--detailed-exitcode"]).assert_code(0);
    run(&["destroy", "ENV", "-auto-approve"]).assert_code(0);
}

#[test]
fn dev_state_of_its_own_copy_of_the_wiring_plans_no_change_from_the_base() {
    own_copies_plan_no_change_from_the_base("dev");
}

#[test]
fn prod_state_of_its_own_copy_of_the_wiring_plans_no_change_from_the_base() {
    own_copies_plan_no_change_from_the_base("prod");
}
