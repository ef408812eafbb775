//! The Prometheus alert rules and the Grafana dashboard in `contrib/`.
//!
//! `promtool` (Debian package `prometheus`, installed by `scripts/deps.sh`) checks the
//! rules and runs their unit tests, and checks the dashboard's queries as PromQL. Every
//! metric name the rules and the dashboard use must be one that hawatch's `/metrics`
//! serves ([`KNOWN_METRICS`]): a misspelt name is not a syntax error, it is an alert
//! that never fires, so it fails here. And every alert must have a unit test where it
//! fires and one where it must not, since `promtool test rules` does not ask for either.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use testkit::tempdir;

const RULES: &str = "contrib/prometheus/haproxy-rules.yml";
const RULE_TESTS: &str = "contrib/prometheus/haproxy-rules.test.yml";
/// The pair's "nobody is alerting" rules (docs/keepalived.md).
const PAIR_RULES: &str = "contrib/prometheus/hawatch-pair.rules.yml";
const PAIR_RULE_TESTS: &str = "contrib/prometheus/hawatch-pair.rules.test.yml";
/// Each rules file and its promtool unit tests.
const RULE_FILES: [(&str, &str); 2] = [(RULES, RULE_TESTS), (PAIR_RULES, PAIR_RULE_TESTS)];
const DASHBOARD: &str = "contrib/grafana/hawatch-haproxy.json";

/// The series hawatch's `/metrics` serves: the Go haproxy_exporter's names, then
/// hawatch's own (a histogram as its `_bucket` / `_sum` / `_count` series).
const KNOWN_METRICS: &[&str] = &[
    "haproxy_up",
    "haproxy_version_info",
    "haproxy_exporter_scrapes_total",
    "haproxy_exporter_csv_parse_failures_total",
    "haproxy_exporter_build_info",
    // frontend
    "haproxy_frontend_current_sessions",
    "haproxy_frontend_max_sessions",
    "haproxy_frontend_limit_sessions",
    "haproxy_frontend_sessions_total",
    "haproxy_frontend_bytes_in_total",
    "haproxy_frontend_bytes_out_total",
    "haproxy_frontend_requests_denied_total",
    "haproxy_frontend_request_errors_total",
    "haproxy_frontend_current_session_rate",
    "haproxy_frontend_limit_session_rate",
    "haproxy_frontend_max_session_rate",
    "haproxy_frontend_http_responses_total",
    "haproxy_frontend_http_requests_total",
    "haproxy_frontend_compressor_bytes_in_total",
    "haproxy_frontend_compressor_bytes_out_total",
    "haproxy_frontend_compressor_bytes_bypassed_total",
    "haproxy_frontend_http_responses_compressed_total",
    "haproxy_frontend_connections_total",
    // backend
    "haproxy_backend_current_queue",
    "haproxy_backend_max_queue",
    "haproxy_backend_current_sessions",
    "haproxy_backend_max_sessions",
    "haproxy_backend_limit_sessions",
    "haproxy_backend_sessions_total",
    "haproxy_backend_bytes_in_total",
    "haproxy_backend_bytes_out_total",
    "haproxy_backend_connection_errors_total",
    "haproxy_backend_response_errors_total",
    "haproxy_backend_retry_warnings_total",
    "haproxy_backend_redispatch_warnings_total",
    "haproxy_backend_up",
    "haproxy_backend_weight",
    "haproxy_backend_current_server",
    "haproxy_backend_server_selected_total",
    "haproxy_backend_current_session_rate",
    "haproxy_backend_max_session_rate",
    "haproxy_backend_http_responses_total",
    "haproxy_backend_client_aborts_total",
    "haproxy_backend_server_aborts_total",
    "haproxy_backend_compressor_bytes_in_total",
    "haproxy_backend_compressor_bytes_out_total",
    "haproxy_backend_compressor_bytes_bypassed_total",
    "haproxy_backend_http_responses_compressed_total",
    "haproxy_backend_http_queue_time_average_seconds",
    "haproxy_backend_http_connect_time_average_seconds",
    "haproxy_backend_http_response_time_average_seconds",
    "haproxy_backend_http_total_time_average_seconds",
    // server
    "haproxy_server_current_queue",
    "haproxy_server_max_queue",
    "haproxy_server_current_sessions",
    "haproxy_server_max_sessions",
    "haproxy_server_limit_sessions",
    "haproxy_server_sessions_total",
    "haproxy_server_bytes_in_total",
    "haproxy_server_bytes_out_total",
    "haproxy_server_connection_errors_total",
    "haproxy_server_response_errors_total",
    "haproxy_server_retry_warnings_total",
    "haproxy_server_redispatch_warnings_total",
    "haproxy_server_up",
    "haproxy_server_weight",
    "haproxy_server_check_failures_total",
    "haproxy_server_downtime_seconds_total",
    "haproxy_server_server_selected_total",
    "haproxy_server_current_session_rate",
    "haproxy_server_max_session_rate",
    "haproxy_server_check_duration_seconds",
    "haproxy_server_http_responses_total",
    "haproxy_server_client_aborts_total",
    "haproxy_server_server_aborts_total",
    "haproxy_server_http_queue_time_average_seconds",
    "haproxy_server_http_connect_time_average_seconds",
    "haproxy_server_http_response_time_average_seconds",
    "haproxy_server_http_total_time_average_seconds",
    // hawatch's own
    "hawatch_build_info",
    "hawatch_events_total",
    "hawatch_polls_total",
    "hawatch_poll_errors_total",
    "hawatch_poll_duration_seconds_bucket",
    "hawatch_poll_duration_seconds_sum",
    "hawatch_poll_duration_seconds_count",
    "hawatch_instance_up",
    "hawatch_last_poll_timestamp_seconds",
    "hawatch_notifications_sent_total",
    "hawatch_notifications_failed_total",
    "hawatch_notifications_pending",
    "hawatch_notifications_dead",
    "hawatch_store_size_bytes",
    "hawatch_alertmanager_alerts_received_total",
    "hawatch_pair_alerting",
    // Prometheus' own, per scrape target.
    "up",
];

fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo_file(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
}

/// `promtool`: `HAWATCH_IT_PROMTOOL`, else the first on `PATH`, else
/// `/usr/bin/promtool`. Missing is a failure, not a skip: CI installs it.
fn promtool() -> PathBuf {
    let found = match std::env::var_os("HAWATCH_IT_PROMTOOL") {
        Some(p) => Some(PathBuf::from(p)),
        None => std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join("promtool"))
                .find(|p| p.is_file())
        }),
    };
    let bin = found.unwrap_or_else(|| PathBuf::from("/usr/bin/promtool"));
    assert!(
        bin.is_file(),
        "promtool not found (tried $HAWATCH_IT_PROMTOOL, PATH, then {}): run scripts/deps.sh, which installs the \
         Debian package `prometheus` that provides it (CI does)",
        bin.display()
    );
    bin
}

/// Runs `promtool args...` in the repository root and fails with its output unless it
/// succeeds; returns its stdout.
fn promtool_ok(args: &[&str]) -> String {
    let bin = promtool();
    let out = Command::new(&bin)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", bin.display()));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "`promtool {}` failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        args.join(" "),
        out.status
    );
    stdout
}

/// The `expr:` values of a rules file: inline (plain or quoted) or block scalars
/// (`expr: |`). Enough YAML for our own file, which `promtool check rules` parses for
/// real in [`promtool_checks_the_rules`].
fn rule_exprs(yaml: &str) -> Vec<String> {
    let lines: Vec<&str> = yaml.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let body = line.trim_start();
        i += 1;
        let Some(value) = body.strip_prefix("expr:") else {
            continue;
        };
        let value = value.trim();
        if matches!(value, "|" | "|-" | ">" | ">-") {
            let indent = line.len() - body.len();
            let mut block = Vec::new();
            while i < lines.len() {
                let next = lines[i];
                let next_indent = next.len() - next.trim_start().len();
                if !next.trim().is_empty() && next_indent <= indent {
                    break;
                }
                block.push(next.trim());
                i += 1;
            }
            out.push(block.join("\n"));
        } else {
            let unquoted = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(value);
            out.push(unquoted.to_string());
        }
    }
    out
}

/// PromQL keywords that read like identifiers, aggregations included (`sum without
/// (code) (...)` is no call of `sum`).
const KEYWORDS: &[&str] = &[
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "inf",
    "nan",
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
];
/// Keywords followed by a parenthesised list of *label* names.
const LABEL_LISTS: &[&str] = &["by", "without", "on", "ignoring", "group_left", "group_right"];

/// Index just past the bracket that closes the one at `open`, skipping string literals.
fn closing(chars: &[char], open: usize) -> usize {
    let o = chars[open];
    let c = match o {
        '(' => ')',
        '[' => ']',
        _ => '}',
    };
    let mut depth = 0;
    let mut i = open;
    while i < chars.len() {
        match chars[i] {
            '"' | '\'' | '`' => i = skip_string(chars, i) - 1,
            ch if ch == o => depth += 1,
            ch if ch == c => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    chars.len()
}

/// Index just past the string literal that starts at `start`.
fn skip_string(chars: &[char], start: usize) -> usize {
    let quote = chars[start];
    let mut i = start + 1;
    while i < chars.len() && chars[i] != quote {
        if chars[i] == '\\' && quote != '`' {
            i += 1;
        }
        i += 1;
    }
    i + 1
}

/// The metric names a PromQL expression selects: every identifier that is not a
/// function call, a keyword, a label name (in `{...}`, `by (...)` and the like) or
/// inside a string or a `[range]`. Grafana's `label_values(selector, label)` counts as
/// its selector.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    while i < chars.len() {
        let ch = chars[i];
        if ch == '"' || ch == '\'' || ch == '`' {
            i = skip_string(&chars, i);
        } else if ch == '{' || ch == '[' {
            i = closing(&chars, i);
        } else if ch == '#' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if ch.is_ascii_digit() || ch == '.' || ch == '$' {
            // numbers (1e3, 0.05) and Grafana variables outside strings
            i += 1;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == '.') {
                i += 1;
            }
        } else if ch.is_ascii_alphabetic() || ch == '_' || ch == ':' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':') {
                i += 1;
            }
            let ident: String = chars[start..i].iter().collect();
            let mut next = i;
            while next < chars.len() && chars[next].is_whitespace() {
                next += 1;
            }
            let call = next < chars.len() && chars[next] == '(';
            if call && ident == "label_values" {
                let end = closing(&chars, next);
                let args: String = chars[next + 1..end.saturating_sub(1).max(next + 1)].iter().collect();
                if let Some((selector, _label)) = args.rsplit_once(',') {
                    names.extend(metric_names(selector));
                }
                i = end;
            } else if call && LABEL_LISTS.contains(&ident.as_str()) {
                i = closing(&chars, next);
            } else if !call && !KEYWORDS.contains(&ident.to_ascii_lowercase().as_str()) {
                names.insert(ident);
            }
        } else {
            i += 1;
        }
    }
    names
}

/// The names of `exprs` that hawatch does not serve, each with the expression.
fn unknown_metrics(exprs: &[String]) -> Vec<String> {
    let known: BTreeSet<&str> = KNOWN_METRICS.iter().copied().collect();
    let mut unknown = Vec::new();
    for expr in exprs {
        for name in metric_names(expr) {
            if !known.contains(name.as_str()) {
                unknown.push(format!("{name} (in `{}`)", expr.replace('\n', " ")));
            }
        }
    }
    unknown
}

fn all_names(exprs: &[String]) -> BTreeSet<String> {
    exprs.iter().flat_map(|e| metric_names(e)).collect()
}

#[test]
fn metric_names_skips_labels_functions_strings_and_ranges() {
    let expr = r#"sum without (code) (rate(haproxy_backend_http_responses_total{code="5xx",haproxy_instance=~"$haproxy_instance"}[$__rate_interval]))
        / (sum by (backend, haproxy_instance) (rate(haproxy_backend_http_responses_total[5m])) > 0.1)
        unless ignoring (server) haproxy_backend_up == 0 and on () vector(1e3) > bool 1
        or count without (server) (haproxy_server_up)
        or histogram_quantile(0.99, sum by (le) (rate(hawatch_poll_duration_seconds_bucket[5m])))
        or (time() - hawatch_last_poll_timestamp_seconds offset 5m)"#;
    let names: Vec<String> = metric_names(expr).into_iter().collect();
    assert_eq!(
        names,
        [
            "haproxy_backend_http_responses_total",
            "haproxy_backend_up",
            "haproxy_server_up",
            "hawatch_last_poll_timestamp_seconds",
            "hawatch_poll_duration_seconds_bucket"
        ]
    );
    let names: Vec<String> =
        metric_names(r#"label_values(haproxy_backend_up{instance=~"$instance"}, haproxy_instance)"#)
            .into_iter()
            .collect();
    assert_eq!(names, ["haproxy_backend_up"]);
    assert!(metric_names("label_values(haproxy_instance)").is_empty());

    // A typo, and a name from HAProxy's built-in exporter, are reported.
    let bad = unknown_metrics(&[
        "haproxy_backend_upp == 0".to_string(),
        "haproxy_backend_active_servers == 0".to_string(),
        "hawatch_notifications_dead > 0".to_string(),
    ]);
    assert_eq!(bad.len(), 2, "{bad:?}");
    assert!(bad[0].starts_with("haproxy_backend_upp ") && bad[1].starts_with("haproxy_backend_active_servers "));
}

#[test]
fn rule_exprs_reads_inline_and_block_values() {
    let yaml = "rules:\n  - alert: A\n    expr: up == 0\n    for: 1m\n  - alert: B\n    expr: |\n      sum(x)\n        / y\n    labels: {}\n  - record: c\n    expr: \"z > 1\"\n";
    assert_eq!(rule_exprs(yaml), ["up == 0", "sum(x)\n/ y", "z > 1"]);
}

#[test]
fn promtool_checks_the_rules() {
    for (rules, _) in RULE_FILES {
        let out = promtool_ok(&["check", "rules", rules]);
        assert!(out.contains("SUCCESS"), "{rules}: {out}");
    }
}

#[test]
fn promtool_rule_unit_tests_pass() {
    for (_, tests) in RULE_FILES {
        let out = promtool_ok(&["test", "rules", tests]);
        assert!(out.contains("SUCCESS"), "{tests}: {out}");
    }
}

#[test]
fn pair_rules_use_only_metrics_hawatch_serves() {
    let exprs = rule_exprs(&read(PAIR_RULES));
    assert_eq!(exprs.len(), 2, "{exprs:?}");
    let unknown = unknown_metrics(&exprs);
    assert!(unknown.is_empty(), "{PAIR_RULES}: {unknown:?}");
    assert!(all_names(&exprs).contains("hawatch_pair_alerting"));
}

#[test]
fn rules_use_only_metrics_hawatch_serves() {
    let exprs = rule_exprs(&read(RULES));
    assert!(exprs.len() >= 20, "found only {} expr: in {RULES}", exprs.len());
    let unknown = unknown_metrics(&exprs);
    assert!(
        unknown.is_empty(),
        "{RULES} uses metrics hawatch does not serve:\n{}",
        unknown.join("\n")
    );
    let names = all_names(&exprs);
    for expected in [
        "haproxy_up",
        "haproxy_server_check_failures_total",
        "hawatch_notifications_dead",
    ] {
        assert!(names.contains(expected), "{expected} not found in {names:?}");
    }
}

/// One `- alert:` block of the rules file: its severity and whether it has a summary
/// and a description.
fn alerts(yaml: &str) -> BTreeMap<String, (String, bool, bool)> {
    let mut out: BTreeMap<String, (String, bool, bool)> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in yaml.lines() {
        let body = line.trim();
        if let Some(name) = body.strip_prefix("- alert:") {
            let name = name.trim().to_string();
            assert!(!out.contains_key(&name), "alert {name} is defined twice in {RULES}");
            out.insert(name.clone(), (String::new(), false, false));
            current = Some(name);
        } else if body.starts_with("- record:") || body.starts_with("- name:") {
            current = None;
        } else if let Some(entry) = current.as_ref().and_then(|c| out.get_mut(c)) {
            if let Some(sev) = body.strip_prefix("severity:") {
                entry.0 = sev.trim().to_string();
            } else if body.starts_with("summary:") {
                entry.1 = true;
            } else if body.starts_with("description:") {
                entry.2 = true;
            }
        }
    }
    out
}

#[test]
fn every_alert_has_severity_text_and_a_firing_and_a_quiet_test() {
    assert!(alerts(&read(RULES)).len() >= 20, "found only a few alerts in {RULES}");
    for (rules, tests) in RULE_FILES {
        alerts_have_text_and_cases(rules, tests);
    }
}

fn alerts_have_text_and_cases(rules: &str, tests: &str) {
    let alerts = alerts(&read(rules));
    for (name, (severity, summary, description)) in &alerts {
        assert!(
            severity == "critical" || severity == "warning",
            "{rules}: {name}: severity {severity:?}, want critical or warning"
        );
        assert!(
            *summary && *description,
            "{name}: needs a summary and a description annotation"
        );
    }

    // In the test file: `alertname: X` followed by `exp_alerts: []` (must not fire) or
    // by `exp_alerts:` and a list of `- exp_labels:` (must fire).
    let text = read(tests);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let mut fires = BTreeSet::new();
    let mut quiet = BTreeSet::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(name) = line.strip_prefix("alertname:") else {
            continue;
        };
        let name = name.trim().to_string();
        assert!(
            alerts.contains_key(&name),
            "{tests} tests {name}, which {rules} does not define"
        );
        match (lines.get(i + 1), lines.get(i + 2)) {
            (Some(&"exp_alerts: []"), _) => quiet.insert(name),
            (Some(&"exp_alerts:"), Some(next)) if next.starts_with("- exp_labels:") => fires.insert(name),
            other => {
                panic!("{tests}: after `alertname: {name}` expected `exp_alerts: []` or a list, got {other:?}")
            }
        };
    }
    let missing_fire: Vec<&String> = alerts.keys().filter(|a| !fires.contains(*a)).collect();
    let missing_quiet: Vec<&String> = alerts.keys().filter(|a| !quiet.contains(*a)).collect();
    assert!(
        missing_fire.is_empty(),
        "{rules}: alerts without a case where they fire: {missing_fire:?}"
    );
    assert!(
        missing_quiet.is_empty(),
        "{rules}: alerts without a case where they must not fire: {missing_quiet:?}"
    );
}

/// Every panel, rows' nested panels included.
fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    let mut stack: Vec<&Value> = dashboard["panels"].as_array().into_iter().flatten().collect();
    while let Some(p) = stack.pop() {
        out.push(p);
        stack.extend(p["panels"].as_array().into_iter().flatten());
    }
    out
}

fn dashboard() -> Value {
    serde_json::from_str(&read(DASHBOARD)).unwrap_or_else(|e| panic!("{DASHBOARD} is not JSON: {e}"))
}

/// The PromQL of the panels' targets and the query variables.
fn dashboard_exprs(d: &Value) -> Vec<String> {
    let mut exprs: Vec<String> = panels(d)
        .iter()
        .flat_map(|p| p["targets"].as_array().into_iter().flatten())
        .filter_map(|t| t["expr"].as_str().map(str::to_string))
        .collect();
    for var in d["templating"]["list"].as_array().into_iter().flatten() {
        if var["type"] == "query" {
            let q = var["query"]["query"]
                .as_str()
                .or(var["query"].as_str())
                .expect("query variable without query");
            exprs.push(q.to_string());
        }
    }
    exprs
}

#[test]
fn dashboard_parses_and_uses_only_metrics_hawatch_serves() {
    let d = dashboard();
    assert!(
        d["schemaVersion"].as_u64().unwrap_or(0) >= 39,
        "schemaVersion: {}",
        d["schemaVersion"]
    );
    let exprs = dashboard_exprs(&d);
    assert!(exprs.len() >= 25, "found only {} queries in {DASHBOARD}", exprs.len());
    let unknown = unknown_metrics(&exprs);
    assert!(
        unknown.is_empty(),
        "{DASHBOARD} uses metrics hawatch does not serve:\n{}",
        unknown.join("\n")
    );
    let names = all_names(&exprs);
    for expected in [
        "haproxy_up",
        "haproxy_backend_http_responses_total",
        "hawatch_events_total",
        "hawatch_poll_duration_seconds_bucket",
        "hawatch_store_size_bytes",
    ] {
        assert!(names.contains(expected), "{expected} not found in {names:?}");
    }

    // Variables: the data source, and instance / haproxy_instance / backend with an
    // "All" of `.*`, which also matches series that lack the label.
    let vars = d["templating"]["list"].as_array().expect("templating.list");
    let var = |name: &str| {
        vars.iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("no variable {name}"))
    };
    assert_eq!(var("DS_PROMETHEUS")["type"], "datasource");
    assert_eq!(var("DS_PROMETHEUS")["query"], "prometheus");
    for name in ["instance", "haproxy_instance", "backend"] {
        assert_eq!(var(name)["includeAll"], true, "{name}");
        assert_eq!(var(name)["allValue"], ".*", "{name}");
    }

    // Every query goes to ${DS_PROMETHEUS}; panel ids are unique.
    let mut ids = BTreeSet::new();
    for p in panels(&d) {
        let id = p["id"].as_u64().expect("panel id");
        assert!(ids.insert(id), "panel id {id} used twice");
        if p["type"] == "row" {
            continue;
        }
        assert_eq!(p["datasource"]["uid"], "${DS_PROMETHEUS}", "panel {}", p["title"]);
        for t in p["targets"].as_array().into_iter().flatten() {
            assert_eq!(t["datasource"]["uid"], "${DS_PROMETHEUS}", "panel {}", p["title"]);
        }
    }
}

#[test]
fn dashboard_queries_are_valid_promql() {
    // promtool has no offline "parse this query"; a rules file of recording rules,
    // one per panel query, is checked the same way.
    let d = dashboard();
    let mut yaml = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, expr) in dashboard_exprs(&d)
        .iter()
        .filter(|e| !e.starts_with("label_values("))
        .enumerate()
    {
        let expr = expr.replace("$__rate_interval", "5m");
        yaml.push_str(&format!(
            "      - record: dashboard_query_{i}\n        expr: {}\n",
            Value::from(expr)
        ));
    }
    let dir = tempdir();
    let file = dir.path().join("dashboard-queries.yml");
    std::fs::write(&file, &yaml).unwrap();
    promtool_ok(&["check", "rules", file.to_str().unwrap()]);
}
