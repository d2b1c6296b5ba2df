//! `slipway fmt`: rewrites into the canonical layout, is idempotent, `--check` reports without
//! writing, and a file that does not parse is never touched.

use crate::util::{TestDir, data_dir, slipway_in};

const MESSY: &str = "resource   \"random_id\"    \"a\"{\n      byte_length=4\n  prefix = \"x\" # keep me   \n\n\n\n}\n\n\n\nlocals {\na = 1\n    long_name   =   \"v\"\n}";

const CANONICAL: &str = "resource \"random_id\" \"a\" {\n  byte_length = 4\n  prefix      = \"x\" # keep me\n}\n\nlocals {\n  a         = 1\n  long_name = \"v\"\n}\n";

#[test]
fn fmt_rewrites_a_messy_file_into_canonical_form_and_lists_it() {
    let t = TestDir::new();
    t.write("env/main.hcl", MESSY);
    let r = slipway_in(t.path(), ["fmt", "env"]);
    r.assert_no_crash().assert_code(0);
    assert_eq!(t.read_string("env/main.hcl"), CANONICAL);
    assert_eq!(r.stdout.trim(), "env/main.hcl", "{}", r.dump());
}

#[test]
fn fmt_second_run_changes_nothing() {
    let t = TestDir::new();
    t.write("main.hcl", MESSY);
    slipway_in(t.path(), ["fmt", "."]).assert_code(0);
    let once = t.read("main.hcl");
    let r = slipway_in(t.path(), ["fmt", "."]);
    r.assert_code(0);
    assert_eq!(t.read("main.hcl"), once);
    assert!(r.stdout.is_empty(), "nothing should be listed: {}", r.dump());
}

#[test]
fn fmt_check_exits_3_when_unformatted_without_writing_and_0_when_formatted() {
    let t = TestDir::new();
    t.write("main.hcl", MESSY);
    let r = slipway_in(t.path(), ["fmt", "--check", "."]);
    r.assert_no_crash().assert_code(3);
    assert!(r.stdout.contains("main.hcl"), "{}", r.dump());
    assert_eq!(t.read_string("main.hcl"), MESSY, "--check must not write");
    // Terraform spelling too.
    slipway_in(t.path(), ["fmt", "-check", "."]).assert_code(3);

    t.write("main.hcl", CANONICAL);
    let r = slipway_in(t.path(), ["fmt", "--check", "."]);
    r.assert_code(0);
    assert!(r.stdout.is_empty(), "{}", r.dump());
}

#[test]
fn fmt_syntax_error_exits_1_and_leaves_the_file_byte_identical() {
    let t = TestDir::new();
    let broken = "resource \"random_id\" \"a\" {\n   byte_length =\n}\n";
    t.write("broken.hcl", broken);
    t.write("messy.hcl", MESSY);
    for args in [vec!["fmt", "."], vec!["fmt", "--check", "."], vec!["fmt", "broken.hcl"]] {
        let r = slipway_in(t.path(), &args);
        r.assert_no_crash().assert_code(1);
        assert!(r.stderr.contains("broken.hcl:"), "{args:?}: {}", r.dump());
        assert!(r.stderr.contains("cannot format"), "{args:?}: {}", r.dump());
        assert_eq!(t.read_string("broken.hcl"), broken, "{args:?} touched the file");
    }
    // The other file was still formatted by the plain run.
    assert_eq!(t.read_string("messy.hcl"), CANONICAL);
    // No temporary files left behind.
    let leftovers: Vec<_> = std::fs::read_dir(t.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn fmt_recurses_into_module_directories_and_skips_hidden_ones() {
    let t = TestDir::new();
    t.write("env/modules/m/main.hcl", MESSY);
    t.write("env/.hidden/main.hcl", MESSY);
    t.write("env/notes.txt", MESSY);
    slipway_in(&t.join("env"), ["fmt"]).assert_code(0);
    assert_eq!(t.read_string("env/modules/m/main.hcl"), CANONICAL);
    assert_eq!(t.read_string("env/.hidden/main.hcl"), MESSY);
    assert_eq!(t.read_string("env/notes.txt"), MESSY);
}

#[test]
fn fmt_is_idempotent_on_every_valid_fixture_and_keeps_them_valid() {
    for name in crate::validate::FIXTURES {
        let t = TestDir::new();
        t.copy_dir(&data_dir().join("fixtures").join("valid").join(name), "env");
        slipway_in(t.path(), ["fmt", "env"]).assert_no_crash().assert_code(0);
        slipway_in(t.path(), ["fmt", "--check", "env"]).assert_code(0);
        slipway_in(&t.join("env"), ["validate", "."]).assert_code(0);
    }
}

#[test]
fn fmt_never_crashes_and_never_rewrites_malformed_corpus_files() {
    let dir = data_dir().join("corpus").join("malformed");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_none_or(|e| e != "hcl") {
            continue;
        }
        let original = std::fs::read(&p).unwrap();
        let t = TestDir::new();
        t.write("main.hcl", &original);
        let r = slipway_in(t.path(), ["fmt", "--check", "main.hcl"]);
        assert!(r.crash().is_none(), "{}: {}", p.display(), r.dump());
        assert!(matches!(r.code, Some(0 | 1 | 3)), "{}: {}", p.display(), r.dump());
        assert_eq!(t.read("main.hcl"), original, "{}: --check wrote", p.display());
        checked += 1;
    }
    assert!(checked > 100);
}
