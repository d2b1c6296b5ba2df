//! The one integration-test target: every end-to-end test drives the real `slipway` binary.

mod engine;
mod etcd;
mod pki;
