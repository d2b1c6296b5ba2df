//! Differential test of the expression language against a real Terraform 1.0.3.
//!
//! `tests/terraform/accept.txt` holds expressions both must evaluate. Terraform evaluates all of
//! them in one `apply` of one configuration (one output per expression) and reports them with
//! `output -json`; slipway evaluates the same expressions in one `slipway console --json`
//! session over the same locals (`tests/terraform/fixture.tf`). Every result is compared by
//! value (numbers by their exact decimal text) and by type. `reject.txt` holds expressions both
//! must refuse. `differences.txt` lists the cases where slipway differs, each under its reason:
//! a listed case that starts agreeing fails the test too, so the list stays true.
//!
//! Terraform comes from `scripts/install-terraform` (`SLIPWAY_TERRAFORM`, set by `scripts/test`);
//! without it the test runs the script itself, and fails — never skips — if that fails.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::util::{TestDir, data_dir};

/// One expression of a corpus: its text and the line of the corpus file it starts on.
#[derive(Clone, Debug)]
struct Case {
    text: String,
    line: usize,
}

/// Splits a corpus: one expression per line, except that a line ending in a heredoc opener
/// (`<<EOT`, `<<-EOT`) continues to that heredoc's closing line. `#` lines are comments.
fn parse_corpus(text: &str) -> Vec<Case> {
    let mut out = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((i, l)) = lines.next() {
        if l.trim().is_empty() || l.trim_start().starts_with('#') {
            continue;
        }
        let mut case = l.to_string();
        // Corpus cases close their heredoc last: the delimiter line ends the case.
        if let Some(delim) = heredoc_opener(l) {
            for (_, next) in lines.by_ref() {
                case.push('\n');
                case.push_str(next);
                if next.trim() == delim {
                    break;
                }
            }
        }
        out.push(Case { text: case, line: i + 1 });
    }
    out
}

fn heredoc_opener(line: &str) -> Option<String> {
    let at = line.rfind("<<")?;
    let rest = line[at + 2..].trim_start_matches('-');
    let ok = !rest.is_empty()
        && rest.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && rest.starts_with(|c: char| c.is_ascii_alphabetic());
    ok.then(|| rest.to_string())
}

/// `differences.txt`: `@ reason` lines, each followed by the cases it explains (exact corpus
/// text; a multi-line case on one line, its line breaks written `\n`).
fn parse_differences(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut reason = String::new();
    for l in text.lines() {
        if let Some(r) = l.strip_prefix("@ ") {
            reason = r.trim().to_string();
        } else if !l.trim().is_empty() && !l.starts_with('#') {
            assert!(!reason.is_empty(), "differences.txt: case before any reason: {l}");
            out.insert(l.to_string(), reason.clone());
        }
    }
    out
}

/// The Terraform binary, installed once per test process (the tests run in parallel).
fn terraform() -> PathBuf {
    static BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(find_terraform).clone()
}

fn find_terraform() -> PathBuf {
    if let Some(p) = std::env::var_os("SLIPWAY_TERRAFORM").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/install-terraform");
    let out = Command::new(&script)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "Terraform 1.0.3 is required (scripts/install-terraform failed):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

fn tf(bin: &Path, dir: &Path) -> Command {
    let mut c = Command::new(bin);
    c.current_dir(dir)
        .env("TF_IN_AUTOMATION", "1")
        .env("CHECKPOINT_DISABLE", "1")
        .env_remove("TF_CLI_ARGS")
        .env("TF_DATA_DIR", dir.join(".terraform"));
    c
}

fn run_ok(mut c: Command, what: &str) -> String {
    let out = c.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// JSON with numbers kept as their exact text, so that `0.30000000000000004` and `0.3`, or
/// 155 digits and 17, never compare equal through an `f64`.
#[derive(Clone, Debug, PartialEq)]
enum J {
    Null,
    Bool(bool),
    Num(String),
    Str(String),
    Arr(Vec<J>),
    Obj(BTreeMap<String, J>),
}

impl std::fmt::Display for J {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            J::Null => f.write_str("null"),
            J::Bool(b) => write!(f, "{b}"),
            J::Num(n) => f.write_str(n),
            J::Str(s) => write!(f, "{s:?}"),
            J::Arr(a) => {
                f.write_str("[")?;
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            J::Obj(o) => {
                f.write_str("{")?;
                for (i, (k, v)) in o.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{k:?}:{v}")?;
                }
                f.write_str("}")
            }
        }
    }
}

struct P<'a> {
    s: &'a [u8],
    i: usize,
}

impl P<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }
    fn value(&mut self) -> J {
        self.ws();
        match self.s[self.i] {
            b'n' => {
                self.i += 4;
                J::Null
            }
            b't' => {
                self.i += 4;
                J::Bool(true)
            }
            b'f' => {
                self.i += 5;
                J::Bool(false)
            }
            b'"' => J::Str(self.string()),
            b'[' => {
                self.i += 1;
                let mut v = Vec::new();
                loop {
                    self.ws();
                    if self.s[self.i] == b']' {
                        self.i += 1;
                        break;
                    }
                    v.push(self.value());
                    self.ws();
                    if self.s[self.i] == b',' {
                        self.i += 1;
                    }
                }
                J::Arr(v)
            }
            b'{' => {
                self.i += 1;
                let mut m = BTreeMap::new();
                loop {
                    self.ws();
                    if self.s[self.i] == b'}' {
                        self.i += 1;
                        break;
                    }
                    let k = self.string();
                    self.ws();
                    self.i += 1; // ':'
                    let v = self.value();
                    m.insert(k, v);
                    self.ws();
                    if self.s[self.i] == b',' {
                        self.i += 1;
                    }
                }
                J::Obj(m)
            }
            _ => {
                let start = self.i;
                while self.i < self.s.len()
                    && matches!(self.s[self.i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                {
                    self.i += 1;
                }
                J::Num(String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
            }
        }
    }
    fn string(&mut self) -> String {
        // Delegate escapes to serde_json: find the closing quote, then decode that slice.
        let start = self.i;
        self.i += 1;
        while self.s[self.i] != b'"' {
            if self.s[self.i] == b'\\' {
                self.i += 1;
            }
            self.i += 1;
        }
        self.i += 1;
        serde_json::from_slice(&self.s[start..self.i]).expect("JSON string")
    }
}

fn parse_json(text: &str) -> J {
    P { s: text.as_bytes(), i: 0 }.value()
}

fn get<'a>(j: &'a J, key: &str) -> Option<&'a J> {
    match j {
        J::Obj(m) => m.get(key),
        _ => None,
    }
}

/// Runs `slipway console --json` over `env_dir`, one expression per case (each followed by a
/// blank line, which ends an incomplete expression), returning one result per case.
fn slipway_console(env_dir: &Path, cases: &[Case]) -> Vec<J> {
    let mut input = String::new();
    for c in cases {
        input.push_str(&c.text);
        input.push_str("\n\n");
    }
    let mut child = Command::new(crate::util::slipway_bin())
        .args(["console", "--json"])
        .arg(env_dir)
        .env("NO_COLOR", "1")
        .env("SLIPWAY_STATE_DIR", env_dir.join("state"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn slipway console");
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
    });
    let out = child.wait_with_output().expect("slipway console");
    writer.join().expect("stdin writer");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "slipway console panicked:\n{stderr}");
    let results: Vec<J> = stdout.lines().map(parse_json).collect();
    assert_eq!(
        results.len(),
        cases.len(),
        "slipway console answered {} times for {} expressions:\n{stdout}\n{stderr}",
        results.len(),
        cases.len()
    );
    results
}

/// The files the corpus's file functions read, beside each configuration.
fn write_data_files(dir: &TestDir, sub: &str) {
    dir.write(format!("{sub}/hello.txt"), "hello\n");
    dir.write(format!("{sub}/greet.tmpl"), "Hello ${name}!%{ for i in items } ${i}%{ endfor }\n");
}

fn fixture() -> String {
    std::fs::read_to_string(data_dir().join("terraform/fixture.tf")).expect("fixture.tf")
}

fn corpus(name: &str) -> Vec<Case> {
    let text = std::fs::read_to_string(data_dir().join("terraform").join(name)).expect(name);
    parse_corpus(&text)
}

/// The cases whose results can never be byte-equal between two correct implementations, and
/// the rule each is compared by instead (`None`: compared by value). Every rule is strict
/// enough to fail on a wrong implementation:
/// - `bcrypt(…)` draws a random salt. Both hashes must have Go's form (`$2a$`, the same
///   two-digit cost, 53 characters of bcrypt's base64) and both must verify the password (the
///   case's first string literal) with an independent verifier, libxcrypt's `crypt` (through
///   the Python of Terraform's venv).
/// - `base64gzip(…)`: gzip framing is fixed but a deflate encoder may choose other matches
///   for the same text (Go's `compress/flate` and miniz do for repetitive text). The 10-byte
///   header, the 8-byte trailer (CRC-32 and length) and Go's stream ending (a sync flush, then
///   a final empty stored block) must be byte-equal, and the deflate data must inflate to the
///   same bytes. Short inputs (`"hello"`, `""`) come out byte-equal anyway.
fn compare_by_rule(case: &str, theirs: &J, ours: &J) -> Option<Result<(), String>> {
    let (J::Str(t), J::Str(o)) = (theirs, ours) else {
        return (case.starts_with("bcrypt(") || case.starts_with("base64gzip("))
            .then(|| Err(format!("expected two strings: terraform {theirs}, slipway {ours}")));
    };
    if case.starts_with("bcrypt(") {
        let password = case.split('"').nth(1).unwrap_or_default();
        let shape = |h: &str| -> Option<String> {
            let cost = h.strip_prefix("$2a$")?.get(..2)?.to_string();
            let rest = h.get(6..)?.strip_prefix('$')?;
            let ok = cost.bytes().all(|b| b.is_ascii_digit())
                && rest.len() == 53
                && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'/');
            ok.then_some(cost)
        };
        return Some(match (shape(t), shape(o)) {
            (Some(a), Some(b)) if a == b => {
                if !bcrypt_verifies(password, t) {
                    Err(format!("libxcrypt does not verify Terraform's hash {t}"))
                } else if !bcrypt_verifies(password, o) {
                    Err(format!("libxcrypt does not verify slipway's hash {o}"))
                } else {
                    Ok(())
                }
            }
            _ => Err(format!("bcrypt form or cost: terraform {t}, slipway {o}")),
        });
    }
    if case.starts_with("base64gzip(") {
        return Some(compare_gzip(t, o));
    }
    None
}

fn compare_gzip(t: &str, o: &str) -> Result<(), String> {
    use base64::Engine as _;
    let dec = |s: &str| base64::engine::general_purpose::STANDARD.decode(s).ok();
    let (Some(t), Some(o)) = (dec(t), dec(o)) else {
        return Err("not base64".to_string());
    };
    const CLOSE: &[u8] = &[0, 0, 0xff, 0xff, 1, 0, 0, 0xff, 0xff];
    let parts = |g: &[u8]| -> Option<(Vec<u8>, Vec<u8>, Vec<u8>)> {
        let n = g.len().checked_sub(8)?;
        let body = g.get(10..n)?;
        if !body.ends_with(CLOSE) {
            return None;
        }
        let data = miniz_oxide::inflate::decompress_to_vec(body).ok()?;
        Some((g[..10].to_vec(), g[n..].to_vec(), data))
    };
    match (parts(&t), parts(&o)) {
        (Some(a), Some(b)) if a == b => Ok(()),
        (a, b) => Err(format!(
            "gzip header/trailer/stream end/inflated data differ: terraform {a:?}, slipway {b:?}"
        )),
    }
}

/// Whether libxcrypt's `crypt(password, hash)` reproduces `hash` — bcrypt verification by a
/// second implementation. Python's `crypt` module wraps it; the Python is the venv that
/// `scripts/install-terraform` made (Terraform's binary lives inside it).
fn bcrypt_verifies(password: &str, hash: &str) -> bool {
    let bin = terraform();
    let python = bin
        .ancestors()
        .map(|d| d.join("bin/python3"))
        .find(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("python3"));
    let out = Command::new(&python)
        .args([
            "-W",
            "ignore",
            "-c",
            "import crypt, sys; print(crypt.crypt(sys.argv[1], sys.argv[2]) == sys.argv[2])",
            password,
            hash,
        ])
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", python.display()));
    assert!(
        out.status.success(),
        "bcrypt verifier ({}) failed:\n{}",
        python.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim() == "True"
}

#[test]
fn terraform_diff_expressions_agree_with_terraform_1_0_3() {
    let bin = terraform();
    let cases = corpus("accept.txt");
    assert!(cases.len() >= 400, "the corpus has only {} cases", cases.len());
    let differences = parse_differences(
        &std::fs::read_to_string(data_dir().join("terraform/differences.txt"))
            .expect("differences.txt"),
    );

    // Terraform: one configuration, one output per case, one apply.
    let dir = TestDir::new();
    let mut main = fixture();
    for (i, c) in cases.iter().enumerate() {
        main.push_str(&format!("output \"c{i:04}\" {{\n  value = {}\n}}\n", c.text));
    }
    dir.write("tf/main.tf", &main);
    write_data_files(&dir, "tf");
    let tfdir = dir.join("tf");
    let mut init = tf(&bin, &tfdir);
    init.args(["init", "-no-color", "-input=false"]);
    run_ok(init, "terraform init");
    let mut apply = tf(&bin, &tfdir);
    apply.args(["apply", "-auto-approve", "-no-color", "-input=false"]);
    run_ok(apply, "terraform apply");
    let mut output = tf(&bin, &tfdir);
    output.args(["output", "-json", "-no-color"]);
    let tf_out = parse_json(&run_ok(output, "terraform output"));

    // slipway: the same locals, one console session.
    dir.write("env/fixture.hcl", fixture());
    write_data_files(&dir, "env");
    let ours = slipway_console(&dir.join("env"), &cases);

    let mut disagree = Vec::new();
    let mut listed_but_agree = Vec::new();
    let mut agree = 0;
    let mut ruled = 0;
    for (i, (c, mine)) in cases.iter().zip(&ours).enumerate() {
        // Terraform leaves null outputs out of `output -json`.
        let theirs = get(&tf_out, &format!("c{i:04}"));
        let (tv, tt) = match theirs {
            Some(t) => (get(t, "value").cloned().unwrap_or(J::Null), get(t, "type").cloned()),
            None => (J::Null, None),
        };
        let verdict = match get(mine, "error") {
            Some(e) => Err(format!("slipway: error {e}")),
            None => {
                let mv = get(mine, "value").cloned().unwrap_or(J::Null);
                let mt = get(mine, "type").cloned();
                let by_rule = compare_by_rule(&c.text, &tv, &mv);
                if by_rule.is_some() {
                    ruled += 1;
                }
                if let Some(Err(why)) = by_rule {
                    Err(why)
                } else if by_rule.is_none() && mv != tv {
                    Err(format!("value: terraform {tv}, slipway {mv}"))
                } else if tt.is_some() && mt != tt {
                    Err(format!(
                        "type: terraform {}, slipway {}",
                        tt.unwrap_or(J::Null),
                        mt.unwrap_or(J::Null)
                    ))
                } else {
                    Ok(())
                }
            }
        };
        let key = c.text.replace('\n', "\\n");
        match (verdict, differences.contains_key(&key)) {
            (Ok(()), false) => agree += 1,
            (Ok(()), true) => listed_but_agree.push(format!("accept.txt:{}: {key}", c.line)),
            (Err(_), true) => {}
            (Err(why), false) => {
                disagree.push(format!("accept.txt:{}: {}\n    {why}", c.line, c.text))
            }
        }
    }
    eprintln!(
        "terraform_diff: {} cases, {agree} agree ({ruled} of them by a stated rule, see \
         compare_by_rule), {} listed differences, {} unexplained",
        cases.len(),
        cases.len() - agree - disagree.len() - listed_but_agree.len(),
        disagree.len()
    );
    assert!(
        disagree.is_empty() && listed_but_agree.is_empty(),
        "{} cases differ from Terraform 1.0.3 and are not in differences.txt:\n{}\n\n\
         {} cases in differences.txt now agree (remove them):\n{}",
        disagree.len(),
        disagree.join("\n"),
        listed_but_agree.len(),
        listed_but_agree.join("\n")
    );
}

#[test]
fn terraform_diff_both_reject_the_invalid_corpus() {
    let bin = terraform();
    let cases = corpus("reject.txt");
    assert!(cases.len() >= 40, "the reject corpus has only {} cases", cases.len());
    let dir = TestDir::new();
    dir.write("tf/main.tf", fixture());
    let tfdir = dir.join("tf");
    let mut init = tf(&bin, &tfdir);
    init.args(["init", "-no-color", "-input=false"]);
    run_ok(init, "terraform init");

    // Terraform's console stops at its first error, so each case is its own (short) process;
    // two threads keep the whole corpus to a few seconds.
    let chunks: Vec<Vec<(usize, Case)>> = {
        let mut v = vec![Vec::new(), Vec::new()];
        for (i, c) in cases.iter().cloned().enumerate() {
            v[i % 2].push((i, c));
        }
        v
    };
    let accepted: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = chunks
            .iter()
            .map(|chunk| {
                let (bin, tfdir) = (&bin, &tfdir);
                s.spawn(move || {
                    let mut bad = Vec::new();
                    for (_, c) in chunk {
                        let mut cmd = tf(bin, tfdir);
                        cmd.args(["console", "-no-color"])
                            .stdin(Stdio::piped())
                            .stdout(Stdio::piped())
                            .stderr(Stdio::piped());
                        let mut child = cmd.spawn().expect("terraform console");
                        let mut stdin = child.stdin.take().expect("stdin");
                        let _ = stdin.write_all(format!("{}\n", c.text).as_bytes());
                        drop(stdin);
                        let out = child.wait_with_output().expect("terraform console");
                        if out.status.success() {
                            bad.push(format!(
                                "reject.txt:{}: terraform accepts {} = {}",
                                c.line,
                                c.text,
                                String::from_utf8_lossy(&out.stdout).trim()
                            ));
                        }
                    }
                    bad
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("thread")).collect()
    });

    dir.write("env/fixture.hcl", fixture());
    let ours = slipway_console(&dir.join("env"), &cases);
    let mut ours_accepted = Vec::new();
    for (c, r) in cases.iter().zip(&ours) {
        if get(r, "error").is_none() {
            ours_accepted.push(format!("reject.txt:{}: slipway accepts {} = {r}", c.line, c.text));
        }
    }
    assert!(
        accepted.is_empty() && ours_accepted.is_empty(),
        "cases not rejected:\n{}\n{}",
        accepted.join("\n"),
        ours_accepted.join("\n")
    );
}

#[test]
fn terraform_diff_corpus_parser_reads_heredoc_cases_whole() {
    let cases = parse_corpus("1 + 1\n<<EOT\na\n\nb\nEOT\n# comment\n<<-X\n  y\n  X\n\"z\"\n");
    let texts: Vec<&str> = cases.iter().map(|c| c.text.as_str()).collect();
    assert_eq!(texts, ["1 + 1", "<<EOT\na\n\nb\nEOT", "<<-X\n  y\n  X", "\"z\""]);
}

#[test]
fn terraform_diff_comparison_rules_reject_wrong_results() {
    // Terraform 1.0.3's bcrypt("secret") and base64gzip("hello") / base64gzip("").
    let hash = J::Str("$2a$10$Cp/9NUQRqDfSnhJK0c2u3eU/pvK4.e2NggNEm0OuVr.Qsk77nbWv6".into());
    assert!(matches!(compare_by_rule(r#"bcrypt("secret")"#, &hash, &hash), Some(Ok(()))));
    // Another password, another cost, a malformed hash: each fails.
    assert!(matches!(compare_by_rule(r#"bcrypt("other")"#, &hash, &hash), Some(Err(_))));
    let cost4 = J::Str("$2a$04$iwPBs.t4uh/uEULZzQBYneVuhbII25BDvP6XFwBiZWwQPIFVLvOja".into());
    assert!(matches!(compare_by_rule(r#"bcrypt("secret")"#, &hash, &cost4), Some(Err(_))));
    assert!(matches!(
        compare_by_rule(r#"bcrypt("secret")"#, &hash, &J::Str("$2a$10$short".into())),
        Some(Err(_))
    ));
    let hello = J::Str("H4sIAAAAAAAA/8pIzcnJBwAAAP//AQAA//+GphA2BQAAAA==".into());
    let empty = J::Str("H4sIAAAAAAAA/wAAAP//AQAA//8AAAAAAAAAAA==".into());
    assert!(matches!(compare_by_rule(r#"base64gzip("hello")"#, &hello, &hello), Some(Ok(()))));
    assert!(matches!(compare_by_rule(r#"base64gzip("hello")"#, &hello, &empty), Some(Err(_))));
    assert!(compare_by_rule("upper(\"a\")", &hello, &hello).is_none());
}
