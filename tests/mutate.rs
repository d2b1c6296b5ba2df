//! Mutation fuzzing on stable Rust, deterministic, in CI: every valid fixture file and every
//! corpus file is mutated (bit flips, deletions, duplications, splices of HCL tokens such as
//! `${`, `%{`, `<<EOF`, `[*]`, `...`, `=>`, `?`, and of other inputs, odd Unicode) and run
//! in-process through load → static graph → walk → diagnostic rendering, under
//! `catch_unwind`. Any panic fails the test; the input is saved and printed.
//!
//! `SLIPWAY_MUTATE_ITERATIONS` and `SLIPWAY_MUTATE_SEED` override the defaults for a longer or
//! different local run; CI uses the defaults, so a failure reproduces exactly.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use slipway::environment::Environment;
use slipway::graph::walk::UnknownComputed;

use crate::util::{TestDir, data_dir};

const DEFAULT_ITERATIONS: usize = 12_000;
const DEFAULT_SEED: u64 = 0x5117_3a7e_c0ff_ee01;
/// An input slower than this is reported like a panic (a hang in the making).
const SLOW: Duration = Duration::from_secs(10);

const TOKENS: &[&str] = &[
    "${",
    "}",
    "%{",
    "%{ if true }",
    "%{ endif }",
    "%{ for x in [1] }",
    "%{ endfor }",
    "<<EOF\n",
    "\nEOF\n",
    "<<-EOT\n",
    "[*]",
    ".*",
    "...",
    "=>",
    "?",
    ":",
    "=",
    "==",
    "!",
    "&&",
    "||",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    "\"",
    "\\",
    "\\u",
    "#",
    "//",
    "/*",
    "*/",
    "\n",
    "\r\n",
    "\t",
    ",",
    ".",
    "-",
    "1e400",
    "0x",
    "-0",
    "99999999999999999999",
    "null",
    "true",
    "count.index",
    "each.key",
    "each.value",
    "self",
    "var.",
    "local.",
    "module.",
    "data.",
    "path.module",
    "random_id.a",
    "for",
    "in",
    "if",
    "dynamic",
    "content",
    "depends_on",
    "count",
    "for_each",
    "lifecycle",
    "provider",
    "module",
    "resource",
    "variable",
    "output",
    "locals",
    "source",
    "\"./m\"",
    "file(\"x\")",
    "templatefile(\"t\", {})",
    "range(1e9)",
    "upper(",
    "sensitive(",
    "\u{feff}",
    "\u{0}",
    "\u{200b}",
    "é",
    "日本",
    "\u{1F600}",
    "\u{202e}",
    "\u{fffd}",
];

/// A small deterministic PRNG (xorshift64*): no dependency, same sequence everywhere.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15 | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next() % n as u64) as usize }
    }
}

/// A seed input: the files of an environment, and which one to mutate.
#[derive(Clone)]
struct Seed {
    name: String,
    files: Vec<(PathBuf, Vec<u8>)>,
    target: usize,
}

fn read_tree(root: &Path, rel: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
    let mut entries: Vec<_> =
        std::fs::read_dir(root.join(rel)).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for p in entries {
        let r = rel.join(p.file_name().unwrap());
        if p.is_dir() {
            read_tree(root, &r, out);
        } else {
            out.push((r, std::fs::read(&p).unwrap()));
        }
    }
}

/// Every valid fixture (one seed per `.hcl` file in it) and every corpus case.
fn seeds() -> Vec<Seed> {
    let mut seeds = Vec::new();
    let add_dir = |seeds: &mut Vec<Seed>, name: String, dir: &Path| {
        let mut files = Vec::new();
        read_tree(dir, Path::new(""), &mut files);
        for (i, (p, _)) in files.iter().enumerate() {
            if p.extension().is_some_and(|e| e == "hcl" || e == "tftpl") {
                seeds.push(Seed {
                    name: format!("{name}/{}", p.display()),
                    files: files.clone(),
                    target: i,
                });
            }
        }
    };
    let valid = data_dir().join("fixtures").join("valid");
    for name in crate::validate::FIXTURES {
        add_dir(&mut seeds, format!("valid/{name}"), &valid.join(name));
    }
    for sub in ["malformed", "accepted"] {
        let dir = data_dir().join("corpus").join(sub);
        let mut entries: Vec<_> =
            std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
        entries.sort();
        for p in entries {
            let name = format!("{sub}/{}", p.file_name().unwrap().to_string_lossy());
            if p.is_dir() {
                add_dir(&mut seeds, name, &p);
            } else if p.extension().is_some_and(|e| e == "hcl") {
                seeds.push(Seed {
                    name,
                    files: vec![(PathBuf::from("main.hcl"), std::fs::read(&p).unwrap())],
                    target: 0,
                });
            }
        }
    }
    seeds
}

/// Applies 1–4 random mutations; `other` is another input to splice from.
fn mutate(input: &[u8], other: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut b = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = b.len();
        let at = rng.below(len + 1);
        match rng.below(8) {
            // Flip one bit.
            0 if len > 0 => {
                let i = rng.below(len);
                b[i] ^= 1 << rng.below(8);
            }
            // Delete a range.
            1 if len > 0 => {
                let n = 1 + rng.below(16.min(len - at.min(len - 1)));
                let start = at.min(len - 1);
                b.drain(start..(start + n).min(len));
            }
            // Duplicate a range.
            2 if len > 0 => {
                let start = rng.below(len);
                let end = (start + 1 + rng.below(64)).min(len);
                let chunk = b[start..end].to_vec();
                b.splice(at..at, chunk);
            }
            // Splice in a chunk of another input.
            3 if !other.is_empty() => {
                let start = rng.below(other.len());
                let end = (start + 1 + rng.below(128)).min(other.len());
                b.splice(at..at, other[start..end].iter().copied());
            }
            // Replace a byte with a random one.
            4 if len > 0 => {
                let i = rng.below(len);
                b[i] = rng.next() as u8;
            }
            // Truncate.
            5 => b.truncate(at),
            // Insert a token (the most productive: half the remaining weight).
            _ => {
                let tok = TOKENS[rng.below(TOKENS.len())].as_bytes();
                b.splice(at..at, tok.iter().copied());
            }
        }
    }
    b
}

/// Load, static graph, walk and render, exactly as `validate` does.
fn run_pipeline(dir: &Path) {
    let env = Environment::load(dir, &[], slipway::providers::builtin_registry());
    let mut diags = env.diagnostics.clone();
    if env.graph.graph.node_count() > 0 || !diags.has_errors() {
        let out = env.walk(&UnknownComputed);
        diags.extend(out.diagnostics);
        let _ = out.outputs;
    }
    diags.dedup();
    for d in diags.iter() {
        let _ = slipway::diag::to_json(d, &env.sources);
    }
    let _ = slipway::diag::render_terminal(&diags, &env.sources, false);
}

struct Failure {
    what: String,
    seed: String,
    iteration: usize,
    saved: PathBuf,
    input: Vec<u8>,
}

fn env_number<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

#[test]
fn mutate_fixtures_and_corpus_never_panic_in_load_graph_and_walk() {
    let iterations = env_number("SLIPWAY_MUTATE_ITERATIONS").unwrap_or(DEFAULT_ITERATIONS);
    let base_seed = env_number("SLIPWAY_MUTATE_SEED").unwrap_or(DEFAULT_SEED);
    let seeds = seeds();
    assert!(seeds.len() > 200, "only {} seeds", seeds.len());
    let saved_root = std::env::temp_dir().join(format!("slipway-mutate-{}", std::process::id()));
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::<Failure>::new());
    let started = Instant::now();

    std::thread::scope(|s| {
        for worker in 0..2 {
            let (seeds, next, failures, saved_root) = (&seeds, &next, &failures, &saved_root);
            // The binary runs on a 256 MiB stack (src/main.rs); so does this.
            std::thread::Builder::new()
                .name(format!("mutate-{worker}"))
                .stack_size(256 << 20)
                .spawn_scoped(s, move || {
                    let scratch = TestDir::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= iterations {
                            break;
                        }
                        let mut rng = Rng::new(base_seed.wrapping_add(i as u64));
                        let seed = &seeds[i % seeds.len()];
                        let other = &seeds[rng.below(seeds.len())];
                        let other_bytes = &other.files[other.target].1;
                        let input = mutate(&seed.files[seed.target].1, other_bytes, &mut rng);

                        let dir = scratch.join(format!("case-{i}"));
                        for (k, (rel, content)) in seed.files.iter().enumerate() {
                            let p = dir.join(rel);
                            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                            let bytes = if k == seed.target { &input } else { content };
                            std::fs::write(&p, bytes).unwrap();
                        }
                        let t0 = Instant::now();
                        let result = catch_unwind(AssertUnwindSafe(|| run_pipeline(&dir)));
                        let elapsed = t0.elapsed();
                        let what = match result {
                            Err(p) => Some(format!(
                                "panicked: {}",
                                p.downcast_ref::<String>()
                                    .map(String::as_str)
                                    .or_else(|| p.downcast_ref::<&str>().copied())
                                    .unwrap_or("(non-string payload)")
                            )),
                            Ok(()) if elapsed > SLOW => Some(format!("took {elapsed:?}")),
                            Ok(()) => None,
                        };
                        if let Some(what) = what {
                            let saved = saved_root.join(format!("iteration-{i}"));
                            crate::util::copy_dir(&dir, &saved);
                            failures.lock().unwrap().push(Failure {
                                what,
                                seed: seed.name.clone(),
                                iteration: i,
                                saved,
                                input: input.clone(),
                            });
                        }
                        let _ = std::fs::remove_dir_all(&dir);
                    }
                })
                .expect("spawn mutation worker");
        }
    });

    let failures = failures.into_inner().unwrap();
    let report: Vec<String> = failures
        .iter()
        .map(|f| {
            format!(
                "iteration {} (seed {}): {}\n  saved: {}\n  input: {:?}",
                f.iteration,
                f.seed,
                f.what,
                f.saved.display(),
                String::from_utf8_lossy(&f.input[..f.input.len().min(2000)])
            )
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {iterations} mutated inputs failed (seed {base_seed:#x}):\n{}",
        failures.len(),
        report.join("\n")
    );
    eprintln!(
        "mutate: {iterations} inputs from {} seeds in {:?}, no panics",
        seeds.len(),
        started.elapsed()
    );
}

#[test]
fn mutate_is_deterministic_for_a_given_seed() {
    let input = b"resource \"random_id\" \"a\" {\n  byte_length = 4\n}\n";
    let a: Vec<Vec<u8>> =
        (0..50).map(|i| mutate(input, b"${x}", &mut Rng::new(DEFAULT_SEED + i))).collect();
    let b: Vec<Vec<u8>> =
        (0..50).map(|i| mutate(input, b"${x}", &mut Rng::new(DEFAULT_SEED + i))).collect();
    assert_eq!(a, b);
    // And it actually mutates.
    assert!(a.iter().filter(|m| m.as_slice() != input).count() > 40);
}
