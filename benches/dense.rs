//! The dense benchmark shape: a chain of modules, each taking the previous one's output map.
//!
//! [`write_dense`] writes an environment of `stages` module calls of one module, `stage`, each
//! expanding `random_id.node` over [`WIDTH`] keys (so `stages × WIDTH` instances). Stage `k`
//! takes `upstream = module.s{k-1}.ids` — a map computed from *all* of the previous stage's
//! instances — and each of its instances picks its own element (`var.upstream[each.key]`),
//! the way real environments chain modules (network → nodes → load-balancer targets → …).
//! Every instance of a stage therefore depends on every instance of the stage before: with
//! one edge per pair that is `WIDTH²` edges per stage; through one barrier per stage it is
//! `2 × WIDTH`.
//!
//! [`write_plain`] writes the same chain without resources (only `variable`, `locals`,
//! `module` and `output` blocks), which Terraform can plan offline: the side-by-side with
//! Terraform in BENCHMARKS.md.
//!
//! Usable from integration tests with `#[path = "../benches/dense.rs"] mod dense;`.

#![allow(dead_code)]

use std::fmt::Write as _;
use std::path::Path;

/// Instances per stage.
pub const WIDTH: usize = 200;

/// Stages for about `instances` instances (at least one).
pub fn stages_for(instances: usize) -> usize {
    (instances / WIDTH).max(1)
}

fn root(stages: usize, width: usize, output_expr: &str) -> String {
    chain(stages, width, output_expr, true)
}

/// The root module: `stages` calls of `./modules/stage`, each reading the previous one's
/// output map when `chained`, or all reading the same root map when not (the sparse variant of
/// the resource-free configuration, for the side-by-side with Terraform).
fn chain(stages: usize, width: usize, output_expr: &str, chained: bool) -> String {
    let mut s = String::new();
    writeln!(s, "variable \"width\" {{\n  type    = number\n  default = {width}\n}}\n").unwrap();
    s.push_str(
        "locals {\n  keys = [for i in range(var.width) : format(\"n%04d\", i)]\n  \
         seed = { for k in local.keys : k => k }\n}\n",
    );
    for k in 0..stages {
        let upstream = if k == 0 || !chained {
            "local.seed".to_string()
        } else {
            format!("module.s{:04}.ids", k - 1)
        };
        write!(
            s,
            "\nmodule \"s{k:04}\" {{\n  source   = \"./modules/stage\"\n  keys     = local.keys\n  \
             upstream = {upstream}\n}}\n"
        )
        .unwrap();
    }
    write!(
        s,
        "\noutput \"last\" {{\n  value = {}\n}}\n",
        output_expr.replace("LAST", &format!("module.s{:04}", stages - 1))
    )
    .unwrap();
    s
}

/// Writes the dense environment (`main.hcl`, `modules/stage/main.hcl`) with `stages` stages of
/// `width` instances.
pub fn write_dense(dir: &Path, stages: usize, width: usize) {
    std::fs::create_dir_all(dir.join("modules/stage")).unwrap();
    std::fs::write(dir.join("main.hcl"), root(stages, width, "length(LAST.ids)")).unwrap();
    std::fs::write(
        dir.join("modules/stage/main.hcl"),
        r#"variable "keys" {
  type = list(string)
}

variable "upstream" {
  type = map(string)
}

resource "random_id" "node" {
  for_each    = toset(var.keys)
  byte_length = 8
  keepers = {
    upstream = var.upstream[each.key]
  }
}

output "ids" {
  value = { for k, n in random_id.node : k => n.hex }
}
"#,
    )
    .unwrap();
}

/// The same chain without resources: each stage's map entry is computed from its upstream
/// entry (`sha256`), `width` entries per stage. Valid for Terraform 1.0 (`ext` = `tf`) and for
/// slipway (`ext` = `hcl`), byte for byte the same files.
/// With `chained` false, the stages are independent (each reads the root's map): the sparse
/// counterpart.
pub fn write_plain(dir: &Path, stages: usize, width: usize, chained: bool, ext: &str) {
    std::fs::create_dir_all(dir.join("modules/stage")).unwrap();
    std::fs::write(
        dir.join(format!("main.{ext}")),
        chain(stages, width, "length(LAST.ids)", chained),
    )
    .unwrap();
    std::fs::write(
        dir.join(format!("modules/stage/main.{ext}")),
        r#"variable "keys" {
  type = list(string)
}

variable "upstream" {
  type = map(string)
}

locals {
  node = { for k in var.keys : k => substr(sha256("${k}/${var.upstream[k]}"), 0, 16) }
}

output "ids" {
  value = local.node
}
"#,
    )
    .unwrap();
}
