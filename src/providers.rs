//! Built-in providers. Each implements [`crate::provider::Provider`]; none is special-cased by
//! the engine. The local ones live in `slipway-core`, the aws and kubernetes ones in their own
//! crates; they are re-exported here under one path.

pub use slipway_aws as aws;
pub use slipway_core::providers::{random, time, tls};
pub use slipway_kubernetes as kubernetes;

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
