//! Operator commands against a running HAProxy: `ctl`, `apply`.

pub mod apply;
pub mod ctl;
