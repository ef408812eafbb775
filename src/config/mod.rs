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
mod http;
mod instance;
mod keepalived;
mod load;
mod locate;
mod metrics;
mod notify;
mod problems;
pub mod secret;
mod show;
pub mod sink;
pub mod value;
mod watch;

use std::path::PathBuf;

use serde::Serialize;

pub use agent::{Agent, DEFAULT_AGENT_LISTEN, DEFAULT_AGENT_STORE};
pub use agent_check::{AgentCheck, CheckKind, LoadMetric};
pub use apply::{ApplyConfig, Reload};
pub use check::Health;
pub use http::{Http, DEFAULT_LISTEN};
pub use instance::{Instance, Source, DEFAULT_SOCKET};
pub use keepalived::{BackendAlerts, Keepalived};
pub use load::DEFAULT_CONFIG;
pub use metrics::Metrics;
pub use notify::{Notify, DEFAULT_MAX_AGE};
pub use problems::ConfigError;
pub use secret::{redact_url, Secret};
pub use sink::{Sink, SinkKind, SmtpTls};
pub use watch::{Watch, DEFAULT_STORE};

/// A whole config, validated.
#[derive(Debug, Clone, Serialize)]
pub struct Config {
    /// The file it came from; `None` when built from environment variables.
    #[serde(skip)]
    pub path: Option<PathBuf>,
    pub watch: Watch,
    #[serde(rename = "haproxy")]
    pub instances: Vec<Instance>,
    pub notify: Notify,
    #[serde(rename = "sink")]
    pub sinks: Vec<Sink>,
    pub http: Http,
    pub metrics: Metrics,
    /// `[agent]`, if the file has one.
    pub agent: Option<Agent>,
    /// `[check]`, if the file has one.
    pub check: Option<Health>,
    /// `[keepalived]`, if the file has one.
    pub keepalived: Option<Keepalived>,
    /// `[apply]`, if the file has one.
    pub apply: Option<ApplyConfig>,
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
