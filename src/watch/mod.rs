//! `hawatch watch`: one poller per HAProxy instance, and the daemon around them.

pub(crate) mod daemon;
pub(crate) mod poller;
