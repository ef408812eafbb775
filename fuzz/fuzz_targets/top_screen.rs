//! `hawatch top`'s inputs from outside, untrusted: a `show stat` reply
//! (first byte even) or the peer's `/api/vrrp` and `/api/state` answers
//! (first byte odd; the two split at the first NUL). Any bytes are read and
//! drawn at 80×24 and 200×50 in every view, with a filter and each sort,
//! without a panic.
//! Invariants: every server row of the reply becomes one server of the
//! table; the peer's answer keeps at most `MAX_PEER_SERVERS` servers and no
//! control character in any string it keeps.
#![no_main]

use chrono::Utc;
use hawatch::top::app::{App, Instance, View};
use hawatch::top::table::Table;
use hawatch::top::{parse_peer, ui::draw, MAX_PEER_SERVERS};
use libfuzzer_sys::fuzz_target;
use ratatui::backend::TestBackend;
use ratatui::Terminal;

fn frames(app: &mut App) {
    for (w, h) in [(80, 24), (200, 50)] {
        let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
        for v in View::ALL {
            app.switch_view(v);
            t.draw(|f| draw(f, app, Utc::now())).unwrap();
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut app = App::new(vec![Instance::default()], mode & 2 == 0, mode & 4 == 0);
    if mode % 2 == 0 {
        let Ok(text) = std::str::from_utf8(rest) else { return };
        let Ok(stat) = haproxy::Stat::parse(text.to_string()) else {
            return;
        };
        let table = Table::build(&stat);
        let servers = stat
            .rows()
            .filter(|r| r.kind() == haproxy::RowType::Server && !r.pxname.is_empty())
            .count();
        assert_eq!(table.servers(), servers);
        app.set_table(0, table);
        app.set_filter(if mode & 8 == 0 { "" } else { "s1" });
        for _ in 0..3 {
            frames(&mut app);
            app.next_sort();
        }
    } else {
        let at = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
        let (vrrp, state) = (&rest[..at], rest.get(at + 1..).unwrap_or(&[]));
        let Ok(peer) = parse_peer(vrrp, state) else { return };
        let n: usize = peer.instances.iter().map(|i| i.servers.len()).sum();
        assert!(n <= MAX_PEER_SERVERS);
        let clean = |s: &str| !s.chars().any(char::is_control);
        assert!(peer.host.as_deref().is_none_or(clean));
        assert!(peer.roles.iter().all(|(k, v)| clean(k) && clean(v)));
        assert!(peer.vips_held.iter().all(|v| clean(v)));
        for i in &peer.instances {
            assert!(clean(&i.name) && i.version.as_deref().is_none_or(clean));
            assert!(i.servers.iter().all(|(k, v)| clean(k) && clean(v)));
        }
        app.set_peer(peer);
        frames(&mut app);
    }
});
