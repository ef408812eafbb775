//! hawatch: watch HAProxy (and keepalived), store every event, deliver it.
//!
//! Data flows one way: [`watch`] (sources → snapshot → diff) produces
//! [`event::Event`]s, [`store`] commits them with their notifications, and
//! [`notify`] delivers from the durable outbox to the sinks.

pub mod app;
pub mod cli;
pub mod commands;
pub mod config;
pub mod demo;
pub mod event;
pub mod notify;
pub mod store;
pub mod watch;
