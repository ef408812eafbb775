//! The metrics of `prometheus/haproxy_exporter` (0.15), from one `show stat`
//! (and `show info`) per instance: same names, types, help, labels and values,
//! so dashboards and alert rules written for the exporter work unchanged.
//! Pure: a [`Scrape`] is what the instances said; [`Scrape`] is a
//! prometheus-client [`Collector`] that writes the families.
//!
//! Differences that are deliberate are listed in docs/metrics.md. The main
//! one: columns are found by their header name, not by position, so a newer
//! HAProxy with more or moved columns still reads right.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use haproxy::{Info, RowType, Selection, Stat};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabel, EncodeLabelSet, LabelSetEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;

/// How a cell becomes a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Conv {
    /// An integer, as is.
    Int,
    /// Milliseconds, exposed in seconds.
    Ms,
    /// A status string, 1 for UP-like, else 0 (the exporter's mapping).
    Status,
}

/// One metric read from one CSV column.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Field {
    /// The exporter's field number (0-based position in HAProxy 2.x's CSV).
    pub(crate) pos: usize,
    /// The CSV column name.
    pub(crate) column: &'static str,
    /// The full metric name, `_total` included for counters.
    pub(crate) name: &'static str,
    pub(crate) help: &'static str,
    counter: bool,
    conv: Conv,
    /// The `code` label of `http_responses_total`.
    code: Option<&'static str>,
}

const fn f(
    pos: usize,
    column: &'static str,
    name: &'static str,
    help: &'static str,
    counter: bool,
    conv: Conv,
    code: Option<&'static str>,
) -> Field {
    Field {
        pos,
        column,
        name,
        help,
        counter,
        conv,
        code,
    }
}

use Conv::{Int, Ms, Status};

const C: bool = true;
const G: bool = false;

/// Help texts shared by several families, exactly as the exporter words them.
const H_BIN: &str = "Current total of incoming bytes.";
const H_BOUT: &str = "Current total of outgoing bytes.";
const H_SCUR: &str = "Current number of active sessions.";
const H_SMAX: &str = "Maximum observed number of active sessions.";
const H_SLIM: &str = "Configured session limit.";
const H_STOT: &str = "Total number of sessions.";
const H_RATE: &str = "Current number of sessions per second over last elapsed second.";
const H_HRSP: &str = "Total of HTTP responses.";
const H_ECON: &str = "Total of connection errors.";
const H_ERESP: &str = "Total of response errors.";
const H_WRETR: &str = "Total of retry warnings.";
const H_WREDIS: &str = "Total of redispatch warnings.";
const H_LBTOT: &str = "Total number of times a server was selected, either for new sessions, or when re-dispatching.";
const H_CLI_ABRT: &str = "Total number of data transfers aborted by the client.";
const H_SRV_ABRT: &str = "Total number of data transfers aborted by the server.";
const H_COMP_IN: &str = "Number of HTTP response bytes fed to the compressor";
const H_COMP_OUT: &str = "Number of HTTP response bytes emitted by the compressor";
const H_COMP_BYP: &str = "Number of bytes that bypassed the HTTP compressor";
const H_COMP_RSP: &str = "Number of HTTP responses that were compressed";
const H_QTIME: &str = "Avg. HTTP queue time for last 1024 successful connections.";
const H_CTIME: &str = "Avg. HTTP connect time for last 1024 successful connections.";
const H_RTIME: &str = "Avg. HTTP response time for last 1024 successful connections.";
const H_TTIME: &str = "Avg. HTTP total time for last 1024 successful connections.";

const CODES: [(usize, &str, &str); 6] = [
    (39, "hrsp_1xx", "1xx"),
    (40, "hrsp_2xx", "2xx"),
    (41, "hrsp_3xx", "3xx"),
    (42, "hrsp_4xx", "4xx"),
    (43, "hrsp_5xx", "5xx"),
    (44, "hrsp_other", "other"),
];

macro_rules! hrsp {
    ($name:literal) => {
        [
            f(39, CODES[0].1, $name, H_HRSP, C, Int, Some(CODES[0].2)),
            f(40, CODES[1].1, $name, H_HRSP, C, Int, Some(CODES[1].2)),
            f(41, CODES[2].1, $name, H_HRSP, C, Int, Some(CODES[2].2)),
            f(42, CODES[3].1, $name, H_HRSP, C, Int, Some(CODES[3].2)),
            f(43, CODES[4].1, $name, H_HRSP, C, Int, Some(CODES[4].2)),
            f(44, CODES[5].1, $name, H_HRSP, C, Int, Some(CODES[5].2)),
        ]
    };
}

const fn cat<const A: usize, const B: usize, const N: usize>(a: [Field; A], b: [Field; B]) -> [Field; N] {
    let mut out = [a[0]; N];
    let mut i = 0;
    while i < A {
        out[i] = a[i];
        i += 1;
    }
    while i < N {
        out[i] = b[i - A];
        i += 1;
    }
    out
}

/// Frontend rows (label `frontend`).
#[rustfmt::skip]
pub(crate) const FRONTEND: [Field; 23] = cat::<17, 6, 23>(
    [
        f(4, "scur", "haproxy_frontend_current_sessions", H_SCUR, G, Int, None),
        f(5, "smax", "haproxy_frontend_max_sessions", H_SMAX, G, Int, None),
        f(6, "slim", "haproxy_frontend_limit_sessions", H_SLIM, G, Int, None),
        f(7, "stot", "haproxy_frontend_sessions_total", H_STOT, C, Int, None),
        f(8, "bin", "haproxy_frontend_bytes_in_total", H_BIN, C, Int, None),
        f(9, "bout", "haproxy_frontend_bytes_out_total", H_BOUT, C, Int, None),
        f(10, "dreq", "haproxy_frontend_requests_denied_total", "Total of requests denied for security.", C, Int, None),
        f(12, "ereq", "haproxy_frontend_request_errors_total", "Total of request errors.", C, Int, None),
        f(33, "rate", "haproxy_frontend_current_session_rate", H_RATE, G, Int, None),
        f(34, "rate_lim", "haproxy_frontend_limit_session_rate", "Configured limit on new sessions per second.", G, Int, None),
        f(35, "rate_max", "haproxy_frontend_max_session_rate", "Maximum observed number of sessions per second.", G, Int, None),
        f(48, "req_tot", "haproxy_frontend_http_requests_total", "Total HTTP requests.", C, Int, None),
        f(51, "comp_in", "haproxy_frontend_compressor_bytes_in_total", H_COMP_IN, C, Int, None),
        f(52, "comp_out", "haproxy_frontend_compressor_bytes_out_total", H_COMP_OUT, C, Int, None),
        f(53, "comp_byp", "haproxy_frontend_compressor_bytes_bypassed_total", H_COMP_BYP, C, Int, None),
        f(54, "comp_rsp", "haproxy_frontend_http_responses_compressed_total", H_COMP_RSP, C, Int, None),
        f(79, "conn_tot", "haproxy_frontend_connections_total", "Total number of connections", C, Int, None),
    ],
    hrsp!("haproxy_frontend_http_responses_total"),
);

/// Backend rows (label `backend`).
#[rustfmt::skip]
pub(crate) const BACKEND: [Field; 34] = cat::<28, 6, 34>(
    [
        f(2, "qcur", "haproxy_backend_current_queue", "Current number of queued requests not assigned to any server.", G, Int, None),
        f(3, "qmax", "haproxy_backend_max_queue", "Maximum observed number of queued requests not assigned to any server.", G, Int, None),
        f(4, "scur", "haproxy_backend_current_sessions", H_SCUR, G, Int, None),
        f(5, "smax", "haproxy_backend_max_sessions", H_SMAX, G, Int, None),
        f(6, "slim", "haproxy_backend_limit_sessions", H_SLIM, G, Int, None),
        f(7, "stot", "haproxy_backend_sessions_total", H_STOT, C, Int, None),
        f(8, "bin", "haproxy_backend_bytes_in_total", H_BIN, C, Int, None),
        f(9, "bout", "haproxy_backend_bytes_out_total", H_BOUT, C, Int, None),
        f(13, "econ", "haproxy_backend_connection_errors_total", H_ECON, C, Int, None),
        f(14, "eresp", "haproxy_backend_response_errors_total", H_ERESP, C, Int, None),
        f(15, "wretr", "haproxy_backend_retry_warnings_total", H_WRETR, C, Int, None),
        f(16, "wredis", "haproxy_backend_redispatch_warnings_total", H_WREDIS, C, Int, None),
        f(17, "status", "haproxy_backend_up", "Current health status of the backend (1 = UP, 0 = DOWN).", G, Status, None),
        f(18, "weight", "haproxy_backend_weight", "Total weight of the servers in the backend.", G, Int, None),
        f(19, "act", "haproxy_backend_current_server", "Current number of active servers", G, Int, None),
        f(30, "lbtot", "haproxy_backend_server_selected_total", H_LBTOT, C, Int, None),
        f(33, "rate", "haproxy_backend_current_session_rate", H_RATE, G, Int, None),
        f(35, "rate_max", "haproxy_backend_max_session_rate", "Maximum number of sessions per second.", G, Int, None),
        f(49, "cli_abrt", "haproxy_backend_client_aborts_total", H_CLI_ABRT, C, Int, None),
        f(50, "srv_abrt", "haproxy_backend_server_aborts_total", H_SRV_ABRT, C, Int, None),
        f(51, "comp_in", "haproxy_backend_compressor_bytes_in_total", H_COMP_IN, C, Int, None),
        f(52, "comp_out", "haproxy_backend_compressor_bytes_out_total", H_COMP_OUT, C, Int, None),
        f(53, "comp_byp", "haproxy_backend_compressor_bytes_bypassed_total", H_COMP_BYP, C, Int, None),
        f(54, "comp_rsp", "haproxy_backend_http_responses_compressed_total", H_COMP_RSP, C, Int, None),
        f(58, "qtime", "haproxy_backend_http_queue_time_average_seconds", H_QTIME, G, Ms, None),
        f(59, "ctime", "haproxy_backend_http_connect_time_average_seconds", H_CTIME, G, Ms, None),
        f(60, "rtime", "haproxy_backend_http_response_time_average_seconds", H_RTIME, G, Ms, None),
        f(61, "ttime", "haproxy_backend_http_total_time_average_seconds", H_TTIME, G, Ms, None),
    ],
    hrsp!("haproxy_backend_http_responses_total"),
);

/// Server rows (labels `backend`, `server`); which of these are exposed is
/// [`Options::server_fields`], like the exporter's `--haproxy.server-metric-fields`.
#[rustfmt::skip]
pub(crate) const SERVER: [Field; 32] = cat::<26, 6, 32>(
    [
        f(2, "qcur", "haproxy_server_current_queue", "Current number of queued requests assigned to this server.", G, Int, None),
        f(3, "qmax", "haproxy_server_max_queue", "Maximum observed number of queued requests assigned to this server.", G, Int, None),
        f(4, "scur", "haproxy_server_current_sessions", H_SCUR, G, Int, None),
        f(5, "smax", "haproxy_server_max_sessions", H_SMAX, G, Int, None),
        f(6, "slim", "haproxy_server_limit_sessions", H_SLIM, G, Int, None),
        f(7, "stot", "haproxy_server_sessions_total", H_STOT, C, Int, None),
        f(8, "bin", "haproxy_server_bytes_in_total", H_BIN, C, Int, None),
        f(9, "bout", "haproxy_server_bytes_out_total", H_BOUT, C, Int, None),
        f(13, "econ", "haproxy_server_connection_errors_total", H_ECON, C, Int, None),
        f(14, "eresp", "haproxy_server_response_errors_total", H_ERESP, C, Int, None),
        f(15, "wretr", "haproxy_server_retry_warnings_total", H_WRETR, C, Int, None),
        f(16, "wredis", "haproxy_server_redispatch_warnings_total", H_WREDIS, C, Int, None),
        f(17, "status", "haproxy_server_up", "Current health status of the server (1 = UP, 0 = DOWN).", G, Status, None),
        f(18, "weight", "haproxy_server_weight", "Current weight of the server.", G, Int, None),
        f(21, "chkfail", "haproxy_server_check_failures_total", "Total number of failed health checks.", C, Int, None),
        f(24, "downtime", "haproxy_server_downtime_seconds_total", "Total downtime in seconds.", C, Int, None),
        f(30, "lbtot", "haproxy_server_server_selected_total", H_LBTOT, C, Int, None),
        f(33, "rate", "haproxy_server_current_session_rate", H_RATE, G, Int, None),
        f(35, "rate_max", "haproxy_server_max_session_rate", "Maximum observed number of sessions per second.", G, Int, None),
        f(38, "check_duration", "haproxy_server_check_duration_seconds", "Previously run health check duration, in seconds", G, Ms, None),
        f(49, "cli_abrt", "haproxy_server_client_aborts_total", H_CLI_ABRT, C, Int, None),
        f(50, "srv_abrt", "haproxy_server_server_aborts_total", H_SRV_ABRT, C, Int, None),
        f(58, "qtime", "haproxy_server_http_queue_time_average_seconds", H_QTIME, G, Ms, None),
        f(59, "ctime", "haproxy_server_http_connect_time_average_seconds", H_CTIME, G, Ms, None),
        f(60, "rtime", "haproxy_server_http_response_time_average_seconds", H_RTIME, G, Ms, None),
        f(61, "ttime", "haproxy_server_http_total_time_average_seconds", H_TTIME, G, Ms, None),
    ],
    hrsp!("haproxy_server_http_responses_total"),
);

/// The exporter's default `--haproxy.server-metric-fields`.
pub(crate) const DEFAULT_SERVER_FIELDS: &str =
    "2,3,4,5,6,7,8,9,13,14,15,16,17,18,21,24,30,33,35,38,39,40,41,42,43,44,49,50,58,59,60,61";

/// What the operator chose (`[metrics]` in the config).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Options {
    /// Exporter field numbers of the server metrics to expose.
    pub(crate) server_fields: Vec<usize>,
    /// Servers whose status string is one of these are left out.
    pub(crate) server_exclude_states: Vec<String>,
    /// The label that tells instances apart (`None`: no such label).
    pub(crate) instance_label: Option<String>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            server_fields: parse_server_fields(DEFAULT_SERVER_FIELDS).expect("default is valid"),
            server_exclude_states: Vec::new(),
            instance_label: None,
        }
    }
}

/// Parses `2,3,4,...` (the exporter's flag) or column names (`qcur,scur`).
pub(crate) fn parse_server_fields(s: &str) -> Result<Vec<usize>, String> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let pos = match part.parse::<usize>() {
            Ok(n) => SERVER.iter().find(|f| f.pos == n).map(|f| f.pos),
            Err(_) => SERVER.iter().find(|f| f.column == part).map(|f| f.pos),
        };
        match pos {
            Some(p) if !out.contains(&p) => out.push(p),
            Some(_) => {}
            None => {
                let known: Vec<String> = SERVER
                    .iter()
                    .filter(|f| f.code.is_none() || f.code == Some("1xx"))
                    .map(|f| format!("{}={}", f.pos, f.column))
                    .collect();
                return Err(format!(
                    "{part:?} is not a server metric field; the fields are {} (39-44 = hrsp_1xx..hrsp_other)",
                    known.join(", ")
                ));
            }
        }
    }
    Ok(out)
}

/// What one instance said, or why it said nothing.
#[derive(Debug)]
pub(crate) struct InstanceScrape {
    /// The value of the instance label (the `[[haproxy]]` name).
    pub(crate) name: String,
    pub(crate) stats: Result<Stats, crate::model::snapshot::SourceError>,
    /// Process counters that outlive a scrape.
    pub(crate) counters: std::sync::Arc<ScrapeCounters>,
}

/// One validated reply, with the cells the metrics read located once.
#[derive(Debug)]
pub(crate) struct Stats {
    pub(crate) stat: Stat,
    sel: Selection,
    /// `show info`, when the source was the Runtime API (the exporter, too,
    /// has version and idle time only for `unix:` and `tcp://` URIs).
    pub(crate) info: Option<Info>,
}

/// The columns a scrape reads, in [`Selection`] order: pxname, svname,
/// status, then one per distinct metric column.
fn columns() -> Vec<&'static str> {
    let mut cols = vec!["pxname", "svname", "status"];
    for fld in FRONTEND.iter().chain(&BACKEND).chain(&SERVER) {
        if !cols.contains(&fld.column) {
            cols.push(fld.column);
        }
    }
    cols
}

thread_local! {
    static COLUMNS: Vec<&'static str> = columns();
}

fn slot(column: &str) -> usize {
    COLUMNS.with(|c| c.iter().position(|x| *x == column).expect("known column"))
}

impl Stats {
    pub(crate) fn new(stat: Stat, info: Option<Info>) -> Stats {
        let sel = COLUMNS.with(|c| stat.select(c));
        Stats { stat, sel, info }
    }
}

/// `haproxy_exporter_scrapes_total` and `..._csv_parse_failures_total` of one instance.
#[derive(Debug, Default)]
pub(crate) struct ScrapeCounters {
    pub(crate) scrapes: AtomicU64,
    pub(crate) parse_failures: AtomicU64,
}

/// One scrape of every instance: a prometheus-client [`Collector`].
#[derive(Debug)]
pub(crate) struct Scrape {
    pub(crate) instances: Vec<InstanceScrape>,
    pub(crate) opts: Options,
}

/// The label set of one sample: the instance label (if any), the proxy,
/// the `code`, the server. Borrowed, so a sample costs no allocation.
struct Labels<'a> {
    inst: Option<(&'a str, &'a str)>,
    proxy: (&'static str, &'a str),
    code: Option<&'static str>,
    server: Option<&'a str>,
}

impl EncodeLabelSet for Labels<'_> {
    fn encode(&self, e: &mut LabelSetEncoder) -> Result<(), fmt::Error> {
        if let Some(l) = self.inst {
            l.encode(e.encode_label())?;
        }
        self.proxy.encode(e.encode_label())?;
        if let Some(c) = self.code {
            ("code", c).encode(e.encode_label())?;
        }
        if let Some(s) = self.server {
            ("server", s).encode(e.encode_label())?;
        }
        Ok(())
    }
}

/// The exporter's status mapping: 1 only for these exact strings.
pub(crate) fn status_up(s: &str) -> bool {
    matches!(s, "UP" | "UP 1/3" | "UP 2/3" | "OPEN" | "no check" | "DRAIN")
}

/// A family name as prometheus-client wants it: counters without `_total`
/// (the encoder adds it).
fn family_name(fld: &Field) -> &'static str {
    if fld.counter {
        fld.name.strip_suffix("_total").unwrap_or(fld.name)
    } else {
        fld.name
    }
}

impl Scrape {
    fn inst_label<'a>(&'a self, i: &'a InstanceScrape) -> Option<(&'a str, &'a str)> {
        self.opts.instance_label.as_deref().map(|l| (l, i.name.as_str()))
    }

    /// Writes one family: the samples of `fields` (all with the same name)
    /// over every row of type `kind` of every instance.
    fn family(&self, enc: &mut DescriptorEncoder, kind: RowType, fields: &[Field]) -> fmt::Result {
        let first = fields[0];
        let ty = if first.counter {
            MetricType::Counter
        } else {
            MetricType::Gauge
        };
        let mut m = enc.encode_descriptor(family_name(&first), first.help, None, ty)?;
        let (proxy_label, with_server) = match kind {
            RowType::Frontend => ("frontend", false),
            RowType::Backend => ("backend", false),
            _ => ("backend", true),
        };
        let slots: Vec<(Field, usize)> = fields.iter().map(|f| (*f, slot(f.column))).collect();
        let (px, sv, st) = (0, 1, 2);
        for inst in &self.instances {
            let Ok(stats) = &inst.stats else { continue };
            let (stat, sel) = (&stats.stat, &stats.sel);
            let mut failures = 0;
            for row in 0..sel.len() {
                if sel.row_type(row) != kind {
                    continue;
                }
                if with_server && !self.opts.server_exclude_states.is_empty() {
                    let status = sel.cell(stat, row, st);
                    if self.opts.server_exclude_states.iter().any(|x| x == status) {
                        continue;
                    }
                }
                for (fld, slot) in &slots {
                    let cell = sel.cell(stat, row, *slot);
                    if cell.is_empty() {
                        continue;
                    }
                    let labels = Labels {
                        inst: self.inst_label(inst),
                        proxy: (proxy_label, sel.cell(stat, row, px)),
                        code: fld.code,
                        server: with_server.then(|| sel.cell(stat, row, sv)),
                    };
                    let mut sample = m.encode_family(&labels)?;
                    match fld.conv {
                        Status => sample.encode_gauge(&i64::from(status_up(cell)))?,
                        Ms => match cell.parse::<f64>() {
                            Ok(v) => sample.encode_gauge(&(v / 1000.0))?,
                            Err(_) => failures += 1,
                        },
                        Int => match cell.parse::<i64>() {
                            Ok(v) if fld.counter && v >= 0 => {
                                sample.encode_counter::<NoLabelSet, u64, f64>(&(v as u64), None)?
                            }
                            Ok(v) if fld.counter => sample.encode_counter::<NoLabelSet, f64, f64>(&(v as f64), None)?,
                            Ok(v) => sample.encode_gauge(&v)?,
                            Err(_) => failures += 1,
                        },
                    }
                }
            }
            if failures > 0 {
                inst.counters.parse_failures.fetch_add(failures, Ordering::Relaxed);
            }
        }
        Ok(())
    }

    /// Writes a family with one sample per instance (or one without labels).
    fn per_instance<T>(
        &self,
        enc: &mut DescriptorEncoder,
        (name, help, ty): (&str, &str, MetricType),
        value: impl Fn(&InstanceScrape) -> Option<T>,
        extra: impl Fn(&InstanceScrape) -> Vec<(&'static str, String)>,
        write: impl Fn(&mut prometheus_client::encoding::MetricEncoder, &T) -> fmt::Result,
    ) -> fmt::Result {
        if !self.instances.iter().any(|i| value(i).is_some()) {
            return Ok(());
        }
        let mut m = enc.encode_descriptor(name, help, None, ty)?;
        for inst in &self.instances {
            let Some(v) = value(inst) else { continue };
            let mut labels: Vec<(&str, String)> = Vec::new();
            if let Some((k, n)) = self.inst_label(inst) {
                labels.push((k, n.to_string()));
            }
            labels.extend(extra(inst));
            if labels.is_empty() {
                // `name 1`, not `name{} 1`.
                write(&mut m, &v)?;
            } else {
                write(&mut m.encode_family(&labels)?, &v)?;
            }
        }
        Ok(())
    }
}

impl Collector for Scrape {
    fn encode(&self, mut enc: DescriptorEncoder) -> fmt::Result {
        for inst in &self.instances {
            inst.counters.scrapes.fetch_add(1, Ordering::Relaxed);
        }
        let gauge = |m: &mut prometheus_client::encoding::MetricEncoder, v: &i64| m.encode_gauge(v);
        let none = |_: &InstanceScrape| Vec::new();
        self.per_instance(
            &mut enc,
            (
                "haproxy_up",
                "Was the last scrape of HAProxy successful.",
                MetricType::Gauge,
            ),
            |i| Some(i64::from(i.stats.is_ok())),
            none,
            gauge,
        )?;
        let info = |i: &InstanceScrape| i.stats.as_ref().ok().and_then(|s| s.info.as_ref()).cloned();
        self.per_instance(
            &mut enc,
            ("haproxy_version_info", "HAProxy version info.", MetricType::Gauge),
            |i| info(i).map(|_| 1i64),
            |i| {
                let inf = info(i).unwrap_or_default();
                vec![
                    ("release_date", inf.release_date.unwrap_or_default()),
                    ("version", inf.version.unwrap_or_default()),
                ]
            },
            gauge,
        )?;
        self.per_instance(
            &mut enc,
            (
                "haproxy_process_idle_time_percent",
                "Time spent waiting for events instead of processing them.",
                MetricType::Gauge,
            ),
            |i| {
                info(i).and_then(|inf| {
                    inf.fields
                        .iter()
                        .find(|(k, _)| k == "Idle_pct")
                        .and_then(|(_, v)| v.parse::<i64>().ok())
                })
            },
            none,
            gauge,
        )?;
        for fields in FRONTEND.chunk_by(|a, b| a.name == b.name) {
            self.family(&mut enc, RowType::Frontend, fields)?;
        }
        for fields in BACKEND.chunk_by(|a, b| a.name == b.name) {
            self.family(&mut enc, RowType::Backend, fields)?;
        }
        let chosen: Vec<Field> = SERVER
            .iter()
            .filter(|f| self.opts.server_fields.contains(&f.pos))
            .copied()
            .collect();
        for fields in chosen.chunk_by(|a, b| a.name == b.name) {
            self.family(&mut enc, RowType::Server, fields)?;
        }
        // Last, so this scrape's failures are counted (as the exporter does).
        let counter = |m: &mut prometheus_client::encoding::MetricEncoder, v: &u64| {
            m.encode_counter::<NoLabelSet, u64, f64>(v, None)
        };
        self.per_instance(
            &mut enc,
            (
                "haproxy_exporter_scrapes",
                "Current total HAProxy scrapes.",
                MetricType::Counter,
            ),
            |i| Some(i.counters.scrapes.load(Ordering::Relaxed)),
            none,
            counter,
        )?;
        self.per_instance(
            &mut enc,
            (
                "haproxy_exporter_csv_parse_failures",
                "Number of errors while parsing CSV.",
                MetricType::Counter,
            ),
            |i| Some(i.counters.parse_failures.load(Ordering::Relaxed)),
            none,
            counter,
        )?;
        Ok(())
    }
}

#[cfg(test)]
#[path = "exporter_tests.rs"]
mod tests;
