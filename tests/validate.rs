//! `slipway validate` end to end: valid fixtures pass, variables arrive from every source with
//! the documented precedence, and regressions for bugs the corpus found.

use std::time::Duration;

use crate::util::{Cmd, Run, TestDir, data_dir, errors, slipway_in, summaries};

/// A scratch copy of `tests/fixtures/valid/NAME`, at `env/` in the returned directory.
pub fn fixture(name: &str) -> TestDir {
    let t = TestDir::new();
    t.copy_dir(&data_dir().join("fixtures").join("valid").join(name), "env");
    t
}

pub const FIXTURES: &[&str] = &["platform", "precedence", "depends"];

#[test]
fn validate_accepts_every_valid_fixture_in_both_output_modes() {
    for name in FIXTURES {
        let t = fixture(name);
        let human = slipway_in(&t.join("env"), ["validate", "."]);
        human.assert_no_crash().assert_code(0);
        assert!(human.stdout.contains("Success!"), "{name}: {}", human.dump());
        assert!(human.stderr.is_empty(), "{name}: unexpected stderr\n{}", human.dump());

        let json = slipway_in(&t.join("env"), ["validate", "--json", "."]);
        json.assert_code(0);
        let doc = json.json();
        assert_eq!(doc["valid"], true, "{name}");
        assert_eq!(doc["error_count"], 0, "{name}: {:?}", summaries(&doc));
        assert_eq!(doc["diagnostics"].as_array().map(Vec::len), Some(0), "{name}");
    }
}

#[test]
fn validate_defaults_to_the_current_directory() {
    let t = fixture("precedence");
    slipway_in(&t.join("env"), ["validate"]).assert_code(0);
    // …and from elsewhere, a missing directory is an error, not a panic.
    let r = slipway_in(t.path(), ["validate", "--json", "no-such-dir"]);
    r.assert_no_crash().assert_code(1);
    assert!(r.json()["diagnostics"][0]["summary"].as_str().unwrap().contains("is not a directory"));
}

#[test]
fn validate_json_diagnostic_has_range_snippet_and_hint() {
    let t = TestDir::new();
    t.write(
        "main.hcl",
        "variable \"region\" {\n  default = \"eu\"\n}\n\nresource \"random_id\" \"a\" {\n  byte_length = 4\n  prefix      = var.regoin\n}\n",
    );
    let r = slipway_in(t.path(), ["validate", "--json", "."]);
    r.assert_code(1);
    let doc = r.json();
    let d = errors(&doc)[0];
    assert_eq!(d["summary"], "reference to undeclared input variable `var.regoin`");
    assert_eq!(d["hint"], "did you mean `var.region`?");
    assert_eq!(d["range"]["filename"], "main.hcl");
    assert_eq!(d["range"]["start"]["line"], 7);
    assert_eq!(d["range"]["start"]["column"], 17);
    assert_eq!(d["range"]["end"]["column"], 27);
    assert_eq!(d["snippet"], "  prefix      = var.regoin");
    // The terminal form carries the same location.
    let human = slipway_in(t.path(), ["validate", "."]);
    assert!(human.stderr.contains("main.hcl:7:17"), "{}", human.dump());
    assert!(human.stderr.contains("1 error found."), "{}", human.dump());
}

/// The instance keys of `random_id.region` and the count of `random_id.sized` in the
/// precedence fixture: which value of `region` and `size` won.
fn winners(r: &Run) -> (Vec<String>, usize) {
    r.assert_no_crash().assert_code(0);
    let doc = r.json();
    let nodes = doc["nodes"].as_array().unwrap();
    let region = nodes
        .iter()
        .filter(|n| n["name"] == "region")
        .map(|n| n["address"].as_str().unwrap().to_string())
        .collect();
    let sized = nodes.iter().filter(|n| n["name"] == "sized").count();
    (region, sized)
}

fn graph_json(t: &TestDir) -> Cmd {
    let mut c = t.cmd();
    c.current_dir(t.join("env")).args(["graph", "--format", "json"]);
    c
}

#[test]
fn variables_precedence_default_env_varsfile_then_cli_in_order() {
    let t = fixture("precedence");
    let key = |v: &str| format!("random_id.region[\"{v}\"]");

    // 1. default
    assert_eq!(winners(&graph_json(&t).run()), (vec![key("from-default")], 1));

    // 2. SLIPWAY_VAR_ beats the default (raw text: a string for string vars, HCL otherwise).
    let r = graph_json(&t).env("SLIPWAY_VAR_region", "from-env").env("SLIPWAY_VAR_size", "3").run();
    assert_eq!(winners(&r), (vec![key("from-env")], 3));

    // 3. *.vars.hcl beats the environment; files apply in lexical order (b after a).
    t.write("env/a.vars.hcl", "region = \"from-a-file\"\nsize = 4\n");
    t.write("env/b.vars.hcl", "region = \"from-b-file\"\n");
    let r = graph_json(&t).env("SLIPWAY_VAR_region", "from-env").run();
    assert_eq!(winners(&r), (vec![key("from-b-file")], 4));

    // 4. -var-file and -var beat the auto-loaded files, later on the command line wins.
    t.write("cli.hcl.vars", "region = \"from-cli-file\"\nsize = 5\n");
    let r =
        graph_json(&t).args(["-var", "region=from-cli-var", "-var-file", "../cli.hcl.vars"]).run();
    assert_eq!(winners(&r), (vec![key("from-cli-file")], 5));
    let r = graph_json(&t)
        .args(["-var-file", "../cli.hcl.vars", "-var", "region=from-cli-var"])
        .args(["--var=size=2"])
        .run();
    assert_eq!(winners(&r), (vec![key("from-cli-var")], 2));
}

#[test]
fn cli_var_with_bad_value_reports_the_var_pseudo_file() {
    let t = fixture("precedence");
    let r = slipway_in(&t.join("env"), ["validate", "--json", "-var", "size=lots", "."]);
    r.assert_no_crash().assert_code(1);
    let doc = r.json();
    let d = errors(&doc)[0];
    assert_eq!(d["range"]["filename"], "<-var>", "{:?}", summaries(&doc));
    assert_eq!(d["summary"], "unknown name `lots`");
    // Only that error: `count = var.size` does not add "known only after apply".
    assert_eq!(doc["error_count"], 1, "{:?}", summaries(&doc));
}

#[test]
fn regression_invalid_variable_value_does_not_cascade_into_count_errors() {
    for (file, text) in
        [("env/bad.vars.hcl", "size = \"big\"\n"), ("env/x.vars.hcl", "size = nope\n")]
    {
        let t = fixture("precedence");
        t.write(file, text);
        let r = slipway_in(&t.join("env"), ["validate", "--json", "."]);
        r.assert_no_crash().assert_code(1);
        let doc = r.json();
        assert_eq!(doc["error_count"], 1, "{text}: {:?}", summaries(&doc));
    }
}

#[test]
fn env_var_for_undeclared_variable_is_ignored_but_vars_file_one_warns() {
    let t = fixture("precedence");
    let r = Cmd::new()
        .current_dir(t.join("env"))
        .args(["validate", "--json", "."])
        .env("SLIPWAY_VAR_unrelated", "x")
        .run();
    r.assert_code(0);
    assert_eq!(r.json()["warning_count"], 0);

    t.write("env/x.vars.hcl", "reigon = \"eu\"\n");
    let r = slipway_in(&t.join("env"), ["validate", "--json", "."]);
    r.assert_code(0);
    let doc = r.json();
    assert_eq!(doc["warning_count"], 1, "{:?}", summaries(&doc));
    assert_eq!(doc["diagnostics"][0]["hint"], "did you mean `region`?");
}

// ---------------------------------------------------------------------------------------------
// Regressions for bugs found by the corpus (each fixed in this branch).

fn validate_json_of(main_hcl: &str) -> (Run, serde_json::Value) {
    let t = TestDir::new();
    t.write("main.hcl", main_hcl);
    let r = Cmd::new().current_dir(t.path()).args(["validate", "--json", "."]).run();
    r.assert_no_crash();
    let doc = r.json();
    (r, doc)
}

#[test]
fn regression_cycle_of_10000_resources_does_not_overflow_the_stack() {
    let mut s = String::new();
    for i in 0..10_000 {
        s.push_str(&format!(
            "resource \"random_id\" \"r{i}\" {{\n  byte_length = 4\n  prefix = random_id.r{}.hex\n}}\n",
            (i + 9_999) % 10_000
        ));
    }
    let (r, doc) = validate_json_of(&s);
    r.assert_code(1);
    assert_eq!(doc["error_count"], 1, "{:?}", summaries(&doc));
}

#[test]
fn regression_long_cycle_diagnostic_is_summarized_and_renders_quickly() {
    let mut s = String::from("locals {\n");
    for i in 0..2_000 {
        s.push_str(&format!("  a{i} = local.a{}\n", (i + 1) % 2_000));
    }
    s.push_str("}\n");
    let t = TestDir::new();
    t.write("main.hcl", &s);
    let r = Cmd::new()
        .current_dir(t.path())
        .args(["validate", "."])
        .timeout(Duration::from_secs(60))
        .run();
    r.assert_no_crash().assert_code(1);
    assert!(r.elapsed < Duration::from_secs(20), "took {:?}", r.elapsed);
    assert!(r.stderr.contains("… (1980 more)"), "{}", r.dump());
    let (_, doc) = validate_json_of(&s);
    let d = errors(&doc)[0];
    assert_eq!(d["labels"].as_array().map(Vec::len), Some(20));
}

#[test]
fn regression_invalid_reference_is_reported_once_not_twice() {
    let (r, doc) = validate_json_of("output \"x\" {\n  value = region\n}\n");
    r.assert_code(1);
    assert_eq!(doc["error_count"], 1, "{:?}", summaries(&doc));
    assert_eq!(errors(&doc)[0]["summary"], "unknown name `region`");
}

#[test]
fn regression_unknown_provider_block_is_an_error() {
    let (r, doc) = validate_json_of("provider \"gcp\" {\n  region = \"eu-west-1\"\n}\n");
    r.assert_code(1);
    let d = errors(&doc)[0];
    assert_eq!(d["summary"], "unknown provider `gcp`");
    // `gcp` is two edits from `aws`, but that is no suggestion.
    assert_eq!(d["hint"], "providers in this build: aws, kubernetes, random, time, tls");
}

#[test]
fn regression_unsupported_argument_in_provider_block_is_an_error() {
    let (r, doc) = validate_json_of("provider \"random\" {\n  seed = 42\n}\n");
    r.assert_code(1);
    let d = errors(&doc)[0];
    assert_eq!(d["summary"], "unsupported argument `seed` in provider \"random\"");
    assert_eq!(d["range"]["start"]["line"], 2);
    assert_eq!(d["range"]["start"]["column"], 3);
    // An empty block for a known provider is fine.
    let (r, _) = validate_json_of("provider \"random\" {}\n");
    r.assert_code(0);
}

#[test]
fn regression_utf8_bom_is_skipped_and_the_real_error_is_located() {
    let (r, _) = validate_json_of("\u{feff}resource \"random_id\" \"a\" {\n  byte_length = 4\n}\n");
    r.assert_code(0);
    let (r, doc) =
        validate_json_of("\u{feff}resource \"random_id\" \"a\" {\n  byte_length = var.nope\n}\n");
    r.assert_code(1);
    let d = errors(&doc)[0];
    assert!(d["summary"].as_str().unwrap().contains("var.nope"), "{d}");
    assert_eq!(d["range"]["start"]["line"], 2);
    assert_eq!(d["range"]["start"]["column"], 17);
}

#[test]
fn regression_too_deep_nesting_points_at_the_first_too_deep_bracket() {
    let (r, doc) = validate_json_of(&format!(
        "locals {{\n  x = {}1{}\n}}\n",
        "(".repeat(300),
        ")".repeat(300)
    ));
    r.assert_code(1);
    let d = errors(&doc)[0];
    assert!(d["summary"].as_str().unwrap().contains("nested more than 256 deep"));
    // `locals {` is depth 1, so the 256th `(` (column 6 + 256) is the first too deep.
    assert_eq!(d["range"]["start"]["line"], 2);
    assert_eq!(d["range"]["start"]["column"], 262);
}

#[test]
fn regression_syntax_error_next_to_multibyte_character_does_not_panic() {
    // hcl-edit reported the error one byte before the end of `本`; slicing there panicked.
    let (r, doc) = validate_json_of("locals 日本");
    r.assert_code(1);
    let d = errors(&doc)[0];
    assert_eq!(d["summary"], "syntax error: expected `{`");
    assert_eq!(d["range"]["start"]["column"], 10);
    assert_eq!(d["range"]["start"]["byte"], 13);
    // fmt reports the same place in characters.
    let t = TestDir::new();
    t.write("main.hcl", "locals 日本");
    let r = slipway_in(t.path(), ["fmt", "main.hcl"]);
    r.assert_no_crash().assert_code(1);
    assert!(r.stderr.contains("main.hcl:1:10: cannot format"), "{}", r.dump());
}

#[test]
fn validate_checks_the_backend_block_with_its_location() {
    let t = TestDir::new();
    t.write(
        "env/main.hcl",
        "slipway {\n  backend \"s3\" {\n    key    = \"prod/state.json\"\n    colour = \"blue\"\n  }\n}\n",
    );
    let r = slipway_in(t.path(), ["validate", "--json", "env"]);
    r.assert_no_crash().assert_code(1);
    let summaries = crate::util::summaries(&r.json());
    assert!(summaries.iter().any(|s| s.contains("needs `bucket`")), "{summaries:?}");
    assert!(summaries.iter().any(|s| s.contains("colour")), "{summaries:?}");
    let doc = r.json();
    let located = crate::util::errors(&doc)
        .iter()
        .all(|d| d["range"]["start"]["line"].as_u64().is_some_and(|l| l >= 2));
    assert!(located, "{}", r.stdout);
}

/// `slipway { extends = "…" }` (issue #17 item 5): the base's files are the environment's own
/// (its resources at root addresses, its module sources relative to the base), and a bad
/// `extends` is an error located at the attribute, with a snippet and a hint, exit code 1.
#[test]
fn validate_reads_the_base_an_environment_extends_and_locates_a_bad_extends() {
    let t = TestDir::new();
    t.write("environments/x/main.hcl", "slipway {\n  extends = \"../../modules/base\"\n}\n");
    t.write("environments/x/x.vars.hcl", "size = 3\n");
    t.write(
        "modules/base/main.hcl",
        "variable \"size\" {\n  type = number\n}\n\nresource \"random_id\" \"x\" {\n  count       = var.size\n  byte_length = 4\n}\n\nmodule \"child\" {\n  source = \"../child\"\n}\n",
    );
    t.write("modules/child/main.hcl", "resource \"random_id\" \"c\" {\n  byte_length = 4\n}\n");
    let env = t.join("environments/x");
    slipway_in(&env, ["validate", "."]).assert_code(0);
    let graph = slipway_in(&env, ["graph", "--format", "json", "."]);
    graph.assert_code(0);
    let mut addresses: Vec<String> = graph.json()["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n["address"].as_str().map(str::to_string))
        .filter(|a| a.contains("random_id"))
        .collect();
    addresses.sort();
    assert_eq!(
        addresses,
        ["module.child.random_id.c", "random_id.x[0]", "random_id.x[1]", "random_id.x[2]"],
        "the base's resources at the environment's root, sized by its vars file"
    );

    t.write("environments/x/main.hcl", "slipway {\n  extends = \"../../modules/nope\"\n}\n");
    let human = slipway_in(&env, ["validate", "."]);
    human.assert_no_crash().assert_code(1);
    for want in [
        "main.hcl:2:13",
        "the base \"../../modules/nope\" is not a directory",
        "extends = \"../../modules/nope\"",
        "relative to this file",
    ] {
        assert!(human.stderr.contains(want), "{want}: {}", human.dump());
    }
    let json = slipway_in(&env, ["validate", "--json", "."]);
    json.assert_code(1);
    let doc = json.json();
    let d = errors(&doc)[0];
    assert_eq!(d["range"]["filename"], "main.hcl");
    assert_eq!(d["range"]["start"]["line"], 2);
    assert_eq!(d["range"]["start"]["column"], 13);
    assert_eq!(d["snippet"], "  extends = \"../../modules/nope\"");
}

/// The goal, kept: each environment is a short list of inputs, every block is in the
/// base (`modules/environment`), and both validate.
#[test]
fn the_environments_are_inputs_of_the_base_with_no_block_of_their_own() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for name in ["dev", "prod"] {
        let env = repo.join("environments").join(name);
        let mut lines = 0;
        for entry in std::fs::read_dir(&env).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            lines += text.lines().count();
            let blocks: Vec<&str> = text
                .lines()
                .filter(|l| !l.starts_with(' ') && !l.starts_with('#') && l.ends_with('{'))
                .collect();
            let file = path.file_name().unwrap().to_string_lossy();
            if file.ends_with(".vars.hcl") {
                assert!(blocks.is_empty(), "{name}/{file}: {blocks:?}");
            } else {
                assert_eq!(blocks, ["slipway {"], "{name}/{file}: only the settings");
                assert!(
                    text.contains("extends          = \"../../modules/environment\""),
                    "{name}/{file}"
                );
            }
        }
        assert!(lines < 80, "environments/{name}: {lines} lines");
        slipway_in(&env, ["validate", "."]).assert_code(0);
    }
}
