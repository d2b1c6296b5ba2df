//! Built-in providers. Each implements [`crate::provider::Provider`]; none is special-cased by
//! the engine.

pub mod random;
