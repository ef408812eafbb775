//! hawatch: watch HAProxy (and keepalived), store every event, deliver it.
//!
//! Data flows one way: [`watch`] (sources → snapshot → diff) produces
//! [`event::Event`]s, [`store`] commits them with their notifications, and
//! [`notify`] delivers from the durable outbox to the sinks.

pub mod event;
pub mod watch;
pub mod config;
pub mod store;
