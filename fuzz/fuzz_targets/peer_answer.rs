//! The peer's answer to `GET /api/vrrp` (`keepalived::peer::parse_answer`),
//! untrusted: any bytes are read without a panic, and what is read steps the
//! pair's roles (`logic::pair`, pure) without a panic.
//! Invariants: lists are cut to `MAX_ITEMS`; a node holding the VIP never
//! takes over; a takeover is announced exactly when a sink enters it, and a
//! handback exactly when the last one leaves it; each key of a sink's
//! `told` list leaves out at most one notice.
#![no_main]

use hawatch::keepalived::peer::parse_answer;
use hawatch::logic::pair::{Pair, Peer, Role, Times, MAX_ITEMS, SKEW_MS};
use hawatch::model::notice::Told;
use libfuzzer_sys::fuzz_target;

const TIMES: Times = Times {
    takeover_after: 3_000,
    takeover_after_stuck: 4_000,
    handback_after: 3_000,
};

fuzz_target!(|data: &[u8]| {
    let Ok((_vips, report)) = parse_answer(data) else {
        return;
    };
    if let Some(r) = &report {
        assert!(r.instances.len() <= MAX_ITEMS && r.sinks.len() <= MAX_ITEMS);
        for s in &r.sinks {
            assert!(s.told.len() <= MAX_ITEMS);
            // Every key asked for as many times as it is listed, twice over:
            // no more than one notice per key is left out.
            let mut told = Told::new(&s.told);
            let mut taken = 0;
            for _ in 0..2 {
                for k in &s.told {
                    if let Some((what, at)) = k.rsplit_once('@') {
                        if let Ok(at) = at.parse::<i64>() {
                            taken += usize::from(told.take_key(what, at, SKEW_MS));
                        }
                    }
                }
            }
            assert!(taken <= told.len(), "{taken} taken of {} keys", told.len());
        }
    }
    let sinks: Vec<String> = report
        .as_ref()
        .map(|r| r.sinks.iter().map(|s| s.name.clone()).take(4).collect())
        .unwrap_or_default();
    let sinks = if sinks.is_empty() {
        vec!["hook".to_string()]
    } else {
        sinks
    };
    let mut pair = Pair::new(TIMES, &sinks, 0);
    // The same answer, then silence, then the answer again, with and
    // without the VIP, a second apart.
    let looks: [(bool, bool); 12] = [
        (false, true),
        (false, true),
        (false, false),
        (false, false),
        (false, false),
        (false, false),
        (false, true),
        (false, true),
        (false, true),
        (false, true),
        (true, true),
        (true, false),
    ];
    for (i, (mine, answers)) in looks.into_iter().enumerate() {
        let taken_before = sinks.iter().any(|s| pair.role(s) == Role::Takeover);
        let peer = if answers {
            Peer::Answered(report.as_ref())
        } else {
            Peer::Silent("timeout")
        };
        let step = pair.step(1_000 * (i as i64 + 1), mine, &peer);
        let taken_after = sinks.iter().any(|s| pair.role(s) == Role::Takeover);
        if mine {
            assert!(
                !taken_after && step.takeover.is_none(),
                "a VIP holder took over: {step:?}"
            );
        }
        assert_eq!(step.takeover.is_some(), !taken_before && taken_after, "{step:?}");
        assert_eq!(step.handback.is_some(), taken_before && !taken_after, "{step:?}");
    }
});
