//! The one integration-test target: every end-to-end test drives the real `slipway` binary.

mod bootstrap;
mod engine;
mod pki;
