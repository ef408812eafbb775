//! `/metrics` against Debian's real `prometheus-haproxy-exporter` on the same
//! real HAProxy, `promtool check metrics`, the HTTP endpoints, and a real
//! Alertmanager delivering to `/alertmanager`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::watcher::{socket_instance, Watcher};
use testkit::alertmanager::Alertmanager;
use testkit::backend::Backend;
use testkit::exposition::{Exposition, Labels};
use testkit::haproxy::{backend_block, Haproxy};
use testkit::receivers::Receiver;
use testkit::{free_port, pid_listens_on, rt, wait_for, Proc};

const T: Duration = Duration::from_secs(20);

pub fn exporter_bin() -> PathBuf {
    std::env::var_os("HAWATCH_IT_HAPROXY_EXPORTER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/prometheus-haproxy-exporter"))
}

pub fn promtool_bin() -> PathBuf {
    PathBuf::from("/usr/bin/promtool")
}

/// A client for the listener under test (its certificate is self-signed).
fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(timeout)
        .build()
        .unwrap()
}

/// GET with headers; (status, headers, body bytes). Does not decompress.
fn get(url: &str, headers: &[(&str, &str)]) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    rt().block_on(async {
        let mut req = client(Duration::from_secs(30)).get(url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let status = resp.status().as_u16();
        let h = resp.headers().clone();
        (status, h, resp.bytes().await.unwrap().to_vec())
    })
}

/// The status of a GET, 0 when there is no HTTP answer.
fn status(url: &str) -> u16 {
    rt().block_on(async {
        client(Duration::from_secs(5))
            .get(url)
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    })
}

fn text(url: &str) -> String {
    let (s, _, b) = get(url, &[]);
    assert_eq!(s, 200, "GET {url}: {}", String::from_utf8_lossy(&b));
    String::from_utf8(b).unwrap()
}

/// Sends `n` plain HTTP requests through HAProxy on `port`.
fn traffic(port: u16, n: usize, path: &str) {
    for _ in 0..n {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
    }
}

/// HTTP and TCP proxies, several backends, servers UP, DOWN (nothing
/// listening), MAINT (disabled at runtime) and unchecked, and some traffic.
fn lab(stats_page: bool) -> (Haproxy, Backend, Backend, u16, u16) {
    let (b1, b2) = (Backend::start(), Backend::start());
    let dead = testkit::dead_port();
    let body = |[fe, tcp]: [u16; 2]| {
        format!(
            "frontend fe_http\n    bind 127.0.0.1:{fe}\n    default_backend be_app\n\n{}\
             backend be_other\n    server o1 127.0.0.1:{} \n\n\
             listen li_tcp\n    mode tcp\n    bind 127.0.0.1:{tcp}\n    server t1 127.0.0.1:{} check inter 200ms\n    server t2 127.0.0.1:{dead} check inter 200ms\n",
            backend_block("be_app", &[("s1", b1.port()), ("s2", b2.port()), ("s3", dead)], ""),
            b2.port(),
            b1.port(),
        )
    };
    let (h, [fe, tcp]) = Haproxy::builder().with_stats_http(stats_page).start_with(body);
    assert!(h.wait_server_status("be_app", "s1", "UP", T) && h.wait_server_status("be_app", "s3", "DOWN", T));
    h.cmd("disable server be_app/s2");
    assert!(h.wait_server_status("be_app", "s2", "MAINT", T));
    assert!(h.wait_server_status("li_tcp", "t2", "DOWN", T));
    traffic(fe, 20, "/");
    (h, b1, b2, fe, tcp)
}

fn start_exporter(uri: &str) -> (Proc, u16, tempfile::TempDir) {
    let dir = testkit::tempdir();
    for _ in 0..3 {
        let port = free_port();
        let mut cmd = Command::new(exporter_bin());
        cmd.arg(format!("--haproxy.scrape-uri={uri}"))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"));
        let p = Proc::spawn("haproxy_exporter", cmd, dir.path());
        // Listening itself: a stranger may have taken the port first (then it exits).
        let up = wait_for(T, || p.has_exited() || pid_listens_on(p.pid(), port));
        if up && p.is_running() {
            return (p, port, dir);
        }
    }
    panic!("prometheus-haproxy-exporter did not start (is it installed? scripts/deps.sh)");
}

/// Samples that are HAProxy's (not a process's own metrics).
fn haproxy_only(e: &Exposition) -> Vec<&(String, Labels)> {
    e.samples
        .keys()
        .filter(|(n, _)| {
            n.starts_with("haproxy_")
                && !n.starts_with("haproxy_exporter_build_info")
                && n != "haproxy_process_idle_time_percent"
        })
        .collect()
}

/// Gauges that move on their own between two scrapes.
fn volatile(name: &str) -> bool {
    name.contains("_rate")
        || name.contains("current_sessions")
        || name.contains("max_sessions")
        || name.contains("check_duration")
        || name.contains("_time_average_seconds")
        || name.ends_with("_total")
}

#[test]
fn metrics_match_the_go_exporter_on_the_same_haproxy() {
    let (h, _b1, _b2, fe, _tcp) = lab(false);
    let uri = format!("unix:{}", h.socket_path().display());
    let ours_text = compare_with_exporter(&h, fe, &uri, &socket_instance("lb1", &h.socket_path(), ""));
    let ours = Exposition::parse(&ours_text).unwrap();
    // The states the lab set up read as the exporter reads them.
    let up = |b: &str, s: &str| ours.get("haproxy_server_up", &[("backend", b), ("server", s)]);
    assert_eq!(
        (up("be_app", "s1"), up("be_app", "s2"), up("be_app", "s3")),
        (Some(1.0), Some(0.0), Some(0.0))
    );
    assert_eq!(up("be_other", "o1"), Some(1.0)); // "no check"
    assert!(
        ours.get("haproxy_frontend_http_requests_total", &[("frontend", "fe_http")])
            .unwrap()
            >= 25.0
    );
    assert!(ours
        .get(
            "haproxy_backend_http_responses_total",
            &[("backend", "li_tcp"), ("code", "2xx")]
        )
        .is_none());
    // No label with one instance.
    assert_eq!(ours.get("haproxy_up", &[]), Some(1.0));
    let info = h.info();
    assert!(ours
        .get(
            "haproxy_version_info",
            &[("release_date", &info["Release_date"]), ("version", &info["Version"])]
        )
        .is_some());
    // And hawatch's own, plus promtool's lint.
    assert!(ours.get("hawatch_polls_total", &[("haproxy_instance", "lb1")]).unwrap() >= 1.0);
    assert!(ours
        .get("hawatch_build_info", &[("version", env!("CARGO_PKG_VERSION"))])
        .is_some());
    assert!(ours.get("process_resident_memory_bytes", &[]).unwrap() > 1e6);
    let lint = promtool_check_metrics(&ours_text);
    assert!(lint.0, "promtool check metrics:\n{}", lint.1);
}

#[test]
fn over_the_stats_page_too() {
    let (h, _b1, _b2, fe, _tcp) = lab(true);
    let csv = h.stats_csv_url().unwrap();
    let body = format!("[[haproxy]]\nname = \"lb1\"\nstats_url = \"{csv}\"\n");
    let ours = Exposition::parse(&compare_with_exporter(&h, fe, &csv, &body)).unwrap();
    // Over HTTP the exporter has no version (no `show info`), and neither has hawatch.
    assert!(ours.of("haproxy_version_info").is_empty());
    assert_eq!(ours.get("haproxy_up", &[]), Some(1.0));
}

/// Starts the exporter on `uri` and hawatch with `instance_toml`, scrapes
/// exporter, hawatch, exporter, and checks every HAProxy series: same names,
/// label sets, TYPE and HELP; equal values, counters between the exporter's
/// two readings. Returns hawatch's text.
fn compare_with_exporter(h: &Haproxy, fe: u16, uri: &str, instance_toml: &str) -> String {
    let (_exp, exp_port, _d) = start_exporter(uri);
    let w = Watcher::start("1s", instance_toml);
    w.wait_baseline("lb1");
    let base = w.http_base();
    let exp_url = format!("http://127.0.0.1:{exp_port}/metrics");
    traffic(fe, 5, "/");
    let before = Exposition::parse(&text(&exp_url)).unwrap();
    let ours_text = text(&format!("{base}/metrics"));
    let after = Exposition::parse(&text(&exp_url)).unwrap();
    let ours = Exposition::parse(&ours_text).unwrap();

    let (a, b) = (haproxy_only(&ours), haproxy_only(&after));
    let missing: Vec<_> = b.iter().filter(|k| !a.contains(k)).collect();
    let extra: Vec<_> = a.iter().filter(|k| !b.contains(k)).collect();
    assert!(
        missing.is_empty(),
        "series the exporter has and hawatch lacks: {missing:#?}"
    );
    assert!(
        extra.is_empty(),
        "series hawatch has and the exporter lacks: {extra:#?}"
    );
    assert!(a.len() > 250, "only {} series", a.len());
    for (name, ty) in after
        .types
        .iter()
        .filter(|(n, _)| n.starts_with("haproxy_") && *n != "haproxy_exporter_build_info")
    {
        assert_eq!(ours.types.get(name), Some(ty), "TYPE of {name}");
        assert_eq!(ours.helps.get(name), after.helps.get(name), "HELP of {name}");
    }
    let mut checked = 0;
    for key in b {
        let (name, labels) = key;
        let (x, y, v) = (before.samples[key], after.samples[key], ours.samples[key]);
        if name == "haproxy_exporter_scrapes_total" || name == "haproxy_exporter_csv_parse_failures_total" {
            continue; // each process counts its own scrapes
        }
        if volatile(name) {
            if name.ends_with("_total") {
                let (lo, hi) = (x.min(y), x.max(y));
                assert!(
                    lo <= v && v <= hi,
                    "{name}{labels:?}: hawatch {v}, exporter {x} then {y}"
                );
            }
        } else {
            assert_eq!(v, y, "{name}{labels:?}");
        }
        checked += 1;
    }
    assert!(checked > 250, "{checked}");
    let _ = h;
    ours_text
}

fn promtool_check_metrics(text: &str) -> (bool, String) {
    let mut p = Command::new(promtool_bin())
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool (Debian package prometheus; scripts/deps.sh installs it)");
    p.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = p.wait_with_output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn two_instances_carry_the_label_and_a_dead_one_reads_up_0() {
    let (h, _b1, _b2, _fe, _tcp) = lab(false);
    let body = format!(
        "{}{}[metrics]\ninstance_label = \"lb\"\nserver_exclude_states = \"MAINT\"\n",
        socket_instance("lb1", &h.socket_path(), ""),
        socket_instance(
            "gone",
            std::path::Path::new("/nonexistent/haproxy.sock"),
            "timeout = \"500ms\""
        ),
    );
    let w = Watcher::start("1s", &body);
    w.wait_baseline("lb1");
    let base = w.http_base();
    let ours = Exposition::parse(&text(&format!("{base}/metrics"))).unwrap();
    assert_eq!(ours.get("haproxy_up", &[("lb", "lb1")]), Some(1.0));
    assert_eq!(ours.get("haproxy_up", &[("lb", "gone")]), Some(0.0));
    for (name, labels) in ours.samples.keys() {
        if name.starts_with("haproxy_") {
            assert!(labels.contains_key("lb"), "{name}{labels:?} lacks the instance label");
            let own = name == "haproxy_up" || name.starts_with("haproxy_exporter_");
            assert!(
                own || labels.get("lb").map(String::as_str) != Some("gone"),
                "{name}: a dead instance has no series but up and the scrape counters"
            );
        }
    }
    // server_exclude_states: the MAINT server is left out.
    assert!(ours
        .get(
            "haproxy_server_up",
            &[("lb", "lb1"), ("backend", "be_app"), ("server", "s2")]
        )
        .is_none());
    assert!(ours
        .get(
            "haproxy_server_up",
            &[("lb", "lb1"), ("backend", "be_app"), ("server", "s1")]
        )
        .is_some());
    assert_eq!(
        ours.get("hawatch_instance_up", &[("haproxy_instance", "gone")]),
        Some(0.0)
    );
    assert!(
        ours.get("hawatch_poll_errors_total", &[("haproxy_instance", "gone")])
            .unwrap()
            >= 1.0
    );
}

#[test]
fn gzip_openmetrics_auth_healthz_and_the_json_api() {
    let (h, _b1, _b2, _fe, _tcp) = lab(false);
    let body = format!(
        "{}[http]\nlisten = \"127.0.0.1:0\"\nusername = \"prom\"\npassword = \"s3cret-pw\"\n",
        socket_instance("lb1", &h.socket_path(), "")
    );
    let w = Watcher::start("300ms", &body);
    w.wait_baseline("lb1");
    let base = w.http_base();
    let auth = format!("Basic {}", base64_encode("prom:s3cret-pw"));
    // Auth on everything but /healthz.
    assert_eq!(get(&format!("{base}/metrics"), &[]).0, 401);
    assert_eq!(
        get(
            &format!("{base}/api/events"),
            &[("authorization", "Basic cHJvbTp3cm9uZw==")]
        )
        .0,
        401
    );
    let (s, _, b) = get(&format!("{base}/healthz"), &[]);
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&b));
    let hz: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(hz["status"], "ok");
    assert_eq!(hz["instances"]["lb1"]["alive"], true);
    // gzip when asked, the same samples as plain.
    let (s, hd, gz) = get(
        &format!("{base}/metrics"),
        &[("authorization", &auth), ("accept-encoding", "gzip")],
    );
    assert_eq!(s, 200);
    assert_eq!(hd.get("content-encoding").unwrap(), "gzip");
    let mut plain = String::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_string(&mut plain)
        .unwrap();
    let unzipped = Exposition::parse(&plain).unwrap();
    assert!(gz.len() * 4 < plain.len(), "gzip {} of {}", gz.len(), plain.len());
    assert_eq!(unzipped.get("haproxy_backend_up", &[("backend", "be_app")]), Some(1.0));
    assert!(hd
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    // OpenMetrics for Prometheus's Accept header.
    let (_, hd, om) = get(
        &format!("{base}/metrics"),
        &[
            ("authorization", &auth),
            (
                "accept",
                "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
            ),
        ],
    );
    assert!(hd
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));
    let om = String::from_utf8(om).unwrap();
    assert!(om.ends_with("# EOF\n") && om.contains("# TYPE haproxy_backend_bytes_in counter\n"));
    // The API: a state change, then both endpoints show it.
    h.cmd("disable server be_app/s1");
    let events_url = format!("{base}/api/events?kind=server_maint&backend=be_app");
    assert!(wait_for(T, || {
        let (_, _, b) = get(&events_url, &[("authorization", &auth)]);
        serde_json::from_slice::<Vec<Value>>(&b).is_ok_and(|v| v.iter().any(|e| e["server"] == "s1"))
    }));
    let (s, _, b) = get(&format!("{base}/api/state"), &[("authorization", &auth)]);
    assert_eq!(s, 200);
    let st: Value = serde_json::from_slice(&b).unwrap();
    let lb1 = &st["instances"][0];
    assert_eq!(lb1["name"], "lb1");
    assert_eq!(lb1["reachable"], true);
    let be = lb1["backends"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == "be_app")
        .unwrap();
    let s1 = be["servers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "s1")
        .unwrap();
    assert_eq!(s1["status"], "MAINT");
    let (s, _, b) = get(&format!("{base}/api/events?kind=nope"), &[("authorization", &auth)]);
    assert_eq!(s, 400);
    assert!(String::from_utf8_lossy(&b).contains("server_down"));
    let (s, _, _) = get(&format!("{base}/api/events?limit=0"), &[("authorization", &auth)]);
    assert_eq!(s, 400);
    // The password never shows in the log or `config show`.
    assert!(!w.stderr().contains("s3cret-pw"));
    let shown = String::from_utf8_lossy(&w.run(&["config", "show"]).stdout).to_string();
    assert!(shown.contains("[http]") && !shown.contains("s3cret-pw"), "{shown}");
}

fn base64_encode(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[test]
fn a_busy_port_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let w = Watcher::configure(
        "1s",
        &format!(
            "{}[http]\nlisten = \"127.0.0.1:{port}\"\n",
            socket_instance("lb1", std::path::Path::new("/nonexistent.sock"), "")
        ),
    );
    let out = w.run(&["watch"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("cannot listen on 127.0.0.1:{port}")) && err.contains("[http] listen"),
        "{err}"
    );
}

#[test]
fn alertmanager_delivers_to_the_receiver_and_on_to_chat() {
    let (h, _b1, _b2, _fe, _tcp) = lab(false);
    let feishu = Receiver::feishu(Some("fs-secret"));
    let body = format!(
        "{}[[sink]]\nname = \"feishu\"\ntype = \"feishu\"\nurl = \"{}\"\nsecret = \"fs-secret\"\nevents = [\"alert_firing\", \"alert_resolved\"]\n",
        socket_instance("lb1", &h.socket_path(), ""),
        feishu.url()
    );
    let w = Watcher::start("1s", &body);
    w.wait_baseline("lb1");
    let base = w.http_base();
    let am = Alertmanager::start_with(&format!(
        "route:\n  receiver: hawatch\n  group_by: [alertname]\n  group_wait: 100ms\n  group_interval: 1s\n  repeat_interval: 1h\n\
         receivers:\n  - name: hawatch\n    webhook_configs:\n      - url: {base}/alertmanager\n        send_resolved: true\n"
    ));
    let alert = |ends: &str| {
        serde_json::json!([{
            "labels": {"alertname": "HaproxyBackendDown", "backend": "be_app", "severity": "critical", "instance": "lb1:9101"},
            "annotations": {"summary": "HAProxy backend be_app has no server UP", "description": "be_app is down"},
            "endsAt": ends,
        }])
    };
    let later = (chrono::Utc::now() + chrono::Duration::minutes(10)).to_rfc3339();
    assert_eq!(am.post_alerts(&alert(&later)).0, 200);
    assert!(
        feishu.wait_for_accepted(1, T),
        "Feishu got nothing; hawatch:\n{}",
        w.stderr()
    );
    let first = feishu.accepted_texts().join("\n");
    assert!(
        first.contains("HaproxyBackendDown") && first.contains("HAProxy backend be_app has no server UP"),
        "{first}"
    );
    assert!(first.contains("Prometheus 告警"), "{first}");
    // Resolve it: Alertmanager sends the resolution, which reaches Feishu too.
    let now = chrono::Utc::now().to_rfc3339();
    assert_eq!(am.post_alerts(&alert(&now)).0, 200);
    assert!(
        feishu.wait_for_accepted(2, Duration::from_secs(30)),
        "no resolution; hawatch:\n{}",
        w.stderr()
    );
    let texts = feishu.accepted_texts();
    assert!(texts[1].contains("Prometheus 告警恢复"), "{}", texts[1]);
    // Stored as events, visible in the API and `hawatch events`.
    let kinds: Vec<String> = w
        .events()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect();
    assert!(
        kinds.contains(&"alert_firing".to_string()) && kinds.contains(&"alert_resolved".to_string()),
        "{kinds:?}"
    );
    let m = Exposition::parse(&text(&format!("{base}/metrics"))).unwrap();
    assert!(
        m.get("hawatch_alertmanager_alerts_received_total", &[("status", "firing")])
            .unwrap()
            >= 1.0
    );
    assert!(
        m.get("hawatch_notifications_sent_total", &[("sink", "feishu")])
            .unwrap()
            >= 2.0
    );
    // A bad payload is refused with the reason.
    let (s, b) = testkit::alertmanager::http(
        base.rsplit(':').next().unwrap().parse().unwrap(),
        "POST",
        "/alertmanager",
        Some(r#"{"version":"3","alerts":[]}"#),
    )
    .unwrap();
    assert_eq!(s, 400);
    assert!(b.contains("version"), "{b}");
}

#[test]
fn https_listener_and_a_reload_keep_serving() {
    let (h, _b1, _b2, _fe, _tcp) = lab(false);
    let dir = testkit::tempdir();
    let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    testkit::smtp::make_cert(&cert, &key);
    // A port fixed in the config: the listener must come back on it after the reload.
    let (w, port) = Watcher::start_on_free_port("300ms", |port| {
        format!(
            "{}[http]\nlisten = \"127.0.0.1:{port}\"\ntls_cert = {:?}\ntls_key = {:?}\n",
            socket_instance("lb1", &h.socket_path(), ""),
            cert.display().to_string(),
            key.display().to_string()
        )
    });
    w.wait_baseline("lb1");
    let base = w.http_base();
    assert_eq!(base, format!("https://127.0.0.1:{port}"));
    assert_eq!(get(&format!("{base}/healthz"), &[]).0, 200);
    let m = Exposition::parse(&text(&format!("{base}/metrics"))).unwrap();
    assert_eq!(m.get("haproxy_up", &[]), Some(1.0));
    // Plain HTTP on the TLS port gets no HTTP answer.
    assert_ne!(status(&format!("http://127.0.0.1:{port}/healthz")), 200);
    // SIGHUP: the listener is started again on the same port.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(w.proc().pid() as i32),
        nix::sys::signal::Signal::SIGHUP,
    )
    .unwrap();
    assert!(
        w.proc().wait_stderr_contains("configuration reloaded", T),
        "{}",
        w.stderr()
    );
    assert!(wait_for(T, || status(&format!("{base}/healthz")) == 200));
    assert_eq!(w.stderr().matches("HTTP listener").count(), 2, "{}", w.stderr());
}
