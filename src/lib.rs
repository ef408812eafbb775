//! hawatch: watch HAProxy (and keepalived), store every event, deliver it.
//!
//! Data flows one way: [`watch`] (sources → snapshot → diff) produces
//! [`event::Event`]s, [`store`] commits them with their notifications, and
//! [`notify`] delivers from the durable outbox to the sinks.

pub mod agent;
pub mod app;
pub mod cli;
pub mod commands;
pub mod config;
pub mod demo;
pub mod event;
pub mod http;
pub mod keepalived;
pub mod metrics;
pub mod notify;
pub mod ops;
pub mod store;
pub mod text;
pub mod watch;

/// An error and its causes, `a: b: c`, skipping causes already in the text.
/// reqwest's own message is only "error sending request"; the cause says
/// what is wrong (a refused connection, an untrusted certificate).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let s = c.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cur = c.source();
    }
    out
}
