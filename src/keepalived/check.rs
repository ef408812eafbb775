//! `hawatch check`: keepalived's `vrrp_script`. Exit 0 when this node's
//! HAProxy is fit to hold the VIP, 1 with the reason on stderr otherwise:
//!
//! - the maintenance file is absent (its presence hands the VIP over);
//! - the Runtime API answers `show stat` within `timeout` (a process that
//!   exists but hangs, or a socket left behind by a dead one, both fail —
//!   `killall -0 haproxy` passes for the first and `pidof` for neither);
//! - every backend in `min_up` has at least that many usable servers;
//! - optionally: the process of `pid_file` exists, every address in `binds`
//!   accepts a TCP connection, and `gateway` answers ICMP echo.
//!
//! The probes run concurrently, all within `timeout`.
//!
//! keepalived runs it every `interval` seconds, so it does one request and
//! prints nothing when healthy.

use std::collections::BTreeMap;

use haproxy::{RowType, ServerStatus, Stat, State};

use crate::config::Health;
use crate::model::snapshot::SourceError;

/// Usable servers per backend in a `show stat` reply: UP (also while a
/// failing check counts down, `UP 1/3`) or running without checks.
pub(crate) fn usable(stat: &Stat) -> BTreeMap<String, u32> {
    let mut out = BTreeMap::new();
    for r in stat.rows() {
        match r.kind() {
            RowType::Backend => {
                out.entry(r.pxname.to_string()).or_insert(0);
            }
            RowType::Server => {
                let n = out.entry(r.pxname.to_string()).or_insert(0);
                if matches!(ServerStatus::parse(&r.status).state, State::Up | State::NoCheck) {
                    *n += 1;
                }
            }
            _ => {}
        }
    }
    out
}

/// Why the node is unfit, if it is. Pure.
pub(crate) fn judge(usable: &BTreeMap<String, u32>, min_up: &BTreeMap<String, u32>) -> Result<(), String> {
    let mut why = Vec::new();
    for (backend, min) in min_up {
        match usable.get(backend) {
            None => why.push(format!("backend {backend} is not in HAProxy's configuration")),
            Some(n) if n < min => why.push(format!("backend {backend} has {n} usable server(s), needs {min}")),
            Some(_) => {}
        }
    }
    if why.is_empty() {
        Ok(())
    } else {
        Err(why.join("; "))
    }
}

/// One check; `Err` carries the reason for stderr.
pub(crate) async fn check(h: &Health) -> Result<(), String> {
    if let Some(f) = &h.maint_file {
        if std::fs::symlink_metadata(f).is_ok() {
            return Err(format!("maintenance file {} is present", f.display()));
        }
    }
    // Every failing probe is named: the pid file's too, with the others.
    let pid = h.pid_file.as_deref().map_or(Ok(()), process_alive);
    let api = async {
        // Any valid reply will do for liveness; `Permission denied` or garbage will not.
        let stat = match crate::source::socket_client(&h.socket, h.timeout).show_stat().await {
            Ok(stat) => stat,
            Err(haproxy::Error::Reply(e)) => return Err(format!("HAProxy answered, but: {e}")),
            // The client says what was wrong: no such file, not a socket,
            // permission denied, refused (stale), or no answer in time.
            Err(e) => return Err(format!("HAProxy's Runtime API: {}", SourceError::from(e))),
        };
        judge(&usable(&stat), &h.min_up)
    };
    let binds = futures_util::future::join_all(h.binds.iter().map(|a| async move {
        match tokio::time::timeout(h.timeout, tokio::net::TcpStream::connect(a)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(format!("{a} does not accept connections: {e}")),
            Err(_) => Err(format!("{a} did not accept a connection within {:?}", h.timeout)),
        }
    }));
    let gateway = async {
        match h.gateway {
            Some(ip) => {
                let t = h.timeout;
                tokio::task::spawn_blocking(move || ping(ip, t))
                    .await
                    .unwrap_or_else(|e| Err(e.to_string()))
            }
            None => Ok(()),
        }
    };
    let (api, binds, gateway) = tokio::join!(api, binds, gateway);
    let mut why: Vec<String> = [pid, api, gateway].into_iter().filter_map(Result::err).collect();
    why.extend(binds.into_iter().filter_map(Result::err));
    if why.is_empty() {
        Ok(())
    } else {
        Err(why.join("; "))
    }
}

/// The process named by a pid file exists.
fn process_alive(pid_file: &std::path::Path) -> Result<(), String> {
    let text = std::fs::read_to_string(pid_file).map_err(|e| format!("pid file {}: {e}", pid_file.display()))?;
    // HAProxy's pid file may list several pids (one per line); the first is the master.
    let pid: i32 = text
        .split_whitespace()
        .next()
        .and_then(|p| p.parse().ok())
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("pid file {} holds no pid", pid_file.display()))?;
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) {
        // EPERM: it exists, owned by another user.
        Ok(()) | Err(nix::errno::Errno::EPERM) => Ok(()),
        Err(_) => Err(format!("process {pid} of {} is not running", pid_file.display())),
    }
}

/// One ICMP echo: through an unprivileged ping socket where the system allows
/// it (`net.ipv4.ping_group_range`), else a raw socket (root, or
/// CAP_NET_RAW, as keepalived's scripts usually run).
fn ping(ip: std::net::IpAddr, timeout: std::time::Duration) -> Result<(), String> {
    use socket2::{Domain, Protocol, Socket, Type};
    let (domain, proto, echo, reply) = match ip {
        std::net::IpAddr::V4(_) => (Domain::IPV4, Protocol::ICMPV4, 8u8, 0u8),
        std::net::IpAddr::V6(_) => (Domain::IPV6, Protocol::ICMPV6, 128u8, 129u8),
    };
    let id = (std::process::id() & 0xffff) as u16;
    let mut packet = [echo, 0, 0, 0, (id >> 8) as u8, id as u8, 0, 1, b'h', b'a', b'w', b'a'];
    let (s, raw) = match Socket::new(domain, Type::DGRAM, Some(proto)) {
        Ok(s) => (s, false),
        Err(dgram) => match Socket::new(domain, Type::RAW, Some(proto)) {
            Ok(s) => (s, true),
            Err(_) => {
                return Err(format!(
                    "cannot send ICMP to the gateway ({dgram}): run as root, or allow this user's group in sysctl net.ipv4.ping_group_range"
                ))
            }
        },
    };
    if raw && ip.is_ipv4() {
        // The kernel computes ICMPv6 checksums on raw sockets, not ICMPv4 ones.
        let sum = checksum(&packet);
        packet[2..4].copy_from_slice(&sum.to_be_bytes());
    }
    // Either socket reads and writes like a UDP one.
    let s: std::net::UdpSocket = s.into();
    s.set_read_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    s.send_to(&packet, std::net::SocketAddr::new(ip, 0))
        .map_err(|e| format!("gateway {ip}: {e}"))?;
    let mut buf = [0u8; 256];
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        match s.recv_from(&mut buf) {
            Ok((n, from)) => {
                // A raw IPv4 socket hands over the IP header too.
                let icmp = if raw && ip.is_ipv4() {
                    let ihl = usize::from(buf[0] & 0x0f) * 4;
                    buf.get(ihl..n).unwrap_or(&[])
                } else {
                    &buf[..n]
                };
                // A raw socket sees every ICMP packet: only our echo's reply counts.
                let ours = !raw || icmp.get(4..6) == Some(&packet[4..6]);
                if from.ip() == ip && icmp.first() == Some(&reply) && ours {
                    return Ok(());
                }
            }
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => break,
            Err(e) => return Err(format!("gateway {ip}: {e}")),
        }
    }
    Err(format!("gateway {ip} did not answer ICMP echo within {timeout:?}"))
}

/// The Internet checksum (RFC 1071).
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// `hawatch check --config FILE`: 0 healthy, 1 not (reason on stderr), 2
/// config. `health` is the `[check]` section the command line loaded.
pub(crate) async fn run(health: Option<Health>) -> anyhow::Result<u8> {
    let Some(h) = health else {
        anyhow::bail!("no [check] section in the configuration: `hawatch check` needs one (docs/keepalived.md)");
    };
    match check(&h).await {
        Ok(()) => Ok(0),
        Err(why) => {
            // `why` quotes HAProxy's text: shown, never obeyed (crate::text).
            eprintln!("hawatch check: unhealthy: {}", crate::text::visible(&why.to_string()));
            Ok(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn health(socket: &std::path::Path) -> Health {
        Health {
            socket: haproxy::Endpoint::Unix(socket.to_path_buf()),
            socket_given: true,
            timeout: std::time::Duration::from_millis(500),
            maint_file: None,
            min_up: BTreeMap::new(),
            pid_file: None,
            binds: Vec::new(),
            gateway: None,
        }
    }

    fn run_check(h: &Health) -> (String, std::time::Duration) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let t = std::time::Instant::now();
        let why = rt.block_on(check(h)).unwrap_err();
        (why, t.elapsed())
    }

    /// Each way a socket path can be wrong says what is wrong, at once.
    #[test]
    fn a_bad_socket_path_says_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file.sock");
        std::fs::write(&file, "").unwrap();
        let absent = dir.path().join("absent.sock");
        for (path, want) in [
            (absent.as_path(), "does not exist"),
            (file.as_path(), "is a regular file, not a socket"),
            (dir.path(), "is a directory, not a socket"),
        ] {
            let (why, took) = run_check(&health(path));
            assert!(why.contains(want), "{}: {why}", path.display());
            assert!(!why.contains("did not answer") && !why.contains("stale"), "{why}");
            assert!(took < std::time::Duration::from_millis(400), "{took:?}");
        }
        // A socket nobody listens on: left behind by a dead HAProxy.
        let stale = dir.path().join("stale.sock");
        drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
        let (why, _) = run_check(&health(&stale));
        assert!(why.contains("refused") && why.contains("stale"), "{why}");
    }

    /// A failing pid file does not hide the other failing probes.
    #[test]
    fn every_failing_probe_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let mut h = health(&dir.path().join("absent.sock"));
        h.pid_file = Some(dir.path().join("haproxy.pid"));
        let (why, _) = run_check(&h);
        assert!(why.contains("haproxy.pid") && why.contains("absent.sock"), "{why}");
    }

    #[test]
    fn internet_checksum() {
        // RFC 1071: 0001 f203 f4f5 f6f7 folds to ddf2; the checksum is its complement.
        assert_eq!(checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]), 0x220d);
    }

    #[test]
    fn usable_servers_per_backend_from_a_real_capture() {
        let stat = Stat::parse(include_str!("../../tests/fixtures/haproxy-2.6/show-stat.csv").to_string()).unwrap();
        let u = usable(&stat);
        // be_app: app1 UP, app2 DOWN, app3 UP via agent; be_dead: none.
        assert_eq!(u.get("be_dead"), Some(&0));
        assert!(u["be_app"] >= 1, "{u:?}");
        let min = |b: &str, n: u32| BTreeMap::from([(b.to_string(), n)]);
        assert!(judge(&u, &min("be_app", 1)).is_ok());
        assert_eq!(
            judge(&u, &min("be_dead", 1)).unwrap_err(),
            "backend be_dead has 0 usable server(s), needs 1"
        );
        assert!(judge(&u, &min("nope", 1))
            .unwrap_err()
            .contains("not in HAProxy's configuration"));
    }
}
