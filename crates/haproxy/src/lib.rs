//! Pure HAProxy protocol code for hawatch.
//!
//! Everything here talks HAProxy, and nothing else: the Runtime API client
//! ([`client`]), the `show stat` CSV parser ([`stat`]), `show info` ([`info`]),
//! server status strings ([`status`]) and the state-change lines HAProxy logs
//! ([`log`]). No SQLite, no HTTP server, no notification code. Parsers take
//! `&str` and are tested on real captures from HAProxy 2.6 (`tests/fixtures/`).

pub mod agent;
pub mod client;
pub mod info;
pub mod log;
pub mod stat;
pub mod status;

pub use client::{ClientError, Endpoint};
pub use info::Info;
pub use stat::{ParseError, RowType, Selection, Stat, StatRow};
pub use status::{CheckStatus, ServerStatus, State};
