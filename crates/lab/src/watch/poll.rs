//! Part `poll`, target (b): on the big instance, the raw `show stat` dump against
//! hawatch's no-change poll cycle, run in-process through the library. The only
//! part that uses the hawatch library (every other runs the binary).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use hawatch::config::{Config, Instance, Source};
use hawatch::logic::diff::diff;
use hawatch::model::snapshot::InstanceState;
use hawatch::source;

use super::instances::{raw_dump, Big};
use super::{ms, summary, Summary};
use crate::common::{verdict, Row};

/// The instance hawatch polls, built through the real config parser.
pub(super) fn instance(name: &str, sock: &Path, store: &Path) -> Instance {
    let toml = format!(
        "[watch]\nstore = \"{}\"\ntimeout = \"10s\"\n\n[[haproxy]]\nname = \"{name}\"\nsocket = \"{}\"\n",
        store.display(),
        sock.display()
    );
    let cfg = Config::parse(&toml, "bench.toml").unwrap_or_else(|e| panic!("{e}"));
    cfg.instances.into_iter().next().expect("one instance")
}

struct Cycle {
    total: Duration,
    events: usize,
    ok: bool,
}

pub(super) fn part_poll(big: &Big, dir: &Path, iters: usize, table: &mut Vec<Row>) {
    let inst = Arc::new(instance("big", &big.haproxy.sock, &dir.join("unused.db")));
    let Source::Socket(ep) = inst.source.clone() else {
        unreachable!("socket instance")
    };
    let http = source::http_client(&inst);
    // Like the binary: a multi-threaded runtime with 2 workers; each cycle runs as a task.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    // The poller sizes its read buffer from the previous reply; so does this.
    let hint = std::cell::Cell::new(0usize);
    let cycle = |prev: InstanceState| -> (InstanceState, Cycle) {
        let (inst, http, size_hint) = (inst.clone(), http.clone(), hint.get());
        let (st, c, len) = rt.block_on(async move {
            tokio::spawn(async move {
                let t = Instant::now();
                let obs = source::poll(&inst, &http, size_hint).await;
                let o = diff(&inst.name, Some(prev), &obs, Utc::now());
                let len = obs.as_ref().map(|s| s.stat.text().len() + 4096).unwrap_or(0);
                drop(obs);
                let total = t.elapsed();
                let c = Cycle {
                    total,
                    events: o.events.len(),
                    ok: len > 0,
                };
                (o.state, c, len)
            })
            .await
            .expect("cycle task")
        });
        hint.set(len);
        (st, c)
    };
    // The silent baseline, then three warm-up cycles (each must be a no-change cycle).
    let obs = rt.block_on(source::poll(&inst, &http, 0));
    if let Err(e) = &obs {
        panic!("first poll failed: {e}");
    }
    let mut state = diff(&inst.name, None, &obs, Utc::now()).state;
    drop(obs);
    for _ in 0..3 {
        let (st, c) = cycle(state);
        assert!(c.ok && c.events == 0, "warm-up cycle: ok {} events {}", c.ok, c.events);
        state = st;
    }

    let mut buf = Vec::with_capacity(8 << 20);
    let (mut raw_stat, mut raw_both, mut hw, mut pair_ratio) = (vec![], vec![], vec![], vec![]);
    let (mut fetch, mut parse, mut dif, mut cmp, mut drop_t) = (vec![], vec![], vec![], vec![], vec![]);
    let (mut stat_bytes, mut both_bytes, mut rows) = (0, 0, 0);
    let (mut events, mut changes) = (0, 0);
    let started = Instant::now();
    for i in 0..iters {
        if started.elapsed() > Duration::from_secs(240) {
            say!("poll: time budget reached after {i} iterations");
            break;
        }
        let mut raw = || {
            let t = Instant::now();
            stat_bytes = raw_dump(&big.haproxy.sock, "show stat", &mut buf).expect("raw show stat");
            t.elapsed()
        };
        let (r, c) = if i % 2 == 0 {
            let r = raw();
            let (st, c) = cycle(state);
            state = st;
            (r, c)
        } else {
            let (st, c) = cycle(state);
            state = st;
            (raw(), c)
        };
        assert!(c.ok, "poll failed during the measurement");
        events += c.events;
        raw_stat.push(ms(r));
        hw.push(ms(c.total));
        pair_ratio.push(ms(c.total) / ms(r));

        // The raw dump of what hawatch asks for.
        let t = Instant::now();
        both_bytes = raw_dump(&big.haproxy.sock, "show info;show stat", &mut buf).expect("raw dump");
        raw_both.push(ms(t.elapsed()));

        // Breakdown of one cycle, step by step (a separate cycle).
        let t0 = Instant::now();
        let reply = rt
            .block_on(
                source::socket_client(&ep, inst.timeout)
                    .size_hint(hint.get())
                    .send(&[haproxy::Command::ShowInfo, haproxy::Command::ShowStat]),
            )
            .expect("fetch");
        let t1 = Instant::now();
        let obs = source::parse_socket_reply(reply);
        let t2 = Instant::now();
        let o = diff(&inst.name, Some(state), &obs, Utc::now());
        let t3 = Instant::now();
        // The diff reports `changed` itself; nothing to compare any more.
        let changed = o.changed;
        let t4 = Instant::now();
        state = o.state;
        rows = obs.as_ref().map(|s| s.stat.len()).unwrap_or(0);
        drop(obs);
        let t5 = Instant::now();
        changes += usize::from(changed);
        events += o.events.len();
        fetch.push(ms(t1 - t0));
        parse.push(ms(t2 - t1));
        dif.push(ms(t3 - t2));
        cmp.push(ms(t4 - t3));
        drop_t.push(ms(t5 - t4));
    }

    let (rs, rb, h, pr) = (
        summary(&raw_stat),
        summary(&raw_both),
        summary(&hw),
        summary(&pair_ratio),
    );
    say!(
        "\n## poll: {} backends x {} servers, {} rows; show stat {stat_bytes} B, show info;show stat {both_bytes} B; {} iterations, {events} events, {changes} state changes",
        big.backends, big.servers, rows, h.n
    );
    say!("| measurement (ms) | min | p50 | p90 | max | mean |");
    say!("|---|---|---|---|---|---|");
    let line = |name: &str, s: Summary| {
        say!(
            "| {name} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |",
            s.min,
            s.p50,
            s.p90,
            s.max,
            s.mean
        )
    };
    line("raw `show stat` dump (std socket)", rs);
    line("raw `show info;show stat` dump", rb);
    line("hawatch cycle: source::poll + diff", h);
    line("  breakdown: fetch (Client::send)", summary(&fetch));
    line("  breakdown: parse_socket_reply", summary(&parse));
    line("  breakdown: diff (no change)", summary(&dif));
    line("  breakdown: state compare (poller)", summary(&cmp));
    line("  breakdown: drop old state", summary(&drop_t));
    say!(
        "ratio hawatch/raw show stat: p50 {:.2}, p90 {:.2}; per-iteration paired ratio p50 {:.2} p90 {:.2}",
        h.p50 / rs.p50,
        h.p90 / rs.p90,
        pr.p50,
        pr.p90
    );
    table.push(Row {
        metric: "(b) no-change poll cycle / raw `show stat` dump, p50 ratio".into(),
        measured: format!("{:.2} ({:.1} ms / {:.1} ms)", h.p50 / rs.p50, h.p50, rs.p50),
        target: "<= 1.5".into(),
        met: verdict(h.p50 / rs.p50 <= 1.5),
    });
    table.push(Row {
        metric: "(b) same, p90 ratio".into(),
        measured: format!("{:.2} ({:.1} ms / {:.1} ms)", h.p90 / rs.p90, h.p90, rs.p90),
        target: "<= 1.5".into(),
        met: verdict(h.p90 / rs.p90 <= 1.5),
    });
    table.push(Row {
        metric: "    CPU part of the cycle: parse_socket_reply + diff, p50".into(),
        measured: format!("{:.1} ms", summary(&parse).p50 + summary(&dif).p50),
        target: "(a) < 10 ms, see parse_diff".into(),
        met: verdict(summary(&parse).p50 + summary(&dif).p50 < 10.0),
    });
}
