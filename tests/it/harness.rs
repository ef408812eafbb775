//! Self-tests of the helpers in `testkit`, against the real HAProxy: if these fail,
//! every other integration test is suspect.

use std::process::Command;
use std::time::Duration;

use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use testkit::backend::Backend;
use testkit::haproxy::{backend_block, parse_stat_csv, Haproxy, FAST_CHECK};
use testkit::receivers::{feishu_sign, webhook_signature, Mode, Receiver};
use testkit::{free_port, tempdir, wait_for, Proc};

const T: Duration = Duration::from_secs(5);

fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Computed here independently of `testkit::receivers`, as the brief asks.
fn sign_in_test(ts: i64, secret: &str) -> String {
    let key = format!("{ts}\n{secret}");
    let mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn card(title: &str) -> Value {
    json!({
        "msg_type": "interactive",
        "card": {
            "header": {"title": {"tag": "plain_text", "content": title}, "template": "red"},
            "elements": [{"tag": "div", "text": {"tag": "lark_md", "content": "**be/s1** DOWN"}}]
        }
    })
}

async fn post(url: &str, body: &Value) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(url)
        .json(body)
        .timeout(T)
        .send()
        .await
        .expect("POST");
    let status = resp.status().as_u16();
    let v = resp.json().await.unwrap_or(Value::Null);
    (status, v)
}

#[test]
fn server_goes_down_and_up_with_its_backend_listener() {
    let mut b = Backend::start();
    let h = Haproxy::start(&backend_block("be", &[("s1", b.port())], FAST_CHECK));
    assert!(h.wait_server_status("be", "s1", "UP", T));
    assert!(wait_for(T, || b.hits() > 0), "no health check reached the backend");

    b.stop();
    assert!(std::net::TcpStream::connect(b.addr()).is_err(), "backend still accepts");
    assert!(h.wait_server_status("be", "s1", "DOWN", T), "{}", h.cmd("show stat"));
    let check = h.try_stat_field("be", "s1", "check_status").unwrap();
    assert_eq!(check.trim_start_matches("* "), "L4CON");

    b.restart();
    assert!(h.wait_server_status("be", "s1", "UP", T));

    b.set_status(500);
    assert!(h.wait_server_status("be", "s1", "DOWN", T));
    let check = h.try_stat_field("be", "s1", "check_status").unwrap();
    assert_eq!(check.trim_start_matches("* "), "L7STS");
}

/// `stop()` means "connects are refused from now on" even while other tests are
/// spawning processes: a child between its fork and its exec holds a copy of every
/// descriptor we have, listening sockets included, and a socket we only closed kept
/// accepting through that copy (CI saw `backend still accepts` above once, on a
/// loaded machine; before the fix, this test saw 16 backend and 39 receiver
/// connects accepted).
#[test]
fn stop_refuses_connects_even_while_processes_are_being_spawned() {
    use std::os::unix::process::CommandExt;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    let done = Arc::new(AtomicBool::new(false));
    let spawners: Vec<_> = (0..2)
        .map(|_| {
            let done = done.clone();
            std::thread::spawn(move || {
                // Bounded in count, and stopped as soon as the rounds below end.
                for _ in 0..20_000 {
                    if done.load(Ordering::Relaxed) {
                        break;
                    }
                    let _ = Command::new("true").process_group(0).status();
                }
            })
        })
        .collect();
    let (mut backend_accepted, mut receiver_accepted) = (0, 0);
    for _ in 0..300 {
        let mut b = Backend::start();
        b.stop();
        backend_accepted += usize::from(std::net::TcpStream::connect(b.addr()).is_ok());
        let mut r = Receiver::webhook(None);
        r.stop();
        receiver_accepted += usize::from(std::net::TcpStream::connect(("127.0.0.1", r.port())).is_ok());
    }
    done.store(true, Ordering::Relaxed);
    for s in spawners {
        s.join().unwrap();
    }
    assert_eq!(
        (backend_accepted, receiver_accepted),
        (0, 0),
        "connects accepted after stop()"
    );
}

#[test]
fn ring_receives_state_change_lines() {
    let mut b = Backend::start();
    let h = Haproxy::builder()
        .with_ring(true)
        .start(&backend_block("be", &[("s1", b.port())], FAST_CHECK));
    assert!(h.wait_server_status("be", "s1", "UP", T));
    b.stop();
    assert!(wait_for(T, || h.ring_events().contains("Server be/s1 is DOWN")));
}

#[test]
fn reload_adds_a_server_and_changes_the_worker_pid() {
    let b1 = Backend::start();
    let b2 = Backend::start();
    let mut h = Haproxy::start(&backend_block("be", &[("s1", b1.port())], FAST_CHECK));
    let master = h.master_pid().unwrap();
    let pid1 = h.worker_pid();
    assert!(h.try_server_status("be", "s2").is_none());

    let pid2 = h.reload(&backend_block(
        "be",
        &[("s1", b1.port()), ("s2", b2.port())],
        FAST_CHECK,
    ));
    assert_ne!(pid1, pid2);
    assert_eq!(h.worker_pid(), pid2);
    assert_eq!(h.master_pid(), Some(master), "reload must keep the master");
    assert!(h.wait_server_status("be", "s2", "UP", T));

    // A broken config is reported quickly and leaves the running worker alone.
    let err = h.try_reload("backend be\n    bogus-keyword\n").unwrap_err();
    assert!(err.contains("bogus-keyword"), "{err}");
    assert_eq!(h.worker_pid(), pid2);
    let m = h.master_proc().unwrap();
    // 2.2 does not count failed reloads (`failed` is None there).
    assert_eq!(
        (m.last_reload_failed(), m.failed.unwrap_or(1), m.current_worker()),
        (true, 1, Some(pid2)),
        "{m:?}"
    );
    // ... and the next good reload works again.
    let pid3 = h.reload(&backend_block("be", &[("s1", b1.port())], FAST_CHECK));
    assert_ne!(pid3, pid2);
    assert!(h.try_server_status("be", "s2").is_none());
}

#[test]
fn stop_and_start_again_keep_the_socket_path() {
    let b = Backend::start();
    let mut h = Haproxy::start(&backend_block("be", &[("s1", b.port())], FAST_CHECK));
    let sock = h.socket_path();
    let pid1 = h.worker_pid();
    let master1 = h.master_pid().unwrap();

    let st = h.stop();
    assert!(st.success(), "haproxy master exit status after SIGTERM: {st:?}");
    assert!(!h.is_running());
    assert!(h.try_cmd("show info").is_err(), "socket still answers");
    // The workers are gone too (we reaped the master; it reaped them).
    assert!(!alive(pid1), "worker {pid1} survived");
    assert!(!alive(master1), "master {master1} survived");

    h.start_again();
    assert_eq!(h.socket_path(), sock);
    assert_ne!(h.worker_pid(), pid1);
    assert!(h.wait_server_status("be", "s1", "UP", T));
}

#[test]
fn stats_page_with_auth() {
    let b = Backend::start();
    let h = Haproxy::builder()
        .with_stats_auth("admin", "s3cret")
        .start(&backend_block("be", &[("s1", b.port())], FAST_CHECK));
    let url = h.stats_csv_url().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // No connection reuse: HAProxy 2.6 answers 401 without `connection: close` and
        // then closes the connection, so a pooled keep-alive request after a 401 can
        // fail with `IncompleteMessage`.
        let c = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .timeout(T)
            .build()
            .unwrap();
        let ok = c.get(&url).basic_auth("admin", Some("s3cret")).send().await.unwrap();
        assert_eq!(ok.status().as_u16(), 200);
        let body = ok.text().await.unwrap();
        assert!(body.starts_with("# pxname,svname,"), "{body}");
        let rows = parse_stat_csv(&body);
        assert!(rows.iter().any(|r| r["pxname"] == "be" && r["svname"] == "s1"));

        let anon = c.get(&url).send().await.unwrap();
        assert_eq!(anon.status().as_u16(), 401);
        assert!(anon.headers().contains_key("www-authenticate"));
        let wrong = c.get(&url).basic_auth("admin", Some("nope")).send().await.unwrap();
        assert_eq!(wrong.status().as_u16(), 401);
    });
}

#[test]
fn feishu_sign_test_vector() {
    let want = "l1N0gAcBjdwBvGm1xMjOF0XSyaLRpR7tuO5dHfhAYc8=";
    assert_eq!(sign_in_test(1599360473, "demo"), want);
    assert_eq!(feishu_sign(1599360473, "demo"), want);
}

#[tokio::test]
async fn feishu_receiver_checks_signature_and_card() {
    let r = Receiver::feishu(Some("demo-secret"));
    let ts = now_secs();

    let mut good = card("be/s1 DOWN");
    good["timestamp"] = json!(ts.to_string());
    good["sign"] = json!(sign_in_test(ts, "demo-secret"));
    let (st, v) = post(&r.url(), &good).await;
    assert_eq!(st, 200);
    assert_eq!(v["code"], 0, "{v}");
    assert_eq!(v["StatusCode"], 0);

    let mut bad = good.clone();
    bad["sign"] = json!(sign_in_test(ts, "other-secret"));
    let (st, v) = post(&r.url(), &bad).await;
    assert_eq!(st, 200);
    assert_eq!(v["code"], 19021, "{v}");

    // Milliseconds instead of seconds is the classic mistake.
    let mut ms = good.clone();
    ms["timestamp"] = json!((ts * 1000).to_string());
    ms["sign"] = json!(sign_in_test(ts * 1000, "demo-secret"));
    assert_eq!(post(&r.url(), &ms).await.1["code"], 19021);

    // Card given as a JSON string instead of an object.
    let mut stringly = good.clone();
    stringly["card"] = json!(good["card"].to_string());
    assert_eq!(post(&r.url(), &stringly).await.1["code"], 9499);

    let reqs = r.requests();
    assert_eq!(reqs.len(), 4);
    assert!(reqs[0].accepted);
    assert!(!reqs[1].accepted && !reqs[2].accepted && !reqs[3].accepted);
    assert_eq!(reqs[0].path, "/open-apis/bot/v2/hook/test-token");
    assert_eq!(r.accepted_bodies(), vec![good]);
}

#[tokio::test]
async fn feishu_receiver_without_secret_and_modes() {
    let r = Receiver::feishu(None);
    assert_eq!(post(&r.url(), &card("x")).await.1["code"], 0);
    let mut big = card("x");
    big["card"]["elements"][0]["text"]["content"] = json!("y".repeat(20_001));
    assert_eq!(post(&r.url(), &big).await.1["code"], 9499);

    r.set_mode(Mode::FailCode(11232));
    let (st, v) = post(&r.url(), &card("x")).await;
    assert_eq!((st, v["code"].as_i64()), (200, Some(11232)));
    r.set_mode(Mode::FailHttp(503));
    assert_eq!(post(&r.url(), &card("x")).await.0, 503);
    r.set_mode(Mode::Slow(Duration::from_millis(300)));
    let t0 = std::time::Instant::now();
    assert_eq!(post(&r.url(), &card("x")).await.1["code"], 0);
    assert!(t0.elapsed() >= Duration::from_millis(300));
    assert_eq!(r.accepted_count(), 2);
    assert_eq!(r.requests().len(), 5);
}

#[tokio::test]
async fn a_stopped_receiver_records_nothing_and_restart_accepts_on_the_same_port() {
    let mut r = Receiver::webhook(None);
    let url = r.url();
    let body = json!({"version": 1, "events": [{"id": "e1", "kind": "server_down"}]});
    // A pooled keep-alive client, like a real sender.
    let client = reqwest::Client::new();
    let ok = client.post(&url).json(&body).send().await.unwrap();
    assert_eq!(ok.status().as_u16(), 200);

    r.stop();
    assert!(!r.is_listening());
    // The stopped receiver no longer answers as the receiver: the pooled
    // connection is closed and nothing more is recorded. (Whether the freed
    // port refuses is not ours to assert: any process may take it meanwhile.)
    let after = client.post(&url).json(&body).timeout(T).send().await;
    assert_eq!(r.event_ids(), vec!["e1"], "{after:?}");

    r.restart();
    assert_eq!(r.url(), url);
    let ok = client.post(&url).json(&body).send().await.unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    assert_eq!(r.event_ids(), vec!["e1", "e1"]);
}

#[tokio::test]
async fn webhook_receiver_verifies_hmac_and_flattens_event_ids() {
    let r = Receiver::webhook(Some("whk"));
    let c = reqwest::Client::new();
    let send = |body: Value, sig: Option<String>| {
        let mut rb = c.post(r.url()).header("content-type", "application/json").timeout(T);
        if let Some(s) = sig {
            rb = rb.header("X-Hawatch-Signature", s);
        }
        let raw = body.to_string();
        rb.body(raw).send()
    };
    let b1 = json!({"version":1,"delivery_id":"d1","sink":"hook","events":[{"id":"a","kind":"server_down"},{"id":"b","kind":"server_up"}]});
    let b2 = json!({"version":1,"delivery_id":"d2","sink":"hook","events":[{"id":"c","kind":"server_down"}]});

    // Signature computed in the test, independently of the helper.
    let sig = |b: &Value| {
        let mut m = Hmac::<Sha256>::new_from_slice(b"whk").unwrap();
        m.update(b.to_string().as_bytes());
        let hex: String = m.finalize().into_bytes().iter().map(|x| format!("{x:02x}")).collect();
        format!("sha256={hex}")
    };
    assert_eq!(sig(&b1), webhook_signature("whk", b1.to_string().as_bytes()));

    let resp = send(b1.clone(), Some(sig(&b1))).await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap(), json!({"ok": true}));
    assert_eq!(send(b2.clone(), None).await.unwrap().status().as_u16(), 401);
    assert_eq!(send(b2.clone(), Some(sig(&b1))).await.unwrap().status().as_u16(), 401);
    assert_eq!(send(b2.clone(), Some(sig(&b2))).await.unwrap().status().as_u16(), 200);

    assert!(r.wait_for_accepted(2, T));
    assert_eq!(r.event_ids(), vec!["a", "b", "c"]);
    let reqs = r.requests();
    assert_eq!(reqs.len(), 4);
    assert_eq!(
        reqs.iter().map(|q| q.accepted).collect::<Vec<_>>(),
        vec![true, false, false, true]
    );
    assert_eq!(reqs[3].header("X-Hawatch-Signature"), Some(sig(&b2).as_str()));
}

#[test]
fn proc_captures_output_and_dies_on_drop() {
    let dir = tempdir();
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "echo hello; echo oops >&2; sleep 30 & echo child=$!; wait"]);
    let p = Proc::spawn("sh", cmd, dir.path());
    assert!(p.wait_stdout_contains("child=", T));
    assert!(p.wait_stderr_contains("oops", T));
    let out = p.stdout();
    assert!(out.starts_with("hello\n"), "{out}");
    let child: u32 = out.trim().rsplit("child=").next().unwrap().parse().unwrap();
    let pid = p.pid();
    assert!(p.is_running());
    let t0 = std::time::Instant::now();
    drop(p);
    assert!(t0.elapsed() < Duration::from_secs(3));
    assert!(!alive(pid));
    // The grandchild was in the same process group and got SIGKILL too.
    assert!(wait_for(T, || !alive(child)), "grandchild {child} survived");
}

/// Running (not gone, not a zombie waiting for a reaper).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'),
        Err(_) => false,
    }
}

#[test]
fn free_ports_are_distinct() {
    let a = free_port();
    let b = free_port();
    assert_ne!(a, b);
    assert!(wait_for(Duration::from_millis(100), || true));
    assert!(!wait_for(Duration::from_millis(100), || false));
}

// `wait_for*` block the calling thread: on a current-thread runtime the spawned sender
// would never run, hence multi_thread here (or use `testkit::wait_for_async`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiver_stop_lets_a_slow_answer_finish_and_takes_no_new_request() {
    let mut r = Receiver::webhook(None);
    r.set_mode(Mode::Slow(Duration::from_millis(800)));
    let url = r.url();
    let inflight = tokio::spawn(async move { post(&url, &json!({"events": []})).await });
    assert!(r.wait_for_requests(1, T));
    let t0 = std::time::Instant::now();
    r.stop();
    assert!(t0.elapsed() < Duration::from_secs(3));
    // A new request is not taken (the freed port itself may be anyone's now).
    let after = reqwest::Client::new()
        .post(r.url())
        .json(&json!({"events": []}))
        .timeout(T)
        .send()
        .await;
    assert_eq!(r.requests().len(), 1, "{after:?}");
    let (st, v) = inflight.await.unwrap();
    assert_eq!((st, v), (200, json!({"ok": true})));
    assert_eq!(r.accepted_count(), 1);
}

#[test]
fn start_with_starts_again_on_fresh_ports_when_someone_took_one() {
    let mut stolen = Vec::new();
    let (h, [port]) = Haproxy::builder().with_stats_http(true).start_with(|[port]| {
        if stolen.is_empty() {
            // Someone else takes the port between `free_port` and HAProxy's bind.
            stolen.push(std::net::TcpListener::bind(("127.0.0.1", port)).unwrap());
        }
        format!("frontend fe\n    bind 127.0.0.1:{port}\n    default_backend be\n\nbackend be\n")
    });
    assert_eq!(stolen.len(), 1);
    assert_ne!(port, stolen[0].local_addr().unwrap().port());
    assert!(!h.stderr().contains("cannot bind"), "{}", h.stderr());
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    assert!(h.stats_url().is_some());
    // Any other failure is not retried.
    let mut calls = 0;
    let err = Haproxy::builder()
        .try_start_with(|[port]| {
            calls += 1;
            format!("frontend fe\n    bind 127.0.0.1:{port}\n    bogus-keyword\n")
        })
        .err()
        .expect("a broken config starts");
    assert!(err.contains("bogus-keyword"), "{err}");
    assert_eq!(calls, 1);
}

#[test]
fn a_watcher_on_a_fixed_port_starts_again_when_someone_took_it() {
    let mut stolen = Vec::new();
    let (w, port) = crate::watcher::Watcher::start_on_free_port("1s", |port| {
        if stolen.is_empty() {
            stolen.push(std::net::TcpListener::bind(("127.0.0.1", port)).unwrap());
        }
        format!(
            "{}[http]\nlisten = \"127.0.0.1:{port}\"\n",
            crate::watcher::socket_instance("lb1", std::path::Path::new("/nonexistent.sock"), "")
        )
    });
    assert_eq!(stolen.len(), 1);
    assert_ne!(port, stolen[0].local_addr().unwrap().port());
    assert_eq!(w.http_base(), format!("http://127.0.0.1:{port}"));
}

#[test]
fn a_stopped_backend_keeps_its_port_for_restart() {
    let mut b = Backend::start();
    b.stop();
    // Held: a plain bind (no SO_REUSEADDR) is refused while the backend is stopped.
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let taken = s.bind(&std::net::SocketAddr::from(([127, 0, 0, 1], b.port())).into());
    assert!(taken.is_err(), "the stopped backend's port could be bound");
    assert!(
        std::net::TcpStream::connect(b.addr()).is_err(),
        "a stopped backend answers"
    );
    b.restart();
    assert!(std::net::TcpStream::connect(b.addr()).is_ok());
}
