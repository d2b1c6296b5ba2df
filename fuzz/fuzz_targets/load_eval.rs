//! Any bytes as `main.hcl`: loading, building the static graph and walking it must never panic.
//! (Errors are fine: they are diagnostics.)

#![no_main]

use libfuzzer_sys::fuzz_target;
use slipway::environment::Environment;
use slipway::graph::walk::UnknownComputed;
use slipway::provider::ProviderRegistry;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("main.hcl"), data).expect("write main.hcl");
    let env = Environment::load(dir.path(), &[], ProviderRegistry::builtin());
    if env.graph.graph.node_count() > 0 || !env.diagnostics.has_errors() {
        let _ = env.walk(&UnknownComputed);
    }
});
