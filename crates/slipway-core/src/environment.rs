//! An environment, loaded: source files, configuration, static graph and variable inputs, plus
//! the walk that turns them into resource instances.
//!
//! This is the front door that every command uses, so that `validate`, `graph`, `plan` and
//! `apply` see exactly the same configuration, with the same diagnostics.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;

use crate::config::vars::{self, CliVar, VarInput};
use crate::config::{self, Config};
use crate::diag::{Diagnostic, Diagnostics, Sources};
use crate::graph::StaticGraph;
use crate::graph::walk::{InstanceHandler, Walk, WalkInput, WalkOutput};
use crate::provider::ProviderRegistry;

/// The version of this build, for `required_version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

pub struct Environment {
    pub dir: PathBuf,
    /// The directory name: `dev`, `prod`.
    pub name: String,
    pub sources: Sources,
    pub config: Config,
    pub graph: StaticGraph,
    pub root_vars: IndexMap<String, VarInput>,
    pub registry: ProviderRegistry,
    /// Diagnostics of loading and graph building.
    pub diagnostics: Diagnostics,
}

impl Environment {
    /// Loads and checks an environment. Errors are in `diagnostics`; the caller decides whether
    /// to stop.
    pub fn load(dir: &Path, cli_vars: &[CliVar], registry: ProviderRegistry) -> Environment {
        let mut sources = Sources::default();
        let (config, mut diagnostics) = config::load(dir, &mut sources);
        let root_vars = vars::collect(dir, cli_vars, &mut sources, &mut diagnostics);
        // The environment's own constraint and its base's (`extends`), when both say one.
        for (req, span) in &config.root().settings.required_version {
            match version_satisfies(VERSION, req) {
                Ok(true) => {}
                Ok(false) => diagnostics.push(
                    Diagnostic::error(format!(
                        "this configuration requires slipway {req}, but this is {VERSION}"
                    ))
                    .at(span.clone())
                    .hint("install a matching slipway version, or relax required_version"),
                ),
                Err(e) => diagnostics.push(
                    Diagnostic::error(format!("invalid required_version: {e}")).at(span.clone()),
                ),
            }
        }
        let graph = if diagnostics.has_errors() {
            StaticGraph { graph: Default::default(), index: Default::default() }
        } else {
            StaticGraph::build(&config, &mut diagnostics)
        };
        let canonical = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
        let name = canonical.file_name().and_then(|n| n.to_str()).unwrap_or("default").to_string();
        Environment {
            dir: canonical,
            name,
            sources,
            config,
            graph,
            root_vars,
            registry,
            diagnostics,
        }
    }

    /// A digest of every source file read (configuration and variable files, the files of the
    /// base the environment extends and of every module it calls), so that a saved plan can
    /// tell whether the configuration changed since it was made.
    pub fn config_digest(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut files: Vec<(&str, &str)> =
            self.sources.files().map(|(_, f)| (f.name.as_str(), &*f.text)).collect();
        files.sort();
        let mut h = Sha256::new();
        for (name, text) in files {
            h.update(name.as_bytes());
            h.update([0]);
            h.update(text.as_bytes());
            h.update([0]);
        }
        hex::encode(h.finalize())
    }

    /// Evaluates the whole configuration, asking `handler` for each resource instance's value.
    pub fn walk(&self, handler: &dyn InstanceHandler) -> WalkOutput {
        Walk::new(self.walk_input(), handler).run()
    }

    /// What a walk of this environment reads.
    pub fn walk_input(&self) -> WalkInput<'_> {
        WalkInput {
            config: &self.config,
            graph: &self.graph,
            registry: &self.registry,
            root_vars: &self.root_vars,
            environment: self.name.clone(),
        }
    }

    /// The root module's `provider` blocks, evaluated with `handler` answering for the
    /// resources they refer to.
    pub fn provider_configs(
        &self,
        handler: &dyn InstanceHandler,
    ) -> (std::collections::BTreeMap<String, crate::value::Value>, Diagnostics) {
        let input = WalkInput {
            config: &self.config,
            graph: &self.graph,
            registry: &self.registry,
            root_vars: &self.root_vars,
            environment: self.name.clone(),
        };
        Walk::new(input, handler).provider_configs()
    }
}

/// Checks a version against a constraint such as `>= 0.1, < 2` or `~> 0.1`.
pub fn version_satisfies(version: &str, constraint: &str) -> Result<bool, String> {
    let parse = |s: &str| -> Result<Vec<u64>, String> {
        s.trim()
            .split('.')
            .map(|p| p.parse::<u64>().map_err(|_| format!("`{s}` is not a version")))
            .collect()
    };
    let v = parse(version)?;
    for part in constraint.split(',') {
        let part = part.trim();
        let (op, rest) = ["~>", ">=", "<=", "!=", ">", "<", "="]
            .iter()
            .find_map(|op| part.strip_prefix(op).map(|r| (*op, r)))
            .unwrap_or(("=", part));
        let want = parse(rest)?;
        let cmp = |a: &[u64], b: &[u64]| {
            let n = a.len().max(b.len());
            (0..n)
                .map(|i| (a.get(i).copied().unwrap_or(0), b.get(i).copied().unwrap_or(0)))
                .find(|(x, y)| x != y)
                .map(|(x, y)| x.cmp(&y))
                .unwrap_or(std::cmp::Ordering::Equal)
        };
        use std::cmp::Ordering::*;
        let ok = match op {
            ">=" => cmp(&v, &want) != Less,
            "<=" => cmp(&v, &want) != Greater,
            ">" => cmp(&v, &want) == Greater,
            "<" => cmp(&v, &want) == Less,
            "!=" => cmp(&v, &want) != Equal,
            "~>" => {
                // `~> 1.2` allows 1.x from 1.2; `~> 1.2.3` allows 1.2.x from 1.2.3.
                let prefix = &want[..want.len().saturating_sub(1).max(1)];
                cmp(&v, &want) != Less && v.len() >= prefix.len() && v[..prefix.len()] == *prefix
            }
            _ => cmp(&v, &want) == Equal,
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::version_satisfies;

    #[test]
    fn version_constraints() {
        assert!(version_satisfies("0.1.0", ">= 0.1").unwrap());
        assert!(!version_satisfies("0.1.0", ">= 0.2").unwrap());
        assert!(version_satisfies("0.1.5", "~> 0.1.2").unwrap());
        assert!(!version_satisfies("0.2.0", "~> 0.1.2").unwrap());
        assert!(version_satisfies("1.4.0", "~> 1.2").unwrap());
        assert!(!version_satisfies("2.0.0", "~> 1.2").unwrap());
        assert!(version_satisfies("0.1.0", ">= 0.1, < 1").unwrap());
        assert!(version_satisfies("0.1.0", "bogus").is_err());
    }
}
