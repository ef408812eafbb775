//! Notifications end to end: every sink against a stand-in that checks what
//! the real service checks (or the real thing: SMTP, Alertmanager), rate
//! limits, flapping, routing, quiet hours, reminders, restart recovery,
//! dead letters and `hawatch notify test`.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::watcher::{kinds, socket_instance, two_servers, webhook_events, webhook_sink, Watcher};
use testkit::alertmanager::{has_labels, Alertmanager};
use testkit::backend::Backend;
use testkit::haproxy::{backend_block, Haproxy};
use testkit::receivers::{Mode, Receiver};
use testkit::smtp::{SmtpServer, SmtpTls};
use testkit::wait_for;

const T: Duration = Duration::from_secs(20);

fn sink(name: &str, ty: &str, url: &str, extra: &str) -> String {
    format!("[[sink]]\nname = \"{name}\"\ntype = \"{ty}\"\nurl = \"{url}\"\n{extra}\n")
}

/// Takes app/s1 down (its health check starts failing) and waits for the event.
fn s1_down(w: &Watcher, b1: &Backend) {
    let before = w.events_of("server_down", "app/s1").len();
    b1.set_status(500);
    assert!(
        wait_for(T, || w.events_of("server_down", "app/s1").len() > before),
        "{:?}",
        kinds(&w.events())
    );
}

fn s1_up(w: &Watcher, b1: &Backend) {
    let before = w.events_of("server_up", "app/s1").len();
    b1.set_status(200);
    assert!(
        wait_for(T, || w.events_of("server_up", "app/s1").len() > before),
        "{:?}",
        kinds(&w.events())
    );
}

fn all_text(r: &Receiver) -> String {
    r.accepted_texts().join("\n=====\n")
}

#[test]
fn every_chat_sink_tells_a_down_and_its_recovery_with_the_duration() {
    let (h, b1, _b2) = two_servers();
    let feishu = Receiver::feishu(Some("fs-secret"));
    let lark = Receiver::lark(None);
    let dd = Receiver::dingtalk(Some("SECdd"));
    let wecom = Receiver::wecom();
    let slack = Receiver::slack();
    let body = socket_instance("lb1", &h.socket_path(), "")
        + &sink("fs", "feishu", &feishu.url(), "secret = \"fs-secret\"")
        + &sink("lark", "feishu", &lark.url(), "format = \"text\"\nlang = \"en\"")
        + &sink(
            "dd",
            "dingtalk",
            &dd.url(),
            "secret = \"SECdd\"\nat_mobiles = [\"13800000000\"]",
        )
        + &sink("wc", "wecom", &wecom.url(), "")
        + &sink("sl", "slack", &slack.url(), "lang = \"en\"");
    let w = Watcher::start("200ms", &body);
    w.wait_baseline("lb1");
    s1_down(&w, &b1);
    s1_up(&w, &b1);
    for r in [&feishu, &lark, &dd, &wecom, &slack] {
        assert!(
            wait_for(T, || {
                let t = all_text(r);
                t.contains("app/s1") && (t.contains("恢复，故障持续") || t.contains("the problem lasted"))
            }),
            "{:?}: {}\nrequests: {:?}\n{}",
            r.flavour(),
            all_text(r),
            r.requests()
                .iter()
                .map(|q| (q.reply_status, q.reject_reason.clone()))
                .collect::<Vec<_>>(),
            w.stderr()
        );
        assert!(
            r.requests().iter().all(|q| q.accepted),
            "{:?} refused something",
            r.flavour()
        );
    }
    assert!(all_text(&feishu).contains("服务器故障"), "{}", all_text(&feishu));
    assert!(all_text(&lark).contains("Server DOWN"), "{}", all_text(&lark));
    let bodies = feishu.accepted_bodies();
    let down = bodies
        .iter()
        .find(|b| b.to_string().contains("服务器故障"))
        .expect("a card for the DOWN");
    assert_eq!(down["msg_type"], "interactive");
    assert_eq!(down["card"]["header"]["template"], "red");
    assert_eq!(lark.accepted_bodies()[0]["msg_type"], "text");
    let dd_bodies = dd.accepted_bodies();
    let down = dd_bodies
        .iter()
        .find(|b| b.to_string().contains("服务器故障"))
        .expect("a DingTalk message for the DOWN");
    assert_eq!(down["at"]["atMobiles"][0], "13800000000");
    assert!(down["markdown"]["text"].as_str().unwrap().contains("@13800000000"));
    let recovery = dd.accepted_bodies().last().cloned().unwrap();
    assert!(
        recovery["at"]["atMobiles"].as_array().unwrap().is_empty(),
        "recoveries do not ping people"
    );
    assert!(!w.stderr().contains("fs-secret") && !w.stderr().contains("SECdd"));
}

#[test]
fn two_hundred_events_in_ten_seconds_reach_chat_sinks_within_their_rate_and_size_limits() {
    let b = Backend::start();
    let servers: Vec<String> = (0..100).map(|i| format!("s{i}")).collect();
    let list: Vec<(&str, u16)> = servers.iter().map(|s| (s.as_str(), b.port())).collect();
    // Slow checks: only the runtime commands below change anything. A
    // server counts once its first check has settled it (not INI).
    let h = Haproxy::start(&backend_block("app", &list, "inter 2s fall 3 rise 2"));
    assert!(wait_for(T, || servers
        .iter()
        .all(
            |s| h.try_stat_field("app", s, "check_status").as_deref() == Some("L7OK")
        )));
    let feishu = Receiver::feishu(None);
    let wecom = Receiver::wecom();
    let dd = Receiver::dingtalk(None);
    let body = socket_instance("lb1", &h.socket_path(), "")
        + &sink("fs", "feishu", &feishu.url(), "")
        + &sink("wc", "wecom", &wecom.url(), "")
        + &sink("dd", "dingtalk", &dd.url(), "");
    let w = Watcher::start("200ms", &body);
    w.wait_baseline("lb1");
    let stored = |k: &str| w.events().iter().filter(|e| e["kind"] == k).count();
    let t0 = Instant::now();
    for s in &servers {
        h.cmd(&format!("disable server app/{s}"));
    }
    assert!(
        wait_for(T, || stored("server_maint") == 100),
        "{:?}\n{}",
        kinds(&w.events()),
        w.stderr()
    );
    for s in &servers {
        h.cmd(&format!("enable server app/{s}"));
    }
    assert!(
        wait_for(T, || stored("server_ready") == 100),
        "{:?}\n{}",
        kinds(&w.events()),
        w.stderr()
    );
    assert!(
        t0.elapsed() < Duration::from_secs(10),
        "200 events took {:?}",
        t0.elapsed()
    );
    // Each event is told by its own notice, or by its backend's ("同时：s7 MAINT → UP").
    let told = |t: &str, s: &str| {
        t.contains(&format!("服务器进入维护 · app/{s}**"))
            && (t.contains(&format!("服务器恢复服务 · app/{s}**")) || t.contains(&format!("{s} MAINT → UP")))
    };
    let want = |t: &str| servers.iter().all(|s| told(t, s));
    for r in [&feishu, &wecom, &dd] {
        assert!(
            wait_for(Duration::from_secs(90), || want(&all_text(r))),
            "{:?}: not every event arrived; {} messages; first missing: {:?}\n{}",
            r.flavour(),
            r.accepted_count(),
            servers.iter().find(|s| !told(&all_text(r), s)),
            all_text(r).chars().take(2000).collect::<String>()
        );
        assert_eq!(
            r.rate_violations(),
            0,
            "hawatch exceeded {:?}'s rate limit",
            r.flavour()
        );
        assert!(
            r.requests().iter().all(|q| q.accepted),
            "{:?} refused a message",
            r.flavour()
        );
    }
    assert!(wecom.accepted_count() > 1, "WeCom's 4096-byte limit splits 200 notices");
    let times: Vec<Instant> = feishu.requests().iter().map(|r| r.received_instant).collect();
    for (i, t) in times.iter().enumerate() {
        let in_1s = times[i..]
            .iter()
            .take_while(|u| **u < *t + Duration::from_secs(1))
            .count();
        assert!(in_1s <= 5, "{in_1s} messages within one second");
    }
    assert!(times.len() <= 100);
    assert!(feishu.requests().iter().all(|r| r.body.len() <= 20_000));
}

#[test]
fn a_server_toggled_twenty_times_in_a_minute_is_at_most_three_messages() {
    let (h, b1, _b2) = two_servers();
    let feishu = Receiver::feishu(None);
    let body = socket_instance("lb1", &h.socket_path(), "")
        + &sink(
            "fs",
            "feishu",
            &feishu.url(),
            "notify_after = \"5s\"\nflap_threshold = 5\nflap_window = \"10m\"\nflap_settle = \"8s\"",
        );
    let w = Watcher::start("200ms", &body);
    w.wait_baseline("lb1");
    let t0 = Instant::now();
    for _ in 0..20 {
        s1_down(&w, &b1);
        s1_up(&w, &b1);
    }
    assert!(
        t0.elapsed() < Duration::from_secs(60),
        "toggling took {:?}",
        t0.elapsed()
    );
    let transitions = w.events_of("server_down", "app/s1").len() + w.events_of("server_up", "app/s1").len();
    assert_eq!(transitions, 40, "the history holds every transition");
    // The flapping message, then the summary once it settles.
    assert!(
        wait_for(Duration::from_secs(30), || all_text(&feishu).contains("抖动结束")),
        "{}\n{}",
        all_text(&feishu),
        w.stderr()
    );
    std::thread::sleep(Duration::from_secs(2));
    let n = feishu.accepted_count();
    assert!((1..=3).contains(&n), "{n} messages:\n{}", all_text(&feishu));
    assert!(all_text(&feishu).contains("状态抖动"), "{}", all_text(&feishu));
}

#[test]
fn a_single_server_backend_toggled_twenty_times_pages_once_and_settles_once() {
    // Issue 12: flap control counted servers only, so the backend's own
    // backend_down/backend_up went out at every toggle (20 toggles, 20 messages).
    let b1 = Backend::start();
    let h = Haproxy::start(&backend_block("solo", &[("s1", b1.port())], ""));
    assert!(h.wait_server_status("solo", "s1", "UP", T));
    let feishu = Receiver::feishu(None);
    let body = socket_instance("lb1", &h.socket_path(), "")
        + &sink(
            "fs",
            "feishu",
            &feishu.url(),
            "flap_threshold = 5\nflap_window = \"10m\"\nflap_settle = \"15s\"",
        );
    let w = Watcher::start("200ms", &body);
    w.wait_baseline("lb1");
    for i in 0..20 {
        let (word, kind) = if i % 2 == 0 {
            ("maint", "backend_down")
        } else {
            ("ready", "backend_up")
        };
        let before = w.events_of(kind, "solo").len();
        h.cmd(&format!("set server solo/s1 state {word}"));
        assert!(
            wait_for(T, || w.events_of(kind, "solo").len() > before),
            "toggle {i}: no {kind}: {:?}",
            kinds(&w.events())
        );
    }
    assert_eq!(
        w.events_of("backend_down", "solo").len(),
        10,
        "the history holds every change"
    );
    // `flap_settle` is 15 s: far longer than a toggle takes even on a loaded
    // machine, so the storm never settles half-way.
    assert!(
        wait_for(Duration::from_secs(45), || all_text(&feishu).contains("抖动结束")),
        "{}\n{}",
        all_text(&feishu),
        w.stderr()
    );
    std::thread::sleep(Duration::from_secs(1));
    let texts = feishu.accepted_texts();
    // Five toggles told (the backend's message names its server), one
    // `flapping`, one `settled`: never one message per toggle.
    assert!(texts.len() <= 7, "{} messages:\n{}", texts.len(), all_text(&feishu));
    assert_eq!(
        texts.iter().filter(|t| t.contains("状态抖动")).count(),
        1,
        "{}",
        all_text(&feishu)
    );
    assert_eq!(
        texts.iter().filter(|t| t.contains("抖动结束")).count(),
        1,
        "{}",
        all_text(&feishu)
    );
}

#[test]
fn alertmanager_gets_the_alert_and_its_resolution() {
    let (h, b1, _b2) = two_servers();
    let am = Alertmanager::start();
    let body = socket_instance("lb1", &h.socket_path(), "")
        + &sink(
            "am",
            "alertmanager",
            &am.url(),
            "labels = { cluster = \"lb-test\" }\nresend_every = \"2s\"",
        );
    let w = Watcher::start("200ms", &body);
    w.wait_baseline("lb1");
    s1_down(&w, &b1);
    let is_s1 = |a: &Value| {
        has_labels(
            a,
            &[
                ("alertname", "HAProxyServerDown"),
                ("server", "s1"),
                ("backend", "app"),
                ("instance", "lb1"),
                ("cluster", "lb-test"),
            ],
        )
    };
    let a = am
        .wait_alert(T, is_s1)
        .unwrap_or_else(|| panic!("no alert: {:?}\n{}", am.alerts(), w.stderr()));
    assert_eq!(a["status"]["state"], "active");
    assert!(a["labels"].get("host").is_none() && a["annotations"]["host"].is_string());
    // Re-sent before it expires: still active after several resend periods.
    std::thread::sleep(Duration::from_secs(5));
    assert!(am.is_active(is_s1));
    s1_up(&w, &b1);
    assert!(am.wait_resolved(T, is_s1), "not resolved: {:?}", am.alerts());
}

#[test]
fn email_goes_through_starttls_with_auth_to_every_recipient() {
    let (h, b1, _b2) = two_servers();
    let smtp = SmtpServer::start(SmtpTls::StartTls, Some(("alerts", "s3cret-pass")));
    let dir = testkit::tempdir();
    let pass = dir.path().join("smtp.pass");
    std::fs::write(&pass, "s3cret-pass\n").unwrap();
    let body = socket_instance("lb1", &h.socket_path(), "")
        + &format!(
            "[[sink]]\nname = \"mail\"\ntype = \"email\"\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {}\ntls = \"starttls\"\nca_file = {:?}\nusername = \"alerts\"\npassword_file = {:?}\nfrom = \"hawatch <alerts@example.com>\"\nto = [\"ops@example.com\", \"oncall@example.com\"]\n",
            smtp.port(),
            smtp.cert_path().display().to_string(),
            pass.display().to_string()
        );
    let w = Watcher::start("200ms", &body);
    w.wait_baseline("lb1");
    s1_down(&w, &b1);
    let down = || smtp.messages().into_iter().find(|m| m.subject.contains("服务器故障"));
    assert!(
        wait_for(T, || down().is_some()),
        "no mail:\n{}\n{}",
        w.stderr(),
        smtp.stderr()
    );
    let m = &down().unwrap();
    assert!(m.tls && m.auth_user.as_deref() == Some("alerts"));
    assert_eq!(m.to, vec!["ops@example.com", "oncall@example.com"]);
    assert!(
        m.subject.contains("服务器故障") && m.subject.contains("app/s1"),
        "{}",
        m.subject
    );
    assert!(m.body.contains("UP → DOWN"), "{}", m.body);
    let out = w.run(&["config", "show"]);
    assert!(!String::from_utf8_lossy(&out.stdout).contains("s3cret"));
    assert!(!w.stderr().contains("s3cret"));
}

#[test]
fn notify_test_reports_each_sink_in_plain_words() {
    let keyword = Receiver::feishu(None);
    keyword.set_keywords(&["告警"]);
    let ip = Receiver::feishu(None);
    ip.set_ip_denied(true);
    let dd = Receiver::dingtalk(Some("SECright"));
    let busy = Receiver::feishu(None);
    busy.set_mode(Mode::FailCode(11232));
    let wecom = Receiver::wecom();
    let mut gone = Receiver::slack();
    let gone_url = gone.url();
    gone.stop();
    let smtp = SmtpServer::start(SmtpTls::Tls, Some(("u", "right")));
    let mail = |name: &str, pass: &str| {
        format!(
            "[[sink]]\nname = \"{name}\"\ntype = \"email\"\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {}\ntls = \"tls\"\nca_file = {:?}\nusername = \"u\"\npassword = \"{pass}\"\nfrom = \"a@example.com\"\nto = \"b@example.com\"\n",
            smtp.port(),
            smtp.cert_path().display().to_string()
        )
    };
    let dir = testkit::tempdir();
    let script = dir.path().join("page.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\ncat > \"$0.in\"\nenv | grep ^HAWATCH_ > \"$0.env\"\n",
    )
    .unwrap();
    let body = "[[haproxy]]\nname = \"lb1\"\nsocket = \"/nonexistent.sock\"\n\n".to_string()
        + &sink("keyword", "feishu", &keyword.url(), "")
        + &sink("ip", "feishu", &ip.url(), "")
        + &sink("dd", "dingtalk", &dd.url(), "secret = \"SECwrong\"")
        + &sink("busy", "feishu", &busy.url(), "")
        + &sink("wecom", "wecom", &wecom.url(), "")
        + &sink("gone", "slack", &gone_url, "")
        + &mail("mail", "right")
        + &mail("badmail", "wrong")
        + &format!(
            "[[sink]]\nname = \"script\"\ntype = \"exec\"\ncommand = [\"/bin/sh\", {:?}]\n",
            script.display().to_string()
        );
    let w = Watcher::configure("1s", &body);
    let out = w.run(&["notify", "test"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("{name} (")))
            .unwrap_or("")
            .to_string()
    };
    assert!(line("keyword").contains("keyword missing"), "{text}");
    assert!(line("ip").contains("IP not allowed"), "{text}");
    assert!(line("dd").contains("wrong secret"), "{text}");
    assert!(line("busy").contains("rate limit"), "{text}");
    assert!(line("wecom").ends_with(": ok"), "{text}");
    assert!(line("gone").contains("unreachable"), "{text}");
    assert!(line("mail").ends_with(": ok"), "{text}");
    assert!(line("badmail").contains("authentication failed"), "{text}");
    assert!(line("script").ends_with(": ok"), "{text}");
    assert!(all_text(&wecom).contains("测试"), "{}", all_text(&wecom));
    assert!(smtp.messages()[0].subject.contains("[测试]"));
    let stdin: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{}.in", script.display())).unwrap()).unwrap();
    assert_eq!(stdin["test"], true);
    let env = std::fs::read_to_string(format!("{}.env", script.display())).unwrap();
    assert!(
        env.contains("HAWATCH_SINK=script") && env.contains("HAWATCH_TEST=1"),
        "{env}"
    );
    let only = w.run(&["notify", "test", "--sink", "wecom"]);
    assert_eq!(only.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&only.stdout).lines().count(), 1);
}

#[test]
fn routing_sends_each_sink_what_it_follows_and_quiet_hours_hold_the_rest() {
    let (h, b1, _b2) = two_servers();
    let all = Receiver::webhook(None);
    let critical = Receiver::webhook(None);
    let other = Receiver::webhook(None);
    let quiet = Receiver::webhook(None);
    let body = socket_instance("lb1", &h.socket_path(), "")
        + &webhook_sink("all", &all.url(), "")
        + &webhook_sink("critical", &critical.url(), "min_severity = \"critical\"")
        + &webhook_sink("other", &other.url(), "match = { backend = \"other*\" }")
        + &webhook_sink(
            "quiet",
            &quiet.url(),
            "quiet_hours = \"00:00-23:59\"\ntimezone_unused = 1",
        );
    // `timezone_unused` is not a key: the config is refused with its line.
    let w = Watcher::configure("200ms", &body);
    let out = w.run(&["config", "check"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("sink[3].timezone_unused"));
    let body = body.replace("\ntimezone_unused = 1", "");
    let w = Watcher::start("200ms", &body);
    w.wait_baseline("lb1");
    h.cmd("disable server app/s2");
    w.wait_event("server_maint", "app/s2", T);
    s1_down(&w, &b1);
    assert!(all.wait_for_accepted(1, T));
    let kinds_of = |r: &Receiver| -> Vec<String> {
        webhook_events(&r.accepted_bodies())
            .iter()
            .map(|e| e["kind"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(wait_for(T, || {
        let k = kinds_of(&all);
        k.contains(&"server_maint".to_string()) && k.contains(&"backend_down".to_string())
    }));
    assert!(wait_for(T, || kinds_of(&quiet).contains(&"server_down".to_string())));
    std::thread::sleep(Duration::from_secs(1));
    let c = kinds_of(&critical);
    assert!(
        c.contains(&"server_down".to_string()) && !c.contains(&"server_maint".to_string()),
        "{c:?}"
    );
    assert!(other.accepted().is_empty(), "{:?}", kinds_of(&other));
    let q = kinds_of(&quiet);
    assert!(
        !q.contains(&"server_maint".to_string()),
        "the warning waits for the quiet hours to end: {q:?}"
    );
    // The backend notice names its servers and tells the server event with it.
    let notices: Vec<Value> = all
        .accepted_bodies()
        .iter()
        .flat_map(|b| b["notices"].as_array().cloned().unwrap_or_default())
        .collect();
    let be = notices
        .iter()
        .find(|n| n["event"]["kind"] == "backend_down")
        .expect("backend notice");
    assert_eq!(be["servers"].as_array().unwrap().len(), 2);
    assert_eq!(be["folded"][0]["server"], "s1");
    let out = w.run(&["outbox"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let quiet_line = text.lines().find(|l| l.starts_with("quiet")).unwrap_or_default();
    assert!(
        quiet_line.contains("held by quiet hours") && !quiet_line.contains("held by quiet hours 0"),
        "{text}"
    );
}

#[test]
fn a_recovery_while_hawatch_was_stopped_is_told_and_an_unwatched_instance_closes_its_alerts() {
    let (h, b1, _b2) = two_servers();
    let r = Receiver::webhook(None);
    let body = socket_instance("lb1", &h.socket_path(), "")
        + &webhook_sink("wh", &r.url(), "remind_every = \"1m\"\nremind_max = 1");
    let mut w = Watcher::start("200ms", &body);
    w.wait_baseline("lb1");
    s1_down(&w, &b1);
    assert!(r.wait_for_accepted(1, T));
    w.proc.as_mut().unwrap().stop(T);
    // Recovered while hawatch was away.
    b1.set_status(200);
    assert!(h.wait_server_status("app", "s1", "UP", T));
    w.spawn();
    let notice = |pred: &dyn Fn(&Value) -> bool| {
        r.accepted_bodies()
            .iter()
            .flat_map(|b| b["notices"].as_array().cloned().unwrap_or_default())
            .find(|n| pred(n))
    };
    assert!(
        wait_for(T, || notice(&|n| n["resolves"] == true && n["event"]["server"] == "s1")
            .is_some()),
        "no recovery after the restart: {:?}\n{}",
        r.accepted_bodies(),
        w.stderr()
    );
    let rec = notice(&|n| n["resolves"] == true).unwrap();
    assert!(rec["duration_ms"].as_i64().unwrap() > 0);
    // The instance leaves the config while s1 is down again: its alert is closed.
    s1_down(&w, &b1);
    let n = r.accepted_count();
    assert!(r.wait_for_accepted(n, T));
    w.proc.as_mut().unwrap().stop(T);
    let other = Haproxy::start(&backend_block("x", &[("x1", b1.port())], ""));
    std::fs::write(
        &w.config,
        std::fs::read_to_string(&w.config)
            .unwrap()
            .replace(
                &h.socket_path().display().to_string(),
                &other.socket_path().display().to_string(),
            )
            .replace("name = \"lb1\"", "name = \"lb2\""),
    )
    .unwrap();
    w.spawn();
    assert!(
        wait_for(T, || {
            notice(&|n| n["kind"] == "gone" && n["event"]["instance"] == "lb1").is_some()
        }),
        "{:?}",
        r.accepted_bodies()
    );
}

#[test]
fn a_message_undelivered_past_max_age_is_a_dead_letter_until_retried() {
    let (h, _b1, _b2) = two_servers();
    let r = Receiver::webhook(None);
    r.set_mode(Mode::FailHttp(503));
    let body = socket_instance("lb1", &h.socket_path(), "")
        + &webhook_sink(
            "wh",
            &r.url(),
            "max_age = \"8s\"\nretry_min = \"200ms\"\nretry_max = \"500ms\"",
        );
    let w = Watcher::start("200ms", &body);
    w.wait_baseline("lb1");
    h.cmd("disable server app/s1");
    w.wait_event("server_maint", "app/s1", T);
    let outbox = || String::from_utf8_lossy(&w.run(&["outbox"]).stdout).to_string();
    assert!(
        wait_for(T, || outbox().contains("dead letters")),
        "{}\n{}",
        outbox(),
        w.stderr()
    );
    assert!(outbox().contains("HTTP 503"), "{}", outbox());
    assert!(r.requests().len() >= 2, "retried before giving up");
    r.set_mode(Mode::Ok);
    let out = w.run(&["outbox", "retry", "--sink", "wh"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 dead letter(s) put back"));
    assert!(r.wait_for_accepted(1, T), "{}", w.stderr());
    let ids: Vec<String> = webhook_events(&r.accepted_bodies())
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, vec!["server_maint"]);
}
