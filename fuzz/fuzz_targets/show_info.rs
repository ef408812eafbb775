//! `show info` (`Info::parse`), the HTML stats page header
//! (`Info::parse_html`) and the reply to `show info;show stat` as the
//! Runtime API client splits it for the watcher, `/metrics` and `doctor`
//! (`haproxy::parse_info_stat`, `parse_socket_reply`). Invariant: a reply that splits has a `show stat`
//! part whose rows number `len()`.
#![no_main]

use haproxy::{parse_info_stat, Info};
use hawatch::source::parse_socket_reply;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let info = Info::parse(&text);
    assert!(info.fields.len() <= text.lines().count());
    let _ = Info::parse_html(&text);

    if let Ok((_, stat)) = parse_info_stat(text.to_string()) {
        assert_eq!(stat.rows().count(), stat.len());
    }
    if let Ok(snap) = parse_socket_reply(text.into_owned()) {
        assert_eq!(snap.stat.rows().count(), snap.stat.len());
    }
});
