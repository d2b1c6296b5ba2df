//! `slipway state migrate`: see [`crate::backend::migrate`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{Ui, println_out};
use crate::backend::Backend;
use crate::backend::s3::S3Config;
use crate::backend::settings::{BackendSpec, backend_spec, parse_duration};
use crate::environment::Environment;
use crate::session::{SessionError, SessionOptions, configured_codec, open_backend};
use crate::state::crypt::{Codec, Key, Keyring};

use super::StateArgs;

/// The source's key, when it differs from the configured ones.
pub struct SourceKey {
    pub passphrase_env: Option<String>,
    pub key_env: Option<String>,
    pub key_file: Option<PathBuf>,
}

impl SourceKey {
    fn load(&self) -> Result<Option<Key>, String> {
        let given =
            [self.passphrase_env.is_some(), self.key_env.is_some(), self.key_file.is_some()];
        if given.iter().filter(|g| **g).count() > 1 {
            return Err("give one of --from-passphrase-env, --from-key-env, --from-key-file".into());
        }
        let env = |var: &str| {
            std::env::var_os(var)
                .map(|v| {
                    zeroize::Zeroizing::new(
                        std::os::unix::ffi::OsStrExt::as_bytes(v.as_os_str()).to_vec(),
                    )
                })
                .ok_or_else(|| format!("the environment variable {var} is not set"))
        };
        let key = if let Some(var) = &self.passphrase_env {
            Key::passphrase(format!("passphrase from ${var}"), &env(var)?)
        } else if let Some(var) = &self.key_env {
            Key::raw(format!("key from ${var}"), &env(var)?)
        } else if let Some(f) = &self.key_file {
            let bytes = std::fs::read(f).map_err(|e| format!("reading {}: {e}", f.display()))?;
            Key::raw(format!("key file {}", f.display()), &bytes)
        } else {
            return Ok(None);
        };
        key.map(Some).map_err(|e| e.to_string())
    }
}

/// `local`, `local=DIR`, `s3://BUCKET/KEY?region=…&endpoint=…&dynamodb_table=…&lock_ttl=…`.
fn parse_from(spec: &str) -> Result<BackendSpec, String> {
    if spec == "local" {
        return Ok(BackendSpec::Local { path: None });
    }
    if let Some(dir) = spec.strip_prefix("local=").or_else(|| spec.strip_prefix("local:")) {
        return Ok(BackendSpec::Local { path: Some(PathBuf::from(dir)) });
    }
    if let Some(rest) = spec.strip_prefix("s3://") {
        let (loc, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (bucket, key) = loc
            .split_once('/')
            .filter(|(b, k)| !b.is_empty() && !k.is_empty())
            .ok_or_else(|| format!("`{spec}`: expected s3://BUCKET/KEY"))?;
        let mut cfg = S3Config::new(bucket, key);
        for kv in query.split('&').filter(|s| !s.is_empty()) {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            match k {
                "region" => cfg.region = Some(v.into()),
                "endpoint" => cfg.endpoint = Some(v.into()),
                "dynamodb_table" => cfg.dynamodb_table = Some(v.into()),
                "lock_ttl" => {
                    cfg.lock_ttl = parse_duration(v)
                        .ok_or_else(|| format!("lock_ttl `{v}` is not a duration"))?
                }
                other => return Err(format!("`{spec}`: unknown option `{other}`")),
            }
        }
        return Ok(BackendSpec::S3(cfg));
    }
    Err(format!("`{spec}` is not a backend: use `local`, `local=DIR` or `s3://BUCKET/KEY`"))
}

fn fail(e: SessionError, env: &Environment, ui: &Ui) -> i32 {
    match e {
        SessionError::Config(d) => ui.diagnostics(&d, &env.sources),
        SessionError::Backend(e) => eprintln!("error: {e}"),
        SessionError::Other(m) => eprintln!("error: {m}"),
    }
    1
}

pub fn run(
    dir: &Path,
    from: Option<&str>,
    source_key: SourceKey,
    state: &StateArgs,
    ui: &Ui,
    rt: tokio::runtime::Runtime,
) -> i32 {
    let env = Environment::load(dir, &[], crate::providers::builtin_registry());
    let settings = &env.config.root().settings;
    let dst_spec = match backend_spec(settings.backend.as_ref()) {
        Ok(s) => s,
        Err(d) => return fail(SessionError::Config(d), &env, ui),
    };
    let codec = || configured_codec(&env);
    let (strict, check_codec) = match (codec(), codec()) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return fail(e, &env, ui),
    };
    // The destination's location, read with its own codec (no plaintext allowance).
    let opts = SessionOptions {
        state_dir: state.state_dir.clone(),
        lock_timeout: state.lock_timeout,
        operation: "state migrate".into(),
    };
    let (dst, check) = match (
        open_backend(&dst_spec, Arc::new(strict), &env, &opts),
        open_backend(&dst_spec, Arc::new(check_codec), &env, &opts),
    ) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return fail(e, &env, ui),
    };
    let src = match open_source(from, source_key, &dst_spec, &opts, &env) {
        Ok(b) => b,
        Err(e) => return fail(e, &env, ui),
    };
    let in_place = src.describe() == dst.describe();
    let result = rt.block_on(async {
        if in_place {
            crate::backend::migrate::reseal_in_place(src.clone(), check).await
        } else {
            crate::backend::migrate::migrate(src.clone(), dst.clone(), check).await
        }
    });
    match result {
        Ok(m) if in_place => {
            println_out(&format!(
                "Re-wrote the state at {} ({} resources, lineage {}, now serial {}) and read it back.",
                dst.describe(),
                m.resources,
                m.lineage,
                m.serial
            ));
            0
        }
        Ok(m) => {
            let how = if m.already_there {
                "was already there (nothing written)"
            } else {
                "was copied and read back"
            };
            println_out(&format!(
                "Migrated the state from {} to {}: {} resources, lineage {}, serial {}; it {how}. The source is untouched: remove it once you no longer need it.",
                src.describe(),
                dst.describe(),
                m.resources,
                m.lineage,
                m.serial
            ));
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

/// The source's backend: read with the keys given for it, else the configured ones, and
/// allowed to be plaintext; the destination's location when `from` is not given.
fn open_source(
    from: Option<&str>,
    source_key: SourceKey,
    dst_spec: &BackendSpec,
    opts: &SessionOptions,
    env: &Environment,
) -> Result<Arc<dyn Backend>, SessionError> {
    let src_codec = match source_key.load() {
        Ok(Some(k)) => Codec::new(Some(Keyring { primary: k, fallback: None })),
        Ok(None) => configured_codec(env)?,
        Err(m) => return Err(SessionError::Other(m)),
    }
    .allow_plaintext_read();
    let src_spec = match from.map(parse_from).transpose() {
        Ok(s) => s.unwrap_or_else(|| dst_spec.clone()),
        Err(m) => return Err(SessionError::Other(m)),
    };
    // `local=DIR` names the state directory itself: it wins over --state-dir.
    let (src_spec, src_opts) = match src_spec {
        BackendSpec::Local { path: Some(p) } => (
            BackendSpec::Local { path: None },
            SessionOptions { state_dir: Some(p), ..opts.clone() },
        ),
        other => (other, opts.clone()),
    };
    open_backend(&src_spec, Arc::new(src_codec), env, &src_opts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_specs() {
        assert_eq!(parse_from("local"), Ok(BackendSpec::Local { path: None }));
        assert_eq!(
            parse_from("local=/tmp/s"),
            Ok(BackendSpec::Local { path: Some("/tmp/s".into()) })
        );
        let BackendSpec::S3(c) =
            parse_from("s3://b/envs/dev.json?region=eu-west-1&dynamodb_table=locks").unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (c.bucket.as_str(), c.key.as_str(), c.region.as_deref()),
            ("b", "envs/dev.json", Some("eu-west-1"))
        );
        assert_eq!(c.dynamodb_table.as_deref(), Some("locks"));
        assert!(parse_from("s3://b").is_err());
        assert!(parse_from("gcs://x/y").is_err());
    }
}
