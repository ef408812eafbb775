//! `hawatch watch`: one poller per HAProxy instance, and the daemon around them.

pub mod daemon;
pub mod poller;
