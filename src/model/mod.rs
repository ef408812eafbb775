//! What hawatch talks about, shared by every layer above: events and their
//! kinds, the notices sinks receive, the snapshot of an instance, and
//! `since` times. Plain data and pure functions; nothing here does I/O.

pub(crate) mod event;
pub mod notice;
pub mod since;
pub mod snapshot;
