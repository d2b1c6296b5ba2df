//! slipway's engine: everything between the HCL files and a provider call, and no cloud SDK.
//!
//! The pipeline, one module per stage (see ARCHITECTURE.md):
//! `config` (load HCL) → `eval` (expressions) → `graph` (instances and edges) → `plan` → `apply`.
//! Seams: [`provider`] (the only I/O to the outside world) and [`backend`] (state storage).
//! The providers that talk to a cloud or a cluster (`slipway-aws`, `slipway-kubernetes`) and the
//! S3 backend live in their own crates on top of this one; [`providers`] holds the local ones.
//!
//! **Invariant:** this crate depends on no AWS SDK and no Kubernetes client crate, so
//! `cargo test -p slipway-core` builds in minutes on a fresh machine (tests/tidy.rs checks the
//! manifest).

pub mod addr;
pub mod apply;
pub mod backend;
pub mod config;
pub mod diag;
pub mod environment;
pub mod eval;
pub mod fmt;
pub mod git;
pub mod graph;
pub mod plan;
pub mod provider;
pub mod providers;
pub mod state;
pub mod value;
