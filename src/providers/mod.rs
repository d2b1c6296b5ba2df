//! Built-in providers. Each implements [`crate::provider::Provider`]; none is special-cased by
//! the engine.

pub mod aws;
pub mod kubernetes;
pub mod random;
pub mod time;
pub mod tls;
