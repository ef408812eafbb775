//! `/metrics`: the haproxy_exporter-compatible families ([`exporter`]),
//! read fresh from every instance at scrape time, plus hawatch's own
//! (`hawatch_*`, [`Telemetry`]) and its process (`process_*`).
//!
//! A scrape never serves stale HAProxy numbers: it asks each instance, as
//! the exporter does, and an instance that does not answer in its
//! `timeout` reads `haproxy_up 0` with no series (docs/metrics.md).

mod process;

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use crate::config::{Instance, Source};
use crate::logic::exporter::{InstanceScrape, Options, Scrape, ScrapeCounters, Stats};
use crate::logic::exposition::{Format, Text004};
use crate::model::event::Event;
use crate::model::snapshot::{HttpError, SourceError};
use crate::source;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct InstanceLabel {
    pub(crate) haproxy_instance: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct KindLabel {
    pub(crate) haproxy_instance: String,
    pub(crate) kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct SinkLabel {
    pub(crate) sink: String,
}

/// A failed delivery: the sink and the class of failure (`service`,
/// `config`, `transport`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct FailureLabel {
    pub(crate) sink: String,
    pub(crate) class: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct StatusLabel {
    pub(crate) status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct StateLabel {
    pub(crate) state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ReasonLabel {
    pub(crate) reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct CheckLabel {
    pub(crate) check: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RoleLabel {
    role: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct VipLabel {
    pub(crate) vip: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct VrrpLabel {
    pub(crate) instance: String,
    pub(crate) state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabel {
    version: String,
}

fn poll_histogram() -> Histogram {
    Histogram::new([0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0])
}

/// hawatch's own metrics. Process-wide, like the process itself: pollers,
/// outbox workers and the receiver count into [`telemetry()`]; they survive
/// a config reload.
#[derive(Debug)]
pub(crate) struct Telemetry {
    pub(crate) events: Family<KindLabel, Counter>,
    pub(crate) polls: Family<InstanceLabel, Counter>,
    pub(crate) poll_errors: Family<InstanceLabel, Counter>,
    pub(crate) poll_duration: Family<InstanceLabel, Histogram, fn() -> Histogram>,
    pub(crate) instance_up: Family<InstanceLabel, Gauge>,
    pub(crate) last_poll: Family<InstanceLabel, Gauge<f64, AtomicU64>>,
    pub(crate) sent: Family<SinkLabel, Counter>,
    pub(crate) failed: Family<FailureLabel, Counter>,
    pub(crate) am_received: Family<StatusLabel, Counter>,
    pub(crate) agent_replies: Family<StateLabel, Counter>,
    pub(crate) agent_rejected: Family<ReasonLabel, Counter>,
    pub(crate) agent_check_duration: Family<CheckLabel, Histogram, fn() -> Histogram>,
    pub(crate) agent_check_ok: Family<CheckLabel, Gauge>,
    /// Set (and shown) only by a watcher with `[keepalived]`.
    keepalived_up: Mutex<Option<Gauge>>,
    keepalived_vip: Family<VipLabel, Gauge>,
    keepalived_vrrp: Family<VrrpLabel, Gauge>,
    pair_alerting: Family<RoleLabel, Gauge>,
    /// The exporter's scrape counters, per instance.
    scrapes: Mutex<HashMap<String, Arc<ScrapeCounters>>>,
}

static TELEMETRY: LazyLock<Telemetry> = LazyLock::new(|| Telemetry {
    events: Family::default(),
    polls: Family::default(),
    poll_errors: Family::default(),
    poll_duration: Family::new_with_constructor(poll_histogram),
    instance_up: Family::default(),
    last_poll: Family::default(),
    sent: Family::default(),
    failed: Family::default(),
    am_received: Family::default(),
    agent_replies: Family::default(),
    agent_rejected: Family::default(),
    agent_check_duration: Family::new_with_constructor(poll_histogram),
    agent_check_ok: Family::default(),
    keepalived_up: Mutex::new(None),
    keepalived_vip: Family::default(),
    keepalived_vrrp: Family::default(),
    pair_alerting: Family::default(),
    scrapes: Mutex::new(HashMap::new()),
});

/// The process's telemetry.
pub(crate) fn telemetry() -> &'static Telemetry {
    &TELEMETRY
}

fn inst(name: &str) -> InstanceLabel {
    InstanceLabel {
        haproxy_instance: name.to_string(),
    }
}

pub(crate) fn sink(name: &str) -> SinkLabel {
    SinkLabel { sink: name.to_string() }
}

pub(crate) fn failure(sink: &str, class: &str) -> FailureLabel {
    FailureLabel {
        sink: sink.to_string(),
        class: class.to_string(),
    }
}

impl Telemetry {
    /// Records one poll of the watcher.
    pub(crate) fn poll(&self, instance: &str, took: Duration, reachable: bool, events: &[Event]) {
        let l = inst(instance);
        self.polls.get_or_create(&l).inc();
        if !reachable {
            self.poll_errors.get_or_create(&l).inc();
        }
        self.poll_duration.get_or_create(&l).observe(took.as_secs_f64());
        self.instance_up.get_or_create(&l).set(i64::from(reachable));
        self.last_poll
            .get_or_create(&l)
            .set(chrono::Utc::now().timestamp_millis() as f64 / 1000.0);
        for e in events {
            self.events
                .get_or_create(&KindLabel {
                    haproxy_instance: instance.to_string(),
                    kind: e.kind.as_str().to_string(),
                })
                .inc();
        }
    }

    /// The counter of agent replies in `state` (kept by the reply table, so
    /// a reply costs one atomic add).
    pub(crate) fn agent_reply(&self, state: &str) -> Counter {
        self.agent_replies
            .get_or_create(&StateLabel {
                state: state.to_string(),
            })
            .clone()
    }

    pub(crate) fn agent_rejected(&self, reason: &str) -> Counter {
        self.agent_rejected
            .get_or_create(&ReasonLabel {
                reason: reason.to_string(),
            })
            .clone()
    }

    pub(crate) fn agent_check(&self, check: &str, o: &crate::logic::agent_rules::Outcome) {
        let l = CheckLabel {
            check: check.to_string(),
        };
        self.agent_check_duration
            .get_or_create(&l)
            .observe(o.took.as_secs_f64());
        self.agent_check_ok.get_or_create(&l).set(i64::from(o.ok));
    }

    pub(crate) fn keepalived_up(&self, up: bool) {
        let mut g = self.keepalived_up.lock().unwrap_or_else(|e| e.into_inner());
        g.get_or_insert_with(Gauge::default).set(i64::from(up));
    }

    pub(crate) fn keepalived_vip_held(&self, vip: &str, held: bool) {
        self.keepalived_vip
            .get_or_create(&VipLabel { vip: vip.to_string() })
            .set(i64::from(held));
    }

    /// One series per (instance, state), 1 for the current state.
    pub(crate) fn keepalived_vrrp_state(&self, instance: &str, current: &str) {
        for st in ["MASTER", "BACKUP", "FAULT", "STOP"] {
            self.keepalived_vrrp
                .get_or_create(&VrrpLabel {
                    instance: instance.to_string(),
                    state: st.to_string(),
                })
                .set(i64::from(st == current));
        }
    }

    /// With `backend_alerts = "vip-holder"`: this node's alerting role
    /// (`active`, `standby`, `takeover`), 1 for the current one.
    pub(crate) fn pair_alerting(&self, current: &str) {
        for role in ["active", "standby", "takeover"] {
            self.pair_alerting
                .get_or_create(&RoleLabel { role: role.to_string() })
                .set(i64::from(role == current));
        }
    }

    fn counters(&self, instance: &str) -> Arc<ScrapeCounters> {
        let mut m = self.scrapes.lock().unwrap_or_else(|e| e.into_inner());
        m.entry(instance.to_string()).or_default().clone()
    }

    fn register(&self, r: &mut Registry) {
        r.register(
            "hawatch_events",
            "Events detected and stored, by instance and kind",
            self.events.clone(),
        );
        r.register(
            "hawatch_polls",
            "Polls of each HAProxy instance by the watcher",
            self.polls.clone(),
        );
        r.register(
            "hawatch_poll_errors",
            "Polls that could not read the instance",
            self.poll_errors.clone(),
        );
        r.register_with_unit(
            "hawatch_poll_duration",
            "Time one poll took: read, parse, diff and store",
            Unit::Seconds,
            self.poll_duration.clone(),
        );
        r.register(
            "hawatch_instance_up",
            "Whether the watcher's last poll of the instance succeeded",
            self.instance_up.clone(),
        );
        r.register(
            "hawatch_last_poll_timestamp_seconds",
            "When the watcher last polled the instance (Unix time)",
            self.last_poll.clone(),
        );
        r.register(
            "hawatch_notifications_sent",
            "Messages a sink delivered",
            self.sent.clone(),
        );
        r.register(
            "hawatch_notifications_failed",
            "Delivery attempts that failed (each is retried), by class: service, config, transport",
            self.failed.clone(),
        );
        r.register(
            "hawatch_alertmanager_alerts_received",
            "Alerts received on /alertmanager, by status",
            self.am_received.clone(),
        );
        r.register(
            "hawatch_agent_replies",
            "Replies of `hawatch agent`, by the state they told (up, down, maint, drain)",
            self.agent_replies.clone(),
        );
        r.register(
            "hawatch_agent_rejected_connections",
            "Agent connections closed unanswered: not_allowed (client outside [agent] allow), too_many (over max_connections)",
            self.agent_rejected.clone(),
        );
        r.register_with_unit(
            "hawatch_agent_check_duration",
            "Time an agent check took",
            Unit::Seconds,
            self.agent_check_duration.clone(),
        );
        if let Some(g) = self.keepalived_up.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            r.register(
                "keepalived_up",
                "Whether a keepalived process runs on this node (watchers with [keepalived])",
                g,
            );
        }
        r.register(
            "keepalived_vip_held",
            "Whether this node holds the VIP",
            self.keepalived_vip.clone(),
        );
        r.register(
            "keepalived_vrrp_state",
            "The VRRP state last told for the instance: 1 for the current state",
            self.keepalived_vrrp.clone(),
        );
        r.register(
            "hawatch_pair_alerting",
            "This node's part in telling HAProxy's events in a pair (backend_alerts = \"vip-holder\"): active (holds the VIP and tells), standby (the peer tells), takeover (tells for a silent or stuck peer); 1 for the current role",
            self.pair_alerting.clone(),
        );
        r.register(
            "hawatch_agent_check_ok",
            "Whether the agent check's last run passed",
            self.agent_check_ok.clone(),
        );
    }
}

/// What the store says at scrape time.
#[derive(Debug, Default)]
pub(crate) struct StoreStats {
    /// (sink, pending now, held by quiet hours, dead letters)
    pub(crate) sinks: Vec<(String, i64, i64, i64)>,
    pub(crate) bytes: u64,
}

/// The scrape-time view of the configuration.
pub(crate) struct Scraper {
    instances: Vec<(Instance, reqwest::Client)>,
    opts: Options,
}

impl Scraper {
    pub(crate) fn new(instances: &[Instance], mut opts: Options, label: &str, label_single: bool) -> Scraper {
        opts.instance_label = (instances.len() > 1 || label_single).then(|| label.to_string());
        Scraper {
            instances: instances.iter().map(|i| (i.clone(), source::http_client(i))).collect(),
            opts,
        }
    }

    /// Reads every instance, concurrently.
    pub(crate) async fn scrape(&self) -> Scrape {
        let reads = self.instances.iter().map(|(i, http)| async move {
            InstanceScrape {
                name: i.name.clone(),
                stats: read(i, http).await,
                counters: telemetry().counters(&i.name),
            }
        });
        Scrape {
            instances: futures_util::future::join_all(reads).await,
            opts: self.opts.clone(),
        }
    }
}

/// One read of one instance: `show info;show stat` on the socket, or the
/// CSV page (the exporter reads nothing else over HTTP either).
async fn read(inst: &Instance, http: &reqwest::Client) -> Result<Stats, SourceError> {
    match &inst.source {
        Source::Socket(ep) => {
            let (info, stat) = source::socket_client(ep, inst.timeout).show_info_stat().await?;
            Ok(Stats::new(stat, Some(info)))
        }
        Source::Http { url, .. } => {
            let csv = source::get(http, url.expose(), inst.timeout).await?;
            let stat = haproxy::Stat::parse(csv).map_err(HttpError::from)?;
            Ok(Stats::new(stat, None))
        }
    }
}

/// Writes the whole exposition: HAProxy's families, hawatch's and the process's.
pub(crate) fn render<W: Write>(
    scrape: Option<Scrape>,
    store: StoreStats,
    format: Format,
    out: W,
) -> Result<W, std::fmt::Error> {
    let mut r = Registry::default();
    if let Some(scrape) = scrape {
        r.register_collector(Box::new(scrape));
    }
    telemetry().register(&mut r);
    let pending: Family<SinkLabel, Gauge> = Family::default();
    let held: Family<SinkLabel, Gauge> = Family::default();
    let dead: Family<SinkLabel, Gauge> = Family::default();
    for (s, p, h, d) in &store.sinks {
        pending.get_or_create(&sink(s)).set(*p);
        held.get_or_create(&sink(s)).set(*h);
        dead.get_or_create(&sink(s)).set(*d);
    }
    r.register(
        "hawatch_notifications_pending",
        "Messages waiting in the outbox to be delivered now (not counting those held by quiet hours)",
        pending,
    );
    r.register(
        "hawatch_notifications_held",
        "Messages held by quiet hours until they end",
        held,
    );
    r.register(
        "hawatch_notifications_dead",
        "Messages given up after max_age (see `hawatch outbox`)",
        dead,
    );
    let size: Gauge = Gauge::default();
    size.set(store.bytes as i64);
    r.register(
        "hawatch_store_size_bytes",
        "Size of the SQLite store with its WAL",
        size,
    );
    let build: Family<VersionLabel, Gauge> = Family::default();
    build
        .get_or_create(&VersionLabel {
            version: env!("CARGO_PKG_VERSION").to_string(),
        })
        .set(1);
    r.register("hawatch_build_info", "hawatch's version, as a label; always 1", build);
    r.register_collector(Box::new(process::Process));
    match format {
        Format::OpenMetrics => {
            let mut out = out;
            prometheus_client::encoding::text::encode(&mut out, &r)?;
            Ok(out)
        }
        Format::Text004 => {
            let mut t = Text004::new(out);
            prometheus_client::encoding::text::encode(&mut t, &r)?;
            Ok(t.into_inner())
        }
    }
}
