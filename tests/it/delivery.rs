//! Nothing lost, nothing duplicated that the receiver cannot de-duplicate:
//! a receiver down for minutes, a `kill -9` mid-delivery, Feishu's checks.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde_json::Value;

use crate::watcher::{kinds, socket_instance, two_servers, webhook_events, webhook_sink, Watcher};
use testkit::haproxy::Haproxy;
use testkit::receivers::{Mode, Receiver};
use testkit::wait_for;

const T: Duration = Duration::from_secs(20);

/// Toggles app/s1 between MAINT and ready until the watcher has stored `n`
/// events, one per poll (it waits for each before the next toggle).
fn make_events(h: &Haproxy, w: &Watcher, n: usize) {
    let base = w.events().len();
    for i in 0..n {
        let cmd = if i % 2 == 0 {
            "disable server app/s1"
        } else {
            "enable server app/s1"
        };
        h.cmd(cmd);
        assert!(
            wait_for(T, || w.events().len() > base + i),
            "event {i} never stored: {:?}\n{}",
            kinds(&w.events()),
            w.stderr()
        );
    }
    assert_eq!(w.events().len(), base + n, "{:?}", kinds(&w.events()));
}

fn ids(evs: &[Value]) -> Vec<String> {
    evs.iter().map(|e| e["id"].as_str().unwrap().to_string()).collect()
}

/// First occurrence order of ids, and whether every repeat is identical.
fn dedup(evs: &[Value]) -> Vec<String> {
    let mut seen: HashMap<String, Value> = HashMap::new();
    let mut order = Vec::new();
    for e in evs {
        let id = e["id"].as_str().unwrap().to_string();
        match seen.get(&id) {
            Some(prev) => assert_eq!(prev, e, "a redelivered event changed"),
            None => {
                order.push(id.clone());
                seen.insert(id, e.clone());
            }
        }
    }
    order
}

#[test]
fn a_receiver_down_for_two_minutes_gets_all_50_events_in_order() {
    // The scenario; HAWATCH_IT_OUTAGE_SECS shortens it for local runs.
    let outage = Duration::from_secs(
        std::env::var("HAWATCH_IT_OUTAGE_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(120),
    );
    let (h, _b1, _b2) = two_servers();
    let mut rx = Receiver::webhook(None);
    let w = Watcher::start(
        "100ms",
        &(socket_instance("lb1", &h.socket_path(), "") + &webhook_sink("ops", &rx.url(), "")),
    );
    w.wait_baseline("lb1");
    rx.stop();
    let down_since = Instant::now();
    make_events(&h, &w, 50);
    let stored = w.events();
    assert!(rx.accepted_bodies().is_empty());
    let left = outage.saturating_sub(down_since.elapsed());
    std::thread::sleep(left);
    rx.restart();
    // Backoff is capped at 60 s (+20 % jitter).
    assert!(
        wait_for(Duration::from_secs(90), || dedup(&webhook_events(
            &rx.accepted_bodies()
        ))
        .len()
            >= 50),
        "got {} of 50\n{}",
        rx.event_ids().len(),
        w.stderr()
    );
    let got = dedup(&webhook_events(&rx.accepted_bodies()));
    assert_eq!(got, ids(&stored), "all 50, in the order they happened");
    // Queued messages were merged rather than sent one per poll.
    assert!(
        rx.accepted_bodies().len() < 50,
        "{} bodies for 50 events",
        rx.accepted_bodies().len()
    );
    // The receiver records a body before hawatch has its answer and marks
    // the rows delivered: wait (bounded) for that, don't race it.
    let outbox = || String::from_utf8_lossy(&w.run(&["outbox"]).stdout).to_string();
    assert!(wait_for(T, || outbox().contains("pending      0")), "{}", outbox());
}

#[test]
fn kill_9_during_delivery_loses_nothing_and_repeats_only_same_ids() {
    let (h, _b1, _b2) = two_servers();
    let rx = Receiver::webhook(None);
    rx.set_mode(Mode::Slow(Duration::from_secs(3)));
    let mut w = Watcher::start(
        "100ms",
        &(socket_instance("lb1", &h.socket_path(), "") + &webhook_sink("ops", &rx.url(), "timeout = \"10s\"")),
    );
    w.wait_baseline("lb1");
    make_events(&h, &w, 4);
    // A delivery is in flight (the receiver holds it for 3 s): kill -9 now.
    assert!(rx.wait_for_requests(1, T));
    let mut p = w.proc.take().unwrap();
    p.signal(Signal::SIGKILL);
    assert!(p.wait_exit(T).is_some());
    drop(p);
    // More happens while the watcher is dead; it must find it on restart.
    h.cmd("disable server app/s2");
    rx.set_mode(Mode::Ok);
    w.spawn();
    let stored = w.wait_event("server_maint", "app/s2", T);
    let all = ids(&w.events());
    assert_eq!(all.last().unwrap(), stored["id"].as_str().unwrap());
    assert!(
        wait_for(T, || dedup(&webhook_events(&rx.accepted_bodies())).len() >= all.len()),
        "got {:?} of {all:?}",
        rx.event_ids()
    );
    let got = dedup(&webhook_events(&rx.accepted_bodies()));
    assert_eq!(
        got, all,
        "every stored event delivered, in order; repeats carry the same id"
    );
    let unique: HashSet<&String> = got.iter().collect();
    assert_eq!(unique.len(), all.len());
}

#[test]
fn feishu_gets_a_signed_card_with_the_seeds_icons() {
    let (h, mut b1, _b2) = two_servers();
    let rx = Receiver::feishu(Some("feishu-secret"));
    let sink = format!(
        "[[sink]]\nname = \"feishu\"\ntype = \"feishu\"\nurl = \"{}\"\nsecret = \"${{HAWATCH_IT_FEISHU_SECRET}}\"\n",
        rx.url()
    );
    std::env::set_var("HAWATCH_IT_FEISHU_SECRET", "feishu-secret");
    let w = Watcher::start("200ms", &(socket_instance("lb1", &h.socket_path(), "") + &sink));
    w.wait_baseline("lb1");
    b1.stop();
    // With `fall 2` the first failed check is an early warning (orange card);
    // the DOWN card follows.
    let down_card = || {
        rx.accepted_bodies()
            .into_iter()
            .find(|b| b.to_string().contains("UP → DOWN"))
    };
    assert!(
        wait_for(T, || down_card().is_some()),
        "no DOWN card accepted: {:?}\n{}",
        rx.requests().iter().map(|r| r.reply_body.clone()).collect::<Vec<_>>(),
        w.stderr()
    );
    assert!(
        rx.requests().iter().all(|r| r.accepted),
        "every card passed the signature and shape checks"
    );
    let card = &down_card().unwrap();
    assert_eq!(card["msg_type"], "interactive");
    assert_eq!(card["card"]["header"]["template"], "red");
    let text = card.to_string();
    for needle in ["❌", "app", "s1", "UP → DOWN", "L4CON", "Connection refused"] {
        assert!(text.contains(needle), "{needle} missing in {text}");
    }
    b1.restart();
    let up_card = || {
        rx.accepted_bodies()
            .into_iter()
            .find(|b| b.to_string().contains("DOWN → UP"))
    };
    assert!(wait_for(T, || up_card().is_some()));
    assert_eq!(up_card().unwrap()["card"]["header"]["template"], "green");
    assert!(up_card().unwrap().to_string().contains("✅"));
    assert!(!w.stderr().contains("feishu-secret"));
}

#[test]
fn feishu_refusals_keep_the_message_and_say_why() {
    let (h, _b1, _b2) = two_servers();
    let rx = Receiver::feishu(Some("right"));
    let sink = format!(
        "[[sink]]\nname = \"feishu\"\ntype = \"feishu\"\nurl = \"{}\"\nsecret = \"wrong\"\n",
        rx.url()
    );
    let w = Watcher::start("200ms", &(socket_instance("lb1", &h.socket_path(), "") + &sink));
    w.wait_baseline("lb1");
    h.cmd("disable server app/s1");
    assert!(rx.wait_for_requests(1, T));
    // HTTP 200 with code 19021 is not a delivery.
    assert_eq!(rx.accepted_count(), 0);
    assert!(
        wait_for(T, || String::from_utf8_lossy(&w.run(&["outbox"]).stdout)
            .contains("19021")),
        "{}",
        String::from_utf8_lossy(&w.run(&["outbox"]).stdout)
    );
    let out = String::from_utf8_lossy(&w.run(&["outbox"]).stdout).to_string();
    assert!(out.contains("pending      1") && out.contains("secret"), "{out}");
    assert!(w.proc().wait_stderr_contains("19021", T), "{}", w.stderr());
}
