//! Which addresses this node holds: whether it holds a keepalived VIP now.

use std::net::IpAddr;

/// This node's addresses, loopback and link-local left out.
pub fn local_addresses() -> Vec<IpAddr> {
    let mut out = Vec::new();
    if let Ok(addrs) = nix::ifaddrs::getifaddrs() {
        for a in addrs {
            let Some(sa) = a.address else { continue };
            let ip = if let Some(v4) = sa.as_sockaddr_in() {
                IpAddr::V4(v4.ip())
            } else if let Some(v6) = sa.as_sockaddr_in6() {
                IpAddr::V6(v6.ip())
            } else {
                continue;
            };
            let link_local = matches!(ip, IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80);
            if !ip.is_loopback() && !link_local && !out.contains(&ip) {
                out.push(ip);
            }
        }
    }
    out
}

/// Those of `vips` among `addrs` (this node's addresses), as text.
pub(crate) fn held(vips: &[IpAddr], addrs: &[IpAddr]) -> Vec<String> {
    vips.iter()
        .filter(|v| addrs.contains(v))
        .map(|v| v.to_string())
        .collect()
}

/// Whether this node holds one of `vips` now.
pub(crate) fn holds_any(vips: &[IpAddr]) -> bool {
    let addrs = local_addresses();
    vips.iter().any(|v| addrs.contains(v))
}
