//! Values for the root module's input variables, from everywhere a user can set them.
//!
//! Precedence, lowest first (later sources override earlier ones, as in Terraform):
//! 1. the variable's `default`;
//! 2. `SLIPWAY_VAR_<name>` environment variables;
//! 3. `*.vars.hcl` files in the environment directory, in lexical order;
//! 4. `-var-file FILE` and `-var name=value` on the command line, in the order given.
//!
//! Raw text from the environment or `-var` is a literal string for `string` variables and an HCL
//! expression otherwise (`-var 'zones=["a","b"]'`). Every source gets a pseudo-file in
//! [`Sources`] so that a bad value is reported with a location like any other error.

use std::path::{Path, PathBuf};

use hcl::edit::structure::Structure;
use indexmap::IndexMap;

use super::{Expr, parse_file};
use crate::diag::{Diagnostic, Diagnostics, Sources, Span};

/// A `-var` or `-var-file` argument, in command-line order.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub enum CliVar {
    Assign(String),
    File(PathBuf),
}

/// Where a value came from, for messages.
#[derive(Clone, Debug, PartialEq)]
pub enum VarOrigin {
    Environment,
    File(PathBuf),
    CommandLine,
}

/// A value for a variable, before evaluation.
#[derive(Clone, Debug)]
pub enum RawValue {
    /// Text from the environment or `-var`: a string for `string` variables, else parsed as HCL.
    Text { text: String, span: Span },
    /// An expression from a variables file.
    Expr(Expr),
}

#[derive(Clone, Debug)]
pub struct VarInput {
    pub value: RawValue,
    pub origin: VarOrigin,
    pub span: Span,
}

/// Collects variable values from the environment, var files and the command line.
pub fn collect(
    root: &Path,
    cli: &[CliVar],
    sources: &mut Sources,
    diags: &mut Diagnostics,
) -> IndexMap<String, VarInput> {
    let mut out: IndexMap<String, VarInput> = IndexMap::new();
    let mut env: Vec<(String, String)> = std::env::vars()
        .filter_map(|(k, v)| k.strip_prefix("SLIPWAY_VAR_").map(|n| (n.to_string(), v)))
        .collect();
    env.sort();
    for (name, text) in env {
        let id = sources.add(Path::new(&format!("<env SLIPWAY_VAR_{name}>")), text.clone());
        let span = Span::new(id, 0..text.len());
        out.insert(
            name,
            VarInput {
                value: RawValue::Text { text, span: span.clone() },
                origin: VarOrigin::Environment,
                span,
            },
        );
    }
    let mut auto: Vec<PathBuf> = std::fs::read_dir(root)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(".vars.hcl"))
                })
                .collect()
        })
        .unwrap_or_default();
    auto.sort();
    for file in auto {
        read_var_file(&file, sources, diags, &mut out);
    }
    for arg in cli {
        match arg {
            CliVar::File(f) => read_var_file(f, sources, diags, &mut out),
            CliVar::Assign(a) => {
                let id = sources.add(Path::new("<-var>"), a.clone());
                match a.split_once('=') {
                    Some((name, text)) if super::is_identifier(name.trim()) => {
                        let start = name.len() + 1;
                        let span = Span::new(id, start..a.len());
                        out.insert(
                            name.trim().to_string(),
                            VarInput {
                                value: RawValue::Text {
                                    text: text.to_string(),
                                    span: span.clone(),
                                },
                                origin: VarOrigin::CommandLine,
                                span,
                            },
                        );
                    }
                    _ => diags.push(
                        Diagnostic::error(format!("invalid -var argument \"{a}\""))
                            .at(Span::new(id, 0..a.len()))
                            .hint("write -var name=value (quote the whole argument in the shell)"),
                    ),
                }
            }
        }
    }
    out
}

fn read_var_file(
    path: &Path,
    sources: &mut Sources,
    diags: &mut Diagnostics,
    out: &mut IndexMap<String, VarInput>,
) {
    let Some((file, body)) = parse_file(path, sources, diags) else {
        return;
    };
    for st in body.iter() {
        match st {
            Structure::Attribute(a) => {
                let expr = Expr { file, expr: a.value.clone() };
                let span = expr.span().unwrap_or(Span::new(file, 0..0));
                out.insert(
                    a.key.as_str().to_string(),
                    VarInput {
                        value: RawValue::Expr(expr),
                        origin: VarOrigin::File(path.to_path_buf()),
                        span,
                    },
                );
            }
            Structure::Block(b) => {
                use hcl::edit::Span as _;
                diags.push(
                    Diagnostic::error("a variables file holds only `name = value` assignments")
                        .at(Span::new(file, b.span().unwrap_or(0..0)))
                        .hint("move blocks into a .hcl configuration file"),
                );
            }
        }
    }
}
