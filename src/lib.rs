//! hawatch: watch HAProxy (and keepalived), store every event, deliver it.
//!
//! # Layers
//!
//! Dependencies point one way, down this list; `src/layers.rs` fails the
//! tests on any `crate::` import that points up, and on a cycle between the
//! modules of one layer. docs/architecture.md tells how an event travels.
//!
//! | layer | modules | what it is |
//! |---|---|---|
//! | 0 shared | [`text`], [`error`] | escaping untrusted text, the error chain, usage errors |
//! | 1 model | [`model`] | events and kinds, notices, snapshots, `since` |
//! | 2 pure logic | [`logic`] | diff, route, policy, plan, the pair's roles, templates, agent rules, the exporter's metrics |
//! | 3 config | [`config`] | the file → validated plain data |
//! | 4 adapters | [`store`], [`source`], [`metrics`], [`notify`] | SQLite, HAProxy/VIP reads, telemetry, sinks and the outbox |
//! | 5 runtime | [`runtime`] | the one [`Recorder`](runtime::recorder::Recorder), the daemons' [supervisor](runtime::supervisor), the store lock and hand-over |
//! | 6 daemons, ops, views | [`watch`], [`agent`], [`keepalived`], [`ops`], [`http`], [`top`] | what a command runs (`top`: the terminal view) |
//! | 7 command line | [`cli`], [`commands`], [`demo`] | arguments → the command to run; the only layer that turns a path into a `Config` |
//!
//! The protocol itself (stats CSV, Runtime API, agent replies) is the
//! `haproxy` crate, below all of these.

pub mod agent;
pub mod cli;
pub mod commands;
pub mod config;
pub mod demo;
pub mod error;
pub mod http;
pub mod keepalived;
pub mod logic;
pub mod metrics;
pub mod model;
pub mod notify;
pub mod ops;
pub mod runtime;
pub mod source;
pub mod store;
pub mod text;
pub mod top;
pub mod watch;

#[cfg(test)]
mod layers;
