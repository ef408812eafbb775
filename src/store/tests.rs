use super::*;
use crate::event::{Kind, Severity};

fn ev(n: usize) -> Event {
    Event {
        id: uuid::Uuid::now_v7().to_string(),
        time: Utc::now(),
        instance: "lb1".into(),
        kind: Kind::ServerDown,
        severity: Severity::Critical,
        backend: Some("be".into()),
        server: Some(format!("s{n}")),
        from: Some("UP".into()),
        to: Some("DOWN".into()),
        status: None,
        check: None,
        agent: None,
        addr: None,
        message: format!("server be/s{n} UP → DOWN"),
    }
}

#[test]
fn events_and_outbox_round_trip_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&dir.path().join("sub/h.db")).unwrap();
    let batch1: Vec<Event> = (0..5).map(ev).collect();
    let sinks = vec![("a".to_string(), 2), ("b".to_string(), 100)];
    assert_eq!(
        s.commit("lb1", Some(&InstanceState::default()), &batch1, &sinks)
            .unwrap(),
        4
    );
    let batch2: Vec<Event> = (5..6).map(ev).collect();
    s.commit("lb1", None, &batch2, &sinks).unwrap();
    let a = s.pending("a", 100).unwrap();
    assert_eq!(a.iter().map(|p| p.events.len()).collect::<Vec<_>>(), vec![2, 2, 1, 1]);
    let ids: Vec<String> = a.iter().flat_map(|p| p.events.iter().map(|e| e.id.clone())).collect();
    let want: Vec<String> = batch1.iter().chain(&batch2).map(|e| e.id.clone()).collect();
    assert_eq!(ids, want);
    s.mark_failed(&[a[0].id], "boom", 42).unwrap();
    let again = s.pending("a", 1).unwrap();
    assert_eq!((again[0].attempts, again[0].next_attempt_ms), (1, 42));
    s.mark_delivered(&[a[0].id, a[1].id]).unwrap();
    assert_eq!(s.pending("a", 100).unwrap().len(), 2);
    assert_eq!(s.pending("b", 100).unwrap().len(), 2);
    let stats = s.outbox_stats().unwrap();
    assert_eq!((stats[0].pending, stats[0].delivered), (2, 2));
    assert_eq!(
        s.events(&EventFilter {
            limit: Some(2),
            ..Default::default()
        })
        .unwrap()
        .iter()
        .map(|e| e.id.clone())
        .collect::<Vec<_>>(),
        want[4..].to_vec()
    );
    assert_eq!(
        s.events(&EventFilter {
            server: Some("s3".into()),
            ..Default::default()
        })
        .unwrap()
        .len(),
        1
    );
    assert!(s.load_state("lb1").unwrap().is_some());
    assert!(s.load_state("other").unwrap().is_none());
}

#[test]
fn survives_reopen_and_prunes_only_what_is_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.db");
    {
        let s = Store::open(&path).unwrap();
        s.commit("lb1", None, &[ev(1), ev(2)], &[("a".into(), 1)]).unwrap();
        let p = s.pending("a", 10).unwrap();
        s.mark_delivered(&[p[0].id]).unwrap();
    }
    let s = Store::open(&path).unwrap();
    let (o, e) = s.prune(Utc::now() + chrono::Duration::seconds(5)).unwrap();
    assert_eq!(
        (o, e),
        (1, 1),
        "the delivered row and its event go; the pending one stays"
    );
    assert_eq!(s.pending("a", 10).unwrap()[0].events[0].server.as_deref(), Some("s2"));
}

#[test]
fn foreign_and_corrupt_files_say_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, vec![7u8; 8192]).unwrap();
    let e = Store::open(&junk).unwrap_err();
    assert!(matches!(e, StoreError::NotADatabase { .. }), "{e}");
    assert!(e.to_string().contains("move it aside"), "{e}");
    let other = dir.path().join("other.db");
    Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE t(x)")
        .unwrap();
    let e = Store::open(&other).unwrap_err();
    assert!(matches!(e, StoreError::Foreign { .. }), "{e}");
    let newer = dir.path().join("newer.db");
    drop(Store::open(&newer).unwrap());
    Connection::open(&newer)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    assert!(matches!(
        Store::open(&newer).unwrap_err(),
        StoreError::TooNew { found: 99, .. }
    ));
    assert!(matches!(
        Store::open_existing(&dir.path().join("none.db")).unwrap_err(),
        StoreError::Missing { .. }
    ));
}
