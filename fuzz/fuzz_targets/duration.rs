//! Durations and times that users and the network write: `--since` and the
//! API's `since` (`model::since::parse_since`), and the config's durations
//! (`config::value::Dur`, `"500ms"`, `"1h 30m"`). Invariant: a duration
//! `since` lies at or before now.
#![no_main]

use chrono::{DateTime, Utc};
use hawatch::model::since::parse_since;
use hawatch::config::value::Dur;
use libfuzzer_sys::fuzz_target;
use serde::de::value::{Error, StrDeserializer};
use serde::Deserialize;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    for now in [
        DateTime::from_timestamp(1_790_000_000, 0).unwrap(),
        DateTime::<Utc>::MIN_UTC,
        Utc::now(),
    ] {
        if let Ok(t) = parse_since(s, now) {
            if DateTime::parse_from_rfc3339(s).is_err() {
                assert!(t <= now, "{s:?} from {now} gave {t}, after now");
            }
        }
    }
    let _ = Dur::deserialize(StrDeserializer::<Error>::new(s));
});
