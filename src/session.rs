//! A session: one command's hold on an environment's state.
//!
//! Opening a session loads the environment, picks the backend (the `slipway { backend … }`
//! block, `--state-dir`, `SLIPWAY_STATE_DIR`, or `state/` at the repository root), takes the
//! state lock, reads the state and configures the providers. Closing it compacts the journal and
//! releases the lock — on every path, errors included.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::backend::local::LocalBackend;
use crate::backend::settings::BackendSpec;
use crate::backend::{Backend, BackendError, JournaledState, LockInfo};
use crate::diag::{Diagnostic, Diagnostics};
use crate::environment::Environment;
use crate::graph::walk::{InstanceContext, InstanceHandler, UnknownComputed};
use crate::provider::{ProviderContext, ProviderRegistry};
use crate::state::crypt::Codec;
use crate::state::journal::CompactionPolicy;
use crate::state::{State, new_stack_id};
use crate::value::Value;
use slipway_aws::S3Backend;

/// Where the local backend keeps an environment's state.
pub fn default_state_dir(env_dir: &Path) -> PathBuf {
    // environments/<name> → the repository root is two levels up.
    if let Some(parent) = env_dir.parent()
        && parent.file_name().and_then(|n| n.to_str()) == Some("environments")
        && let Some(root) = parent.parent()
    {
        return root.join("state");
    }
    let mut dir = Some(env_dir);
    while let Some(d) = dir {
        if d.join(".git").exists() {
            return d.join("state");
        }
        dir = d.parent();
    }
    env_dir.join("state")
}

/// How to open a session.
#[derive(Clone, Debug, Default)]
pub struct SessionOptions {
    pub state_dir: Option<PathBuf>,
    pub lock_timeout: Duration,
    pub operation: String,
}

/// Why a session could not be opened.
#[derive(Debug)]
pub enum SessionError {
    /// Configuration errors: render them with the environment's sources.
    Config(Diagnostics),
    Backend(BackendError),
    Other(String),
}

impl From<BackendError> for SessionError {
    fn from(e: BackendError) -> Self {
        SessionError::Backend(e)
    }
}

pub struct Session {
    pub env: Arc<Environment>,
    pub backend: Arc<dyn Backend>,
    pub lock: LockInfo,
    pub state: JournaledState,
    pub registry: ProviderRegistry,
    /// Warnings found while loading.
    pub warnings: Diagnostics,
    /// Providers whose configuration is known only after apply: apply configures them just
    /// before their first operation (`apply::DeferredProviders`).
    pub deferred: BTreeSet<String>,
}

/// Picks the backend for an environment: the `slipway { backend … }` block (local unless
/// configured) with the codec of its `encryption` block.
pub fn backend_for(
    env: &Environment,
    opts: &SessionOptions,
) -> Result<Arc<dyn Backend>, SessionError> {
    let settings = &env.config.root().settings;
    let spec = crate::backend::settings::backend_spec(settings.backend.as_ref())
        .map_err(SessionError::Config)?;
    let codec = Arc::new(configured_codec(env)?);
    open_backend(&spec, codec, env, opts)
}

/// The backend for lock operations only (`force-unlock`): locks hold no state, so no key is
/// needed — a lost key must not keep anyone from removing a dead run's lock.
pub fn lock_backend_for(
    env: &Environment,
    opts: &SessionOptions,
) -> Result<Arc<dyn Backend>, SessionError> {
    let spec = crate::backend::settings::backend_spec(env.config.root().settings.backend.as_ref())
        .map_err(SessionError::Config)?;
    open_backend(&spec, Arc::new(Codec::plain()), env, opts)
}

/// The codec of the environment's `encryption` block (plaintext without one).
pub fn configured_codec(env: &Environment) -> Result<Codec, SessionError> {
    let keys =
        crate::backend::settings::keyring(env.config.root().settings.encryption.as_ref(), &env.dir)
            .map_err(SessionError::Config)?;
    Ok(Codec::new(keys))
}

/// A backend for `spec`. The local backend's directory is `--state-dir`, `SLIPWAY_STATE_DIR`,
/// the block's `path` (relative to the environment), or `state/` at the repository root, in
/// that order; the other backends ignore the state directory.
pub fn open_backend(
    spec: &BackendSpec,
    codec: Arc<Codec>,
    env: &Environment,
    opts: &SessionOptions,
) -> Result<Arc<dyn Backend>, SessionError> {
    match spec {
        BackendSpec::Local { path } => {
            let dir = opts
                .state_dir
                .clone()
                .or_else(|| std::env::var_os("SLIPWAY_STATE_DIR").map(PathBuf::from))
                .or_else(|| path.as_ref().map(|p| env.dir.join(p)))
                .unwrap_or_else(|| default_state_dir(&env.dir));
            Ok(Arc::new(LocalBackend::with_codec(&dir, &env.name, codec)?))
        }
        BackendSpec::S3(cfg) => Ok(Arc::new(S3Backend::new(cfg.clone(), codec))),
    }
}

impl Session {
    /// Loads, locks, reads and configures. On error the lock is released before returning.
    pub async fn open(env: Environment, opts: &SessionOptions) -> Result<Session, SessionError> {
        if env.diagnostics.has_errors() {
            return Err(SessionError::Config(env.diagnostics.clone()));
        }
        let warnings = env.diagnostics.clone();
        let backend = backend_for(&env, opts)?;
        let info = LockInfo::new(opts.operation.clone());
        let lock = backend.lock_with_timeout(info, opts.lock_timeout).await?;
        match Self::after_lock(env, backend.clone(), lock.clone()).await {
            Ok(mut s) => {
                s.warnings.extend(warnings);
                Ok(s)
            }
            Err(e) => {
                let _ = backend.unlock(&lock.id).await;
                Err(e)
            }
        }
    }

    async fn after_lock(
        env: Environment,
        backend: Arc<dyn Backend>,
        lock: LockInfo,
    ) -> Result<Session, SessionError> {
        let name = env.name.clone();
        let state = JournaledState::open(
            backend.clone(),
            move || new_stack_id(&name),
            CompactionPolicy::default(),
        )
        .await?;
        let registry = env.registry.clone();
        let env = Arc::new(env);
        let in_state: Vec<String> =
            state.state().resources.values().map(|r| r.provider.clone()).collect();
        let configured = configure_providers(&env, &registry, state.state(), &in_state).await?;
        Ok(Session {
            env,
            backend,
            lock,
            state,
            registry,
            warnings: configured.warnings,
            deferred: configured.deferred,
        })
    }

    /// Compacts the journal and releases the lock.
    pub async fn close(self) -> Result<(), BackendError> {
        let r = self.state.finish().await;
        let u = self.backend.unlock(&self.lock.id).await;
        r?;
        u
    }

    /// Releases the lock without compacting (after an error); the journal keeps every change.
    pub async fn abandon(self) {
        let _ = self.backend.unlock(&self.lock.id).await;
    }
}

/// The providers a run needs: those with a `provider` block, those whose resource types the
/// configuration declares (in any module), and those that own objects in state.
fn providers_in_use(env: &Environment, in_state: &[String]) -> std::collections::BTreeSet<String> {
    let mut used: std::collections::BTreeSet<String> = in_state.iter().cloned().collect();
    used.extend(env.config.root().providers.iter().map(|p| p.name.clone()));
    for m in &env.config.modules {
        used.extend(
            m.resources.values().map(|r| crate::provider::provider_name_of(&r.rtype).to_string()),
        );
    }
    used
}

/// Resource values as state last recorded them; resources not in state are planned from their
/// configuration (computed attributes unknown). Provider blocks are evaluated with it, before
/// refresh: a provider configured from a resource that already exists gets its recorded
/// values (Terraform reads the refreshed ones, which needs a walk per provider; the recorded
/// ones are what the previous apply configured the provider with, so they still work unless
/// the resource changed outside slipway).
struct StateValues<'a>(&'a State);

impl InstanceHandler for StateValues<'_> {
    fn instance(&self, ctx: &InstanceContext<'_>) -> Result<Value, Diagnostic> {
        match self.0.resources.get(ctx.addr) {
            Some(r) if r.pending_client_token().is_none() => Ok(r.value()),
            _ => UnknownComputed.instance(ctx),
        }
    }
}

/// What configuring the providers found.
#[derive(Default)]
pub struct Configured {
    /// Providers configured only after apply has created what their blocks refer to.
    pub deferred: BTreeSet<String>,
    /// One warning per deferred provider.
    pub warnings: Diagnostics,
}

/// Evaluates `provider` blocks and configures the providers this run uses. Providers nobody
/// uses are left alone: configuring the aws provider looks for credentials and a region, which
/// a configuration without AWS resources must not need. A provider whose block still holds
/// values known only after apply is deferred, if it can be ([`Provider::configure_deferred`]).
pub async fn configure_providers(
    env: &Environment,
    registry: &ProviderRegistry,
    state: &State,
    in_state: &[String],
) -> Result<Configured, SessionError> {
    let stack_id = state.stack_id.as_str();
    let (configs, diags) = env.provider_configs(&StateValues(state));
    if diags.has_errors() {
        return Err(SessionError::Config(diags));
    }
    for p in &env.config.root().providers {
        if registry.get(&p.name).is_none() {
            let names: Vec<&str> = registry.names().collect();
            let mut d =
                Diagnostic::error(format!("unknown provider \"{}\"", p.name)).at(p.span.clone());
            if let Some(c) = crate::diag::closest(&p.name, names.iter().copied()) {
                d = d.hint(format!("did you mean \"{c}\"?"));
            }
            return Err(SessionError::Config(Diagnostics(vec![d])));
        }
    }
    let ctx = ProviderContext { stack_id: stack_id.to_string(), environment: env.name.clone() };
    let used = providers_in_use(env, in_state);
    let mut out = Configured::default();
    for name in registry.names().filter(|n| used.contains(*n)) {
        let Some(p) = registry.get(name) else {
            continue;
        };
        let config = configs.get(name).cloned().unwrap_or(Value::Null);
        if config.contains_unknown() {
            p.configure_deferred(&ctx).await.map_err(|e| {
                SessionError::Other(format!(
                    "{}: its configuration depends on values known only after apply",
                    e.message
                ))
            })?;
            let objects = in_state.iter().filter(|p| *p == name).count();
            let block = env.config.root().providers.iter().find(|b| b.name == name);
            let mut d = Diagnostic::warning(format!(
                "provider \"{name}\" is configured from values known only after apply: this run \
                 contacts it only during apply, just before its first object{}",
                if objects > 0 {
                    format!("; its {objects} object(s) in state were not refreshed")
                } else {
                    String::new()
                }
            ));
            if let Some(b) = block {
                d = d.at(b.span.clone());
            }
            out.warnings.push(d);
            out.deferred.insert(name.to_string());
            continue;
        }
        p.configure(&ctx, &config).await.map_err(|e| {
            SessionError::Other(format!("configuring provider \"{name}\": {}", e.message))
        })?;
    }
    Ok(out)
}
