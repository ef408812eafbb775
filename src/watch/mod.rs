//! `hawatch watch`: one poller per HAProxy instance, the daemon around them.

pub mod poller;
