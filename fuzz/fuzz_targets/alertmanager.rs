//! Alertmanager's webhook body (`POST /alertmanager`): the JSON payload and
//! its conversion to events (`http::alertmanager::events`, pure).
//! Invariants: one event per alert, each with a valid, distinct id; the same
//! call in the same slot gives the same ids (a retry is recognised), and the
//! next slot's "previous" ids are this slot's.
#![no_main]

use chrono::DateTime;
use hawatch::http::alertmanager::{events, Payload};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(p) = serde_json::from_slice::<Payload>(data) else {
        return;
    };
    let now = DateTime::from_timestamp(1_790_000_000, 0).unwrap();
    let (evs, previous) = events(&p, now);
    assert_eq!(evs.len(), p.alerts.len());
    assert_eq!(previous.len(), p.alerts.len());
    let mut ids: Vec<&str> = evs.iter().map(|e| e.id.as_str()).collect();
    for id in &ids {
        assert!(uuid::Uuid::parse_str(id).is_ok(), "bad id {id}");
    }
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), evs.len(), "two alerts of one call share an id");
    let (again, _) = events(&p, now);
    assert!(
        evs.iter().zip(&again).all(|(a, b)| a.id == b.id),
        "a retry gets new ids"
    );
    let (_, next_previous) = events(&p, now + chrono::Duration::seconds(120));
    assert!(evs.iter().zip(&next_previous).all(|(a, b)| a.id == *b));
    for e in &evs {
        let _ = serde_json::to_string(e).expect("an event serialises");
    }
});
