//! The expression language through the binary: one regression test per family of differences
//! the Terraform differential test (`terraform_diff.rs`) found, `slipway console`, and the types
//! `slipway output --json` reports.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::util::{TestDir, slipway_in};

/// Runs `slipway console [--json] DIR` with `input` on standard input.
fn console(dir: &std::path::Path, json: bool, input: &str) -> (i32, String, String) {
    let mut cmd = Command::new(crate::util::slipway_bin());
    cmd.arg("console");
    if json {
        cmd.arg("--json");
    }
    let mut child = cmd
        .arg(dir)
        .env("NO_COLOR", "1")
        .env("SLIPWAY_STATE_DIR", dir.join("state"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn slipway console");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(input.as_bytes()).expect("write stdin");
    drop(stdin);
    let out = child.wait_with_output().expect("slipway console");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json_lines(stdout: &str) -> Vec<serde_json::Value> {
    stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
}

/// The silent loss of issue #12: `<<EOT` followed at once by `EOT` made the parser read on to
/// the next `EOT`, and everything between — here a whole output block — vanished.
#[test]
fn empty_heredoc_does_not_swallow_the_blocks_after_it() {
    let t = TestDir::new();
    t.write(
        "env/main.hcl",
        "locals {\n  empty = <<EOT\nEOT\n  after = \"kept\"\n}\n\noutput \"empty\" {\n  value = local.empty\n}\n\noutput \"after\" {\n  value = local.after\n}\n\noutput \"indented\" {\n  value = <<-EOT\n  EOT\n}\n\noutput \"last\" {\n  value = <<EOT\nx\nEOT\n}\n",
    );
    let env = t.join("env");
    let apply = slipway_in(&env, ["apply", ".", "-auto-approve", "--state-dir", "state"]);
    apply.assert_no_crash().assert_code(0);
    let out = slipway_in(&env, ["output", "--json", "--state-dir", "state"]);
    out.assert_code(0);
    let doc = out.json();
    assert_eq!(doc["empty"]["value"], "", "{}", out.dump());
    assert_eq!(doc["after"]["value"], "kept", "{}", out.dump());
    assert_eq!(doc["indented"]["value"], "", "{}", out.dump());
    assert_eq!(doc["last"]["value"], "x\n", "{}", out.dump());
}

/// `for k, v in` a set binds the element to both names in plan and apply too (the graph walk
/// knows a set from a list by the local's expression or the variable's type), not an index.
#[test]
fn for_over_a_set_binds_elements_in_apply() {
    let t = TestDir::new();
    t.write(
        "env/main.hcl",
        r#"
variable "zones" {
  type    = set(string)
  default = ["b", "a"]
}

locals {
  names      = toset(["x", "y"])
  from_local = { for k, v in local.names : k => v }
  from_var   = [for k, v in var.zones : "${k}=${v}"]
  from_list  = [for k, v in ["p", "q"] : "${k}=${v}"]
}

resource "random_id" "by_zone" {
  for_each    = { for k, v in var.zones : k => v }
  byte_length = 2
}

output "from_local" {
  value = local.from_local
}

output "from_var" {
  value = local.from_var
}

output "from_list" {
  value = local.from_list
}

output "ids" {
  value = sort(keys(random_id.by_zone))
}
"#,
    );
    let env = t.join("env");
    slipway_in(&env, ["apply", ".", "-auto-approve", "--state-dir", "state"])
        .assert_no_crash()
        .assert_code(0);
    let out = slipway_in(&env, ["output", "--json", "--state-dir", "state"]);
    out.assert_code(0);
    let doc = out.json();
    assert_eq!(
        doc["from_local"]["value"],
        serde_json::json!({"x": "x", "y": "y"}),
        "{}",
        out.dump()
    );
    assert_eq!(doc["from_var"]["value"], serde_json::json!(["a=a", "b=b"]), "{}", out.dump());
    // A list still binds its index.
    assert_eq!(doc["from_list"]["value"], serde_json::json!(["0=p", "1=q"]), "{}", out.dump());
    assert_eq!(doc["ids"]["value"], serde_json::json!(["a", "b"]), "{}", out.dump());
}

#[test]
fn unterminated_heredoc_is_an_error_with_a_location() {
    let t = TestDir::new();
    t.write("env/main.hcl", "output \"x\" {\n  value = <<EOT\nnever closed\n}\n");
    let run = slipway_in(&t.join("env"), ["validate", "."]);
    run.assert_no_crash().assert_code(1);
    assert!(run.stderr.contains("main.hcl:"), "{}", run.dump());
}

#[test]
fn console_evaluates_variables_locals_and_functions_from_stdin() {
    let t = TestDir::new();
    t.write(
        "env/main.hcl",
        "variable \"n\" {\n  type    = number\n  default = 2\n}\nlocals {\n  words = [\"b\", \"a\"]\n  s     = toset(local.words)\n}\n",
    );
    let env = t.join("env");
    let (code, out, err) = console(
        &env,
        false,
        "var.n * 21\n\nsort(local.words)\n[for k, v in local.s : k]\n<<EOT\nmulti ${var.n}\nEOT\n",
    );
    assert_eq!(code, 0, "{out}\n{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.first(), Some(&"42"), "{out}");
    assert!(out.contains("\"a\""), "{out}");
    assert!(out.contains("multi 2"), "{out}");
    // An error is reported with its location and the console goes on; the exit code says so.
    let (code, out, err) = console(&env, true, "local.nope\n1 + 1\n");
    assert_eq!(code, 1, "{out}\n{err}");
    let docs = json_lines(&out);
    assert_eq!(docs.len(), 2, "{out}");
    assert!(docs[0]["error"].as_str().is_some_and(|e| e.contains("<console:1>:1:1")), "{out}");
    assert_eq!(docs[1]["value"], 2);
    assert_eq!(docs[1]["type"], "number");
}

#[test]
fn console_reads_resources_from_state() {
    let t = TestDir::new();
    t.write("env/main.hcl", "resource \"random_id\" \"x\" {\n  byte_length = 4\n}\n");
    let env = t.join("env");
    slipway_in(&env, ["apply", ".", "-auto-approve", "--state-dir", "state"]).assert_code(0);
    let (code, out, err) = console(&env, true, "length(random_id.x.hex)\n");
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(json_lines(&out)[0]["value"], 8, "{out}");
}

/// Families of differences, each checked through the console (types as Terraform reports them).
#[test]
fn language_regressions_from_the_terraform_differential_test() {
    let t = TestDir::new();
    t.write(
        "env/main.hcl",
        "locals {\n  n   = 5\n  set = toset([\"b\", \"a\"])\n  l   = [1, 2]\n}\n",
    );
    let cases: &[(&str, serde_json::Value, serde_json::Value)] = &[
        // A single interpolation is the value itself, with its own type.
        ("\"${local.n}\"", serde_json::json!(5), serde_json::json!("number")),
        (
            "\"${local.l}\"",
            serde_json::json!([1, 2]),
            serde_json::json!(["tuple", ["number", "number"]]),
        ),
        // Escapes inside template directives are decoded.
        (
            "\"%{if true}a\\tb\\u00e9%{endif}\"",
            serde_json::json!("a\tbé"),
            serde_json::json!("string"),
        ),
        (
            "\"%{for x in [1]}\\\"${x}\\\"%{endfor}\"",
            serde_json::json!("\"1\""),
            serde_json::json!("string"),
        ),
        // `for k, v` over a set binds the element to both.
        (
            "[for k, v in local.set : k]",
            serde_json::json!(["a", "b"]),
            serde_json::json!(["tuple", ["string", "string"]]),
        ),
        // Go's JSON escaping.
        (
            "jsonencode(\"<a&b>\")",
            serde_json::json!("\"\\u003ca\\u0026b\\u003e\""),
            serde_json::json!("string"),
        ),
        // NFC and grapheme clusters.
        ("\"cafe\\u0301\" == \"caf\\u00e9\"", serde_json::json!(true), serde_json::json!("bool")),
        ("length(\"cafe\\u0301\")", serde_json::json!(4), serde_json::json!("number")),
        ("strrev(\"cafe\\u0301\")", serde_json::json!("éfac"), serde_json::json!("string")),
        // Functions that were missing.
        ("regex(\"[a-z]+\", \"12ab3\")", serde_json::json!("ab"), serde_json::json!("string")),
        (
            "replace(\"a1b22\", \"/[0-9]+/\", \"#\")",
            serde_json::json!("a#b#"),
            serde_json::json!("string"),
        ),
        (
            "md5(\"hello\")",
            serde_json::json!("5d41402abc4b2a76b9719d911017c592"),
            serde_json::json!("string"),
        ),
        (
            "uuidv5(\"dns\", \"example.com\")",
            serde_json::json!("cfbff0d1-9375-5685-968c-48ce8b15ae17"),
            serde_json::json!("string"),
        ),
        ("parseint(\"ff\", 16)", serde_json::json!(255), serde_json::json!("number")),
        // Collection types.
        ("tolist([1])", serde_json::json!([1]), serde_json::json!(["list", "number"])),
        ("toset([\"a\"])", serde_json::json!(["a"]), serde_json::json!(["set", "string"])),
        ("tomap({a = 1})", serde_json::json!({"a": 1}), serde_json::json!(["map", "number"])),
    ];
    let input: String = cases.iter().map(|(e, _, _)| format!("{e}\n")).collect();
    let (code, out, err) = console(&t.join("env"), true, &input);
    assert_eq!(code, 0, "{out}\n{err}");
    let docs = json_lines(&out);
    assert_eq!(docs.len(), cases.len(), "{out}");
    for ((expr, value, ty), doc) in cases.iter().zip(&docs) {
        assert_eq!(&doc["value"], value, "{expr}: {doc}");
        assert_eq!(&doc["type"], ty, "{expr}: {doc}");
    }
}

#[test]
fn output_json_reports_terraform_types() {
    let t = TestDir::new();
    t.write(
        "env/main.hcl",
        "locals {\n  names = [\"a\", \"b\"]\n}\noutput \"list\" {\n  value = tolist(local.names)\n}\noutput \"tuple\" {\n  value = local.names\n}\noutput \"set\" {\n  value = toset(local.names)\n}\noutput \"map\" {\n  value = tomap({ a = 1 })\n}\noutput \"object\" {\n  value = { a = 1, b = \"x\" }\n}\noutput \"secret\" {\n  value     = \"s\"\n  sensitive = true\n}\n",
    );
    let env = t.join("env");
    slipway_in(&env, ["apply", ".", "-auto-approve", "--state-dir", "state"]).assert_code(0);
    let out = slipway_in(&env, ["output", "--json", "--state-dir", "state"]);
    out.assert_code(0);
    let doc = out.json();
    assert_eq!(doc["list"]["type"], serde_json::json!(["list", "string"]), "{}", out.dump());
    assert_eq!(doc["tuple"]["type"], serde_json::json!(["tuple", ["string", "string"]]));
    assert_eq!(doc["set"]["type"], serde_json::json!(["set", "string"]));
    assert_eq!(doc["map"]["type"], serde_json::json!(["map", "number"]));
    assert_eq!(
        doc["object"]["type"],
        serde_json::json!(["object", {"a": "number", "b": "string"}])
    );
    assert_eq!(doc["secret"]["type"], "string");
    assert_eq!(doc["secret"]["value"], serde_json::Value::Null);
    assert_eq!(doc["secret"]["sensitive"], true);
}

/// Numbers are exact through state, `output --json` and the next plan: an integer above 2^53,
/// a decimal fraction and 1/3 at Terraform's 512 bits used to pass through an `f64` there
/// (9007199254740993 came back as …992, and 1/3 as 17 digits, so the next plan saw a change).
#[test]
fn numbers_are_exact_in_state_output_json_and_the_next_plan() {
    let t = TestDir::new();
    t.write(
        "env/main.hcl",
        r#"locals {
  big   = 9007199254740993
  tenth = 0.1
  third = 1 / 3
  huge  = 18446744073709551617 * 10
}
resource "random_id" "r" {
  byte_length = 4
  keepers     = { big = local.big, tenth = local.tenth }
}
output "big" {
  value = local.big
}
output "tenth" {
  value = local.tenth
}
output "third" {
  value = local.third
}
output "huge" {
  value = local.huge
}
output "mixed" {
  value = [local.tenth, local.big, { n = local.third }]
}
output "kept" {
  value = random_id.r.keepers
}
"#,
    );
    let env = t.join("env");
    slipway_in(&env, ["apply", ".", "-auto-approve", "--state-dir", "state"]).assert_code(0);
    // Terraform 1.0.3's rendering of 1/3 (`terraform console`).
    let third = format!("0.{}5", "3".repeat(154));
    let out = slipway_in(&env, ["output", "--json", "--state-dir", "state"]);
    out.assert_code(0);
    let text = out.dump();
    for want in [
        "\"value\": 9007199254740993".to_string(),
        "\"value\": 0.1".to_string(),
        format!("\"value\": {third}"),
        "\"value\": 184467440737095516170".to_string(),
        format!("\"n\": {third}"),
        "\"big\": \"9007199254740993\"".to_string(),
        "\"tenth\": \"0.1\"".to_string(),
    ] {
        assert!(text.contains(&want), "missing {want} in:\n{text}");
    }
    // The state (snapshot and journal) holds the exact texts.
    fn read_all(dir: &std::path::Path, out: &mut String) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                read_all(&e.path(), out);
            } else {
                out.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
            }
        }
    }
    let mut state = String::new();
    read_all(&env.join("state"), &mut state);
    assert!(!state.is_empty(), "no state under {}", env.display());
    assert!(state.contains("9007199254740993"), "state:\n{state}");
    assert!(state.contains(&third), "state:\n{state}");
    // And the next plan sees no change.
    slipway_in(&env, ["plan", ".", "--state-dir", "state", "--detailed-exitcode"]).assert_code(0);
}
