//! Synthetic environments for benchmarks and scale tests.
//!
//! [`write_environment`] writes an environment whose walk yields exactly the requested number of
//! resource instances, using only built-in resource types (random_id, random_string,
//! time_static) and the language features that dominate real configurations:
//!
//! - `for_each` over generated maps: a root `variable` default (one entry per tier) and module
//!   `locals` built with `for` expressions;
//! - `count`;
//! - nested modules: root → `module "tier"` (for_each) → `module "leaf"` (for_each) and a sibling
//!   `module "peer"` that consumes `module.leaf` outputs; at the root, `module "audit"` consumes
//!   `module.tier` outputs;
//! - cross-references by instance key (`random_id.a[each.key].hex` in `keepers`, `prefix`);
//! - `depends_on` on a resource and on module calls.
//!
//! Layout: `main.hcl` (root), `modules/tier/{variables,main,outputs}.hcl` and
//! `modules/tier/leaf/main.hcl`.
//!
//! Usable from integration tests with `#[path = "../benches/synth.rs"] mod synth;`.

#![allow(dead_code)]

use std::fmt::Write as _;
use std::path::Path;

/// Instances outside the tiers: `random_id.seed`, `time_static.epoch`, and `module.audit`
/// (a leaf with `n = 1`: one time_static plus one random_id).
const ROOT_INSTANCES: usize = 4;
/// Leaf module calls per tier.
const LEAVES_PER_TIER: usize = 4;
/// Instances of a tier outside `random_id.a`/`random_string.b`/`random_string.c` and the leaves:
/// `time_static.t` and `module.peer` (two instances).
const TIER_FIXED: usize = 3;
/// The smallest tier: fixed part, four leaves of two instances, and one item (a and b).
pub const MIN_TIER_INSTANCES: usize = TIER_FIXED + LEAVES_PER_TIER * 2 + 2;

/// The shape of one tier module instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TierPlan {
    pub key: String,
    /// Entries of `local.items`: instances of `random_id.a` and of `random_string.b` each.
    pub items: usize,
    /// `count` of `random_string.c`.
    pub extra: usize,
    /// `n` of each leaf (the leaf has `n` random_ids and one time_static).
    pub leaves: Vec<(String, usize)>,
}

impl TierPlan {
    pub fn instances(&self) -> usize {
        TIER_FIXED
            + 2 * self.items
            + self.extra
            + self.leaves.iter().map(|(_, n)| n + 1).sum::<usize>()
    }
}

/// Splits `instances` into `modules` tiers.
///
/// Panics if `instances` is too small for `modules` tiers (each needs
/// [`MIN_TIER_INSTANCES`]) or `modules` is 0.
pub fn plan(instances: usize, modules: usize) -> Vec<TierPlan> {
    assert!(modules > 0, "at least one tier module instance");
    let budget = instances.checked_sub(ROOT_INSTANCES).expect("instance count too small");
    assert!(
        budget >= modules * MIN_TIER_INSTANCES,
        "{instances} instances cannot fill {modules} tiers of at least {MIN_TIER_INSTANCES}"
    );
    (0..modules)
        .map(|i| {
            let total = budget / modules + usize::from(i < budget % modules);
            // About a fifth of a tier goes to its leaves, the rest to items (two instances each)
            // and the remainder to `count`.
            let leaf_budget = (total / 5).max(LEAVES_PER_TIER * 2);
            let leaf_ns: Vec<usize> = (0..LEAVES_PER_TIER)
                .map(|l| {
                    let share = leaf_budget / LEAVES_PER_TIER
                        + usize::from(l < leaf_budget % LEAVES_PER_TIER);
                    share - 1
                })
                .collect();
            let rest = total - TIER_FIXED - leaf_budget;
            let items = (rest - rest / 10).div_ceil(2).clamp(1, rest / 2);
            let extra = rest - 2 * items;
            let plan = TierPlan {
                key: format!("t{i:04}"),
                items,
                extra,
                leaves: leaf_ns
                    .into_iter()
                    .enumerate()
                    .map(|(l, n)| (format!("l{l}"), n))
                    .collect(),
            };
            assert_eq!(plan.instances(), total);
            plan
        })
        .collect()
}

/// Writes the environment into `dir` (created if missing; existing files are overwritten).
pub fn write_environment(dir: &Path, instances: usize, modules: usize) {
    let tiers = plan(instances, modules);
    assert_eq!(ROOT_INSTANCES + tiers.iter().map(TierPlan::instances).sum::<usize>(), instances);
    let tier_dir = dir.join("modules").join("tier");
    let leaf_dir = tier_dir.join("leaf");
    std::fs::create_dir_all(&leaf_dir).expect("create module directories");
    let write = |p: &Path, s: String| {
        std::fs::write(p, s).unwrap_or_else(|e| panic!("write {}: {e}", p.display()))
    };
    write(&dir.join("main.hcl"), root_hcl(&tiers));
    write(&tier_dir.join("variables.hcl"), TIER_VARIABLES.to_string());
    write(&tier_dir.join("main.hcl"), TIER_MAIN.to_string());
    write(&tier_dir.join("outputs.hcl"), TIER_OUTPUTS.to_string());
    write(&leaf_dir.join("main.hcl"), LEAF_MAIN.to_string());
}

fn root_hcl(tiers: &[TierPlan]) -> String {
    let mut s = String::new();
    s.push_str(
        r#"# Generated by benches/synth.rs: do not edit.

variable "tiers" {
  type = map(object({
    items  = number
    extra  = number
    leaves = map(number)
  }))
  default = {
"#,
    );
    for t in tiers {
        let leaves: Vec<String> = t.leaves.iter().map(|(k, n)| format!("{k} = {n}")).collect();
        let _ = writeln!(
            s,
            "    {} = {{ items = {}, extra = {}, leaves = {{ {} }} }}",
            t.key,
            t.items,
            t.extra,
            leaves.join(", ")
        );
    }
    s.push_str(
        r#"  }
}

locals {
  tiers = {
    for k, t in var.tiers : k => merge(t, { name = "env-${k}" })
  }
}

resource "random_id" "seed" {
  byte_length = 8
}

resource "time_static" "epoch" {
  triggers = { seed = random_id.seed.hex }
}

module "tier" {
  source   = "./modules/tier"
  for_each = local.tiers

  name   = each.value.name
  seed   = random_id.seed.hex
  items  = each.value.items
  extra  = each.value.extra
  leaves = each.value.leaves

  depends_on = [time_static.epoch]
}

module "audit" {
  source = "./modules/tier/leaf"

  name = "audit"
  n    = 1
  tags = { for k, t in module.tier : k => t.first_hex }

  depends_on = [module.tier]
}

output "tier_ids" {
  value = { for k, t in module.tier : k => t.first_hex }
}
"#,
    );
    s
}

const TIER_VARIABLES: &str = r#"# Generated by benches/synth.rs: do not edit.

variable "name" {
  type = string
}

variable "seed" {
  type = string
}

variable "items" {
  type = number
}

variable "extra" {
  type = number
}

variable "leaves" {
  type = map(number)
}
"#;

const TIER_MAIN: &str = r#"# Generated by benches/synth.rs: do not edit.

locals {
  items = {
    for i in range(var.items) : format("i%05d", i) => {
      index = i
      label = "${var.name}-${i}"
    }
  }
  first_key = format("i%05d", 0)
  leaves    = { for k, n in var.leaves : k => n if n > 0 }
}

resource "random_id" "a" {
  for_each    = local.items
  byte_length = 8
  prefix      = "${each.value.label}-"
  keepers = {
    seed = var.seed
  }
}

resource "random_string" "b" {
  for_each = local.items
  length   = 12
  special  = false
  keepers = {
    a     = random_id.a[each.key].hex
    index = each.value.index
  }
}

resource "random_string" "c" {
  count  = var.extra
  length = 8
  upper  = false
  keepers = {
    first = random_id.a[local.first_key].b64_url
    index = count.index
  }
}

resource "time_static" "t" {
  triggers   = { name = var.name }
  depends_on = [random_string.b]
}

module "leaf" {
  source   = "./leaf"
  for_each = local.leaves

  name = "${var.name}-${each.key}"
  n    = each.value
  tags = { seed = var.seed, first = random_id.a[local.first_key].hex }
}

module "peer" {
  source = "./leaf"

  name = "${var.name}-peer"
  n    = 1
  tags = { for k, l in module.leaf : k => l.id }
}
"#;

const TIER_OUTPUTS: &str = r#"# Generated by benches/synth.rs: do not edit.

output "first_hex" {
  value = random_id.a[local.first_key].hex
}

output "leaf_count" {
  value = length(module.leaf)
}

output "peer_id" {
  value = module.peer.id
}
"#;

const LEAF_MAIN: &str = r#"# Generated by benches/synth.rs: do not edit.

variable "name" {
  type = string
}

variable "n" {
  type = number
}

variable "tags" {
  type    = map(string)
  default = {}
}

resource "time_static" "born" {
  triggers = var.tags
}

resource "random_id" "k" {
  count       = var.n
  byte_length = 4
  prefix      = "${var.name}-${count.index}-"
  keepers = {
    born = time_static.born.rfc3339
  }
}

output "id" {
  value = random_id.k[0].hex
}
"#;
