//! The config file: `Config::parse` (TOML → the validated `Config`, every
//! problem at once) on any text, then `config show`'s redacted rendering of
//! what it accepted. Invariant: it returns a config or at least one problem,
//! never a panic and never an empty error.
#![no_main]

use hawatch::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Config::parse(text, "fuzz.toml") {
        Ok(c) => {
            let _ = c.to_redacted_toml();
        }
        Err(e) => {
            assert!(!e.0.is_empty(), "an error with no problem in it");
            assert!(e.0.iter().all(|m| !m.trim().is_empty()), "an empty problem: {e:?}");
        }
    }
});
