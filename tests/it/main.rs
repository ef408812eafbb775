//! Integration tests: the `hawatch` binary against a real HAProxy.
//! One test binary; helpers in the `testkit` crate, `support.rs` and `watcher.rs`.

mod access;
mod agent;
mod cli;
mod delivery;
mod doctor;
mod harness;
mod help;
mod hostile;
mod keepalived;
mod mailam;
mod metrics;
mod nostorm;
mod notify;
mod ops;
mod package;
mod pair;
mod receivers;
mod rules;
mod support;
mod top;
mod watch;
mod watcher;
