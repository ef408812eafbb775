//! `hawatch top` at 10,000 servers (issue: a frame within 16 ms).
//!
//! The reply is benches/support's 1,000 backends × 10 servers (built from the
//! real HAProxy 2.6 capture, busy counters). Benchmarks (group `top_10000`):
//! - `table_build`: a `show stat` reply → the rows top shows (once per poll).
//! - `frame_80x24`, `frame_200x50`: one frame when nothing changed (a key
//!   that moves the cursor, the 1 s clock).
//! - `poll_frame_200x50`: the frame after a poll: the new table, the filter,
//!   sort and folds applied to all 10,000 rows again, then drawn.
//! - `poll_frame_200x50_status_sort_filter`: the same, sorted by status with
//!   a `/` filter matching a tenth of the servers (the most work a frame does).
//!
//! Run: `cargo bench --bench top` (about 30 s). See docs/performance.md.

use std::hint::black_box;
use std::time::Duration;

use chrono::Utc;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use hawatch::top::app::{App, Instance};
use hawatch::top::table::Table;
use hawatch::top::ui::draw;
use ratatui::backend::TestBackend;
use ratatui::Terminal;

mod support;
use support::{synth_stat, BACKENDS, SERVERS};

fn bench(c: &mut Criterion) {
    let stat = haproxy::Stat::parse(synth_stat(BACKENDS, SERVERS, true)).expect("synthetic CSV parses");
    let table = Table::build(&stat);
    assert_eq!(table.servers(), BACKENDS * SERVERS);
    let mut g = c.benchmark_group("top_10000");
    g.measurement_time(Duration::from_secs(5));
    g.bench_function("table_build", |b| b.iter(|| black_box(Table::build(black_box(&stat)))));
    for (w, h) in [(80u16, 24u16), (200, 50)] {
        let mut app = App::new(vec![Instance::default()], false, true);
        app.set_table(0, table.clone());
        let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
        term.draw(|f| draw(f, &mut app, Utc::now())).unwrap();
        g.bench_function(format!("frame_{w}x{h}"), |b| {
            b.iter(|| {
                term.draw(|f| draw(f, &mut app, Utc::now())).unwrap();
            })
        });
    }
    for (name, sort, filter) in [
        ("poll_frame_200x50", false, ""),
        ("poll_frame_200x50_status_sort_filter", true, "s1"),
    ] {
        let mut app = App::new(vec![Instance::default()], false, true);
        if sort {
            app.next_sort();
            app.next_sort(); // config → name → status
        }
        app.set_filter(filter);
        let mut term = Terminal::new(TestBackend::new(200, 50)).unwrap();
        g.bench_function(name, |b| {
            b.iter_batched(
                || table.clone(),
                |t| {
                    app.set_table(0, t);
                    term.draw(|f| draw(f, &mut app, Utc::now())).unwrap();
                },
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
