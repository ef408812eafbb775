//! hawatch: watch HAProxy (and keepalived), store every event, deliver it.
//!
//! Data flows one way: [`watch`] (sources → snapshot → diff) produces
//! [`event::Event`]s, [`store`] commits them with their notifications, and
//! [`notify`] delivers from the durable outbox to the sinks.

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
pub mod watch;
