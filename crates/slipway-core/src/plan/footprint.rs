//! A plan's footprint: what the environment runs now and what it will run once the plan is
//! applied, in the terms a bill itemises (instances by type, load balancers, volumes by type
//! and size, buckets), so that a user sees the shape of the bill before `apply`.
//!
//! **Invariants:** computed from the plan alone (the refreshed objects and the planned ones)
//! through [`Provider::footprint`](crate::provider::Provider::footprint); nothing is contacted.
//! A deleted object counts only now, a created one only once applied, a replaced or updated
//! one on both sides (as its old and its new form). Lines are sorted by category, then kind;
//! a kind the plan does not know yet (an unknown instance type) is `None`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Action, ResourceChange};
use crate::addr::ResourceMode;
use crate::provider::ProviderRegistry;
use crate::value::Value;

/// How many, and how many GiB (zero where size is not what is billed).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quantity {
    pub count: u64,
    pub gib: u64,
}

/// One category and kind, now and once applied.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FootprintLine {
    pub category: String,
    pub kind: Option<String>,
    pub now: Quantity,
    pub planned: Quantity,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Footprint {
    pub lines: Vec<FootprintLine>,
}

impl Footprint {
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }
}

/// The footprint of `changes` (every managed instance of the plan, unchanged ones included).
pub fn of(registry: &ProviderRegistry, changes: &[ResourceChange]) -> Footprint {
    type Key = (String, Option<String>);
    let mut by: BTreeMap<Key, (Quantity, Quantity)> = BTreeMap::new();
    let mut add = |rtype: &str, object: &Value, planned: bool| {
        let Some(provider) = registry.for_type(rtype) else {
            return;
        };
        for item in provider.footprint(rtype, object) {
            let sides = by.entry((item.category.to_string(), item.kind)).or_default();
            let side = if planned { &mut sides.1 } else { &mut sides.0 };
            side.count += item.count;
            side.gib += item.gib;
        }
    };
    for c in changes {
        if c.addr.resource.mode != ResourceMode::Managed {
            continue;
        }
        if let Some(before) = &c.before {
            add(&c.rtype, before, false);
        }
        if c.action != Action::Delete
            && let Some(after) = c.after.as_ref().or(c.before.as_ref())
        {
            add(&c.rtype, after, true);
        }
    }
    Footprint {
        lines: by
            .into_iter()
            .map(|((category, kind), (now, planned))| FootprintLine {
                category,
                kind,
                now,
                planned,
            })
            .collect(),
    }
}

/// The footprint as the human plan shows it, one line per category and kind, `now → planned`
/// (with GiB where they are billed); empty when nothing in the plan is billed.
pub fn render(f: &Footprint) -> String {
    if f.is_empty() {
        return String::new();
    }
    let kind =
        |l: &FootprintLine| l.kind.clone().unwrap_or_else(|| "(known after apply)".to_string());
    let cw = f.lines.iter().map(|l| l.category.len()).max().unwrap_or(0);
    let kw = f.lines.iter().map(|l| kind(l).len()).max().unwrap_or(0);
    let mut out = String::from("\nFootprint (now → once applied):\n");
    let mut last = "";
    for l in &f.lines {
        let category = if l.category == last { "" } else { &l.category };
        last = &l.category;
        out.push_str(&format!(
            "  {category:cw$}  {:kw$}  {:>4} → {}",
            kind(l),
            l.now.count,
            l.planned.count
        ));
        if l.now.gib + l.planned.gib > 0 {
            out.push_str(&format!("  ({} → {} GiB)", l.now.gib, l.planned.gib));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(
        category: &str,
        kind: Option<&str>,
        now: (u64, u64),
        planned: (u64, u64),
    ) -> FootprintLine {
        FootprintLine {
            category: category.to_string(),
            kind: kind.map(str::to_string),
            now: Quantity { count: now.0, gib: now.1 },
            planned: Quantity { count: planned.0, gib: planned.1 },
        }
    }

    #[test]
    fn render_groups_categories_and_shows_gib_only_where_billed() {
        let f = Footprint {
            lines: vec![
                line("instances", Some("t3.large"), (0, 0), (3, 0)),
                line("instances", None, (1, 0), (1, 0)),
                line("volumes", Some("gp3"), (2, 40), (5, 140)),
            ],
        };
        assert_eq!(
            render(&f),
            "\nFootprint (now → once applied):\n\
             \x20 instances  t3.large                0 → 3\n\
             \x20            (known after apply)     1 → 1\n\
             \x20 volumes    gp3                     2 → 5  (40 → 140 GiB)\n"
        );
        assert_eq!(render(&Footprint::default()), "");
    }
}
