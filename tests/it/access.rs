//! `[http] allow`: who may use the endpoints that act. `POST /alertmanager`
//! sends through every sink, so a client outside the list gets 403 and
//! nothing is stored or sent; an allowed one is served as before.

use std::time::Duration;

use crate::watcher::{webhook_sink, Watcher};
use testkit::alertmanager::http;
use testkit::receivers::Receiver;

const T: Duration = Duration::from_secs(20);

/// A watcher whose only sink takes Alertmanager's alerts, with `[http] allow`.
/// Its instance's socket does not exist: no HAProxy is needed to post alerts.
fn watcher(allow: &str, rx: &Receiver) -> Watcher {
    let body = format!(
        "[[haproxy]]\nname = \"lb1\"\nsocket = \"/nonexistent/hawatch-it/absent.sock\"\n\n{}\n[http]\nlisten = \"127.0.0.1:0\"\nallow = {allow}\n",
        webhook_sink("hook", &rx.url(), "events = [\"alert_firing\", \"alert_resolved\"]"),
    );
    Watcher::start("1s", &body)
}

fn post_alert(w: &Watcher, name: &str) -> (u16, String) {
    let payload = serde_json::json!({
        "version": "4", "status": "firing", "receiver": "hawatch", "groupKey": "{}:{}",
        "alerts": [{
            "status": "firing",
            "labels": {"alertname": name, "severity": "critical"},
            "annotations": {"summary": format!("{name} summary")},
            "startsAt": "2026-01-01T00:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
            "fingerprint": "f1"
        }]
    });
    let base = w.http_base();
    let port = base.rsplit(':').next().unwrap().parse().unwrap();
    http(port, "POST", "/alertmanager", Some(&payload.to_string())).unwrap()
}

fn alert_events(w: &Watcher) -> usize {
    w.events()
        .iter()
        .filter(|e| e["kind"].as_str().is_some_and(|k| k.starts_with("alert_")))
        .count()
}

#[test]
fn alertmanager_from_a_client_outside_allow_is_refused_and_nothing_is_sent() {
    let rx = Receiver::webhook(None);
    let w = watcher("[\"10.0.0.0/8\"]", &rx);
    let (status, reply) = post_alert(&w, "Outsider");
    assert_eq!(status, 403, "{reply}");
    assert!(reply.contains("127.0.0.1 is not in [http] allow"), "{reply}");
    // The handler stores before it answers: a refused call left nothing to send.
    assert_eq!(alert_events(&w), 0, "{}", w.stderr());
    assert!(rx.requests().is_empty());
    // Read endpoints keep their rules.
    let port = w.http_base().rsplit(':').next().unwrap().parse().unwrap();
    assert_eq!(http(port, "GET", "/api/state", None).unwrap().0, 200);
}

#[test]
fn alertmanager_from_an_allowed_client_is_delivered() {
    let rx = Receiver::webhook(None);
    let w = watcher("[\"10.0.0.0/8\", \"127.0.0.1\"]", &rx);
    let (status, reply) = post_alert(&w, "Insider");
    assert_eq!(status, 200, "{reply}");
    assert!(rx.wait_for_accepted(1, T), "nothing delivered:\n{}", w.stderr());
    assert!(rx.accepted_texts().join("\n").contains("Insider"));
    assert_eq!(alert_events(&w), 1);
}
