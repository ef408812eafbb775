//! Operator commands: `doctor`, `ctl`, `apply`.

pub mod apply;
pub mod ctl;
pub mod doctor;
