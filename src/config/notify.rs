//! `[notify]`: what every message shares (time zone, host name) and the
//! defaults of every sink's route and noise policy; the route and policy
//! keys themselves, which each `[[sink]]` may also set.

use std::collections::BTreeSet;
use std::time::Duration;

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};

use super::problems::Problems;
use super::value::{self, Dur, OneOrMany};
use crate::logic::plan::SinkPlan;
use crate::logic::policy::Policy;
use crate::logic::route::{Globs, QuietHours, Route, Zone};
use crate::logic::template::Lang;
use crate::model::event::{Kind, Severity};

pub(crate) const DEFAULT_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileNotify {
    /// Time zone for message times and quiet hours (IANA name; default: the system's).
    pub(crate) timezone: Option<String>,
    /// The host name messages and Alertmanager annotations carry (default: this host's).
    pub(crate) host: Option<String>,
    pub(crate) notify_after: Option<Dur>,
    pub(crate) resolve_after: Option<Dur>,
    pub(crate) flap_threshold: Option<u32>,
    pub(crate) flap_window: Option<Dur>,
    pub(crate) flap_settle: Option<Dur>,
    pub(crate) remind_every: Option<Dur>,
    pub(crate) remind_max: Option<u32>,
    pub(crate) quiet_hours: Option<String>,
    pub(crate) max_age: Option<Dur>,
    pub(crate) lang: Option<Lang>,
}

/// The policy keys, in `[notify]` (defaults for every sink) and in each
/// `[[sink]]`. (Written out in both structs: serde's `flatten` would lose
/// `deny_unknown_fields` and the key list in errors.)
#[derive(Debug, Default, Clone)]
pub(crate) struct FilePolicy {
    pub(crate) notify_after: Option<Dur>,
    pub(crate) resolve_after: Option<Dur>,
    pub(crate) flap_threshold: Option<u32>,
    pub(crate) flap_window: Option<Dur>,
    pub(crate) flap_settle: Option<Dur>,
    pub(crate) remind_every: Option<Dur>,
    pub(crate) remind_max: Option<u32>,
    pub(crate) quiet_hours: Option<String>,
    pub(crate) max_age: Option<Dur>,
    pub(crate) lang: Option<Lang>,
}

/// `policy()`: the policy keys of a struct that has them all.
macro_rules! policy_of {
    ($t:ty) => {
        impl $t {
            pub(crate) fn policy(&self) -> $crate::config::notify::FilePolicy {
                $crate::config::notify::FilePolicy {
                    notify_after: self.notify_after,
                    resolve_after: self.resolve_after,
                    flap_threshold: self.flap_threshold,
                    flap_window: self.flap_window,
                    flap_settle: self.flap_settle,
                    remind_every: self.remind_every,
                    remind_max: self.remind_max,
                    quiet_hours: self.quiet_hours.clone(),
                    max_age: self.max_age,
                    lang: self.lang,
                }
            }
        }
    };
}
pub(super) use policy_of;

policy_of!(FileNotify);

/// `match = { instance = "prod-*", backend = ["web*", "api"], server = "*" }`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileMatch {
    pub(crate) instance: Option<OneOrMany>,
    pub(crate) backend: Option<OneOrMany>,
    pub(crate) server: Option<OneOrMany>,
}

/// `[notify]`: what all messages share.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Notify {
    #[serde(rename = "timezone", serialize_with = "zone")]
    pub(crate) zone: Zone,
    pub(crate) host: String,
}

fn zone<S: Serializer>(z: &Zone, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&z.name())
}

pub(super) fn validate(f: &FileNotify, p: &mut Problems) -> Notify {
    let zone = match f.timezone.as_deref().map(Zone::parse) {
        Some(Ok(z)) => z,
        Some(Err(e)) => {
            p.at("notify.timezone", e);
            Zone::Local
        }
        None => Zone::Local,
    };
    let host = f
        .host
        .clone()
        .unwrap_or_else(|| gethostname::gethostname().to_string_lossy().into_owned());
    Notify { zone, host }
}

/// The policy of one sink: its own keys, else `[notify]`'s, else the defaults.
pub(super) fn merge_policy(own: FilePolicy, defaults: &FilePolicy) -> FilePolicy {
    FilePolicy {
        notify_after: own.notify_after.or(defaults.notify_after),
        resolve_after: own.resolve_after.or(defaults.resolve_after),
        flap_threshold: own.flap_threshold.or(defaults.flap_threshold),
        flap_window: own.flap_window.or(defaults.flap_window),
        flap_settle: own.flap_settle.or(defaults.flap_settle),
        remind_every: own.remind_every.or(defaults.remind_every),
        remind_max: own.remind_max.or(defaults.remind_max),
        quiet_hours: own.quiet_hours.or_else(|| defaults.quiet_hours.clone()),
        max_age: own.max_age.or(defaults.max_age),
        lang: own.lang.or(defaults.lang),
    }
}

/// A sink's route: `events`, `min_severity`, `match`.
pub(super) fn validate_route(
    events: Option<&[Kind]>,
    min_severity: Option<Severity>,
    m: Option<&FileMatch>,
    p: &mut Problems,
    key: &dyn Fn(&str) -> String,
) -> Route {
    let mut r = Route {
        kinds: events.map(|e| e.iter().copied().collect::<BTreeSet<Kind>>()),
        min_severity,
        ..Route::default()
    };
    if let Some(m) = m {
        let mut globs = |v: &Option<OneOrMany>, k: &str| -> Option<Globs> {
            let list = v.clone()?.into_vec();
            Globs::new(list).map_err(|e| p.at(&key(&format!("match.{k}")), e)).ok()
        };
        r.instance = globs(&m.instance, "instance");
        r.backend = globs(&m.backend, "backend");
        r.server = globs(&m.server, "server");
    }
    r
}

/// A sink's noise policy, quiet hours and `max_age`.
pub(super) fn validate_policy(
    f: &FilePolicy,
    notify: &Notify,
    p: &mut Problems,
    key: &dyn Fn(&str) -> String,
) -> (Policy, Option<QuietHours>, Duration) {
    let d = Policy::default();
    let pol = Policy {
        notify_after: value::or(f.notify_after, d.notify_after),
        resolve_after: value::or(f.resolve_after, d.resolve_after),
        flap_threshold: f.flap_threshold.unwrap_or(d.flap_threshold),
        flap_window: value::or(f.flap_window, d.flap_window),
        flap_settle: value::or(f.flap_settle, d.flap_settle),
        remind_every: value::or(f.remind_every, d.remind_every),
        remind_max: f.remind_max.unwrap_or(d.remind_max),
    };
    if pol.flap_threshold > 0 && pol.flap_window.is_zero() {
        p.at(&key("flap_window"), "must be more than 0 when `flap_threshold` is set");
    }
    if !pol.remind_every.is_zero() && pol.remind_every < Duration::from_secs(60) {
        p.at(
            &key("remind_every"),
            "reminders more often than once a minute are noise; use at least 1m (or 0 to disable)",
        );
    }
    let quiet = f.quiet_hours.as_deref().and_then(|q| {
        QuietHours::parse(q, notify.zone)
            .map_err(|e| p.at(&key("quiet_hours"), e))
            .ok()
    });
    let max_age = value::or(f.max_age, DEFAULT_MAX_AGE);
    if max_age < Duration::from_secs(1) {
        p.at(&key("max_age"), "too short; use at least 1s (hours are usual)");
    }
    (pol, quiet, max_age)
}

/// `config show`: a sink's plan as the keys that made it (route, policy,
/// quiet hours), the inverse of [`validate_route`] and [`validate_policy`].
pub(super) fn show_plan<S: Serializer>(plan: &SinkPlan, s: S) -> Result<S::Ok, S::Error> {
    let mut m = s.serialize_map(None)?;
    let r = &plan.route;
    if let Some(kinds) = &r.kinds {
        m.serialize_entry("events", kinds)?;
    }
    if let Some(sev) = &r.min_severity {
        m.serialize_entry("min_severity", sev)?;
    }
    let globs: Vec<(&str, &Vec<String>)> = [
        ("instance", &r.instance),
        ("backend", &r.backend),
        ("server", &r.server),
    ]
    .into_iter()
    .filter_map(|(k, g)| g.as_ref().map(|g| (k, &g.patterns)))
    .collect();
    if !globs.is_empty() {
        m.serialize_entry(
            "match",
            &globs.into_iter().collect::<std::collections::BTreeMap<_, _>>(),
        )?;
    }
    let pol = &plan.policy;
    let d = |d: &Duration| humantime::format_duration(*d).to_string();
    m.serialize_entry("notify_after", &d(&pol.notify_after))?;
    m.serialize_entry("resolve_after", &d(&pol.resolve_after))?;
    m.serialize_entry("flap_threshold", &pol.flap_threshold)?;
    m.serialize_entry("flap_window", &d(&pol.flap_window))?;
    m.serialize_entry("flap_settle", &d(&pol.flap_settle))?;
    m.serialize_entry("remind_every", &d(&pol.remind_every))?;
    m.serialize_entry("remind_max", &pol.remind_max)?;
    if let Some(q) = &plan.quiet {
        m.serialize_entry("quiet_hours", &q.to_string())?;
    }
    m.end()
}
