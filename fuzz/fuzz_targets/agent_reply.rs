//! The agent-check reply line (`haproxy::agent`). Two inputs from the same
//! bytes: the bytes as a reply HAProxy might read, and an `arbitrary`
//! `Reply`. Invariant (round trip): what `Reply::to_line` writes parses back
//! to the same reply, up to what the writer documents it drops or cleans
//! (a reason without a health word, non-printable reason text) and the
//! parser's weight cap.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use haproxy::agent::{sanitize, Admin, Health, Reply};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input {
    health: Option<u8>,
    admin: Option<u8>,
    weight_pct: Option<u32>,
    maxconn: Option<u32>,
    reason: Option<String>,
}

impl Input {
    fn reply(self) -> Reply {
        Reply {
            health: self
                .health
                .map(|h| [Health::Up, Health::Down, Health::Fail, Health::Stopped][usize::from(h % 4)]),
            admin: self
                .admin
                .map(|a| [Admin::Ready, Admin::Drain, Admin::Maint][usize::from(a % 3)]),
            weight_pct: self.weight_pct,
            maxconn: self.maxconn,
            reason: self.reason,
        }
    }
}

/// What a reply reads as after `to_line` and `parse`.
fn written(r: &Reply) -> Reply {
    Reply {
        weight_pct: r.weight_pct.map(|w| w.min(100_000)),
        reason: r
            .health
            .and(r.reason.as_deref())
            .map(sanitize)
            .filter(|s| !s.is_empty()),
        ..r.clone()
    }
}

fn round_trip(r: &Reply) {
    let line = r.to_line();
    assert!(
        line.ends_with('\n') && line.matches(['\n', '\r']).count() == 1,
        "one line: {line:?}"
    );
    let back = Reply::parse(&line, true).unwrap_or_else(|e| panic!("{r:?} wrote {line:?}, which does not parse: {e}"));
    assert_eq!(back, written(r), "{r:?} wrote {line:?}");
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for need_eol in [true, false] {
        if let Ok(r) = Reply::parse(&text, need_eol) {
            round_trip(&r);
        }
    }
    if let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) {
        round_trip(&input.reply());
    }
});
