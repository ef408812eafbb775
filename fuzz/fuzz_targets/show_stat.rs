//! `show stat` CSV (socket and HTTP `;csv`): `Stat::parse`, every row, and
//! `select`. Invariants: a reply that parses has exactly `len()` rows, and
//! `rows()` and `select()` agree on every cell and row type they both read.
#![no_main]

use haproxy::Stat;
use libfuzzer_sys::fuzz_target;

/// Columns the watcher and `/metrics` read, plus one no reply has.
const SOME: [&str; 9] = [
    "pxname",
    "svname",
    "type",
    "status",
    "scur",
    "check_status",
    "last_chk",
    "addr",
    "nosuch",
];

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data).into_owned();
    let Ok(stat) = Stat::parse(text) else {
        return;
    };
    let rows: Vec<_> = stat.rows().collect();
    assert_eq!(rows.len(), stat.len(), "rows() and len() disagree");
    assert_eq!(stat.is_empty(), rows.is_empty());

    let sel = stat.select(&SOME);
    assert_eq!(sel.len(), rows.len(), "select() and rows() disagree on the row count");
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(sel.row_type(i), r.kind(), "row {i}: type");
        assert_eq!(sel.cell(&stat, i, 0), r.pxname, "row {i}: pxname");
        assert_eq!(sel.cell(&stat, i, 1), r.svname, "row {i}: svname");
        assert_eq!(sel.cell(&stat, i, 3), r.status, "row {i}: status");
        assert_eq!(sel.cell(&stat, i, 5), r.check_status, "row {i}: check_status");
        assert_eq!(sel.cell(&stat, i, 7), r.addr, "row {i}: addr");
        assert_eq!(sel.cell(&stat, i, 8), "", "row {i}: an absent column reads as empty");
    }

    // Every column of the header, as /metrics selects them (names may repeat).
    let names: Vec<&str> = stat.columns().names().iter().map(String::as_str).collect();
    let all = stat.select(&names);
    assert_eq!(all.len(), rows.len());
    for row in 0..all.len() {
        let _ = all.row_type(row);
        for i in 0..names.len() {
            let _ = all.cell(&stat, row, i);
        }
    }
    let none = stat.select(&[]);
    assert_eq!(none.len(), rows.len());
});
