//! An HAProxy pair behind a keepalived VIP, for real: two network namespaces
//! joined by a veth (198.51.100.0/24, a documentation range the host does not
//! use), in each a real HAProxy, a real keepalived configured by `hawatch
//! keepalived-config` (vrrp_script `hawatch check`, notify `hawatch
//! vrrp-notify`, notify_fifo) and `hawatch watch` with `backend_alerts =
//! "vip-holder"`. The webhook receiver listens inside the first namespace,
//! where both nodes reach it (a namespace cannot reach the host's loopback).
//!
//! Both tests need root and `ip netns`, which not every machine has: they are
//! `#[ignore]`d (an early return would count as passed), and `scripts/test.sh`
//! runs them with `--include-ignored` wherever it can create a namespace.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::support::hawatch_bin;
use testkit::haproxy::{haproxy_bin, socket_cmd};
use testkit::receivers::{Flavour, Receiver};
use testkit::{tempdir, wait_for, Proc};

const T: Duration = Duration::from_secs(30);
const NET: &str = "198.51.100";
const VIP: &str = "198.51.100.248";

/// Two namespaces and a veth between them; removed on drop.
struct Netns {
    names: [String; 2],
}

impl Netns {
    fn create() -> Result<Netns, String> {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tag = (std::process::id() % 10_000) * 10 + n % 10;
        let names = [format!("hwa{tag}"), format!("hwb{tag}")];
        let ip = |args: &[&str]| -> Result<(), String> {
            let out = Command::new("ip").args(args).output().map_err(|e| format!("ip: {e}"))?;
            if out.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "ip {}: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr).trim()
                ))
            }
        };
        ip(&["netns", "add", &names[0]])?;
        let ns = Netns { names };
        ip(&["netns", "add", &ns.names[1]])?;
        let (va, vb) = (format!("va{tag}"), format!("vb{tag}"));
        ip(&["link", "add", &va, "type", "veth", "peer", "name", &vb])?;
        ip(&["link", "set", &va, "netns", &ns.names[0]])?;
        ip(&["link", "set", &vb, "netns", &ns.names[1]])?;
        for (i, dev) in [(0, &va), (1, &vb)] {
            let n = &ns.names[i];
            ip(&["-n", n, "addr", "add", &format!("{NET}.{}/24", i + 1), "dev", dev])?;
            ip(&["-n", n, "link", "set", dev, "up"])?;
            ip(&["-n", n, "link", "set", "lo", "up"])?;
        }
        Ok(ns)
    }

    fn dev(&self, i: usize) -> String {
        let tag = &self.names[i][3..];
        format!("{}{tag}", if i == 0 { "va" } else { "vb" })
    }

    /// `ip netns exec NS` + `cmd`.
    fn cmd(&self, i: usize, program: &Path) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.names[i]]).arg(program);
        c
    }

    fn holds_vip(&self, i: usize) -> bool {
        Command::new("ip")
            .args(["-n", &self.names[i], "-o", "addr", "show"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).contains(&format!(" {VIP}/")))
            .unwrap_or(false)
    }

    /// A listener inside namespace `i`, made from a thread that entered it.
    fn listen(&self, i: usize, addr: &str) -> std::net::TcpListener {
        let path = format!("/var/run/netns/{}", self.names[i]);
        let addr = addr.to_string();
        std::thread::spawn(move || {
            let f = std::fs::File::open(&path).unwrap();
            nix::sched::setns(f.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            std::net::TcpListener::bind(addr).unwrap()
        })
        .join()
        .unwrap()
    }
}

impl Netns {
    /// `GET path` from inside namespace `i` (HTTP/1.0, read to the end).
    fn get(&self, i: usize, addr: &str, path: &str) -> String {
        use std::io::{Read, Write};
        let ns = format!("/var/run/netns/{}", self.names[i]);
        let (addr, path) = (addr.to_string(), path.to_string());
        std::thread::spawn(move || {
            let f = std::fs::File::open(&ns).unwrap();
            nix::sched::setns(f.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            let Ok(mut s) = std::net::TcpStream::connect(&addr) else {
                return String::new();
            };
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let _ = write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n");
            let mut out = String::new();
            let _ = s.read_to_string(&mut out);
            out
        })
        .join()
        .unwrap()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for n in &self.names {
            let _ = Command::new("ip").args(["netns", "del", n]).status();
        }
    }
}

struct Node {
    dir: PathBuf,
    haproxy: Option<Proc>,
    watch: Option<Proc>,
    _keepalived: Proc,
}

fn haproxy_cfg(dir: &Path, i: usize) -> String {
    // The app each node's HAProxy balances to is `shared`: a server that
    // node a serves on its veth address, so both nodes see it change.
    let shared = if i == 0 {
        format!("frontend shared_app\n    bind {NET}.1:8081\n    mode http\n    http-request return status 200 content-type text/plain string ok\n\n")
    } else {
        String::new()
    };
    format!(
        "global\n    stats socket {}/admin.sock mode 600 level admin\n    pidfile {}/haproxy.pid\n\n\
         defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n    timeout check 1s\n\n\
         frontend local_app\n    bind 127.0.0.1:8080\n    http-request return status 200 content-type text/plain string ok\n\n\
         {shared}\
         backend app\n    option httpchk GET /\n    server local 127.0.0.1:8080 check inter 300ms fall 2 rise 1\n    \
         server shared {NET}.1:8081 check inter 300ms fall 2 rise 1\n",
        dir.display(),
        dir.display()
    )
}

fn start_haproxy(ns: &Netns, i: usize, dir: &Path) -> Proc {
    let cfg = dir.join("haproxy.cfg");
    std::fs::write(&cfg, haproxy_cfg(dir, i)).unwrap();
    let mut c = ns.cmd(i, &haproxy_bin());
    c.arg("-db").arg("-f").arg(&cfg);
    let p = Proc::spawn(&format!("haproxy-{i}"), c, dir);
    let sock = dir.join("admin.sock");
    assert!(
        wait_for(T, || socket_cmd(&sock, "show info").is_ok()),
        "haproxy {i} did not start:\n{}",
        p.stderr()
    );
    p
}

/// `hawatch watch` of node `i`, with the config `start_node` wrote.
fn start_watch(ns: &Netns, i: usize, dir: &Path) -> Proc {
    let mut w = ns.cmd(i, &hawatch_bin());
    w.args(["watch", "--log", "debug", "--config"])
        .arg(dir.join("hawatch.toml"));
    let watch = Proc::spawn(&format!("hawatch-{i}"), w, dir);
    assert!(
        watch.wait_stderr_contains("reading keepalived's notify_fifo", T),
        "{}",
        watch.stderr()
    );
    watch
}

/// Node `i` of the pair: HAProxy, `hawatch watch` (its webhook sink posts to
/// `hook`/lb1 or /lb2, so the receiver can fail one node only; `extra` is
/// added to `[keepalived]`), keepalived.
fn start_node(ns: &Netns, i: usize, dir: &Path, hook: &str, extra: &str) -> Node {
    let haproxy = start_haproxy(ns, i, dir);
    let sock = dir.join("admin.sock");
    let name = if i == 0 { "lb1" } else { "lb2" };
    let config = dir.join("hawatch.toml");
    // keepalived.conf from `hawatch keepalived-config`, with this node's paths.
    let out = Command::new(hawatch_bin())
        .args([
            "keepalived-config",
            "--node",
            &format!("lb1={NET}.1:150"),
            "--node",
            &format!("lb2={NET}.2:100"),
        ])
        .args([
            "--interface",
            &ns.dev(i),
            "--vip",
            &format!("{VIP}/24"),
            "--backend",
            "app",
            "--router-id",
            "77",
        ])
        .arg("--hawatch")
        .arg(hawatch_bin())
        .arg("--hawatch-config")
        .arg(&config)
        .arg("--fifo")
        .arg(dir.join("keepalived.fifo"))
        .arg("--socket")
        .arg(&sock)
        .arg("--out")
        .arg(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let hawatch_part = std::fs::read_to_string(dir.join("hawatch-keepalived.toml")).unwrap();
    std::fs::write(
        &config,
        format!(
            "[watch]\ninterval = \"300ms\"\nstore = {:?}\n\n[notify]\nhost = \"{name}\"\n\n\
             [[haproxy]]\nname = \"{name}\"\nsocket = {:?}\n\n\
             [[sink]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"{hook}/{name}\"\nretry_max = \"2s\"\n\n\
             [http]\nlisten = \"{NET}.{}:9101\"\nallow = [\"{NET}.0/24\"]\n\n{}\nbackend_alerts = \"vip-holder\"\nfault_grace = \"2s\"\npeer = \"http://{NET}.{}:9101\"\n{extra}\n",
            dir.join("hawatch.db").display().to_string(),
            sock.display().to_string(),
            i + 1,
            hawatch_part.replace("/etc/hawatch/down", &dir.join("down").display().to_string()),
            2 - i
        ),
    )
    .unwrap();
    let watch = start_watch(ns, i, dir);
    let mut k = ns.cmd(i, &keepalived_bin());
    k.args(["-n", "-l", "-D", "-f"])
        .arg(dir.join(format!("keepalived-{name}.conf")))
        .arg("-p")
        .arg(dir.join("keepalived.pid"))
        .arg("-r")
        .arg(dir.join("vrrp.pid"))
        .arg("-c")
        .arg(dir.join("checkers.pid"));
    let keepalived = Proc::spawn(&format!("keepalived-{i}"), k, dir);
    Node {
        dir: dir.to_path_buf(),
        haproxy: Some(haproxy),
        watch: Some(watch),
        _keepalived: keepalived,
    }
}

/// The keepalived under test: `HAWATCH_IT_KEEPALIVED` (scripts/versions.sh
/// makes Debian 13's 2.3 ready), else the machine's.
fn keepalived_bin() -> std::path::PathBuf {
    std::env::var_os("HAWATCH_IT_KEEPALIVED")
        .map(Into::into)
        .unwrap_or_else(|| "/usr/sbin/keepalived".into())
}

/// (kind, host) of every event the receiver accepted, in order.
fn told(rx: &Receiver) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for body in rx.accepted_bodies() {
        for e in body["events"].as_array().cloned().unwrap_or_default() {
            let host = e["vrrp"]["host"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| e["instance"].as_str().unwrap_or("").to_string());
            out.push((e["kind"].as_str().unwrap_or("").to_string(), host));
        }
    }
    out
}

fn count(t: &[(String, String)], kind: &str, host: &str) -> usize {
    t.iter().filter(|(k, h)| k == kind && h == host).count()
}

#[test]
#[ignore = "needs root and network namespaces (`ip netns`); scripts/test.sh runs it where it can"]
fn a_keepalived_pair_fails_over_and_each_alarm_comes_once() {
    if !keepalived_bin().exists() {
        panic!("keepalived is not installed: run scripts/deps.sh");
    }
    let ns = Netns::create()
        .unwrap_or_else(|e| panic!("cannot create network namespaces here ({e}); this test needs root and `ip netns`"));
    let rx = Receiver::start_on(ns.listen(0, &format!("{NET}.1:0")), Flavour::Webhook);
    let hook = rx.url();
    let (da, db) = (tempdir(), tempdir());
    let mut a = start_node(&ns, 0, da.path(), &hook, "");
    let _b = start_node(&ns, 1, db.path(), &hook, "");

    // Both start as BACKUP (one message each), then lb1 (priority 150) is elected.
    assert!(
        wait_for(T, || ns.holds_vip(0)),
        "lb1 never took the VIP:\n{}",
        a._keepalived.stderr()
    );
    assert!(
        wait_for(T, || count(&told(&rx), "vrrp_master", "lb1") == 1),
        "{:?}",
        told(&rx)
    );
    assert!(
        wait_for(T, || count(&told(&rx), "vrrp_backup", "lb2") == 1),
        "{:?}",
        told(&rx)
    );
    assert!(!ns.holds_vip(1));
    // What each watcher sees of keepalived by itself.
    let metric = |i: usize, line: &str| {
        ns.get(0, &format!("{NET}.{}:9101", i + 1), "/metrics")
            .lines()
            .any(|l| l == line)
    };
    let vip_line = |held: u8| format!("keepalived_vip_held{{vip=\"{VIP}\"}} {held}");
    assert!(wait_for(T, || metric(0, &vip_line(1)) && metric(1, &vip_line(0))));
    assert!(metric(0, "keepalived_up 1") && metric(1, "keepalived_up 1"));
    assert!(metric(
        0,
        "keepalived_vrrp_state{instance=\"VI_77\",state=\"MASTER\"} 1"
    ));
    assert!(metric(
        1,
        "keepalived_vrrp_state{instance=\"VI_77\",state=\"BACKUP\"} 1"
    ));
    assert!(wait_for(T, || metric(0, "hawatch_pair_alerting{role=\"active\"} 1")
        && metric(1, "hawatch_pair_alerting{role=\"standby\"} 1")));

    // A backend event both nodes see: one alert, from the VIP holder.
    assert!(socket_cmd(&da.path().join("admin.sock"), "disable frontend shared_app").is_ok());
    assert!(
        wait_for(T, || count(&told(&rx), "server_down", "lb1") == 1),
        "{:?}",
        told(&rx)
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(count(&told(&rx), "server_down", "lb2"), 0, "{:?}", told(&rx));
    let lb2_events = Command::new(hawatch_bin())
        .args(["events", "--json", "--kind", "server_down", "--store"])
        .arg(db.path().join("hawatch.db"))
        .output()
        .unwrap();
    let stored: Vec<Value> = serde_json::from_slice(&lb2_events.stdout).unwrap();
    assert_eq!(stored.len(), 1, "lb2 stores the event it did not tell");
    assert!(socket_cmd(&da.path().join("admin.sock"), "enable frontend shared_app").is_ok());
    assert!(
        wait_for(T, || count(&told(&rx), "server_up", "lb1") == 1),
        "{:?}",
        told(&rx)
    );
    // lb2 has seen it too (stored, not told) before the next step puts a VIP on it.
    let stored_on_lb2 = |kind: &str| {
        let out = Command::new(hawatch_bin())
            .args(["events", "--json", "--kind", kind, "--store"])
            .arg(db.path().join("hawatch.db"))
            .output()
            .unwrap();
        serde_json::from_slice::<Vec<Value>>(&out.stdout)
            .map(|v| v.len())
            .unwrap_or(0)
    };
    assert!(wait_for(T, || stored_on_lb2("server_up") == 1));

    // Split brain: the VIP on both nodes (as when VRRP adverts are lost); each
    // node's watcher sees it through its peer's API, and the end of it.
    let ipb = |op: &str| {
        assert!(Command::new("ip")
            .args(["-n", &ns.names[1], "addr", op, &format!("{VIP}/24"), "dev", &ns.dev(1)])
            .status()
            .unwrap()
            .success())
    };
    ipb("add");
    assert!(
        wait_for(T, || count(&told(&rx), "vrrp_split_brain", "lb1") == 1
            && count(&told(&rx), "vrrp_split_brain", "lb2") == 1),
        "{:?}",
        told(&rx)
    );
    ipb("del");
    assert!(
        wait_for(T, || count(&told(&rx), "vrrp_pair_ok", "lb1") == 1
            && count(&told(&rx), "vrrp_pair_ok", "lb2") == 1),
        "{:?}",
        told(&rx)
    );

    // HAProxy stops on the MASTER: `hawatch check` fails there, the VIP moves.
    drop(a.haproxy.take());
    assert!(wait_for(T, || ns.holds_vip(1)), "the VIP did not move to lb2");
    assert!(
        wait_for(T, || count(&told(&rx), "vrrp_master", "lb2") == 1),
        "{:?}",
        told(&rx)
    );
    assert!(
        wait_for(T, || count(&told(&rx), "vrrp_fault", "lb1") == 1),
        "{:?}",
        told(&rx)
    );
    assert!(wait_for(T, || metric(1, &vip_line(1)) && metric(0, &vip_line(0))));
    std::thread::sleep(Duration::from_secs(3));
    let t = told(&rx);
    // Exactly one message per node transition.
    // lb1: BACKUP (start) → MASTER → FAULT; lb2: BACKUP (start) → MASTER.
    for (kind, host) in [
        ("vrrp_backup", "lb1"),
        ("vrrp_master", "lb1"),
        ("vrrp_fault", "lb1"),
        ("vrrp_backup", "lb2"),
        ("vrrp_master", "lb2"),
    ] {
        assert_eq!(count(&t, kind, host), 1, "{kind} from {host}: {t:?}");
    }
    let roles = ["vrrp_master", "vrrp_backup", "vrrp_fault", "vrrp_stop"];
    assert_eq!(
        t.iter().filter(|(k, _)| roles.contains(&k.as_str())).count(),
        5,
        "{t:?}"
    );
    // No split brain or lost peer during the failover itself.
    assert_eq!(
        t.iter()
            .filter(|(k, _)| k == "vrrp_split_brain" || k == "vrrp_peer_unreachable")
            .count(),
        2,
        "{t:?}"
    );
    // lb1's HAProxy served the shared server: lb2 saw it go DOWN while the
    // VIP moved, after lb1's HAProxy last answered, so lb2 tells it as the
    // new holder. lb1 tells its own HAProxy gone.
    assert!(
        wait_for(T, || count(&told(&rx), "server_down", "lb2") == 1),
        "{:?}",
        told(&rx)
    );
    let t = told(&rx);
    assert_eq!(count(&t, "instance_unreachable", "lb1"), 1, "{t:?}");
    assert_eq!(count(&t, "instance_unreachable", "lb2"), 0, "{t:?}");
    assert_eq!(
        t.iter().filter(|(k, _)| k == "server_down" || k == "server_up").count(),
        3,
        "{t:?}"
    );
    // A failover is not a takeover: both watchers kept answering.
    assert_eq!(t.iter().filter(|(k, _)| k.starts_with("pair_")).count(), 0, "{t:?}");
    assert!(wait_for(T, || metric(1, "hawatch_pair_alerting{role=\"active\"} 1")
        && metric(0, "hawatch_pair_alerting{role=\"standby\"} 1")));
    let _ = &a.dir;
}

/// A message's items as (event kind, host, told by the standby, when it
/// arrived), accepted ones only, in order.
fn told_marked(rx: &Receiver) -> Vec<(String, String, bool, std::time::Instant)> {
    let mut out = Vec::new();
    for r in rx.accepted() {
        let Some(body) = &r.json else { continue };
        for n in body["notices"].as_array().cloned().unwrap_or_default() {
            let marked = n["by_standby"].as_bool().unwrap_or(false);
            let events = n["folded"].as_array().cloned().unwrap_or_default();
            for e in events.iter().chain(std::iter::once(&n["event"])) {
                let host = e["vrrp"]["host"]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| e["instance"].as_str().unwrap_or("").to_string());
                out.push((
                    e["kind"].as_str().unwrap_or("").to_string(),
                    host,
                    marked,
                    r.received_instant,
                ));
            }
        }
    }
    out
}

/// How many times `kind` was told by `host`, with the standby's mark or without.
fn count_marked(t: &[(String, String, bool, std::time::Instant)], kind: &str, host: &str, marked: bool) -> usize {
    t.iter()
        .filter(|(k, h, m, _)| k == kind && h == host && *m == marked)
        .count()
}

/// When `kind` from `host` first arrived.
fn arrived(t: &[(String, String, bool, std::time::Instant)], kind: &str, host: &str) -> Option<std::time::Instant> {
    t.iter().find(|(k, h, _, _)| k == kind && h == host).map(|x| x.3)
}

/// The takeover timing of these tests (docs/keepalived.md has the defaults).
const TAKEOVER: &str = "takeover_after = \"3s\"\ntakeover_after_stuck = \"4s\"\nhandback_after = \"3s\"";
const TAKEOVER_AFTER: Duration = Duration::from_secs(3);
const STUCK_AFTER: Duration = Duration::from_secs(4);
/// `[watch] interval` of the nodes.
const POLL: Duration = Duration::from_millis(300);
/// The peer is looked at once a second, and a message needs a moment to go
/// out: what a deadline below allows beyond the issue's "+ one poll".
const SLACK: Duration = Duration::from_secs(2);

/// Both nodes up, lb1 elected and telling, lb2 standing by. Fields drop in
/// order: the processes before the namespaces they run in.
struct Lab {
    a: Node,
    b: Node,
    rx: Receiver,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
    ns: Netns,
}

impl Lab {
    fn start() -> Lab {
        if !keepalived_bin().exists() {
            panic!("keepalived is not installed: run scripts/deps.sh");
        }
        let ns = Netns::create().unwrap_or_else(|e| {
            panic!("cannot create network namespaces here ({e}); this test needs root and `ip netns`")
        });
        let rx = Receiver::start_on(ns.listen(0, &format!("{NET}.1:0")), Flavour::Webhook);
        let (da, db) = (tempdir(), tempdir());
        let a = start_node(&ns, 0, da.path(), &rx.url(), TAKEOVER);
        let b = start_node(&ns, 1, db.path(), &rx.url(), TAKEOVER);
        let lab = Lab {
            a,
            b,
            rx,
            _dirs: (da, db),
            ns,
        };
        assert!(wait_for(T, || lab.ns.holds_vip(0)), "lb1 never took the VIP");
        assert!(
            wait_for(T, || count(&told(&lab.rx), "vrrp_master", "lb1") == 1
                && count(&told(&lab.rx), "vrrp_backup", "lb2") == 1),
            "{:?}",
            told(&lab.rx)
        );
        assert!(
            wait_for(T, || lab.metric(0, "hawatch_pair_alerting{role=\"active\"} 1")
                && lab.metric(1, "hawatch_pair_alerting{role=\"standby\"} 1")),
            "roles never settled:\n{}",
            lab.b.watch.as_ref().unwrap().stderr()
        );
        lab
    }

    fn metric(&self, i: usize, line: &str) -> bool {
        self.ns
            .get(0, &format!("{NET}.{}:9101", i + 1), "/metrics")
            .lines()
            .any(|l| l == line)
    }

    /// `disable` / `enable frontend shared_app` on lb1's HAProxy: the server
    /// `app/shared` both HAProxies check goes DOWN / UP.
    fn shared(&self, op: &str) {
        let r = socket_cmd(&self.a.dir.join("admin.sock"), &format!("{op} frontend shared_app"));
        assert!(r.is_ok(), "{r:?}");
    }

    fn t(&self) -> Vec<(String, String, bool, std::time::Instant)> {
        told_marked(&self.rx)
    }

    /// Waits until `kind` from `host` (marked as the standby's or not) was
    /// told `n` times.
    fn wait_told(&self, kind: &str, host: &str, marked: bool, n: usize) {
        assert!(
            wait_for(T, || count_marked(&self.t(), kind, host, marked) == n),
            "{kind} from {host} (marked {marked}) never came {n} time(s): {:?}\n{}",
            self.t(),
            self.stderr()
        );
    }

    /// After time for anything told twice to arrive: exactly these counts.
    fn assert_told(&self, want: &[(&str, &str, bool, usize)]) -> Vec<(String, String, bool, std::time::Instant)> {
        std::thread::sleep(Duration::from_secs(3));
        let t = self.t();
        for (kind, host, marked, n) in want {
            assert_eq!(
                count_marked(&t, kind, host, *marked),
                *n,
                "{kind} from {host} (marked {marked}): {t:?}"
            );
        }
        t
    }

    fn stderr(&self) -> String {
        format!(
            "--- lb1 ---\n{}\n--- lb2 ---\n{}",
            self.a.watch.as_ref().map(|w| w.stderr()).unwrap_or_default(),
            self.b.watch.as_ref().map(|w| w.stderr()).unwrap_or_default()
        )
    }
}

/// The VIP holder's watcher dies (`kill -9`) or hangs (`SIGSTOP`), then the
/// shared server goes DOWN: lb2 tells it within `takeover_after` + one poll,
/// marked, after its own `pair_takeover`; lb1 back, lb2 hands back once, and
/// the server's return is told once, by lb1.
fn holder_silent(stop: nix::sys::signal::Signal) {
    use nix::sys::signal::Signal;
    let mut lab = Lab::start();
    lab.a.watch.as_ref().unwrap().signal(stop);
    let silenced = std::time::Instant::now();
    lab.shared("disable");
    lab.wait_told("server_down", "lb2", true, 1);
    let t = lab.t();
    let took = arrived(&t, "server_down", "lb2").unwrap() - silenced;
    eprintln!("pair: server_down told by the standby {took:?} after the holder's watcher got {stop}");
    assert!(took <= TAKEOVER_AFTER + POLL + SLACK, "{took:?}");
    assert_eq!(count_marked(&t, "pair_takeover", "lb2", false), 1, "{t:?}");
    assert!(arrived(&t, "pair_takeover", "lb2").unwrap() <= arrived(&t, "server_down", "lb2").unwrap());
    assert!(lab.metric(1, "hawatch_pair_alerting{role=\"takeover\"} 1"));
    // lb2 holds no VIP and its peer's hawatch is silent: for all lb2 can
    // tell, nobody holds the VIP (told after its 3 s grace, once).
    lab.wait_told("vrrp_peer_unreachable", "lb2", false, 1);
    // lb1's watcher comes back: it yields to the takeover, which ends once.
    match stop {
        Signal::SIGSTOP => lab.a.watch.as_ref().unwrap().signal(Signal::SIGCONT),
        _ => {
            lab.a.watch.take().unwrap().wait_exit(T);
            lab.a.watch = Some(start_watch(&lab.ns, 0, &lab.a.dir));
        }
    }
    lab.wait_told("pair_handback", "lb2", false, 1);
    assert!(
        wait_for(T, || lab.metric(0, "hawatch_pair_alerting{role=\"active\"} 1")
            && lab.metric(1, "hawatch_pair_alerting{role=\"standby\"} 1")),
        "{}",
        lab.stderr()
    );
    lab.shared("enable");
    lab.wait_told("server_up", "lb1", false, 1);
    let t = lab.assert_told(&[
        ("pair_takeover", "lb2", false, 1),
        ("pair_handback", "lb2", false, 1),
        ("server_down", "lb2", true, 1),
        ("server_down", "lb1", false, 0),
        ("server_up", "lb1", false, 1),
        ("vrrp_peer_unreachable", "lb2", false, 1),
        ("vrrp_pair_ok", "lb2", false, 1),
    ]);
    let from_standby_after_handback = t
        .iter()
        .filter(|(k, h, _, at)| {
            h == "lb2" && k.starts_with("server_") && *at > arrived(&t, "pair_handback", "lb2").unwrap()
        })
        .count();
    assert_eq!(from_standby_after_handback, 0, "{t:?}");
    assert_eq!(t.iter().filter(|(k, ..)| k.starts_with("server_")).count(), 2, "{t:?}");
}

#[test]
#[ignore = "needs root and network namespaces (`ip netns`); scripts/test.sh runs it where it can"]
fn the_standby_tells_when_the_holders_watcher_is_killed_and_hands_back_once() {
    holder_silent(nix::sys::signal::Signal::SIGKILL);
}

#[test]
#[ignore = "needs root and network namespaces (`ip netns`); scripts/test.sh runs it where it can"]
fn a_hung_holder_watcher_is_taken_over_like_a_dead_one() {
    holder_silent(nix::sys::signal::Signal::SIGSTOP);
}

/// The holder's sink fails (503 for lb1 only) while lb2's works: lb2 takes
/// that sink over within `takeover_after_stuck` + one poll, telling what
/// lb1 could not deliver; when lb1 delivers again, its late copy arrives
/// and lb2 hands back once.
#[test]
#[ignore = "needs root and network namespaces (`ip netns`); scripts/test.sh runs it where it can"]
fn a_holder_that_cannot_deliver_is_taken_over_for_that_sink() {
    let lab = Lab::start();
    lab.rx
        .set_mode_for_path("/hook/lb1", Some(testkit::receivers::Mode::FailHttp(503)));
    let broke = std::time::Instant::now();
    lab.shared("disable");
    lab.wait_told("server_down", "lb2", true, 1);
    let t = lab.t();
    // From when lb2 saw the server go DOWN (lb1 saw it within a poll of that
    // and has failed to deliver it since) to lb2's message.
    let (seen, told_at) = lab
        .rx
        .accepted()
        .iter()
        .find_map(|r| {
            let n = r.json.as_ref()?["notices"]
                .as_array()?
                .iter()
                .find(|n| n["by_standby"] == true && n["event"]["kind"] == "server_down")?
                .clone();
            let t = chrono::DateTime::parse_from_rfc3339(n["event"]["time"].as_str()?).ok()?;
            Some((std::time::SystemTime::from(t), r.received_at))
        })
        .unwrap();
    let took = told_at.duration_since(seen).unwrap_or_default();
    eprintln!(
        "pair: server_down told by the standby {took:?} after it saw it ({:?} after lb1's sink began to fail)",
        arrived(&t, "server_down", "lb2").unwrap() - broke
    );
    assert!(took <= STUCK_AFTER + POLL + SLACK, "{took:?}");
    assert_eq!(count_marked(&t, "pair_takeover", "lb2", false), 1, "{t:?}");
    assert_eq!(count_marked(&t, "server_down", "lb1", false), 0, "{t:?}");
    // lb1 tried and failed: its requests reached the receiver.
    assert!(lab
        .rx
        .requests()
        .iter()
        .any(|r| r.path == "/hook/lb1" && r.reply_status == 503));
    lab.rx.set_mode_for_path("/hook/lb1", None);
    // lb1's queue drains (its late copy of server_down), then the handback.
    lab.wait_told("pair_handback", "lb2", false, 1);
    lab.shared("enable");
    lab.wait_told("server_up", "lb1", false, 1);
    let t = lab.assert_told(&[
        ("pair_takeover", "lb2", false, 1),
        ("pair_handback", "lb2", false, 1),
        ("server_down", "lb2", true, 1),
        // Late, within the window: what lb1 had queued before lb2 took over.
        ("server_down", "lb1", false, 1),
        ("server_up", "lb1", false, 1),
        ("server_up", "lb2", true, 0),
        ("vrrp_peer_unreachable", "lb2", false, 0),
    ]);
    assert_eq!(t.iter().filter(|(k, ..)| k.starts_with("server_")).count(), 3, "{t:?}");
    assert_eq!(t.iter().filter(|(k, ..)| k.starts_with("pair_")).count(), 2, "{t:?}");
}

/// Without keepalived's hooks, the VIP coming and going is the role change.
#[test]
#[ignore = "needs root and network namespaces (`ip netns`); scripts/test.sh runs it where it can"]
fn without_hooks_the_vip_tells_the_role() {
    let ns = Netns::create()
        .unwrap_or_else(|e| panic!("cannot create network namespaces here ({e}); this test needs root and `ip netns`"));
    let b1 = testkit::backend::Backend::start();
    let h = testkit::haproxy::Haproxy::start(&testkit::haproxy::backend_block("app", &[("s1", b1.port())], ""));
    let rx = Receiver::start_on(ns.listen(0, &format!("{NET}.1:0")), Flavour::Webhook);
    let dir = tempdir();
    let config = dir.path().join("hawatch.toml");
    std::fs::write(
        &config,
        format!(
            "[watch]\ninterval = \"300ms\"\nstore = {:?}\n\n[notify]\nhost = \"lb1\"\n\n[[haproxy]]\nname = \"lb1\"\nsocket = {:?}\n\n\
             [[sink]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"{}\"\n\n[http]\nlisten = \"\"\n\n[keepalived]\nvips = [\"{NET}.77\"]\npeer = \"http://{NET}.2:9101\"\n",
            dir.path().join("hawatch.db").display().to_string(),
            h.socket_path().display().to_string(),
            rx.url()
        ),
    )
    .unwrap();
    let mut w = ns.cmd(0, &hawatch_bin());
    w.args(["watch", "--log", "debug", "--config"]).arg(&config);
    let watch = Proc::spawn("hawatch-vips", w, dir.path());
    assert!(watch.wait_stderr_contains("baseline recorded", T), "{}", watch.stderr());
    // No VIP here and nobody answering at the peer's address: maybe nobody serves.
    assert!(
        wait_for(T, || count(&told(&rx), "vrrp_peer_unreachable", "lb1") == 1),
        "{:?}\n{}",
        told(&rx),
        watch.stderr()
    );
    let ip = |args: &[&str]| {
        assert!(Command::new("ip")
            .args(["-n", &ns.names[0]])
            .args(args)
            .status()
            .unwrap()
            .success())
    };
    ip(&["addr", "add", &format!("{NET}.77/24"), "dev", &ns.dev(0)]);
    assert!(
        wait_for(T, || count(&told(&rx), "vrrp_master", "lb1") == 1),
        "{:?}\n{}",
        told(&rx),
        watch.stderr()
    );
    ip(&["addr", "del", &format!("{NET}.77/24"), "dev", &ns.dev(0)]);
    assert!(
        wait_for(T, || count(&told(&rx), "vrrp_backup", "lb1") == 1),
        "{:?}",
        told(&rx)
    );
    let body = rx.accepted_bodies();
    let e = &body.last().unwrap()["events"][0];
    assert_eq!(
        (e["instance"].as_str(), e["vrrp"]["source"].as_str()),
        (Some("vips"), Some("vips"))
    );
}
