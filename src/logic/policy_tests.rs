use chrono::TimeZone;

use super::*;

fn t(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap()
}

fn ev(kind: Kind, at: i64) -> Event {
    let (sev, from, to) = match kind {
        Kind::ServerDown => (Severity::Critical, "UP", "DOWN"),
        Kind::ServerUp => (Severity::Info, "DOWN", "UP"),
        Kind::ServerMaint => (Severity::Warning, "UP", "MAINT"),
        Kind::ServerReady => (Severity::Info, "MAINT", "UP"),
        Kind::BackendDown => (Severity::Critical, "UP", "DOWN"),
        Kind::BackendUp => (Severity::Info, "DOWN", "UP"),
        _ => (Severity::Info, "", ""),
    };
    let server = (!matches!(kind, Kind::BackendDown | Kind::BackendUp)).then(|| "s1".to_string());
    Event {
        id: format!("{kind}-{at}"),
        time: t(at),
        backend: Some("be".into()),
        server,
        from: Some(from.into()),
        to: Some(to.into()),
        ..Event::new("lb", kind, sev, format!("{kind}"))
    }
}

fn feed(p: &Policy, s: &mut Subject, kind: Kind, at: i64) -> Vec<Notice> {
    on_event(p, s, Notice::of(ev(kind, at)), true)
}

#[test]
fn without_delays_problems_and_recoveries_go_out_at_once_with_the_duration() {
    let p = Policy::default();
    let mut s = Subject::default();
    let n = feed(&p, &mut s, Kind::ServerDown, 0);
    assert_eq!(n.len(), 1);
    assert!(s.alerting());
    let n = feed(&p, &mut s, Kind::ServerUp, 192);
    assert_eq!(n.len(), 1);
    assert!(n[0].resolves);
    assert_eq!(n[0].duration_ms, Some(192_000));
    assert_eq!(
        n[0].severity,
        Severity::Critical,
        "a recovery is as urgent as its alert"
    );
    assert!(!s.alerting());
}

#[test]
fn a_blip_shorter_than_notify_after_says_nothing() {
    let p = Policy {
        notify_after: Duration::from_secs(30),
        ..Policy::default()
    };
    let mut s = Subject::default();
    assert!(feed(&p, &mut s, Kind::ServerDown, 0).is_empty());
    assert_eq!(s.due_ms(&p), Some(ms(t(30))));
    assert!(tick(&p, &mut s, t(10), false).is_empty());
    assert!(feed(&p, &mut s, Kind::ServerUp, 20).is_empty());
    assert!(tick(&p, &mut s, t(60), false).is_empty());
    assert!(s.open.is_none() && s.held.is_none());
}

#[test]
fn a_held_problem_goes_out_when_due_and_its_recovery_follows() {
    let p = Policy {
        notify_after: Duration::from_secs(30),
        ..Policy::default()
    };
    let mut s = Subject::default();
    feed(&p, &mut s, Kind::ServerDown, 0);
    let n = tick(&p, &mut s, t(30), false);
    assert_eq!(n.len(), 1);
    assert_eq!(n[0].event.kind, Kind::ServerDown);
    let n = feed(&p, &mut s, Kind::ServerUp, 100);
    assert!(n[0].resolves && n[0].duration_ms == Some(100_000));
}

#[test]
fn a_relapse_within_resolve_after_keeps_the_alert_open() {
    let p = Policy {
        resolve_after: Duration::from_secs(60),
        ..Policy::default()
    };
    let mut s = Subject::default();
    assert_eq!(feed(&p, &mut s, Kind::ServerDown, 0).len(), 1);
    assert!(feed(&p, &mut s, Kind::ServerUp, 10).is_empty());
    assert!(feed(&p, &mut s, Kind::ServerDown, 20).is_empty());
    assert!(tick(&p, &mut s, t(200), false).is_empty());
    assert!(s.alerting());
    assert!(feed(&p, &mut s, Kind::ServerUp, 300).is_empty());
    let n = tick(&p, &mut s, t(360), false);
    assert_eq!(n.len(), 1);
    assert_eq!(
        n[0].duration_ms,
        Some(300_000),
        "the down time counts from the first DOWN"
    );
    assert!(!s.alerting());
}

#[test]
fn flapping_twenty_toggles_is_at_most_three_notices() {
    let p = Policy {
        notify_after: Duration::from_secs(5),
        flap_settle: Duration::from_secs(30),
        ..Policy::default()
    };
    let mut s = Subject::default();
    let mut out = Vec::new();
    for i in 0..20 {
        out.extend(feed(&p, &mut s, Kind::ServerDown, i * 3));
        out.extend(tick(&p, &mut s, t(i * 3 + 1), false));
        out.extend(feed(&p, &mut s, Kind::ServerUp, i * 3 + 2));
        out.extend(tick(&p, &mut s, t(i * 3 + 2), false));
    }
    for sec in 60..200 {
        out.extend(tick(&p, &mut s, t(sec), false));
    }
    let kinds: Vec<NoticeKind> = out.iter().map(|n| n.kind).collect();
    assert_eq!(kinds, vec![NoticeKind::Flapping, NoticeKind::Settled], "{out:#?}");
    assert_eq!(out[1].count, Some(40));
    assert!(s.is_idle(), "{s:?}");
}

#[test]
fn flapping_without_delay_still_stays_within_three_notices_with_a_low_threshold() {
    let p = Policy {
        flap_threshold: 1,
        flap_settle: Duration::from_secs(30),
        ..Policy::default()
    };
    let mut s = Subject::default();
    let mut out = Vec::new();
    for i in 0..20 {
        out.extend(feed(&p, &mut s, Kind::ServerDown, i * 3));
        out.extend(feed(&p, &mut s, Kind::ServerUp, i * 3 + 1));
    }
    out.extend(tick(&p, &mut s, t(200), false));
    assert_eq!(out.len(), 3, "{out:#?}");
    assert_eq!(out[1].kind, NoticeKind::Flapping);
    assert_eq!(out[2].kind, NoticeKind::Settled);
    assert!(out[2].resolves, "settled UP ends the alert opened by the first DOWN");
}

#[test]
fn flapping_that_settles_down_leaves_an_alert_open() {
    let p = Policy {
        flap_threshold: 2,
        flap_settle: Duration::from_secs(30),
        ..Policy::default()
    };
    let mut s = Subject::default();
    feed(&p, &mut s, Kind::ServerMaint, 0);
    feed(&p, &mut s, Kind::ServerReady, 1);
    feed(&p, &mut s, Kind::ServerDown, 2);
    let n = tick(&p, &mut s, t(40), false);
    assert_eq!(n[0].kind, NoticeKind::Settled);
    assert_eq!(n[0].fires(), Some(Kind::ServerDown));
    assert!(s.alerting());
    let n = feed(&p, &mut s, Kind::ServerUp, 100);
    assert!(n[0].resolves);
}

#[test]
fn reminders_repeat_up_to_the_cap_and_defer_to_a_down_parent() {
    let p = Policy {
        remind_every: Duration::from_secs(60),
        remind_max: 2,
        ..Policy::default()
    };
    let mut s = Subject::default();
    feed(&p, &mut s, Kind::ServerDown, 0);
    assert!(tick(&p, &mut s, t(59), false).is_empty());
    let n = tick(&p, &mut s, t(60), false);
    assert_eq!(
        (n[0].kind, n[0].count, n[0].duration_ms),
        (NoticeKind::Reminder, Some(1), Some(60_000))
    );
    assert!(
        tick(&p, &mut s, t(120), true).is_empty(),
        "the backend's reminder speaks for it"
    );
    assert!(tick(&p, &mut s, t(500), false).is_empty(), "capped at remind_max");
    assert_eq!(s.open.as_ref().unwrap().next_remind_ms, None);
}

#[test]
fn recoveries_of_known_alerts_pass_any_route_and_others_follow_it() {
    let p = Policy::default();
    let mut s = Subject::default();
    assert!(on_event(&p, &mut s, Notice::of(ev(Kind::ServerMaint, 0)), false).is_empty());
    assert!(on_event(&p, &mut s, Notice::of(ev(Kind::ServerReady, 5)), false).is_empty());
    assert_eq!(feed(&p, &mut s, Kind::ServerDown, 10).len(), 1);
    let n = on_event(&p, &mut s, Notice::of(ev(Kind::ServerUp, 20)), false);
    assert!(n[0].resolves);
}

#[test]
fn a_return_from_maintenance_says_how_long_it_was_away() {
    let p = Policy::default();
    let mut s = Subject::default();
    feed(&p, &mut s, Kind::ServerMaint, 0);
    let n = feed(&p, &mut s, Kind::ServerReady, 75);
    assert_eq!(n[0].duration_ms, Some(75_000));
    assert!(!n[0].resolves);
}

#[test]
fn gone_closes_a_notified_alert_only() {
    let p = Policy {
        notify_after: Duration::from_secs(30),
        ..Policy::default()
    };
    let mut s = Subject::default();
    feed(&p, &mut s, Kind::ServerDown, 0);
    assert!(close_gone(&mut s.clone(), t(10), "removed").is_none());
    tick(&p, &mut s, t(30), false);
    let n = close_gone(&mut s, t(90), "removed").unwrap();
    assert!(n.resolves && n.kind == NoticeKind::Gone && n.duration_ms == Some(90_000));
    assert!(s.is_idle());
}

#[test]
fn a_backend_notice_tells_its_servers() {
    let notices = vec![
        Notice::of(ev(Kind::ServerDown, 0)),
        Notice::of(ev(Kind::BackendDown, 0)),
        Notice::of({
            let mut e = ev(Kind::ServerDown, 0);
            e.backend = Some("other".into());
            e
        }),
    ];
    let out = fold(notices);
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].event.kind, Kind::BackendDown);
    assert_eq!(out[0].folded.len(), 1);
    assert_eq!(out[1].event.backend.as_deref(), Some("other"));
}

#[test]
fn keys_and_parents() {
    let e = ev(Kind::ServerDown, 0);
    assert_eq!(key(&e), "lb/be/s1");
    assert_eq!(parents("lb/be/s1"), vec!["lb".to_string(), "lb/be".to_string()]);
    assert!(parents("lb").is_empty());
}

#[test]
fn a_check_result_that_changes_back_within_notify_after_says_nothing() {
    let p = Policy {
        notify_after: Duration::from_secs(10),
        ..Policy::default()
    };
    let check = |from: &str, to: &str, at: i64| {
        let mut e = ev(Kind::CheckChanged, at);
        e.from = Some(from.into());
        e.to = Some(to.into());
        Notice::of(e)
    };
    let mut s = Subject::default();
    assert!(on_event(&p, &mut s, check("L7OK", "L7STS", 0), true).is_empty());
    assert!(on_event(&p, &mut s, check("L7STS", "L7OK", 2), true).is_empty());
    assert!(tick(&p, &mut s, t(30), false).is_empty());
    // An early warning followed by DOWN is one message: the DOWN.
    on_event(&p, &mut s, check("L7OK", "L4CON", 40), true);
    feed(&p, &mut s, Kind::ServerDown, 41);
    let n = tick(&p, &mut s, t(60), false);
    assert_eq!(n.len(), 1);
    assert_eq!(n[0].event.kind, Kind::ServerDown);
    // While down, check changes are the alert's business.
    assert!(on_event(&p, &mut s, check("L4CON", "L4TOUT", 70), true).is_empty());
    // Without notify_after a check change goes out at once.
    let mut s = Subject::default();
    assert_eq!(
        on_event(&Policy::default(), &mut s, check("L7OK", "L7STS", 0), true).len(),
        1
    );
}
