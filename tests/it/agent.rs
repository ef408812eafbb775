//! `hawatch agent` against a real HAProxy using `agent-check`, and against
//! clients that send anything at all.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use haproxy::agent::Reply;

use crate::support::hawatch_bin;
use testkit::backend::Backend;
use testkit::haproxy::Haproxy;
use testkit::receivers::Receiver;
use testkit::{tempdir, wait_for, Proc};

const T: Duration = Duration::from_secs(20);

struct Agent {
    proc: Proc,
    port: u16,
    dir: tempfile::TempDir,
    config: std::path::PathBuf,
}

impl Agent {
    /// Writes `[agent]` (listen on 127.0.0.1:0, store in a tempdir) plus
    /// `body`, starts `hawatch agent`, waits until it listens and reads the
    /// port it got from its log (the first listener's).
    fn start(agent_extra: &str, body: &str) -> Agent {
        let dir = tempdir();
        let config = dir.path().join("agent.toml");
        // `agent_extra` may bring its own `listen`.
        let listen = if agent_extra.lines().any(|l| l.trim_start().starts_with("listen")) {
            String::new()
        } else {
            "listen = [\"127.0.0.1:0\"]\n".to_string()
        };
        let text = format!(
            "[agent]\nname = \"web1\"\n{listen}store = {:?}\n{agent_extra}\n{}",
            dir.path().join("agent.db").display().to_string(),
            body.replace("{dir}", &dir.path().display().to_string())
        );
        std::fs::write(&config, text).unwrap();
        let mut cmd = Command::new(hawatch_bin());
        cmd.args(["agent", "--log", "debug", "--config"]).arg(&config);
        let proc = Proc::spawn("hawatch-agent", cmd, dir.path());
        assert!(
            proc.wait_stderr_contains("agent listening", T),
            "agent did not start:\n{}",
            proc.stderr()
        );
        let port = logged_addrs(&proc, "agent listening")[0].port();
        Agent {
            proc,
            port,
            dir,
            config,
        }
    }

    /// The address the agent logged with `message` (waits for the line).
    fn logged_addr(&self, message: &str) -> SocketAddr {
        assert!(
            self.proc.wait_stderr_contains(message, T),
            "no {message:?}:\n{}",
            self.proc.stderr()
        );
        logged_addrs(&self.proc, message)[0]
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    /// Connects, sends `send`, reads the reply to EOF.
    fn ask(&self, send: &[u8]) -> String {
        ask(self.port, send)
    }
}

/// The `addr=` of every log line of `proc` with `message`, in order.
fn logged_addrs(proc: &Proc, message: &str) -> Vec<SocketAddr> {
    proc.stderr()
        .lines()
        .filter(|l| l.contains(message))
        .filter_map(|l| l.split_whitespace().find_map(|w| w.strip_prefix("addr=")))
        .map(|a| a.parse().unwrap_or_else(|e| panic!("addr={a}: {e}")))
        .collect()
}

fn ask(port: u16, send: &[u8]) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = s.write_all(send);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn write_proc(dir: &Path, load1: f64) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("loadavg.new"), format!("{load1:.2} 0.50 0.50 1/100 4242\n")).unwrap();
    std::fs::rename(dir.join("loadavg.new"), dir.join("loadavg")).unwrap();
    std::fs::write(
        dir.join("stat"),
        "cpu  1 0 1 100 0 0 0 0 0 0\ncpu0 1 0 1 100 0 0 0 0 0 0\n",
    )
    .unwrap();
}

#[test]
fn haproxy_follows_the_agent_app_down_maintenance_file_and_load() {
    let app = Backend::start();
    app.set_body("hello, test me");
    let rx = Receiver::webhook(None);
    let proc_dir = tempdir();
    write_proc(proc_dir.path(), 0.2);
    let agent = Agent::start(
        "allow = [\"127.0.0.0/8\"]\nmetrics_listen = \"127.0.0.1:0\"",
        &format!(
            "[[agent.check]]\nname = \"app\"\ntype = \"http\"\nurl = \"http://127.0.0.1:{}/\"\nexpect_body = \"test me\"\ninterval = \"200ms\"\ntimeout = \"1s\"\n\n\
             [[agent.check]]\nname = \"maintenance\"\ntype = \"file\"\npath = \"{{dir}}/maint\"\nstate = \"maint\"\ninterval = \"200ms\"\n\n\
             [[agent.check]]\nname = \"load\"\ntype = \"load\"\nmetric = \"load1\"\nlow = 1.0\nhigh = 3.0\nfloor = 10\nceiling = 100\nproc = {:?}\ninterval = \"200ms\"\n\n\
             [[sink]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"{}\"\n",
            app.port(),
            proc_dir.path().display().to_string(),
            rx.url()
        ),
    );
    let metrics_port = agent.logged_addr("agent metrics on /metrics").port();
    assert_eq!(agent.ask(b""), "up 100%\n");
    // The real HAProxy: its regular check (status only) passes all along, so what
    // moves the server is the agent.
    let h = Haproxy::start(&format!(
        "backend be\n    option httpchk GET /\n    server s1 127.0.0.1:{} check inter 500ms rise 1 weight 100 agent-check agent-port {} agent-inter 300ms\n",
        app.port(),
        agent.port
    ));
    assert!(
        h.wait_server_status("be", "s1", "UP", T),
        "{}",
        h.server_status("be", "s1")
    );
    assert!(wait_for(T, || h
        .try_stat_field("be", "s1", "agent_status")
        .is_some_and(|s| s.contains("L7OK"))));

    // The app stops answering "test me": DOWN, with the reason in last_agt.
    app.set_body("maintenance page");
    let t = Instant::now();
    assert!(
        h.wait_server_status("be", "s1", "DOWN (agent)", T),
        "{}",
        h.server_status("be", "s1")
    );
    let took = t.elapsed();
    // Check interval (200 ms) + agent-inter (300 ms), with room for a loaded machine.
    assert!(took < Duration::from_secs(3), "DOWN after {took:?}");
    let last = h.try_stat_field("be", "s1", "last_agt").unwrap_or_default();
    assert!(last.contains("down") && last.contains("test me"), "{last}");
    app.set_body("test me again");
    assert!(
        h.wait_server_status("be", "s1", "UP", T),
        "{}",
        h.server_status("be", "s1")
    );

    // An operator's MAINT through the Runtime API stays: the agent does not
    // say `ready` unless it set maint or drain itself.
    h.cmd("set server be/s1 state maint");
    assert!(h.wait_server_status("be", "s1", "MAINT", T));
    std::thread::sleep(Duration::from_millis(1500)); // five agent checks
    assert_eq!(h.server_status("be", "s1"), "MAINT");
    h.cmd("set server be/s1 state ready");
    assert!(
        h.wait_server_status("be", "s1", "UP", T),
        "{}",
        h.server_status("be", "s1")
    );

    // The maintenance file: MAINT while it is there, back when it goes.
    std::fs::write(agent.path("maint"), "").unwrap();
    assert!(
        h.wait_server_status("be", "s1", "MAINT", T),
        "{}",
        h.server_status("be", "s1")
    );
    std::fs::remove_file(agent.path("maint")).unwrap();
    assert!(
        h.wait_server_status("be", "s1", "UP", T),
        "{}",
        h.server_status("be", "s1")
    );

    // Load rises: the weight in `show stat` follows (load 2.0 of 1..3 → 55%).
    write_proc(proc_dir.path(), 2.0);
    assert!(
        wait_for(T, || h.try_stat_field("be", "s1", "weight").as_deref() == Some("55")),
        "weight {:?}",
        h.try_stat_field("be", "s1", "weight")
    );
    write_proc(proc_dir.path(), 0.1);
    assert!(wait_for(T, || h.try_stat_field("be", "s1", "weight").as_deref() == Some("100")));

    // Every state change was an event, stored and delivered.
    assert!(rx.wait_for_accepted(4, T), "{}", agent.proc.stderr());
    let out = Command::new(hawatch_bin())
        .args(["events", "--json", "--kind", "agent_state_changed", "--store"])
        .arg(agent.path("agent.db"))
        .output()
        .unwrap();
    let evs: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let to: Vec<&str> = evs.iter().map(|e| e["to"].as_str().unwrap()).collect();
    assert_eq!(to, ["up", "down", "up", "maint", "up"], "{evs:#?}");
    assert_eq!(evs[1]["severity"], "critical");

    // Its metrics: replies by state, checks.
    let m = testkit::alertmanager::http(metrics_port, "GET", "/metrics", None)
        .unwrap()
        .1;
    let ups: f64 = m
        .lines()
        .find_map(|l| l.strip_prefix("hawatch_agent_replies_total{state=\"up\"} "))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    assert!(ups >= 5.0, "{m}");
    assert!(m.contains("hawatch_agent_check_ok{check=\"app\"} 1"), "{m}");
    assert!(
        m.contains("hawatch_agent_check_duration_seconds_count{check=\"load\"}"),
        "{m}"
    );

    // A restart says nothing new: the last state told is kept in the store.
    let before = rx.accepted_count();
    drop(agent.proc);
    let mut cmd = Command::new(hawatch_bin());
    cmd.args(["agent", "--config"]).arg(&agent.config);
    let again = Proc::spawn("hawatch-agent-2", cmd, agent.dir.path());
    assert!(again.wait_stderr_contains("agent listening", T), "{}", again.stderr());
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(rx.accepted_count(), before, "{}", again.stderr());

    // --once says what it would reply and why.
    let once = Command::new(hawatch_bin())
        .args(["agent", "--once", "--config"])
        .arg(&agent.config)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&once.stdout);
    assert!(once.status.success(), "{text}{}", String::from_utf8_lossy(&once.stderr));
    assert!(
        text.starts_with("up 100%\n") && text.contains("app (http): HTTP 200, body ok"),
        "{text}"
    );
    assert!(
        text.contains("maintenance (file):") && text.contains("load (load): load1/CPU 0.10"),
        "{text}"
    );
}

#[test]
fn agent_send_picks_the_service() {
    let (a, b) = (Backend::start(), Backend::start());
    b.set_status(500);
    let agent = Agent::start(
        "send_wait = \"500ms\"",
        &format!(
            "[[agent.check]]\nname = \"a\"\ntype = \"tcp\"\naddress = \"127.0.0.1:{}\"\nservice = \"be/a\"\ninterval = \"200ms\"\n\n\
             [[agent.check]]\nname = \"b\"\ntype = \"http\"\nurl = \"http://127.0.0.1:{}/\"\nservice = [\"be/b\"]\ninterval = \"200ms\"\n",
            a.port(),
            b.port()
        ),
    );
    assert_eq!(agent.ask(b"be/a\n"), "up 100%\n");
    assert_eq!(agent.ask(b"be/b\n"), "down #b: HTTP 500\n");
    // Nothing sent, or a name no check has: the checks without a service (none: up).
    assert_eq!(agent.ask(b""), "up 100%\n");
    assert_eq!(agent.ask(b"be/zzz\r\n"), "up 100%\n");
    // A real HAProxy sending `agent-send` gets the reply of its service.
    let h = Haproxy::start(&format!(
        // HAProxy spreads the first checks over the check interval: keep it short.
        "backend be\n    server a 127.0.0.1:{} check inter 1s agent-check agent-port {p} agent-inter 300ms agent-send \"be/a\\n\"\n    \
         server b 127.0.0.1:{} check inter 1s agent-check agent-port {p} agent-inter 300ms agent-send \"be/b\\n\"\n",
        a.port(),
        a.port(),
        p = agent.port
    ));
    assert!(
        h.wait_server_status("be", "b", "DOWN (agent)", T),
        "{} {:?} {:?} a:{:?}\nhaproxy: {}\n{}",
        h.server_status("be", "b"),
        h.try_stat_field("be", "b", "agent_status"),
        h.try_stat_field("be", "b", "last_agt"),
        h.try_stat_field("be", "a", "agent_status"),
        h.stderr(),
        agent.proc.stderr()
    );
    assert_eq!(h.server_status("be", "a"), "UP");
}

/// Arbitrary bytes from clients: every connection ends (a valid reply or a
/// close) within the deadlines, and the agent stays up and correct.
#[test]
fn arbitrary_client_bytes_never_hang_or_crash_it() {
    let agent = Agent::start(
        "send_wait = \"100ms\"\ntimeout = \"1s\"\nmax_connections = 64",
        "[[agent.check]]\nname = \"f\"\ntype = \"file\"\npath = \"{dir}/nothing\"\nservice = \"svc\"\n",
    );
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let started = Instant::now();
    for i in 0..400 {
        let n = (next() % 600) as usize;
        let mut bytes: Vec<u8> = (0..n).map(|_| next() as u8).collect();
        if i % 3 == 0 {
            bytes.push(b'\n');
        }
        let mut s = TcpStream::connect(("127.0.0.1", agent.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = s.write_all(&bytes);
        if i % 7 == 0 {
            drop(s); // hang up at once
            continue;
        }
        let mut out = Vec::new();
        let t = Instant::now();
        let _ = s.read_to_end(&mut out);
        assert!(t.elapsed() < Duration::from_secs(3), "connection {i} hung");
        if !out.is_empty() {
            let line = String::from_utf8(out).unwrap();
            assert!(
                Reply::parse(&line, true).is_ok() && line.ends_with('\n') && line.matches('\n').count() == 1,
                "{line:?}"
            );
        }
    }
    // Silent clients holding connections open: each is answered after
    // send_wait, or closed when max_connections are already waiting; none
    // hangs. (How many wait at once depends on how fast the clients connect
    // on a loaded machine, so the count is a floor.)
    std::thread::sleep(Duration::from_secs(1)); // the connections above are done
    let idle: Vec<TcpStream> = (0..100)
        .map(|_| TcpStream::connect(("127.0.0.1", agent.port)).unwrap())
        .collect();
    let mut answered = 0;
    for mut s in idle {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        answered += usize::from(out == "up 100%\n");
    }
    assert!(answered >= 32, "{answered}");
    assert!(started.elapsed() < Duration::from_secs(60));
    assert!(agent.proc.is_running());
    assert_eq!(agent.ask(b"svc\n"), "up 100%\n");
}

#[test]
fn several_listeners_ipv4_and_ipv6() {
    let agent = Agent::start("listen = [\"127.0.0.1:0\", \"[::1]:0\"]", "");
    assert!(wait_for(T, || agent.proc.stderr().matches("agent listening").count() == 2));
    let p6 = logged_addrs(&agent.proc, "agent listening")
        .iter()
        .find(|a| a.is_ipv6())
        .unwrap_or_else(|| panic!("no [::1] listener: {}", agent.proc.stderr()))
        .port();
    let mut s = TcpStream::connect(("::1", p6)).unwrap_or_else(|e| panic!("{e}: {}", agent.proc.stderr()));
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert_eq!(out, "up 100%\n");
}

#[test]
fn exec_checks_their_output_exit_status_and_timeout() {
    let dir = tempdir();
    let cfg = dir.path().join("a.toml");
    let write = |checks: &str| {
        std::fs::write(&cfg, format!("[agent]\nstore = \"/nonexistent/x.db\"\n{checks}")).unwrap();
        let out = Command::new(hawatch_bin())
            .args(["agent", "--once", "--config"])
            .arg(&cfg)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let said = write("[[agent.check]]\nname = \"x\"\ntype = \"exec\"\ncommand = [\"/bin/echo\", \"drain 30% maxconn:7\"]\nparse_stdout = true\n");
    assert!(said.starts_with("drain up 30% maxconn:7\n"), "{said}");
    let failed = write("[[agent.check]]\nname = \"x\"\ntype = \"exec\"\ncommand = [\"/bin/false\"]\n");
    assert!(failed.starts_with("down #x: exit status 1\n"), "{failed}");
    let slow = write(
        "[[agent.check]]\nname = \"x\"\ntype = \"exec\"\ncommand = [\"/bin/sleep\", \"10\"]\ntimeout = \"300ms\"\n",
    );
    assert!(slow.starts_with("down #x: ") && slow.contains("300ms"), "{slow}");
    // Output HAProxy would reject fails the check instead of reaching HAProxy.
    let bad = write("[[agent.check]]\nname = \"x\"\ntype = \"exec\"\ncommand = [\"/bin/echo\", \"up; rm -rf /\"]\nparse_stdout = true\n");
    assert!(bad.starts_with("down #x: exit 0, but its output"), "{bad}");
}

#[test]
fn a_bad_agent_config_names_the_key() {
    let dir = tempdir();
    let cfg = dir.path().join("a.toml");
    std::fs::write(
        &cfg,
        "[agent]\nlisten = \"nonsense\"\n\n[[agent.check]]\nname = \"x\"\ntype = \"http\"\naddress = \"1.2.3.4:5\"\n",
    )
    .unwrap();
    let out = Command::new(hawatch_bin())
        .args(["agent", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("`agent.listen`") && err.contains("a.toml:2:"), "{err}");
    assert!(
        err.contains("`agent.check[0].url`") && err.contains("`agent.check[0].address`"),
        "{err}"
    );
}

/// The agent runs under the same supervisor as the watcher: SIGHUP reloads
/// its configuration (new checks, new listeners), a configuration that does
/// not load is refused while the agent goes on answering, and SIGUSR1 (a
/// one-shot command's hand-over) wakes it instead of killing it.
#[test]
fn sighup_reloads_the_agent_and_a_broken_config_is_refused() {
    use nix::sys::signal::Signal;
    let mut agent = Agent::start(
        "",
        "[[agent.check]]\nname = \"maintenance\"\ntype = \"file\"\npath = \"{dir}/maint\"\nstate = \"maint\"\ninterval = \"200ms\"\n",
    );
    assert!(agent.ask(b"").starts_with("up"), "{}", agent.proc.stderr());
    agent.proc.signal(Signal::SIGUSR1);

    // A new check that finds the server down, and the agent told to reload.
    let dir = agent.dir.path().display().to_string();
    std::fs::write(agent.path("down"), "").unwrap();
    let text = std::fs::read_to_string(&agent.config).unwrap();
    std::fs::write(
        &agent.config,
        format!("{text}\n[[agent.check]]\nname = \"gone\"\ntype = \"file\"\npath = \"{dir}/down\"\nstate = \"down\"\ninterval = \"200ms\"\n"),
    )
    .unwrap();
    agent.proc.signal(Signal::SIGHUP);
    assert!(
        agent.proc.wait_stderr_contains("configuration reloaded", T),
        "{}",
        agent.proc.stderr()
    );
    // It listens again (port 0: a new port), now with both checks.
    let listening = logged_addrs(&agent.proc, "agent listening");
    assert_eq!(listening.len(), 2, "{}", agent.proc.stderr());
    agent.port = listening[1].port();
    assert!(
        wait_for(T, || agent.ask(b"").starts_with("down")),
        "{}",
        agent.proc.stderr()
    );

    // A broken file is refused; the agent keeps its running config and answers.
    std::fs::write(&agent.config, "[agent\n").unwrap();
    agent.proc.signal(Signal::SIGHUP);
    assert!(
        agent.proc.wait_stderr_contains("config reload refused", T),
        "{}",
        agent.proc.stderr()
    );
    assert!(agent.ask(b"").starts_with("down"), "{}", agent.proc.stderr());
    assert!(
        agent.proc.is_running(),
        "SIGUSR1 or SIGHUP stopped the agent:\n{}",
        agent.proc.stderr()
    );
}
