//! Operator commands against a running HAProxy: `ctl`.

pub mod ctl;
