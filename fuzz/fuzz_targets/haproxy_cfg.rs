//! haproxy.cfg as `doctor` reads it: `haproxy::cfg::Cfg` (words, quotes,
//! escapes, sections, several files) on any text, then every file rule of
//! `logic::lint::file::lint` for an old, a current and an unknown HAProxy.
//! Invariants: every finding names a rule, and every finding with a place
//! points at a line that exists in the file it names.
#![no_main]

use std::path::Path;

use haproxy::cfg::Cfg;
use hawatch::logic::lint::file::{lint, CertLoad, Input};
use hawatch::logic::lint::{rule, Version};
use libfuzzer_sys::fuzz_target;

fn no_certs(_: &Path) -> CertLoad {
    Ok(Vec::new())
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // Two files: the text split at a form feed, if it has one.
    let (a, b) = text.split_once('\u{c}').unwrap_or((&text, ""));
    let mut cfg = Cfg::parse("a.cfg", a);
    cfg.add("b.cfg", b);
    let lines = |name: &str| if name == "a.cfg" { a.lines().count() } else { b.lines().count() };
    for version in [Some(Version(2, 2)), Some(Version(3, 2)), None] {
        let found = lint(&Input {
            cfg: &cfg,
            version,
            now: 1_700_000_000,
            base: Path::new("/etc/haproxy"),
            certs: &no_certs,
        });
        for f in &found {
            assert!(rule(f.id).is_some(), "{f:?}");
            if let (Some(file), Some(line)) = (&f.file, f.line) {
                assert!(line >= 1 && line as usize <= lines(file), "{f:?} points past {file}");
            }
        }
    }
});
