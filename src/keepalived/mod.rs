//! keepalived hooks. `hawatch check` is the `vrrp_script` that decides
//! whether this node may hold the VIP (docs/keepalived.md).

pub(crate) mod awareness;
pub(crate) mod check;
pub(crate) mod fifo;
pub(crate) mod generate;
pub mod peer;
pub(crate) mod vrrp;
