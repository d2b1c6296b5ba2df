//! Built-in providers. Each implements [`crate::provider::Provider`]; none is special-cased by
//! the engine.

pub mod aws;
pub mod kubernetes;
pub mod random;
pub mod time;
pub mod tls;

use std::sync::Arc;

use crate::provider::ProviderRegistry;

/// Every built-in provider. The registry lives here, not in the seam: `crate::provider` names no
/// concrete provider.
pub fn builtin_registry() -> ProviderRegistry {
    let mut r = ProviderRegistry::default();
    r.register(Arc::new(aws::AwsProvider::new()));
    r.register(Arc::new(kubernetes::KubernetesProvider::new()));
    r.register(Arc::new(random::RandomProvider::new()));
    r.register(Arc::new(time::TimeProvider::new()));
    r.register(Arc::new(tls::TlsProvider::new()));
    r
}
