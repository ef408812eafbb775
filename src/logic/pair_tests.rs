use super::*;

const T: Times = Times {
    takeover_after: 5_000,
    takeover_after_stuck: 60_000,
    handback_after: 10_000,
};

fn report(holds_vip: bool, role: Role, oldest: Option<u64>, poll_age: u64) -> PairReport {
    PairReport {
        holds_vip,
        instances: vec![PollReport {
            name: "lb".into(),
            last_poll_age_ms: Some(poll_age),
            last_success_age_ms: Some(poll_age),
            late_after_ms: 3_000,
        }],
        sinks: vec![SinkReport {
            name: "hook".into(),
            role,
            pending: i64::from(oldest.is_some()),
            oldest_pending_age_ms: oldest,
            oldest_unsent_age_ms: oldest,
            last_success_age_ms: Some(1_000),
            takeover_ended_age_ms: None,
            told: Vec::new(),
        }],
    }
}

fn healthy_holder() -> PairReport {
    report(true, Role::Active, None, 300)
}

fn sinks() -> Vec<String> {
    vec!["hook".into()]
}

fn releases(s: &Step) -> Vec<(i64, Telling)> {
    s.actions
        .iter()
        .filter_map(|a| match a {
            Action::Release { from_ms, telling, .. } => Some((*from_ms, *telling)),
            _ => None,
        })
        .collect()
}

fn discards(s: &Step) -> Vec<i64> {
    s.actions
        .iter()
        .filter_map(|a| match a {
            Action::Discard { before_ms, .. } => Some(*before_ms),
            _ => None,
        })
        .collect()
}

#[test]
fn a_standby_drops_what_the_holder_told_and_holds_the_rest() {
    let mut p = Pair::new(T, &sinks(), 0);
    let r = report(true, Role::Active, Some(700), 300);
    let s = p.step(10_000, false, &Peer::Answered(Some(&r)));
    assert_eq!(p.role("hook"), Role::Standby);
    // Covered up to the later of its last poll and its oldest unsent
    // row, less the skew between the two nodes' observations.
    assert_eq!(discards(&s), vec![9_300 - SKEW_MS]);
    assert!(releases(&s).is_empty());
}

#[test]
fn a_change_the_holder_saw_a_moment_later_is_kept_until_it_told_it() {
    // Both HAProxies check the same server on their own clocks: this node
    // saw it go DOWN at 43_290, the holder at 43_620, and cannot deliver.
    let mut p = Pair::new(T, &sinks(), 0);
    let r = report(true, Role::Active, Some(780), 300);
    let s = p.step(44_400, false, &Peer::Answered(Some(&r)));
    let before = discards(&s)[0];
    assert!(before < 43_290, "{before}: this node's row would be dropped");
    let r = report(true, Role::Active, Some(60_780), 300);
    let s = p.step(104_400, false, &Peer::Answered(Some(&r)));
    assert!(releases(&s)[0].0 <= 43_290, "{s:?}");
}

#[test]
fn a_silent_holder_is_taken_over_after_takeover_after_then_handed_back_once() {
    let mut p = Pair::new(T, &sinks(), 0);
    let r = healthy_holder();
    p.step(1_000, false, &Peer::Answered(Some(&r)));
    // Covered to 700. Silent from 2 s on.
    for at in [2_000, 4_000, 5_999] {
        let s = p.step(at, false, &Peer::Silent("connection refused"));
        assert_eq!((p.role("hook"), &s.takeover), (Role::Standby, &None), "at {at}");
    }
    let s = p.step(6_000, false, &Peer::Silent("connection refused"));
    assert_eq!(p.role("hook"), Role::Takeover);
    let (sinks, why) = s.takeover.clone().unwrap();
    assert_eq!(sinks, vec!["hook".to_string()]);
    assert!(why.contains("has not answered for 5 s"), "{why}");
    // Held rows from where the holder's coverage ended are told, marked.
    assert_eq!(releases(&s), vec![(700 - SKEW_MS, Telling::Standby)]);
    assert_eq!(p.node_role(), Role::Takeover);
    // Still silent: nothing new to say.
    assert_eq!(p.step(7_000, false, &Peer::Silent("x")).takeover, None);
    // The restarted holder yields while we tell: its report says active
    // only once we hand back, so judge it by its health.
    let back = report(true, Role::Yield, None, 300);
    for at in (8_000..18_000).step_by(1_000) {
        let s = p.step(at, false, &Peer::Answered(Some(&back)));
        assert_eq!((p.role("hook"), &s.handback), (Role::Takeover, &None), "at {at}");
    }
    let s = p.step(18_000, false, &Peer::Answered(Some(&back)));
    assert_eq!(p.role("hook"), Role::Standby);
    assert!(s.handback.unwrap().contains("10 s"));
    assert_eq!(p.ended_age_ms("hook", 19_000), Some(1_000));
    // Once.
    let s = p.step(19_000, false, &Peer::Answered(Some(&healthy_holder())));
    assert_eq!((s.takeover, s.handback), (None, None));
}

#[test]
fn a_hiccup_restarts_the_handback_wait() {
    let mut p = Pair::new(T, &sinks(), 0);
    p.step(6_000, false, &Peer::Silent("timeout"));
    assert_eq!(p.role("hook"), Role::Takeover);
    let back = report(true, Role::Yield, None, 300);
    p.step(7_000, false, &Peer::Answered(Some(&back)));
    p.step(15_000, false, &Peer::Silent("timeout"));
    p.step(16_000, false, &Peer::Answered(Some(&back)));
    assert_eq!(p.step(25_000, false, &Peer::Answered(Some(&back))).handback, None);
    assert!(p.step(26_000, false, &Peer::Answered(Some(&back))).handback.is_some());
}

#[test]
fn a_stuck_sink_is_taken_over_alone() {
    let mut p = Pair::new(T, &["hook".to_string(), "mail".to_string()], 0);
    let mut r = report(true, Role::Active, Some(59_999), 300);
    r.sinks.push(SinkReport {
        name: "mail".into(),
        role: Role::Active,
        pending: 0,
        oldest_pending_age_ms: None,
        oldest_unsent_age_ms: None,
        last_success_age_ms: Some(5),
        takeover_ended_age_ms: None,
        told: Vec::new(),
    });
    let s = p.step(100_000, false, &Peer::Answered(Some(&r)));
    assert_eq!(s.takeover, None);
    // Its oldest unsent row has waited since 40_001: covered to there.
    assert_eq!(discards(&s), vec![40_001 - SKEW_MS, 99_700 - SKEW_MS]);
    r.sinks[0].oldest_pending_age_ms = Some(61_000);
    r.sinks[0].oldest_unsent_age_ms = Some(61_000);
    let s = p.step(101_000, false, &Peer::Answered(Some(&r)));
    assert_eq!((p.role("hook"), p.role("mail")), (Role::Takeover, Role::Standby));
    let (sinks, why) = s.takeover.clone().unwrap();
    assert_eq!(sinks, vec!["hook".to_string()]);
    assert!(why.contains("sink hook has not delivered for 61 s"), "{why}");
    assert_eq!(releases(&s), vec![(40_001 - SKEW_MS, Telling::Standby)]);
}

#[test]
fn a_holder_whose_poller_hangs_is_taken_over() {
    let mut p = Pair::new(T, &sinks(), 0);
    let r = report(true, Role::Active, None, 4_000);
    assert_eq!(p.step(1_000, false, &Peer::Answered(Some(&r))).takeover, None);
    let r = report(true, Role::Active, None, 5_000);
    let (_, why) = p.step(2_000, false, &Peer::Answered(Some(&r))).takeover.unwrap();
    assert!(why.contains("has not polled lb for 5 s"), "{why}");
}

#[test]
fn a_restarted_holder_waits_for_its_peer_and_yields_to_a_takeover() {
    let mut p = Pair::new(T, &sinks(), 50_000);
    // Not heard yet: hold.
    assert_eq!(p.step(50_000, true, &Peer::Silent("refused")).actions, vec![]);
    assert_eq!(p.role("hook"), Role::Starting);
    let mut r = report(false, Role::Takeover, None, 300);
    p.step(51_000, true, &Peer::Answered(Some(&r)));
    assert_eq!((p.role("hook"), p.node_role()), (Role::Yield, Role::Standby));
    // The peer hands back; what it told before then is dropped here.
    r.sinks[0].role = Role::Standby;
    r.sinks[0].takeover_ended_age_ms = Some(400);
    let s = p.step(62_000, true, &Peer::Answered(Some(&r)));
    assert_eq!(p.role("hook"), Role::Active);
    assert_eq!(discards(&s), vec![61_600 - SKEW_MS]);
    assert_eq!(releases(&s), vec![(61_600 - SKEW_MS, Telling::Tell)]);
}

#[test]
fn a_holder_that_never_hears_its_peer_tells_what_it_held_since_its_start() {
    let mut p = Pair::new(T, &sinks(), 50_000);
    p.step(54_000, true, &Peer::Silent("refused"));
    assert_eq!(p.role("hook"), Role::Starting);
    let s = p.step(55_000, true, &Peer::Silent("refused"));
    assert_eq!(p.role("hook"), Role::Active);
    assert_eq!(releases(&s), vec![(50_000, Telling::Tell)]);
    assert_eq!((s.takeover, s.handback), (None, None), "a holder never takes over");
}

#[test]
fn a_holder_that_was_frozen_holds_until_its_peer_answers() {
    let mut p = Pair::new(T, &sinks(), 0);
    p.step(
        1_000,
        true,
        &Peer::Answered(Some(&report(false, Role::Standby, None, 300))),
    );
    assert_eq!(p.telling("hook", 1_500), Telling::Tell);
    // SIGSTOP for 20 s: what the pollers write on waking is held, and the
    // peer is told so.
    assert_eq!(p.telling("hook", 21_000), Telling::Hold);
    assert_eq!(p.reported_role("hook", 21_000), Role::Starting);
    // Its first ask on waking may fail (its timeout ran out while it was
    // stopped): it waits for an answer, `takeover_after` from now.
    let s = p.step(21_050, true, &Peer::Silent("timeout"));
    assert_eq!((p.role("hook"), releases(&s)), (Role::Starting, vec![]));
    let r = report(false, Role::Takeover, None, 300);
    let s = p.step(21_100, true, &Peer::Answered(Some(&r)));
    assert_eq!(p.role("hook"), Role::Yield);
    assert!(releases(&s).is_empty());
    // Not taken over meanwhile: tell what was held since the last look.
    let mut p = Pair::new(T, &sinks(), 0);
    p.step(
        1_000,
        true,
        &Peer::Answered(Some(&report(false, Role::Standby, None, 300))),
    );
    let s = p.step(
        21_100,
        true,
        &Peer::Answered(Some(&report(false, Role::Standby, None, 300))),
    );
    assert_eq!(p.role("hook"), Role::Active);
    assert_eq!(releases(&s), vec![(1_000, Telling::Tell)]);
}

#[test]
fn a_normal_failover_is_no_takeover() {
    // lb2 is the standby; lb1's HAProxy stops, its watcher goes on
    // polling (and telling instance_unreachable), the VIP moves.
    let mut p = Pair::new(T, &sinks(), 0);
    p.step(1_000, false, &Peer::Answered(Some(&healthy_holder())));
    let moving = report(false, Role::Standby, None, 300);
    for at in (2_000..20_000).step_by(1_000) {
        let s = p.step(at, false, &Peer::Answered(Some(&moving)));
        assert_eq!(s.takeover, None);
    }
    let s = p.step(20_000, true, &Peer::Answered(Some(&moving)));
    assert_eq!(p.role("hook"), Role::Active);
    // From where lb1's telling ended (its last look as the holder, less
    // its poll lag): what only this node saw during the move is told.
    assert_eq!(releases(&s), vec![(700 - SKEW_MS, Telling::Tell)]);
    assert_eq!((s.takeover, s.handback), (None, None));
}

#[test]
fn what_the_peer_told_lately_is_skipped_when_this_node_starts_telling() {
    let mut p = Pair::new(T, &sinks(), 0);
    let mut r = healthy_holder();
    r.sinks[0].told = vec!["event|app/s1|server_up|UP".into()];
    p.step(1_000, false, &Peer::Answered(Some(&r)));
    // Silent: its last list is what it told.
    for at in [2_000, 3_000, 4_000, 5_000] {
        p.step(at, false, &Peer::Silent("refused"));
    }
    let s = p.step(6_000, false, &Peer::Silent("refused"));
    let skip: Vec<&Vec<String>> = s
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::Release { skip, .. } => Some(skip),
            _ => None,
        })
        .collect();
    assert_eq!(skip, vec![&vec!["event|app/s1|server_up|UP".to_string()]]);
}

#[test]
fn the_vip_moving_from_a_holder_with_a_backlog_tells_only_what_it_did_not_see() {
    // lb1 has a message waiting since 01:00 (quiet hours) but polls fine.
    let mut p = Pair::new(T, &sinks(), 0);
    let mut r = report(true, Role::Active, None, 300);
    r.sinks[0].oldest_unsent_age_ms = Some(7_200_000);
    let s = p.step(10_800_000, false, &Peer::Answered(Some(&r)));
    assert_eq!(discards(&s), vec![3_600_000 - SKEW_MS], "its backlog is not told yet");
    // The VIP comes here: lb1 still sends its backlog; tell what it did not see.
    let s = p.step(
        10_801_000,
        true,
        &Peer::Answered(Some(&report(false, Role::Standby, None, 300))),
    );
    assert_eq!(releases(&s), vec![(10_800_000 - 300 - SKEW_MS, Telling::Tell)]);
}

#[test]
fn the_vip_coming_before_any_coverage_tells_what_was_held() {
    let mut never = healthy_holder();
    never.instances[0].last_success_age_ms = None;
    let mut p = Pair::new(T, &sinks(), 5_000);
    p.step(6_000, false, &Peer::Answered(Some(&never)));
    let s = p.step(7_000, true, &Peer::Answered(Some(&never)));
    assert_eq!(releases(&s), vec![(5_000, Telling::Tell)]);
    // An older hawatch never says what it told: it told all.
    let mut p = Pair::new(T, &sinks(), 5_000);
    p.step(6_000, false, &Peer::Answered(None));
    let s = p.step(7_000, true, &Peer::Answered(None));
    assert_eq!(releases(&s), vec![(7_000, Telling::Tell)]);
}

#[test]
fn a_holder_that_holds_back_too_long_is_taken_over() {
    let mut p = Pair::new(T, &sinks(), 0);
    let stuck = report(true, Role::Starting, None, 300);
    for at in (1_000..11_000).step_by(1_000) {
        assert_eq!(
            p.step(at, false, &Peer::Answered(Some(&stuck))).takeover,
            None,
            "at {at}"
        );
    }
    let (_, why) = p.step(11_000, false, &Peer::Answered(Some(&stuck))).takeover.unwrap();
    assert!(why.contains("held back without telling for 10 s"), "{why}");
}

#[test]
fn a_holder_whose_haproxy_stopped_answering_covers_only_what_it_saw() {
    let mut p = Pair::new(T, &sinks(), 0);
    let mut r = healthy_holder();
    p.step(10_000, false, &Peer::Answered(Some(&r)));
    // Its HAProxy died 4 s ago: it polls on, but has seen nothing since.
    r.instances[0].last_success_age_ms = Some(4_000);
    let s = p.step(11_000, false, &Peer::Answered(Some(&r)));
    assert_eq!(discards(&s), vec![9_700 - SKEW_MS], "coverage does not move back or on");
    let s = p.step(
        12_000,
        true,
        &Peer::Answered(Some(&report(false, Role::Standby, None, 300))),
    );
    assert_eq!(releases(&s), vec![(9_700 - SKEW_MS, Telling::Tell)]);
    // An instance that never answered: no coverage at all.
    let mut p = Pair::new(T, &sinks(), 0);
    r.instances[0].last_success_age_ms = None;
    assert!(discards(&p.step(10_000, false, &Peer::Answered(Some(&r)))).is_empty());
}

#[test]
fn the_vip_coming_here_during_a_takeover_ends_it() {
    let mut p = Pair::new(T, &sinks(), 0);
    p.step(6_000, false, &Peer::Silent("refused"));
    let s = p.step(7_000, true, &Peer::Silent("refused"));
    assert_eq!(p.role("hook"), Role::Active);
    assert!(s.handback.unwrap().contains("holds the VIP"));
}

#[test]
fn an_older_peer_without_a_report_is_never_taken_over_while_it_answers() {
    let mut p = Pair::new(T, &sinks(), 0);
    for at in (0..100_000).step_by(1_000) {
        assert_eq!(p.step(at, false, &Peer::Answered(None)).takeover, None);
    }
    assert_eq!(p.role("hook"), Role::Standby);
}

#[test]
fn a_standby_that_was_frozen_does_not_take_over_on_one_failed_ask() {
    let mut p = Pair::new(T, &sinks(), 0);
    p.step(1_000, false, &Peer::Answered(Some(&healthy_holder())));
    let s = p.step(30_000, false, &Peer::Silent("timeout"));
    assert_eq!((p.role("hook"), s.takeover), (Role::Standby, None));
    for at in [31_000, 32_000, 33_000, 34_000] {
        assert_eq!(p.step(at, false, &Peer::Silent("timeout")).takeover, None);
    }
    assert!(p.step(35_000, false, &Peer::Silent("timeout")).takeover.is_some());
}

#[test]
fn reports_are_bounded() {
    let mut r = healthy_holder();
    r.sinks = (0..1000)
        .map(|i| SinkReport {
            name: format!("s{i}"),
            ..r.sinks[0].clone()
        })
        .collect();
    r.sinks[0].takeover_ended_age_ms = Some(u64::MAX);
    r.instances[0].last_success_age_ms = Some(u64::MAX);
    let b = r.bounded();
    assert_eq!(b.sinks.len(), MAX_ITEMS);
    assert_eq!(b.sinks[0].takeover_ended_age_ms, Some(MAX_AGE_MS));
    assert_eq!(b.instances[0].last_success_age_ms, Some(MAX_AGE_MS));
}
