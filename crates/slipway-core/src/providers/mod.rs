//! The local providers: no network, no credentials (`random`, `time`, `tls`). Each implements
//! [`crate::provider::Provider`]; none is special-cased by the engine. The registry of every
//! built-in provider is assembled by the `slipway` crate, which also links the aws and
//! kubernetes providers.

pub mod random;
pub mod time;
pub mod tls;
