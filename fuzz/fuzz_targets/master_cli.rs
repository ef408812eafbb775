//! The master CLI's answers, as `hawatch apply` and the test harness read
//! them: `show proc` (`parse_show_proc`) and `reload` (`parse_reload`), any
//! version. Invariants: a parsed `show proc` names its current worker among
//! the workers it listed, and a `Busy` verdict is a `Success=0` reply.
#![no_main]

use haproxy::master::{parse_reload, parse_show_proc, Reload};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(p) = parse_show_proc(&text) {
        if let Some(pid) = p.current_worker() {
            assert!(p.workers.iter().chain(&p.old_workers).any(|w| w.pid == pid));
        }
        let _ = p.last_reload_failed();
    }
    if parse_reload(&text) == Reload::Busy {
        assert!(text.trim_start().starts_with("Success=0"));
    }
});
