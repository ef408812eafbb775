//! Pure logic: no I/O, no clock of its own, no config file. Each function
//! takes plain data (a snapshot, events, a policy) and returns plain data.
//!
//! - [`diff`]: two snapshots of an instance → events.
//! - [`route`], [`policy`], [`plan`]: events → which sink tells what, when.
//! - [`template`]: notices → a message in each sink's format and language.
//! - [`pair`]: who of a keepalived pair tells HAProxy's events, and takeovers.
//! - [`agent_rules`]: check outcomes → what `hawatch agent` tells HAProxy.
//! - [`lint`]: `doctor`'s rules: haproxy.cfg, and host numbers → findings.
//! - [`exporter`], [`exposition`]: `show stat` → the haproxy_exporter's metrics.

pub(crate) mod agent_rules;
pub mod diff;
pub(crate) mod exporter;
pub(crate) mod exposition;
pub mod lint;
pub mod pair;
pub(crate) mod plan;
pub(crate) mod policy;
pub(crate) mod route;
pub(crate) mod template;
