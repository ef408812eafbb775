//! HAProxy's protocols, and nothing else: a Runtime API client ([`Client`]),
//! the commands it sends ([`Command`], with checked names), and parsers for
//! what HAProxy writes: `show stat` CSV ([`stat`]), `show info` ([`info`]),
//! server status strings ([`status`]), the state-change lines it logs
//! ([`log`]), the agent-check reply line ([`agent`]) and the master CLI's
//! `show proc` and `reload` answers ([`master`]), and haproxy.cfg split into
//! sections and words ([`cfg`]).
//!
//! No storage, no HTTP server, no notification code. Parsers take `&str` (or
//! the `String` they keep) and are tested on real captures from HAProxy 2.6
//! (`tests/fixtures/` in this crate). Every network call is bounded in time
//! and in size, and fails with a typed [`Error`].

pub mod agent;
pub mod cfg;
pub mod client;
pub mod command;
pub mod endpoint;
pub mod info;
pub mod log;
pub mod master;
pub mod reply;
pub mod stat;
pub mod status;

pub use agent::Admin;
pub use client::{Client, Error, RingLines};
pub use command::{CliLevel, Command, Name, NameError, ServerId, TypedLine, TypedLineError, Weight, WeightError};
pub use endpoint::{Endpoint, EndpointError};
pub use info::Info;
pub use reply::{parse_info_stat, ReplyError};
pub use stat::{ParseError, RowType, Selection, Stat, StatRow};
pub use status::{CheckStatus, ServerStatus, State};

/// The README's example compiles (`cargo test --doc`).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
