//! slipway: infrastructure as code for AWS and Kubernetes cluster bootstrap.
//!
//! The pipeline, one module per stage (see ARCHITECTURE.md):
//! `config` (load HCL) → `eval` (expressions) → `graph` (instances and edges) → `plan` → `apply`.
//! Seams: [`provider`] (the only I/O to the outside world) and [`backend`] (state storage).
//!
//! This crate is the top of the workspace: the one binary's CLI, the `watch` agent, etcd
//! operations and the session that picks a backend. The engine is `slipway-core`, re-exported
//! here under its module names so that `slipway::config`, `slipway::graph`, … (and `crate::…`
//! inside this crate) name the same items as before the split.

pub use slipway_core::{
    addr, apply, backend, config, diag, environment, eval, fmt, git, graph, plan, provider, state,
    value,
};

pub mod cli;
pub mod etcd;
pub mod ops;
pub mod providers;
pub mod session;
pub mod watch;
