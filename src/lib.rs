//! slipway: infrastructure as code for AWS and Kubernetes cluster bootstrap.
//!
//! The pipeline, one module per stage (see ARCHITECTURE.md):
//! `config` (load HCL) → `eval` (expressions) → `graph` (instances and edges) → `plan` → `apply`.
//! Seams: [`provider`] (the only I/O to the outside world) and, later, `backend` (state storage).

pub mod addr;
pub mod diag;
pub mod fmt;
pub mod provider;
pub mod providers;
pub mod value;
