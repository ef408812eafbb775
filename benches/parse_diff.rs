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

const STAT: &str = include_str!("../tests/fixtures/haproxy-2.6/show-stat.csv");
const INFO: &str = include_str!("../tests/fixtures/haproxy-2.6/show-info.txt");

const BACKENDS: usize = 1000;
const SERVERS: usize = 10;

/// The fixture's header and rows, split into cells.
struct Fixture {
    header: String,
    names: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Fixture {
    fn load() -> Fixture {
        let mut lines = STAT.lines();
        let header = lines.next().expect("fixture has a header").to_string();
        let names: Vec<String> = header
            .trim_start_matches('#')
            .trim()
            .split(',')
            .map(str::to_string)
            .collect();
        let rows: Vec<Vec<String>> = lines
            .filter(|l| !l.is_empty())
            .map(|l| {
                assert!(!l.contains('"'), "templates are unquoted");
                l.split(',').map(str::to_string).collect()
            })
            .collect();
        for r in &rows {
            assert_eq!(r.len(), names.len(), "fixture row width");
        }
        Fixture { header, names, rows }
    }

    fn col(&self, name: &str) -> usize {
        self.names
            .iter()
            .position(|n| n == name)
            .unwrap_or_else(|| panic!("fixture header lacks {name}"))
    }

    fn row(&self, px: &str, sv: &str) -> Vec<String> {
        self.rows
            .iter()
            .find(|r| r[0] == px && r[1] == sv)
            .unwrap_or_else(|| panic!("fixture lacks {px}/{sv}"))
            .clone()
    }
}

/// Small deterministic generator for counter values.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, max: u64) -> u64 {
        self.next() % max.max(1)
    }
}

/// Traffic counters and timers filled with plausible non-zero values (only where
/// the template has a value: empty cells stay empty, as HAProxy prints them).
const COUNTERS: &[(&str, u64)] = &[
    ("stot", 5_000_000),
    ("bin", 50_000_000_000),
    ("bout", 900_000_000_000),
    ("lbtot", 5_000_000),
    ("chkfail", 40),
    ("chkdown", 6),
    ("lastchg", 3_000_000),
    ("downtime", 9_000),
    ("hrsp_1xx", 10),
    ("hrsp_2xx", 4_000_000),
    ("hrsp_3xx", 200_000),
    ("hrsp_4xx", 90_000),
    ("hrsp_5xx", 2_000),
    ("cli_abrt", 3_000),
    ("srv_abrt", 500),
    ("lastsess", 60),
    ("qtime", 3),
    ("ctime", 2),
    ("rtime", 120),
    ("ttime", 900),
    ("check_duration", 4),
    ("connect", 400_000),
    ("reuse", 4_000_000),
    ("qtime_max", 800),
    ("ctime_max", 1_000),
    ("rtime_max", 30_000),
    ("ttime_max", 60_000),
    ("eint", 5),
    ("idle_conn_cur", 12),
    ("safe_conn_cur", 4),
    ("used_conn_cur", 9),
    ("need_conn_est", 9),
    ("srv_icur", 12),
    ("smax", 90),
    ("scur", 7),
    ("rate_max", 400),
    ("req_tot", 4_500_000),
    ("h1_open_connections", 30),
    ("h1_total_connections", 400_000),
    ("h1_total_streams", 4_500_000),
    ("h1_bytes_in", 50_000_000_000),
    ("h1_bytes_out", 900_000_000_000),
];

/// Builds the socket form of `show stat` (header, rows, terminating empty line)
/// for `backends` × `servers`, from the fixture's real rows.
fn synth_stat(backends: usize, servers: usize, busy: bool) -> String {
    let fx = Fixture::load();
    let c = |n: &str| fx.col(n);
    let (c_px, c_sv, c_iid, c_sid, c_addr, c_tracked) =
        (c("pxname"), c("svname"), c("iid"), c("sid"), c("addr"), c("tracked"));
    let (c_act, c_bck, c_weight, c_status) = (c("act"), c("bck"), c("weight"), c("status"));
    let counters: Vec<(usize, u64)> = if busy {
        COUNTERS.iter().map(|(n, m)| (c(n), *m)).collect()
    } else {
        Vec::new()
    };

    let up = fx.row("be_app", "app1");
    let agent = fx.row("be_app", "app3");
    let l4con = fx.row("be_app", "app2");
    let l7sts = fx.row("be_app", "app500");
    let nolb = fx.row("be_app", "app404");
    let nochk = fx.row("be_app", "nochk");
    let backup = fx.row("be_app", "bkp");
    let track = fx.row("be_app", "trk");
    let http_be = fx.row("be_app", "BACKEND");
    let dead_srv = fx.row("be_dead", "d1");
    let dead_be = fx.row("be_dead", "BACKEND");
    let tcp_up = fx.row("be_tcp", "t1");
    let tcp_maint = fx.row("be_tcp", "t2");
    let tcp_be = fx.row("be_tcp", "BACKEND");
    let frontends: Vec<&Vec<String>> = fx
        .rows
        .iter()
        .filter(|r| r[0].starts_with("fe_") || r[0] == "stats" || r[0] == "prom")
        .collect();

    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut out = String::with_capacity(backends * (servers + 1) * 400);
    out.push_str(&fx.header);
    out.push('\n');
    let push = |out: &mut String, cells: &[String]| {
        out.push_str(&cells.join(","));
        out.push('\n');
    };
    for f in frontends.iter().filter(|r| r[0] != "stats" && r[0] != "prom") {
        push(&mut out, f);
    }
    for b in 0..backends {
        let px = format!("be_{b:04}");
        let tcp = b % 10 == 9;
        let dead = b % 250 == 17;
        let mut act = 0u64;
        for s in 0..servers {
            let mut row = if dead {
                dead_srv.clone()
            } else if tcp {
                if s == 8 {
                    tcp_maint.clone()
                } else {
                    tcp_up.clone()
                }
            } else {
                match (b % 100, s) {
                    (_, 3) => agent.clone(),
                    (_, 9) => backup.clone(),
                    (7 | 57, 5) => l4con.clone(),
                    (13, 6) => l7sts.clone(),
                    (27, 7) => nochk.clone(),
                    (41, 8) => {
                        let mut t = track.clone();
                        t[c_tracked] = format!("{px}/srv00");
                        t
                    }
                    (55, 4) => nolb.clone(),
                    _ => up.clone(),
                }
            };
            row[c_px] = px.clone();
            row[c_sv] = format!("srv{s:02}");
            row[c_iid] = (b + 10).to_string();
            row[c_sid] = (s + 1).to_string();
            row[c_addr] = format!(
                "10.{}.{}.{}:{}",
                16 + b / 256,
                b % 256,
                s + 1,
                if tcp { 5432 } else { 8080 }
            );
            for &(i, max) in &counters {
                if !row[i].is_empty() && row[i] != "-1" {
                    row[i] = rng.below(max).to_string();
                }
            }
            if row[c_status] == "UP" && row[c_act] == "1" {
                act += 1;
            }
            push(&mut out, &row);
        }
        let mut be = if dead {
            dead_be.clone()
        } else if tcp {
            tcp_be.clone()
        } else {
            http_be.clone()
        };
        be[c_px] = px.clone();
        be[c_iid] = (b + 10).to_string();
        be[c_act] = act.to_string();
        be[c_weight] = act.to_string();
        be[c_bck] = if tcp || dead { "0" } else { "1" }.to_string();
        for &(i, max) in &counters {
            if !be[i].is_empty() && be[i] != "-1" {
                be[i] = (rng.below(max) * servers as u64).to_string();
            }
        }
        push(&mut out, &be);
    }
    for f in frontends.iter().filter(|r| r[0] == "stats" || r[0] == "prom") {
        push(&mut out, f);
    }
    out.push('\n'); // the socket's terminating empty line
    out
}

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
