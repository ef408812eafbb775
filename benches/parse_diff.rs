//! Criterion benchmarks of the CPU side of one poll of a large instance:
//! `show stat` CSV → rows (`haproxy::Stat`) → events (`watch::diff::diff`).
//!
//! The input is a 1,000 backends × 10 servers `show stat` reply built in memory
//! from the real HAProxy 2.6 capture in `tests/fixtures/haproxy-2.6/show-stat.csv`:
//! its header line, its real server and BACKEND rows as templates (UP/L7OK, agent
//! checked, DOWN/L4CON, L7STS, NOLB, MAINT, backup, `no check`, tracking, TCP mode),
//! with unique backend/server names, unique addresses and ids, and non-zero
//! traffic counters so that cells are as wide as on a busy load balancer.
//!
//! Two variants: `busy` fills the traffic counters and timers with non-zero values
//! (3.9 MB, as on a load balancer that has been serving for a while); `idle` keeps
//! the capture's cells (mostly `0`; 2.8 MB, the size of a freshly started HAProxy's
//! dump of the same layout). Benchmarks (groups `show_stat_1000x10_{busy,idle}`):
//! - `parse`: `haproxy::Stat::parse` of the whole reply, then reading every row.
//! - `diff_no_change`: `diff` of that snapshot against the state a previous diff of
//!   the same snapshot returned (the steady state: no event).
//! - `parse_diff`: both, as one poll does after the socket read.
//! - `socket_reply_diff`: `source::parse_socket_reply` (`show info` + `show stat`)
//!   plus `diff`: exactly what `source::poll` + `diff` do after the bytes arrived.
//!
//! Run: `cargo bench --bench parse_diff` (about 40 s). See docs/performance.md.

use std::hint::black_box;
use std::time::Duration;

use chrono::Utc;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use hawatch::logic::diff::diff;
use hawatch::model::snapshot::{InstanceState, Observation, ProcInfo, Snapshot};
use hawatch::source::parse_socket_reply;

mod support;
use support::{synth_stat, BACKENDS, SERVERS};

const INFO: &str = include_str!("../tests/fixtures/haproxy-2.6/show-info.txt");

/// What `source::poll` returns once the bytes arrived: validated `show stat` plus
/// the process identity from `show info`. Takes the reply buffer, as a poll does.
fn snapshot(stat: String, proc: &Option<ProcInfo>) -> Observation {
    let stat = haproxy::Stat::parse(stat).expect("synthetic CSV parses");
    Ok(Snapshot {
        proc: proc.clone(),
        stat,
    })
}

/// The steady state: a baseline diff, then a diff of the same snapshot against it.
fn steady_state(obs: &Observation) -> InstanceState {
    let now = Utc::now();
    let o = diff("lb1", None, obs, now);
    assert!(o.events.is_empty(), "first poll is a silent baseline");
    let o = diff("lb1", Some(o.state), obs, now);
    assert!(
        o.events.is_empty(),
        "same snapshot twice gives no event: {:?}",
        o.events.first()
    );
    assert!(!o.changed, "same snapshot twice changes nothing");
    o.state
}

fn bench(c: &mut Criterion) {
    for (variant, busy) in [("busy", true), ("idle", false)] {
        bench_variant(c, variant, busy);
    }
}

fn bench_variant(c: &mut Criterion, variant: &str, busy: bool) {
    let stat = synth_stat(BACKENDS, SERVERS, busy);
    let reply = format!("{INFO}{stat}");
    let obs = parse_socket_reply(reply.clone());
    let snap = obs.as_ref().expect("synthetic reply parses");
    let (proc, rows) = (snap.proc.clone(), snap.stat.len());
    let state = steady_state(&obs);
    assert_eq!(state.server_count(), BACKENDS * SERVERS);
    assert_eq!(state.backends.keys().filter(|b| b.starts_with("be_")).count(), BACKENDS);
    eprintln!(
        "{variant}: show stat of {BACKENDS} backends x {SERVERS} servers: {rows} rows, {} bytes ({} with show info)",
        stat.len(),
        reply.len()
    );

    let mut g = c.benchmark_group(format!("show_stat_1000x10_{variant}"));
    g.sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Bytes(stat.len() as u64));
    // A poll owns its reply buffer and hands the state to the diff by value;
    // the copies that stand in for that here are made outside the timing.
    g.bench_function("parse", |b| {
        b.iter_batched(
            || stat.clone(),
            |text| {
                let st = haproxy::Stat::parse(text).expect("parses");
                st.rows().filter(|r| r.kind() == haproxy::RowType::Server).count()
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function("diff_no_change", |b| {
        b.iter_batched(
            || state.clone(),
            |st| {
                let o = diff("lb1", Some(st), black_box(&obs), Utc::now());
                debug_assert!(o.events.is_empty());
                o
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function("parse_diff", |b| {
        b.iter_batched(
            || (stat.clone(), state.clone()),
            |(text, st)| {
                let obs = snapshot(text, &proc);
                diff("lb1", Some(st), &obs, Utc::now())
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function("socket_reply_diff", |b| {
        b.iter_batched(
            || (reply.clone(), state.clone()),
            |(text, st)| {
                let obs = parse_socket_reply(text);
                diff("lb1", Some(st), &obs, Utc::now())
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
