//! The integration test target: every end-to-end test of the `slipway` binary, one module per
//! area (ripgrep style: one target, so one link and one process for the whole suite).

mod etcdutil;
mod gitutil;
mod kubeutil;
mod util;

/// The dense benchmark shape (issue #18), shared with `benches/scale.rs`.
#[path = "../benches/dense.rs"]
mod dense;

/// The sparse benchmark shape (issue #18), shared with `benches/scale.rs`.
#[path = "../benches/synth.rs"]
mod synth;

mod addons;
mod aws_egress;
mod aws_env;
mod aws_fleet;
mod aws_prod;
mod aws_rules;
mod backend_s3;
mod bootstrap;
mod cloud_config;
mod control_plane;
mod corpus;
mod dr_drill;
mod dr_rebuild;
mod encryption;
mod engine;
mod env_layout;
mod etcd;
mod etcd_membership;
mod etcd_snapshot;
mod etcd_stacked;
mod fmt_cmd;
mod git_sources;
mod gitops;
mod graph_cmd;
mod kubernetes;
mod language;
mod local_cluster;
mod moto;
mod mutate;
mod observability;
mod observability_data;
mod observability_rules;
mod pki;
mod state_recover;
mod terraform_diff;
mod tidy;
mod validate;
mod watch;
mod watch_leader;
