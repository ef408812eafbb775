//! keepalived hooks. `hawatch check` is the `vrrp_script` that decides
//! whether this node may hold the VIP (docs/keepalived.md).

pub mod awareness;
pub mod check;
pub mod fifo;
pub mod generate;
pub mod peer;
pub mod vrrp;
