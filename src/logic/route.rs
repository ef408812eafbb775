//! Routing: which events a sink follows (kind, severity, instance / backend /
//! server globs) and its quiet hours.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration as CDuration, NaiveTime, TimeZone, Utc};
use globset::{Glob, GlobSet, GlobSetBuilder};

use crate::model::event::{Event, Kind, Severity};

/// A time zone: the system's, or a named IANA zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Zone {
    #[default]
    Local,
    Named(chrono_tz::Tz),
}

impl Zone {
    pub(crate) fn parse(s: &str) -> Result<Zone, String> {
        if s.eq_ignore_ascii_case("local") {
            return Ok(Zone::Local);
        }
        s.parse::<chrono_tz::Tz>()
            .map(Zone::Named)
            .map_err(|_| format!("unknown time zone {s:?}: use an IANA name such as \"Asia/Shanghai\" or \"UTC\""))
    }

    /// `2026-11-20 22:11:15 CST`.
    pub(crate) fn format(&self, t: DateTime<Utc>, fmt: &str) -> String {
        match self {
            Zone::Local => t.with_timezone(&chrono::Local).format(fmt).to_string(),
            Zone::Named(z) => t.with_timezone(z).format(fmt).to_string(),
        }
    }

    pub(crate) fn name(&self) -> String {
        match self {
            Zone::Local => "local".into(),
            Zone::Named(z) => z.name().into(),
        }
    }

    /// The wall-clock time of day and the UTC instant of `time` on the local day of `t`.
    fn at_time(&self, t: DateTime<Utc>, day_offset: i64, time: NaiveTime) -> Option<DateTime<Utc>> {
        fn pick<Z: TimeZone>(z: &Z, t: DateTime<Utc>, off: i64, time: NaiveTime) -> Option<DateTime<Utc>> {
            let local = t.with_timezone(z);
            let day = local.date_naive().checked_add_signed(CDuration::days(off))?;
            let naive = day.and_time(time);
            // A gap (DST) skips to the earliest valid instant after it.
            z.from_local_datetime(&naive)
                .earliest()
                .or_else(|| z.from_local_datetime(&(naive + CDuration::hours(1))).earliest())
                .map(|d| d.with_timezone(&Utc))
        }
        match self {
            Zone::Local => pick(&chrono::Local, t, day_offset, time),
            Zone::Named(z) => pick(z, t, day_offset, time),
        }
    }

    fn time_of_day(&self, t: DateTime<Utc>) -> NaiveTime {
        match self {
            Zone::Local => t.with_timezone(&chrono::Local).time(),
            Zone::Named(z) => t.with_timezone(z).time(),
        }
    }
}

/// `"22:00-08:00"`: a daily window in the configured time zone; it may cross
/// midnight. Non-critical notices created inside it wait until it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct QuietHours {
    pub(crate) start: NaiveTime,
    pub(crate) end: NaiveTime,
    pub(crate) zone: Zone,
}

impl QuietHours {
    pub(crate) fn parse(s: &str, zone: Zone) -> Result<QuietHours, String> {
        let bad = || format!("{s:?} is not a time range: write \"HH:MM-HH:MM\", e.g. \"22:00-08:00\"");
        let (a, b) = s.split_once('-').ok_or_else(bad)?;
        let t = |x: &str| NaiveTime::parse_from_str(x.trim(), "%H:%M").map_err(|_| bad());
        let (start, end) = (t(a)?, t(b)?);
        if start == end {
            return Err(format!("{s:?} is empty: start and end are the same time"));
        }
        Ok(QuietHours { start, end, zone })
    }

    /// When the quiet period containing `now` ends, or `None` if `now` is not in one.
    pub(crate) fn ends_after(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let tod = self.zone.time_of_day(now);
        if self.start < self.end {
            (tod >= self.start && tod < self.end).then(|| self.zone.at_time(now, 0, self.end))?
        } else if tod >= self.start {
            self.zone.at_time(now, 1, self.end)
        } else if tod < self.end {
            self.zone.at_time(now, 0, self.end)
        } else {
            None
        }
    }
}

impl std::fmt::Display for QuietHours {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.start.format("%H:%M"), self.end.format("%H:%M"))
    }
}

/// A list of globs (`web*`, `be_{a,b}`), kept with their source for display.
#[derive(Debug, Clone)]
pub(crate) struct Globs {
    pub(crate) patterns: Vec<String>,
    set: GlobSet,
}

impl Globs {
    pub(crate) fn new(patterns: Vec<String>) -> Result<Globs, String> {
        let mut b = GlobSetBuilder::new();
        for p in &patterns {
            b.add(Glob::new(p).map_err(|e| format!("bad glob {p:?}: {}", e.kind()))?);
        }
        let set = b.build().map_err(|e| e.to_string())?;
        Ok(Globs { patterns, set })
    }

    pub(crate) fn is_match(&self, s: &str) -> bool {
        self.set.is_match(s)
    }
}

impl PartialEq for Globs {
    fn eq(&self, o: &Globs) -> bool {
        self.patterns == o.patterns
    }
}

/// What a sink follows. Empty filters match everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Route {
    /// Only these kinds (`events = [...]`).
    pub(crate) kinds: Option<BTreeSet<Kind>>,
    pub(crate) min_severity: Option<Severity>,
    pub(crate) instance: Option<Globs>,
    /// Instance-level events pass a backend filter (they concern every backend).
    pub(crate) backend: Option<Globs>,
    /// Instance- and backend-level events pass a server filter.
    pub(crate) server: Option<Globs>,
}

impl Route {
    pub(crate) fn matches(&self, e: &Event) -> bool {
        if self.kinds.as_ref().is_some_and(|k| !k.contains(&e.kind)) {
            return false;
        }
        if self.min_severity.is_some_and(|m| e.severity < m) {
            return false;
        }
        let glob = |g: &Option<Globs>, v: Option<&str>| match (g, v) {
            (Some(g), Some(v)) => g.is_match(v),
            _ => true,
        };
        glob(&self.instance, Some(&e.instance))
            && glob(&self.backend, e.backend.as_deref())
            && glob(&self.server, e.server.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 20, h, m, 0).unwrap()
    }

    #[test]
    fn quiet_hours_across_midnight() {
        let q = QuietHours::parse("22:00-08:00", Zone::Named(chrono_tz::UTC)).unwrap();
        assert_eq!(
            q.ends_after(at(23, 0)),
            Some(Utc.with_ymd_and_hms(2026, 11, 21, 8, 0, 0).unwrap())
        );
        assert_eq!(q.ends_after(at(3, 0)), Some(at(8, 0)));
        assert_eq!(q.ends_after(at(8, 0)), None);
        assert_eq!(q.ends_after(at(12, 0)), None);
        let day = QuietHours::parse("12:00-13:30", Zone::Named(chrono_tz::UTC)).unwrap();
        assert_eq!(day.ends_after(at(12, 10)), Some(at(13, 30)));
        assert_eq!(day.ends_after(at(14, 0)), None);
        assert!(QuietHours::parse("25:00-01:00", Zone::Local).is_err());
        assert!(QuietHours::parse("08:00", Zone::Local).is_err());
    }

    #[test]
    fn quiet_hours_follow_the_zone() {
        let q = QuietHours::parse("22:00-08:00", Zone::parse("Asia/Shanghai").unwrap()).unwrap();
        // 15:00 UTC is 23:00 in Shanghai; the window ends at 08:00 there, 00:00 UTC.
        assert_eq!(
            q.ends_after(at(15, 0)),
            Some(Utc.with_ymd_and_hms(2026, 11, 21, 0, 0, 0).unwrap())
        );
        assert_eq!(q.ends_after(at(5, 0)), None);
    }

    #[test]
    fn routes_filter_by_kind_severity_and_globs() {
        let e = |kind, sev, b: Option<&str>, s: Option<&str>| Event {
            id: "x".into(),
            time: at(0, 0),
            backend: b.map(Into::into),
            server: s.map(Into::into),
            ..Event::new("prod-lb1", kind, sev, "")
        };
        let r = Route {
            min_severity: Some(Severity::Warning),
            backend: Some(Globs::new(vec!["web*".into()]).unwrap()),
            instance: Some(Globs::new(vec!["prod-*".into()]).unwrap()),
            ..Route::default()
        };
        assert!(r.matches(&e(Kind::ServerDown, Severity::Critical, Some("web1"), Some("a"))));
        assert!(!r.matches(&e(Kind::ServerDown, Severity::Critical, Some("api"), Some("a"))));
        assert!(!r.matches(&e(Kind::ServerUp, Severity::Info, Some("web1"), Some("a"))));
        assert!(r.matches(&e(Kind::InstanceUnreachable, Severity::Critical, None, None)));
        let k = Route {
            kinds: Some([Kind::BackendDown].into()),
            ..Route::default()
        };
        assert!(!k.matches(&e(Kind::ServerDown, Severity::Critical, Some("web1"), Some("a"))));
        assert!(Globs::new(vec!["[".into()]).is_err());
    }
}
