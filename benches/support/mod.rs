//! The 10,000-server `show stat` reply the benchmarks share
//! (benches/parse_diff.rs, benches/top.rs): built in memory from the real
//! HAProxy 2.6 capture in `tests/fixtures/haproxy-2.6/show-stat.csv`.
#![allow(dead_code)]

const STAT: &str = include_str!("../../tests/fixtures/haproxy-2.6/show-stat.csv");

pub const BACKENDS: usize = 1000;
pub const SERVERS: usize = 10;

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
pub fn synth_stat(backends: usize, servers: usize, busy: bool) -> String {
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
