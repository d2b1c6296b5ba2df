//! The `slipway { backend "…" { … } encryption { … } }` settings, checked and turned into a
//! backend and a codec. Every error points at the attribute (file:line:column).

use std::path::{Path, PathBuf};
use std::time::Duration;

use hcl::edit::expr::Expression;

use super::s3::{DEFAULT_LOCK_TTL, S3Config};
use crate::config::{Attr, BackendBlock, Body, EncryptionBlock, literal_string};
use crate::diag::{Diagnostic, Diagnostics, Span};
use crate::state::crypt::{Key, Keyring};

/// Where state lives, as configured.
#[derive(Clone, Debug, PartialEq)]
pub enum BackendSpec {
    /// `backend "local"` (or none): the configured `path`, resolved against the environment.
    Local {
        path: Option<PathBuf>,
    },
    S3(S3Config),
}

fn attr_span(a: &Attr) -> Span {
    a.expr.span().unwrap_or_else(|| a.name_span.clone())
}

fn unknown_attrs(body: &Body, block: &str, allowed: &[&str], diags: &mut Vec<Diagnostic>) {
    for (name, attr) in &body.attrs {
        if allowed.contains(&name.as_str()) {
            continue;
        }
        let mut d = Diagnostic::error(format!("unsupported argument `{name}` in {block} block"))
            .at(attr.name_span.clone());
        d = match crate::diag::closest(name, allowed.iter().copied()) {
            Some(c) => d.hint(format!("did you mean `{c}`?")),
            None => d.hint(format!("a {block} block takes: {}", allowed.join(", "))),
        };
        diags.push(d);
    }
    for nb in &body.blocks {
        diags.push(
            Diagnostic::error(format!("unexpected block `{}` in {block} block", nb.kind))
                .at(nb.span.clone()),
        );
    }
}

fn string_attr(body: &Body, name: &str, diags: &mut Vec<Diagnostic>) -> Option<(String, Span)> {
    let a = body.attrs.get(name)?;
    match literal_string(&a.expr.expr) {
        Some(s) if !s.is_empty() => Some((s, attr_span(a))),
        _ => {
            diags.push(
                Diagnostic::error(format!("`{name}` must be a non-empty literal string"))
                    .at(attr_span(a)),
            );
            None
        }
    }
}

fn bool_attr(body: &Body, name: &str, diags: &mut Vec<Diagnostic>) -> Option<bool> {
    let a = body.attrs.get(name)?;
    match &a.expr.expr {
        Expression::Bool(b) => Some(*b.value()),
        _ => {
            diags.push(
                Diagnostic::error(format!("`{name}` must be true or false")).at(attr_span(a)),
            );
            None
        }
    }
}

/// `30s`, `5m`, `1h`, or a number of seconds.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return None,
    };
    Some(Duration::from_secs(secs))
}

const S3_ATTRS: &[&str] =
    &["bucket", "key", "region", "endpoint", "encrypt", "dynamodb_table", "lock_ttl"];

/// Checks the backend block.
pub fn backend_spec(block: Option<&BackendBlock>) -> Result<BackendSpec, Diagnostics> {
    let Some(b) = block else {
        return Ok(BackendSpec::Local { path: None });
    };
    let mut diags = Vec::new();
    let spec = match b.kind.as_str() {
        "local" => {
            unknown_attrs(&b.body, "backend \"local\"", &["path"], &mut diags);
            let path = string_attr(&b.body, "path", &mut diags).map(|(p, _)| PathBuf::from(p));
            BackendSpec::Local { path }
        }
        "s3" => {
            unknown_attrs(&b.body, "backend \"s3\"", S3_ATTRS, &mut diags);
            let mut need = |name: &str| {
                let v = string_attr(&b.body, name, &mut diags);
                if v.is_none() && !b.body.attrs.contains_key(name) {
                    diags.push(
                        Diagnostic::error(format!("backend \"s3\" needs `{name}`"))
                            .at(b.span.clone())
                            .hint("e.g. bucket = \"my-state\", key = \"envs/prod/state.json\""),
                    );
                }
                v.map(|(s, _)| s)
            };
            let bucket = need("bucket");
            let key = need("key");
            let mut cfg = S3Config::new(bucket.unwrap_or_default(), key.unwrap_or_default());
            cfg.region = string_attr(&b.body, "region", &mut diags).map(|v| v.0);
            cfg.endpoint = string_attr(&b.body, "endpoint", &mut diags).map(|v| v.0);
            cfg.sse = bool_attr(&b.body, "encrypt", &mut diags).unwrap_or(false);
            cfg.dynamodb_table = string_attr(&b.body, "dynamodb_table", &mut diags).map(|v| v.0);
            cfg.lock_ttl = match b.body.attrs.get("lock_ttl") {
                None => DEFAULT_LOCK_TTL,
                Some(a) => {
                    let text = match &a.expr.expr {
                        Expression::Number(n) => Some(n.value().to_string()),
                        e => literal_string(e),
                    };
                    match text.as_deref().and_then(parse_duration) {
                        Some(d) if d >= Duration::from_secs(2) => d,
                        _ => {
                            diags.push(
                                Diagnostic::error("`lock_ttl` must be a duration of at least 2s")
                                    .at(attr_span(a))
                                    .hint("e.g. lock_ttl = \"5m\" (the holder refreshes the lock every third of it)"),
                            );
                            DEFAULT_LOCK_TTL
                        }
                    }
                }
            };
            if cfg.key.ends_with('/') {
                diags.push(
                    Diagnostic::error("`key` names an object, not a folder")
                        .at(b.body.attrs["key"].expr.span().unwrap_or(b.span.clone())),
                );
            }
            BackendSpec::S3(cfg)
        }
        other => {
            diags.push(
                Diagnostic::error(format!("backend \"{other}\" is not supported"))
                    .at(b.span.clone())
                    .hint("use backend \"local\" (the default) or backend \"s3\""),
            );
            BackendSpec::Local { path: None }
        }
    };
    if diags.is_empty() { Ok(spec) } else { Err(Diagnostics(diags)) }
}

const ENC_ATTRS: &[&str] = &[
    "passphrase_env",
    "key_env",
    "key_file",
    "fallback_passphrase_env",
    "fallback_key_env",
    "fallback_key_file",
];

/// Reads one key (primary: `prefix` = "", fallback: "fallback_") from its configured source.
fn key_from(body: &Body, prefix: &str, env_dir: &Path, diags: &mut Vec<Diagnostic>) -> Option<Key> {
    let names = [
        format!("{prefix}passphrase_env"),
        format!("{prefix}key_env"),
        format!("{prefix}key_file"),
    ];
    let given: Vec<&String> = names.iter().filter(|n| body.attrs.contains_key(*n)).collect();
    if given.len() > 1 {
        diags.push(
            Diagnostic::error(format!(
                "give one of `{}`, `{}`, `{}`",
                names[0], names[1], names[2]
            ))
            .at(body.attrs[given[1].as_str()].name_span.clone()),
        );
        return None;
    }
    let name = given.first()?.as_str();
    let (value, span) = string_attr(body, name, diags)?;
    let role = if prefix.is_empty() { "key" } else { "fallback key" };
    let result = if name.ends_with("_file") {
        let path = env_dir.join(&value);
        match std::fs::read(&path) {
            Ok(bytes) => Key::raw(format!("key file {}", path.display()), &bytes),
            Err(e) => {
                diags.push(
                    Diagnostic::error(format!(
                        "cannot read the encryption {role} file {}: {e}",
                        path.display()
                    ))
                    .at(span),
                );
                return None;
            }
        }
    } else {
        let Some(v) = std::env::var_os(&value) else {
            diags.push(
                Diagnostic::error(format!(
                    "the environment variable {value} (the encryption {role}) is not set"
                ))
                .at(span)
                .hint("set it, or change the encryption block; state is never read or written without its key"),
            );
            return None;
        };
        let bytes = std::os::unix::ffi::OsStrExt::as_bytes(v.as_os_str()).to_vec();
        let bytes = zeroize::Zeroizing::new(bytes);
        if name.ends_with("passphrase_env") {
            Key::passphrase(format!("passphrase from ${value}"), &bytes)
        } else {
            Key::raw(format!("key from ${value}"), &bytes)
        }
    };
    match result {
        Ok(k) => Some(k),
        Err(e) => {
            diags.push(Diagnostic::error(e.to_string()).at(span));
            None
        }
    }
}

/// Checks the encryption block and loads its keys (None without a block).
pub fn keyring(
    block: Option<&EncryptionBlock>,
    env_dir: &Path,
) -> Result<Option<Keyring>, Diagnostics> {
    let Some(b) = block else {
        return Ok(None);
    };
    let mut diags = Vec::new();
    unknown_attrs(&b.body, "encryption", ENC_ATTRS, &mut diags);
    let primary = key_from(&b.body, "", env_dir, &mut diags);
    let fallback = key_from(&b.body, "fallback_", env_dir, &mut diags);
    let has_primary =
        ["passphrase_env", "key_env", "key_file"].iter().any(|n| b.body.attrs.contains_key(*n));
    if !has_primary {
        diags.push(
            Diagnostic::error("the encryption block needs a key")
                .at(b.span.clone())
                .hint("passphrase_env = \"SLIPWAY_STATE_PASSPHRASE\" (or key_env / key_file for a raw 256-bit key)"),
        );
    }
    if !diags.is_empty() {
        return Err(Diagnostics(diags));
    }
    Ok(primary.map(|primary| Keyring { primary, fallback }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("7"), Some(Duration::from_secs(7)));
        assert_eq!(parse_duration("5 parsecs"), None);
    }
}
