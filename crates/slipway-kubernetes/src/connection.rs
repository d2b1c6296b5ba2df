//! How the provider reaches its cluster: the configured source (a kubeconfig or Terraform's
//! attribute names), the `kube::Config` made from it, and the client made on first use.
//!
//! **Invariants:** no cluster is contacted before the first object operation; the first contact
//! waits for `/readyz` (bounded by `ready_timeout`) and fails at once when waiting cannot help (a
//! certificate that does not verify, refused credentials).

use std::time::{Duration, Instant};

use crate::provider::{ProviderContext, ProviderError};
use crate::value::Value;

use super::{KubernetesProvider, lock};

/// Where the cluster is, as configured.
#[derive(Clone, Debug, Default)]
pub(super) enum Source {
    /// No provider block: `KUBECONFIG` or `~/.kube/config`, as kubectl does.
    #[default]
    Default,
    Kubeconfig {
        path: String,
        context: Option<String>,
    },
    Attributes {
        host: String,
        cluster_ca_certificate: Option<String>,
        client_certificate: Option<String>,
        client_key: Option<String>,
        token: Option<String>,
        tls_server_name: Option<String>,
    },
    /// The provider block depends on resources this run creates: nothing may be contacted
    /// until apply configures the provider with their values.
    Deferred,
}

/// Whether waiting cannot help: the server's certificate does not verify (wrong CA, wrong
/// `tls_server_name`, expired) or the server refuses the credentials. A server still starting
/// refuses connections or answers 5xx, and is waited for; these are not.
pub(super) fn never_answers(e: &kube::Error) -> bool {
    if let kube::Error::Api(status) = e {
        return matches!(status.code, 401 | 403);
    }
    let chain = format!("{e:?}");
    ["InvalidCertificate", "NotValidForName", "UnknownIssuer", "BadSignature", "CertExpired"]
        .iter()
        .any(|k| chain.contains(k))
}

/// An error with its causes, for the one-line messages the CLI prints.
pub(super) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
}

pub(super) fn config_string(config: &Value, key: &str) -> Option<String> {
    config
        .get_attr(key)
        .and_then(|v| v.peel().as_str().map(str::to_string))
        .filter(|s| !s.is_empty())
}

pub(super) fn source_of(config: &Value) -> Result<Source, ProviderError> {
    if let Some(path) = config_string(config, "config_path") {
        return Ok(Source::Kubeconfig { path, context: config_string(config, "config_context") });
    }
    if let Some(host) = config_string(config, "host") {
        return Ok(Source::Attributes {
            host,
            cluster_ca_certificate: config_string(config, "cluster_ca_certificate"),
            client_certificate: config_string(config, "client_certificate"),
            client_key: config_string(config, "client_key"),
            token: config_string(config, "token"),
            tls_server_name: config_string(config, "tls_server_name"),
        });
    }
    if config_string(config, "config_context").is_some() {
        return Err(ProviderError::fatal(
            "config_context needs config_path (the kubeconfig holding that context)",
        ));
    }
    Ok(Source::Default)
}

/// A `kube::Config` for a source. Attributes become an in-memory kubeconfig, so that both
/// ways go through the same loader (PEM handling, TLS server name, token).
pub(super) async fn kube_config(source: &Source) -> Result<kube::Config, ProviderError> {
    use base64::Engine as _;
    use kube::config::{KubeConfigOptions, Kubeconfig};
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
    match source {
        Source::Deferred => Err(ProviderError::fatal(
            "the kubernetes provider's configuration is not known yet (it depends on resources \
             this apply creates)",
        )),
        Source::Default => kube::Config::infer().await.map_err(|e| {
            ProviderError::fatal(format!(
                "no Kubernetes configuration: set config_path or host in the provider \"kubernetes\" block ({e})"
            ))
        }),
        Source::Kubeconfig { path, context } => {
            let kc = Kubeconfig::read_from(path).map_err(|e| {
                ProviderError::fatal(format!("cannot read kubeconfig {path}: {e}"))
            })?;
            let opts = KubeConfigOptions {
                context: context.clone(),
                ..Default::default()
            };
            kube::Config::from_custom_kubeconfig(kc, &opts)
                .await
                .map_err(|e| ProviderError::fatal(format!("kubeconfig {path}: {e}")))
        }
        Source::Attributes {
            host,
            cluster_ca_certificate,
            client_certificate,
            client_key,
            token,
            tls_server_name,
        } => {
            let mut cluster = serde_json::json!({ "server": host });
            if let Some(ca) = cluster_ca_certificate {
                cluster["certificate-authority-data"] = b64(ca).into();
            }
            if let Some(n) = tls_server_name {
                cluster["tls-server-name"] = n.clone().into();
            }
            let mut user = serde_json::json!({});
            if let Some(c) = client_certificate {
                user["client-certificate-data"] = b64(c).into();
            }
            if let Some(k) = client_key {
                user["client-key-data"] = b64(k).into();
            }
            if let Some(t) = token {
                user["token"] = t.clone().into();
            }
            let doc = serde_json::json!({
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "slipway", "cluster": cluster}],
                "users": [{"name": "slipway", "user": user}],
                "contexts": [{"name": "slipway", "context": {"cluster": "slipway", "user": "slipway"}}],
                "current-context": "slipway",
            });
            // The error of a malformed document could quote the key; say only what is wrong.
            let kc: Kubeconfig = serde_json::from_value(doc).map_err(|_| {
                ProviderError::fatal("the provider \"kubernetes\" attributes do not form a valid configuration")
            })?;
            kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
                .await
                .map_err(|e| ProviderError::fatal(format!("provider \"kubernetes\" ({host}): {e}")))
        }
    }
}

impl KubernetesProvider {
    /// The client, made on first use; the first use waits for the API server to be ready.
    pub(super) async fn client(&self) -> Result<kube::Client, ProviderError> {
        let mut guard = self.client.lock().await;
        if let Some(c) = &*guard {
            return Ok(c.clone());
        }
        let source = lock(&self.source).clone();
        let config = kube_config(&source).await?;
        let url = config.cluster_url.to_string();
        let client = kube::Client::try_from(config).map_err(|e| {
            ProviderError::fatal(format!("cannot make a Kubernetes client for {url}: {e}"))
        })?;
        self.wait_ready(&client, &url).await?;
        *guard = Some(client.clone());
        Ok(client)
    }

    /// Polls `/readyz` until it answers `ok`, reporting progress every few seconds.
    pub(super) async fn wait_ready(
        &self,
        client: &kube::Client,
        url: &str,
    ) -> Result<(), ProviderError> {
        let start = Instant::now();
        let mut last_report = start;
        loop {
            self.count("Readyz");
            let req = http::Request::get("/readyz")
                .body(Vec::new())
                .map_err(|e| ProviderError::fatal(format!("/readyz request: {e}")))?;
            let why = match client.request_text(req).await {
                Ok(text) if text.trim() == "ok" => return Ok(()),
                Ok(text) => format!("answered {:?}", text.trim()),
                Err(e) if never_answers(&e) => {
                    return Err(ProviderError::fatal(format!(
                        "the Kubernetes API at {url} refuses this client: {}",
                        error_chain(&e)
                    )));
                }
                Err(e) => e.to_string(),
            };
            let timeout = *lock(&self.ready_timeout);
            if start.elapsed() >= timeout {
                return Err(ProviderError::fatal(format!(
                    "the Kubernetes API at {url} is not ready after {}s: {why}",
                    timeout.as_secs()
                )));
            }
            if last_report.elapsed() >= Duration::from_secs(5) {
                eprintln!(
                    "kubernetes: waiting for the API at {url} to be ready ({}s): {why}",
                    start.elapsed().as_secs()
                );
                last_report = Instant::now();
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// Points the provider at a cluster (or at none yet): the client and discovery of any
    /// earlier configuration are dropped.
    pub(super) async fn set_source(&self, source: Source, ctx: &ProviderContext) {
        *lock(&self.source) = source;
        *lock(&self.stack_id) = ctx.stack_id.clone();
        *self.client.lock().await = None;
        lock(&self.discovery).clear();
    }
}
