//! `hawatch watch` against a real HAProxy: detection, the webhook contract,
//! reloads, restarts, unreachable instances, the HTTP source, --once.

use std::time::Duration;

use serde_json::Value;

use crate::watcher::{kinds, socket_instance, two_servers, webhook_events, webhook_sink, Watcher};
use testkit::backend::Backend;
use testkit::haproxy::{backend_block, Haproxy};
use testkit::receivers::Receiver;
use testkit::wait_for;

const T: Duration = Duration::from_secs(20);

/// Every field the contract promises, with the right types.
fn assert_contract(e: &Value) {
    for k in ["id", "time", "instance", "kind", "severity"] {
        assert!(e[k].is_string(), "{k} missing in {e}");
    }
    for k in ["backend", "server", "from", "to"] {
        assert!(
            e.get(k).is_some(),
            "{k} absent (must be present, null where it does not apply) in {e}"
        );
    }
    chrono::DateTime::parse_from_rfc3339(e["time"].as_str().unwrap()).expect("RFC 3339 time");
    assert!(["info", "warning", "critical"].contains(&e["severity"].as_str().unwrap()));
}

#[test]
fn a_server_whose_listener_stops_goes_down_and_back_up_at_the_webhook() {
    let (h, mut b1, _b2) = two_servers();
    let rx = Receiver::webhook(Some("hook-secret"));
    let w = Watcher::start(
        "200ms",
        &(socket_instance("lb1", &h.socket_path(), "") + &webhook_sink("ops", &rx.url(), "secret = \"hook-secret\"")),
    );
    // Baseline: the first poll is silent.
    w.wait_baseline("lb1");
    assert!(
        w.events().is_empty(),
        "baseline must be silent: {:?}",
        kinds(&w.events())
    );

    b1.stop();
    assert!(
        wait_for(T, || webhook_events(&rx.accepted_bodies())
            .iter()
            .any(|e| e["kind"] == "server_down")),
        "no server_down at the webhook\n{}",
        w.stderr()
    );
    let body = rx
        .accepted_bodies()
        .into_iter()
        .find(|b| {
            webhook_events(std::slice::from_ref(b))
                .iter()
                .any(|e| e["kind"] == "server_down")
        })
        .unwrap();
    assert_eq!(body["version"], 1);
    assert_eq!(body["sink"], "ops");
    assert!(body["delivery_id"].as_str().unwrap().starts_with("ops-"));
    let down = webhook_events(&[body])
        .into_iter()
        .find(|e| e["kind"] == "server_down")
        .unwrap();
    assert_contract(&down);
    assert_eq!(
        (
            down["instance"].as_str(),
            down["backend"].as_str(),
            down["server"].as_str()
        ),
        (Some("lb1"), Some("app"), Some("s1"))
    );
    assert_eq!(
        (down["from"].as_str(), down["to"].as_str(), down["severity"].as_str()),
        (Some("UP"), Some("DOWN"), Some("critical"))
    );
    assert_eq!(down["check"]["status"], "L4CON");
    assert_eq!(down["check"]["info"], "Connection refused");

    b1.restart();
    assert!(
        wait_for(T, || webhook_events(&rx.accepted_bodies())
            .iter()
            .any(|e| e["kind"] == "server_up" && e["server"] == "s1")),
        "no server_up\n{}",
        w.stderr()
    );
    // The receiver verified X-Hawatch-Signature on every request.
    assert!(
        rx.requests().iter().all(|r| r.accepted),
        "a request failed the signature check"
    );
    // What the webhook got is exactly what the store holds, in order.
    let stored: Vec<String> = w
        .events()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    assert!(
        wait_for(T, || rx.event_ids() == stored),
        "webhook {:?} != store {:?}",
        rx.event_ids(),
        stored
    );
    assert_eq!(
        kinds(&w.events()).iter().filter(|k| k.starts_with("server_")).count(),
        2,
        "{:?}",
        kinds(&w.events())
    );
}

#[test]
fn disable_server_through_the_socket_gives_maint_then_ready() {
    let (h, _b1, _b2) = two_servers();
    let w = Watcher::start("200ms", &socket_instance("lb1", &h.socket_path(), ""));
    w.wait_baseline("lb1");
    h.cmd("disable server app/s2");
    let e = w.wait_event("server_maint", "app/s2", T);
    assert_eq!(
        (e["from"].as_str(), e["to"].as_str(), e["severity"].as_str()),
        (Some("UP"), Some("MAINT"), Some("warning"))
    );
    h.cmd("enable server app/s2");
    let e = w.wait_event("server_ready", "app/s2", T);
    assert_eq!((e["from"].as_str(), e["to"].as_str()), (Some("MAINT"), Some("UP")));
    // The console sink (the default) printed both.
    let p = w.proc();
    assert!(p.wait_stdout_contains("server app/s2 MAINT → UP", T), "{}", p.stdout());
    assert!(p.stdout().contains("🔧"), "{}", p.stdout());
}

#[test]
fn a_server_added_by_a_reload_is_reported_once_with_one_restart_event() {
    let (mut h, b1, b2) = two_servers();
    let b3 = Backend::start();
    let w = Watcher::start("200ms", &socket_instance("lb1", &h.socket_path(), ""));
    w.wait_baseline("lb1");
    h.reload(&backend_block(
        "app",
        &[("s1", b1.port()), ("s2", b2.port()), ("s3", b3.port())],
        "",
    ));
    w.wait_event("server_added", "app/s3", T);
    h.wait_server_status("app", "s3", "UP", T);
    // Let the new worker's checks settle, then count: no storm.
    std::thread::sleep(Duration::from_secs(2));
    let k = kinds(&w.events());
    assert_eq!(
        k.iter().filter(|x| x.starts_with("instance_restarted")).count(),
        1,
        "{k:?}"
    );
    assert_eq!(k.iter().filter(|x| x.starts_with("server_added")).count(), 1, "{k:?}");
    assert_eq!(k.len(), 2, "only the restart and the new server: {k:?}");
}

#[test]
fn an_haproxy_restart_gives_one_restart_event_and_no_storm() {
    let b1 = Backend::start();
    // s2 points at a port nobody listens on: DOWN before and after the restart.
    let dead = testkit::dead_port();
    let mut h = Haproxy::start(&backend_block("app", &[("s1", b1.port()), ("s2", dead)], ""));
    h.wait_server_status("app", "s1", "UP", T);
    h.wait_server_status("app", "s2", "DOWN", T);
    let w = Watcher::start("200ms", &socket_instance("lb1", &h.socket_path(), ""));
    w.wait_baseline("lb1");
    let pid = h.worker_pid();
    h.stop();
    h.start_again();
    assert_ne!(pid, h.worker_pid());
    w.wait_event("instance_restarted", "lb1", T);
    h.wait_server_status("app", "s2", "DOWN", T);
    std::thread::sleep(Duration::from_secs(2));
    let k = kinds(&w.events());
    assert_eq!(
        k.iter().filter(|x| x.starts_with("instance_restarted")).count(),
        1,
        "{k:?}"
    );
    assert!(
        k.iter().all(|x| x.starts_with("instance_")),
        "no server or backend events across a restart: {k:?}"
    );
}

#[test]
fn at_boot_servers_whose_first_check_has_not_run_raise_nothing_when_it_does() {
    // Issue 12: hawatch and HAProxy started together (systemd at boot). The
    // first polls see `fall 1` servers reading plain `UP` with check `INI`;
    // when their checks then fail, they were never up: no server_down, no
    // backend_down. 30 servers with `inter 10s` spread their first checks
    // over 10 s, so the baseline certainly sees some unchecked.
    let dead = testkit::dead_port();
    let servers: Vec<(String, u16)> = (0..30).map(|i| (format!("s{i}"), dead)).collect();
    let refs: Vec<(&str, u16)> = servers.iter().map(|(n, p)| (n.as_str(), *p)).collect();
    let h = Haproxy::start(&backend_block("app", &refs, "inter 10s fall 1 rise 1"));
    let w = Watcher::start("200ms", &socket_instance("lb1", &h.socket_path(), ""));
    w.wait_baseline("lb1");
    let unchecked = |h: &Haproxy| {
        h.stat_rows()
            .iter()
            .filter(|r| r["pxname"] == "app" && r["check_status"] == "INI")
            .count()
    };
    assert!(
        unchecked(&h) > 0,
        "every check ran before the baseline: the test proves nothing"
    );
    assert!(
        wait_for(Duration::from_secs(25), || unchecked(&h) == 0),
        "checks did not run"
    );
    std::thread::sleep(Duration::from_millis(800));
    let k = kinds(&w.events());
    assert!(k.is_empty(), "servers that were never up cannot go down: {k:?}");
    assert_eq!(h.server_status("app", "s0"), "DOWN");
}

#[test]
fn a_vanished_socket_gives_unreachable_then_recovered() {
    let (h, _b1, _b2) = two_servers();
    let w = Watcher::start("200ms", &socket_instance("lb1", &h.socket_path(), ""));
    w.wait_baseline("lb1");
    let moved = h.dir().join("moved.sock");
    std::fs::rename(h.socket_path(), &moved).unwrap();
    let e = w.wait_event("instance_unreachable", "lb1", T);
    assert_eq!(e["severity"], "critical");
    assert!(e["message"].as_str().unwrap().contains("does not exist"), "{e}");
    std::fs::rename(&moved, h.socket_path()).unwrap();
    let e = w.wait_event("instance_recovered", "lb1", T);
    assert!(e["message"].as_str().unwrap().contains("reachable again"), "{e}");
    assert_eq!(w.events().len(), 2, "{:?}", kinds(&w.events()));
}

#[test]
fn the_http_stats_page_with_basic_auth_is_a_source() {
    let (b1, b2) = (Backend::start(), Backend::start());
    let h = Haproxy::builder().with_stats_auth("admin", "pw").start(&backend_block(
        "app",
        &[("s1", b1.port()), ("s2", b2.port())],
        "",
    ));
    h.wait_server_status("app", "s1", "UP", T);
    let port = h.stats_port().unwrap();
    let good = format!("[[haproxy]]\nname = \"web\"\nstats_url = \"http://admin:pw@127.0.0.1:{port}/stats\"\n");
    let bad = format!("[[haproxy]]\nname = \"bad\"\nstats_url = \"http://admin:nope@127.0.0.1:{port}/stats\"\n");
    let w = Watcher::start("200ms", &(good + &bad));
    let e = w.wait_event("instance_unreachable", "bad", T);
    assert!(e["message"].as_str().unwrap().contains("401"), "{e}");
    assert!(
        !e["message"].as_str().unwrap().contains("nope"),
        "the password must not leak: {e}"
    );
    w.wait_baseline("web");
    h.cmd("disable server app/s1");
    w.wait_event("server_maint", "app/s1", T);
    assert!(
        !w.stderr().contains("admin:pw") && !w.stderr().contains("nope"),
        "credentials in logs:\n{}",
        w.stderr()
    );
}

#[test]
fn once_mode_polls_diffs_delivers_and_keeps_what_it_could_not_deliver() {
    let (h, mut b1, _b2) = two_servers();
    let mut rx = Receiver::webhook(None);
    let w = Watcher::configure(
        "1s",
        &(socket_instance("lb1", &h.socket_path(), "") + &webhook_sink("ops", &rx.url(), "")),
    );
    let once = |w: &Watcher| w.run(&["watch", "--once"]);
    let out = once(&w);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(w.events().is_empty(), "first run is the baseline");

    b1.stop();
    h.wait_server_status("app", "s1", "DOWN", T);
    rx.stop();
    let out = once(&w);
    assert_eq!(out.status.code(), Some(1), "a pending notification makes --once fail");
    let outbox = String::from_utf8_lossy(&w.run(&["outbox"]).stdout).to_string();
    assert!(outbox.contains("pending      1"), "{outbox}");

    rx.restart();
    let out = once(&w);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let got = webhook_events(&rx.accepted_bodies());
    assert_eq!(kinds(&got), vec!["server_down app/s1"]);
    assert_eq!(got[0]["id"], w.events()[0]["id"]);
}

#[test]
fn the_ring_fast_path_detects_without_waiting_for_the_interval() {
    let (b1, b2) = (Backend::start(), Backend::start());
    let h =
        Haproxy::builder()
            .with_ring(true)
            .start(&backend_block("app", &[("s1", b1.port()), ("s2", b2.port())], ""));
    h.wait_server_status("app", "s1", "UP", T);
    // s2's first check has run: a server still waiting for it is baselined silently when it answers.
    wait_for(T, || {
        h.try_stat_field("app", "s2", "check_status")
            .is_some_and(|s| s != "INI")
    });
    // A 60 s interval: only the ring can make this fast.
    let w = Watcher::start("60s", &socket_instance("lb1", &h.socket_path(), "ring = \"hawatch\""));
    w.wait_baseline("lb1");
    let t0 = std::time::Instant::now();
    h.cmd("disable server app/s2");
    w.wait_event("server_maint", "app/s2", Duration::from_secs(15));
    assert!(t0.elapsed() < Duration::from_secs(15), "took {:?}", t0.elapsed());
}

#[test]
fn the_runtime_api_over_tcp_is_a_source() {
    let (b1, b2) = (Backend::start(), Backend::start());
    let (h, [port]) = Haproxy::builder().start_with(|[port]| {
        format!("global\n    stats socket ipv4@127.0.0.1:{port} level operator\n\n")
            + &backend_block("app", &[("s1", b1.port()), ("s2", b2.port())], "")
    });
    h.wait_server_status("app", "s1", "UP", T);
    // s2's first check has run: a server still waiting for it is baselined silently when it answers.
    wait_for(T, || {
        h.try_stat_field("app", "s2", "check_status")
            .is_some_and(|s| s != "INI")
    });
    let inst = format!("[[haproxy]]\nname = \"tcp\"\nsocket = \"tcp://127.0.0.1:{port}\"\n");
    let w = Watcher::start("200ms", &inst);
    w.wait_baseline("tcp");
    h.cmd("set server app/s2 state drain");
    let e = w.wait_event("server_drain", "app/s2", T);
    assert_eq!(e["instance"], "tcp");
    assert_eq!(e["addr"], format!("127.0.0.1:{}", b2.port()));
}

#[test]
fn an_https_stats_page_is_verified_unless_told_otherwise() {
    let (b1, b2) = (Backend::start(), Backend::start());
    let dir = testkit::tempdir();
    let pem = dir.path().join("stats.pem");
    let out = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
        ])
        .args(["-keyout"])
        .arg(dir.path().join("key.pem"))
        .arg("-out")
        .arg(dir.path().join("cert.pem"))
        .output()
        .expect("openssl (scripts/deps.sh installs it)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let both = std::fs::read_to_string(dir.path().join("cert.pem")).unwrap()
        + &std::fs::read_to_string(dir.path().join("key.pem")).unwrap();
    std::fs::write(&pem, both).unwrap();
    let (h, [port]) = Haproxy::builder().start_with(|[port]| {
        backend_block("app", &[("s1", b1.port()), ("s2", b2.port())], "")
            + &format!(
                "listen stats_tls\n    bind 127.0.0.1:{port} ssl crt {}\n    stats enable\n    stats uri /stats\n",
                pem.display()
            )
    });
    h.wait_server_status("app", "s1", "UP", T);
    let url = format!("https://127.0.0.1:{port}/stats");
    let insts = format!("[[haproxy]]\nname = \"trusting\"\nstats_url = \"{url}\"\ntls_verify = false\n\n[[haproxy]]\nname = \"verifying\"\nstats_url = \"{url}\"\n");
    let w = Watcher::start("200ms", &insts);
    let e = w.wait_event("instance_unreachable", "verifying", T);
    assert!(e["message"].as_str().unwrap().contains("certificate"), "{e}");
    w.wait_baseline("trusting");
    h.cmd("disable server app/s1");
    let e = w.wait_event("server_maint", "app/s1", T);
    assert_eq!(e["instance"], "trusting");
}
