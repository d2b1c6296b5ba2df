//! slipway: infrastructure as code for AWS and Kubernetes cluster bootstrap.
//!
//! The pipeline, one module per stage (see ARCHITECTURE.md):
//! `config` (load HCL) → `eval` (expressions) → `graph` (instances and edges) → `plan` → `apply`.
//! Seams: [`provider`] (the only I/O to the outside world) and [`backend`] (state storage).

pub mod addr;
pub mod apply;
pub mod backend;
pub mod cli;
pub mod config;
pub mod diag;
pub mod environment;
pub mod etcd;
pub mod eval;
pub mod fmt;
pub mod git;
pub mod graph;
pub mod ops;
pub mod plan;
pub mod provider;
pub mod providers;
pub mod session;
pub mod state;
pub mod value;
pub mod watch;
