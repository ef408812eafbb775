//! Configuration: one TOML file (or, with no file, the seed's environment
//! variables), checked whole before anything runs.
//!
//! One file per section. Each holds the keys as written (`File*`: serde,
//! unknown keys are errors, closed sets of values are enums), the validated
//! plain data the rest of hawatch reads, and the check between the two.
//! [`load`] reads a file and runs every check, collecting each problem with
//! its file, line and key ([`problems`]; locations come from the parser's
//! spans, [`locate`]). `config show` prints the validated config back
//! through `Serialize`, secrets as `***` ([`show`]).
//!
//! Layer: config reads `model`, `logic`, `text`, `error` and the `haproxy`
//! crate; nothing above it (no store, source, notify, runtime).

mod agent;
mod agent_check;
mod apply;
mod check;
mod doctor;
mod http;
mod instance;
mod keepalived;
mod load;
mod locate;
mod metrics;
mod notify;
mod problems;
pub(crate) mod secret;
mod show;
pub(crate) mod sink;
pub mod value;
mod watch;

use std::path::PathBuf;

use serde::Serialize;

pub(crate) use agent::Agent;
pub(crate) use agent_check::{AgentCheck, CheckKind, LoadMetric};
pub(crate) use apply::{ApplyConfig, Reload};
pub(crate) use check::Health;
pub(crate) use doctor::Doctor;
pub(crate) use http::Http;
pub use instance::{Instance, Source, DEFAULT_SOCKET};
pub(crate) use keepalived::Keepalived;
pub(crate) use metrics::Metrics;
pub(crate) use notify::Notify;
pub use problems::ConfigError;
pub(crate) use secret::redact_url;
pub use secret::Secret;
pub(crate) use sink::{Sink, SinkKind};
pub(crate) use watch::Watch;

/// A whole config, validated.
#[derive(Debug, Clone, Serialize)]
pub struct Config {
    /// The file it came from; `None` when built from environment variables.
    #[serde(skip)]
    pub(crate) path: Option<PathBuf>,
    pub(crate) watch: Watch,
    #[serde(rename = "haproxy")]
    pub instances: Vec<Instance>,
    pub(crate) notify: Notify,
    #[serde(rename = "sink")]
    pub(crate) sinks: Vec<Sink>,
    pub(crate) http: Http,
    pub(crate) metrics: Metrics,
    /// `[agent]`, if the file has one.
    pub(crate) agent: Option<Agent>,
    /// `[check]`, if the file has one.
    pub(crate) check: Option<Health>,
    /// `[keepalived]`, if the file has one.
    pub(crate) keepalived: Option<Keepalived>,
    /// `[apply]`, if the file has one.
    pub(crate) apply: Option<ApplyConfig>,
    /// `[doctor]` (defaults without one).
    pub(crate) doctor: Doctor,
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;

#[cfg(test)]
#[path = "location_tests.rs"]
mod location_tests;

#[cfg(test)]
#[path = "show_tests.rs"]
mod show_tests;
