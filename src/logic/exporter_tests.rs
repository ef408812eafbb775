use std::sync::Arc;

use testkit::exposition::Exposition;

use super::*;
use crate::logic::exposition::{Format, Text004};

const INFO: &str = include_str!("../../tests/fixtures/haproxy-2.6/show-info.txt");
const STAT: &str = include_str!("../../tests/fixtures/haproxy-2.6/show-stat.csv");
/// The Go exporter 0.14 on the same HAProxy, about two seconds later.
const GO: &str = include_str!("../../tests/fixtures/haproxy-2.6/go-exporter-0.14-unix.txt");

fn scrape(opts: Options, stat: &str) -> Scrape {
    Scrape {
        instances: vec![InstanceScrape {
            name: "lb1".into(),
            stats: Ok(Stats::new(
                haproxy::Stat::parse(stat.to_string()).unwrap(),
                Some(haproxy::Info::parse(INFO)),
            )),
            counters: Arc::new(ScrapeCounters::default()),
        }],
        opts,
    }
}

fn render(s: Scrape, format: Format) -> String {
    let mut r = prometheus_client::registry::Registry::default();
    r.register_collector(Box::new(s));
    match format {
        Format::OpenMetrics => {
            let mut out = String::new();
            prometheus_client::encoding::text::encode(&mut out, &r).unwrap();
            out
        }
        Format::Text004 => {
            let mut t = Text004::new(String::new());
            prometheus_client::encoding::text::encode(&mut t, &r).unwrap();
            t.into_inner()
        }
    }
}

/// Counters that moved in the two seconds between the captures (the
/// stats page was being read, and health checks ran).
fn moving(name: &str) -> bool {
    name.ends_with("_total") || name.contains("_max_") || name.contains("duration") || name.contains("_rate")
}

#[test]
fn same_families_labels_and_values_as_the_go_exporter() {
    let text = render(scrape(Options::default(), STAT), Format::Text004);
    // Unlabelled samples are written as the exporter writes them.
    assert!(
        text.contains("\nhaproxy_up 1\n") && text.contains("\nhaproxy_exporter_scrapes_total 1\n"),
        "{text}"
    );
    let ours = Exposition::parse(&text).unwrap();
    let go = Exposition::parse(GO).unwrap();
    let skip = |n: &str| n.starts_with("haproxy_exporter_") || n == "haproxy_process_idle_time_percent";
    // Same sample keys (name + label set), both ways.
    let keys = |e: &Exposition| -> Vec<String> {
        e.samples
            .keys()
            .filter(|(n, _)| !skip(n))
            .map(|(n, l)| format!("{n}{l:?}"))
            .collect()
    };
    let (a, b) = (keys(&ours), keys(&go));
    let missing: Vec<_> = b.iter().filter(|k| !a.contains(k)).collect();
    let extra: Vec<_> = a.iter().filter(|k| !b.contains(k)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:#?}\nextra {extra:#?}"
    );
    assert!(a.len() > 300, "{} samples", a.len());
    // Same types and help for every family.
    for (name, ty) in go.types.iter().filter(|(n, _)| !skip(n)) {
        assert_eq!(ours.types.get(name), Some(ty), "type of {name}");
        assert_eq!(ours.helps.get(name), go.helps.get(name), "help of {name}");
    }
    // Same values, except counters that moved between the two captures.
    let mut compared = 0;
    for ((name, labels), v) in go.samples.iter().filter(|((n, _), _)| !skip(n) && !moving(n)) {
        assert_eq!(
            ours.samples.get(&(name.clone(), labels.clone())),
            Some(v),
            "{name}{labels:?}"
        );
        compared += 1;
    }
    assert!(compared > 100, "{compared}");
    assert_eq!(ours.get("haproxy_up", &[]), Some(1.0));
    assert_eq!(ours.get("haproxy_exporter_scrapes_total", &[]), Some(1.0));
    assert_eq!(ours.get("haproxy_exporter_csv_parse_failures_total", &[]), Some(0.0));
}

#[test]
fn status_mapping_and_units() {
    let ours = Exposition::parse(&render(scrape(Options::default(), STAT), Format::Text004)).unwrap();
    let up = |b: &str, s: &str| ours.get("haproxy_server_up", &[("backend", b), ("server", s)]);
    assert_eq!(up("be_app", "app1"), Some(1.0));
    assert_eq!(up("be_app", "app2"), Some(0.0)); // DOWN
    assert_eq!(up("be_tcp", "t2"), Some(0.0)); // MAINT
    assert_eq!(ours.get("haproxy_backend_up", &[("backend", "be_dead")]), Some(0.0));
    // check_duration is in ms in the CSV, seconds here.
    let d = ours.of("haproxy_server_check_duration_seconds");
    assert!(!d.is_empty() && d.iter().all(|(_, v)| *v < 10.0));
}

#[test]
fn server_fields_exclude_states_and_instance_label() {
    let opts = Options {
        server_fields: parse_server_fields("17,qcur").unwrap(),
        server_exclude_states: vec!["MAINT".into()],
        instance_label: Some("haproxy_instance".into()),
    };
    let ours = Exposition::parse(&render(scrape(opts, STAT), Format::Text004)).unwrap();
    let server: Vec<&str> = ours
        .names()
        .into_iter()
        .filter(|n| n.starts_with("haproxy_server_"))
        .collect();
    assert_eq!(server, ["haproxy_server_current_queue", "haproxy_server_up"]);
    assert!(ours
        .get(
            "haproxy_server_up",
            &[("haproxy_instance", "lb1"), ("backend", "be_tcp"), ("server", "t2")]
        )
        .is_none());
    assert!(ours
        .get(
            "haproxy_server_up",
            &[("haproxy_instance", "lb1"), ("backend", "be_app"), ("server", "app1")]
        )
        .is_some());
    assert!(ours
        .samples
        .keys()
        .all(|(_, l)| l.get("haproxy_instance").map(String::as_str) == Some("lb1")));
    assert!(parse_server_fields("2,99").unwrap_err().contains("\"99\""));
}

#[test]
fn bad_cells_count_as_parse_failures_and_a_failed_read_is_up_0() {
    let stat = STAT.replacen("be_app,app1,0,0,", "be_app,app1,x,0,", 1);
    assert_ne!(stat, STAT);
    let s = scrape(Options::default(), &stat);
    let counters = s.instances[0].counters.clone();
    let ours = Exposition::parse(&render(s, Format::Text004)).unwrap();
    assert_eq!(ours.get("haproxy_exporter_csv_parse_failures_total", &[]), Some(1.0));
    assert_eq!(counters.parse_failures.load(Ordering::Relaxed), 1);
    assert!(ours
        .get(
            "haproxy_server_current_queue",
            &[("backend", "be_app"), ("server", "app1")]
        )
        .is_none());

    let down = Scrape {
        instances: vec![InstanceScrape {
            name: "lb1".into(),
            stats: Err(crate::model::snapshot::SourceError::Socket(haproxy::Error::Refused {
                endpoint: "/run/haproxy/admin.sock".into(),
            })),
            counters,
        }],
        opts: Options::default(),
    };
    let ours = Exposition::parse(&render(down, Format::Text004)).unwrap();
    assert_eq!(ours.get("haproxy_up", &[]), Some(0.0));
    assert_eq!(ours.get("haproxy_exporter_scrapes_total", &[]), Some(2.0));
    assert!(ours
        .names()
        .iter()
        .all(|n| !n.starts_with("haproxy_server_") && !n.starts_with("haproxy_backend_")));
}

#[test]
fn openmetrics_output_is_the_same_samples() {
    let om = render(scrape(Options::default(), STAT), Format::OpenMetrics);
    assert!(om.ends_with("# EOF\n"));
    let t = render(scrape(Options::default(), STAT), Format::Text004);
    assert_eq!(
        Exposition::parse(&om).unwrap().samples,
        Exposition::parse(&t).unwrap().samples
    );
}
