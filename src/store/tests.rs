use super::*;
use crate::logic::plan::SinkPlan;
use crate::model::event::{Kind, Severity};

fn ev(n: usize) -> Event {
    Event {
        backend: Some("be".into()),
        server: Some(format!("s{n}")),
        from: Some("UP".into()),
        to: Some("DOWN".into()),
        ..Event::new(
            "lb1",
            Kind::ServerDown,
            Severity::Critical,
            format!("server be/s{n} UP → DOWN"),
        )
    }
}

fn plans(names: &[&str]) -> Vec<SinkPlan> {
    names.iter().map(|n| SinkPlan::plain(n)).collect()
}

fn ids(p: &[Pending]) -> Vec<String> {
    p.iter()
        .flat_map(|p| p.notices.iter().map(|n| n.event.id.clone()))
        .collect()
}

#[test]
fn events_and_outbox_round_trip_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&dir.path().join("sub/h.db")).unwrap();
    let batch1: Vec<Event> = (0..5).map(ev).collect();
    let sinks = plans(&["a", "b"]);
    assert_eq!(
        s.commit("lb1", Some(&InstanceState::default()), &batch1, &sinks)
            .unwrap(),
        2
    );
    let batch2: Vec<Event> = (5..6).map(ev).collect();
    s.commit("lb1", None, &batch2, &sinks).unwrap();
    let a = s.pending("a", 100).unwrap();
    assert_eq!(a.iter().map(|p| p.notices.len()).collect::<Vec<_>>(), vec![5, 1]);
    let want: Vec<String> = batch1.iter().chain(&batch2).map(|e| e.id.clone()).collect();
    assert_eq!(ids(&a), want);
    s.mark_failed(&[a[0].id], "boom", 42).unwrap();
    let again = s.pending("a", 1).unwrap();
    assert_eq!((again[0].attempts, again[0].next_attempt_ms), (1, 42));
    // A row delivered in two parts: the second read starts where the first ended.
    s.mark_delivered(&[], Some((a[0].id, 3))).unwrap();
    let part = s.pending("a", 1).unwrap();
    assert_eq!((part[0].done, part[0].notices.len(), part[0].attempts), (3, 2, 0));
    assert_eq!(ids(&part), want[3..5].to_vec());
    s.mark_delivered(&[a[0].id], None).unwrap();
    assert_eq!(s.pending("a", 100).unwrap().len(), 1);
    assert_eq!(s.pending("b", 100).unwrap().len(), 2);
    let stats = s.outbox_stats().unwrap();
    assert_eq!((stats[0].pending, stats[0].delivered, stats[0].dead), (1, 1, 0));
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
        s.commit("lb1", None, &[ev(1)], &plans(&["a"])).unwrap();
        s.commit("lb1", None, &[ev(2)], &plans(&["a"])).unwrap();
        let p = s.pending("a", 10).unwrap();
        s.mark_delivered(&[p[0].id], None).unwrap();
    }
    let s = Store::open(&path).unwrap();
    let (o, e) = s.prune(Utc::now() + chrono::Duration::seconds(5)).unwrap();
    assert_eq!(
        (o, e),
        (1, 2),
        "the delivered row goes; a pending row keeps its notices itself"
    );
    assert_eq!(
        s.pending("a", 10).unwrap()[0].notices[0].event.server.as_deref(),
        Some("s2")
    );
}

#[test]
fn rows_from_before_notices_are_still_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&dir.path().join("h.db")).unwrap();
    s.commit("lb1", None, &[ev(1), ev(2)], &plans(&["a"])).unwrap();
    // A schema-1 row: a range of event seqs and no notices.
    s.with(|c| c.execute("INSERT INTO outbox(sink, instance, first_seq, last_seq, created_at) VALUES ('old', 'lb1', 1, 2, '2026-01-01T00:00:00.000Z')", []))
        .unwrap();
    let p = s.pending("old", 10).unwrap();
    assert_eq!(p[0].notices.len(), 2);
    assert_eq!(p[0].notices[1].event.server.as_deref(), Some("s2"));
}

#[test]
fn old_messages_become_dead_letters_that_can_be_retried() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&dir.path().join("h.db")).unwrap();
    s.commit("lb1", None, &[ev(1)], &plans(&["a", "b"])).unwrap();
    s.mark_failed(&[s.pending("a", 1).unwrap()[0].id], "HTTP 500", 0)
        .unwrap();
    assert_eq!(s.expire("a", Utc::now() - chrono::Duration::hours(1)).unwrap(), 0);
    assert_eq!(s.expire("a", Utc::now() + chrono::Duration::seconds(1)).unwrap(), 1);
    assert!(s.pending("a", 10).unwrap().is_empty());
    assert_eq!(s.pending("b", 10).unwrap().len(), 1, "other sinks are not touched");
    let dead = s.dead_letters(None).unwrap();
    assert_eq!((dead.len(), dead[0].attempts, dead[0].notices), (1, 1, 1));
    assert_eq!(dead[0].last_error.as_deref(), Some("HTTP 500"));
    assert_eq!(s.outbox_stats().unwrap()[0].dead, 1);
    assert_eq!(s.retry_dead(Some("b"), &[]).unwrap(), 0);
    assert_eq!(s.retry_dead(Some("a"), &[]).unwrap(), 1);
    let p = s.pending("a", 10).unwrap();
    assert_eq!((p.len(), p[0].attempts), (1, 0));
    assert!(s.dead_letters(None).unwrap().is_empty());
}

#[test]
fn held_notices_come_out_on_the_tick_and_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.db");
    let mut sp = SinkPlan::plain("a");
    sp.policy.notify_after = std::time::Duration::from_secs(30);
    {
        let s = Store::open(&path).unwrap();
        s.commit("lb1", None, &[ev(1)], std::slice::from_ref(&sp)).unwrap();
        assert!(s.pending("a", 10).unwrap().is_empty(), "held by notify_after");
        let (rows, next) = s.tick(std::slice::from_ref(&sp), Utc::now()).unwrap();
        assert_eq!(rows, 0);
        assert!(next.is_some());
    }
    let s = Store::open(&path).unwrap();
    let (rows, _) = s
        .tick(std::slice::from_ref(&sp), Utc::now() + chrono::Duration::seconds(31))
        .unwrap();
    assert_eq!(rows, 1);
    assert_eq!(
        s.pending("a", 10).unwrap()[0].notices[0].event.server.as_deref(),
        Some("s1")
    );
    assert_eq!(s.alerting("a").unwrap().len(), 1);
    // The instance leaves the config: its alert is closed, not left open.
    assert_eq!(s.close_unwatched(&[], std::slice::from_ref(&sp)).unwrap(), 1);
    let p = s.pending("a", 10).unwrap();
    assert!(p[1].notices[0].resolves);
    assert!(s.alerting("a").unwrap().is_empty());
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

/// A store that cannot be opened says why, naming the path.
#[test]
fn a_store_that_cannot_be_opened_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let e = Store::open(dir.path()).unwrap_err().to_string();
    assert!(
        e.contains(&dir.path().display().to_string()) && e.contains("is a directory") && e.contains("hawatch.db"),
        "{e}"
    );
    let e = Store::open_existing(dir.path()).unwrap_err().to_string();
    assert!(e.contains("is a directory"), "{e}");
    // A directory hawatch's user cannot write (meaningless as root, who can).
    if !nix::unistd::geteuid().is_root() {
        use std::os::unix::fs::PermissionsExt;
        let ro = dir.path().join("ro");
        std::fs::create_dir(&ro).unwrap();
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
        let e = Store::open(&ro.join("hawatch.db")).unwrap_err().to_string();
        assert!(e.contains("cannot create files in") && e.contains("watch.store"), "{e}");
    }
}

/// A pair's held rows: not sent, not counted as pending, not dead letters;
/// released from a time (marked as the standby's) or dropped before one.
#[test]
fn rows_held_for_the_pair_wait_until_released_or_dropped() {
    use crate::logic::plan::Telling;
    use std::collections::BTreeSet;
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&dir.path().join("h.db")).unwrap();
    let gated = Arc::new(BTreeSet::from(["lb1".to_string()]));
    let held = |telling| {
        vec![SinkPlan {
            telling,
            gated: Some(gated.clone()),
            ..SinkPlan::plain("a")
        }]
    };
    s.commit("lb1", None, &[ev(0)], &held(Telling::Hold)).unwrap();
    // Another instance (the pair's own events) is never held.
    let mut other = ev(9);
    other.instance = "pair".into();
    s.commit("pair", None, &[other.clone()], &held(Telling::Hold)).unwrap();
    let t1 = chrono::Utc::now();
    std::thread::sleep(std::time::Duration::from_millis(5));
    s.commit("lb1", None, &[ev(1)], &held(Telling::Hold)).unwrap();
    s.commit("lb1", None, &[ev(2)], &held(Telling::Hold)).unwrap();
    let (ready, _) = s.ready("a", 100, now_ms()).unwrap();
    assert_eq!(ids(&ready), vec![other.id.clone()]);
    // The pair's own notice waits for its first try: releases wait for it.
    assert!(s.pair_notice_untried().unwrap());
    let stats = s.outbox_stats().unwrap();
    assert_eq!((stats[0].pending, stats[0].pair_held), (1, 3));
    // Past max_age: held rows are closed, never dead letters.
    assert_eq!(s.expire("a", t1 - chrono::Duration::seconds(3600)).unwrap(), 0);
    // The peer told what came before t1; the rest is told now, marked.
    assert_eq!(s.pair_discard("a", t1).unwrap(), 1);
    assert_eq!(s.pair_release("a", t1, Telling::Standby, &[]).unwrap(), 2);
    assert_eq!(s.pair_release("a", t1, Telling::Standby, &[]).unwrap(), 0, "once");
    let (ready, _) = s.ready("a", 100, now_ms()).unwrap();
    let notices: Vec<&crate::model::notice::Notice> = ready.iter().flat_map(|p| &p.notices).collect();
    assert_eq!(
        notices
            .iter()
            .map(|n| (n.event.server.clone().unwrap(), n.by_standby))
            .collect::<Vec<_>>(),
        vec![
            ("s9".to_string(), false),
            ("s1".to_string(), true),
            ("s2".to_string(), true)
        ]
    );
    let long_ago = chrono::Utc::now() - chrono::Duration::seconds(60);
    let d = s
        .delivering(&["a".to_string(), "z".to_string()], chrono::Utc::now(), long_ago)
        .unwrap();
    assert_eq!((d[0].pending, d[0].last_success), (3, None));
    assert!(d[0].oldest_pending.is_some());
    assert_eq!((d[1].pending, d[1].oldest_pending), (0, None));
    s.mark_delivered(&ready.iter().map(|p| p.id).collect::<Vec<_>>(), None)
        .unwrap();
    assert!(!s.pair_notice_untried().unwrap());
    let d = s.delivering(&["a".to_string()], chrono::Utc::now(), long_ago).unwrap();
    assert_eq!((d[0].pending, d[0].oldest_pending), (0, None));
    assert!(d[0].last_success.is_some());
    // What it told, as the other node compares it: no instance, no id.
    let what: Vec<&str> = d[0].told.iter().map(|k| k.rsplit_once('@').unwrap().0).collect();
    assert_eq!(
        what,
        [
            "event|be/s2|server_down|DOWN",
            "event|be/s1|server_down|DOWN",
            "event|be/s9|server_down|DOWN"
        ],
        "newest first"
    );
    assert_eq!(
        d[0].told[2],
        format!("event|be/s9|server_down|DOWN@{}", other.time.timestamp_millis())
    );
    let stats = s.outbox_stats().unwrap();
    assert_eq!(
        (stats[0].pending, stats[0].delivered, stats[0].pair_held, stats[0].dead),
        (0, 3, 0, 0)
    );
}

/// What the peer told is not told again when held rows are released; a row
/// left with nothing is closed.
#[test]
fn a_release_skips_what_the_peer_told() {
    use crate::logic::plan::Telling;
    use std::collections::BTreeSet;
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&dir.path().join("h.db")).unwrap();
    let held = vec![SinkPlan {
        telling: Telling::Hold,
        gated: Some(Arc::new(BTreeSet::from(["lb1".to_string()]))),
        ..SinkPlan::plain("a")
    }];
    let t0 = chrono::Utc::now() - chrono::Duration::seconds(1);
    let (e1, e2, e3) = (ev(1), ev(2), ev(3));
    s.commit("lb1", None, &[e1.clone(), e2.clone()], &held).unwrap();
    s.commit("lb1", None, std::slice::from_ref(&e3), &held).unwrap();
    // The instance's own events are never skipped: each node's HAProxy is its own.
    let mut gone = ev(4);
    (gone.backend, gone.server, gone.kind) = (None, None, Kind::InstanceUnreachable);
    s.commit("lb1", None, &[gone.clone()], &held).unwrap();
    let at = |e: &Event, off: i64| e.time.timestamp_millis() + off;
    let skip = [
        // The peer saw s1 and s3 go DOWN 2 s apart from this node.
        format!("event|be/s1|server_down|DOWN@{}", at(&e1, 2_000)),
        format!("event|be/s3|server_down|DOWN@{}", at(&e3, -2_000)),
        // s2 too, but a minute earlier: another time it went DOWN.
        format!("event|be/s2|server_down|DOWN@{}", at(&e2, -60_000)),
        format!("event||instance_unreachable|DOWN@{}", at(&gone, 0)),
    ];
    assert_eq!(s.pair_release("a", t0, Telling::Tell, &skip).unwrap(), 2);
    let (ready, _) = s.ready("a", 100, now_ms()).unwrap();
    let told: Vec<(Option<String>, bool)> = ready
        .iter()
        .flat_map(|p| &p.notices)
        .map(|n| (n.event.server.clone(), n.by_standby))
        .collect();
    assert_eq!(told, vec![(Some("s2".to_string()), false), (None, false)]);
    assert_eq!(s.outbox_stats().unwrap()[0].pair_held, 0);
}
