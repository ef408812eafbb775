//! `hawatch config show`: the effective configuration, defaults filled in,
//! every secret printed as `***` (URLs keep scheme and host).

use toml::{Table, Value};

use super::{Config, SinkKind, Source};

fn dur(d: std::time::Duration) -> Value {
    Value::String(humantime::format_duration(d).to_string())
}

fn s(v: impl Into<String>) -> Value {
    Value::String(v.into())
}

impl Config {
    pub fn to_redacted_toml(&self) -> String {
        let mut root = Table::new();
        let mut w = Table::new();
        w.insert("interval".into(), dur(self.watch.interval));
        w.insert("store".into(), s(self.watch.store.display().to_string()));
        w.insert("timeout".into(), dur(self.watch.timeout));
        w.insert("retention".into(), dur(self.watch.retention));
        root.insert("watch".into(), Value::Table(w));
        let instances = self.instances.iter().map(|i| {
            let mut t = Table::new();
            t.insert("name".into(), s(&i.name));
            match &i.source {
                Source::Socket(ep) => {
                    t.insert("socket".into(), s(ep.to_string()));
                }
                Source::Http { tls_verify, .. } => {
                    t.insert("stats_url".into(), s(i.source.describe()));
                    t.insert("tls_verify".into(), Value::Boolean(*tls_verify));
                }
            }
            t.insert("interval".into(), dur(i.interval));
            t.insert("timeout".into(), dur(i.timeout));
            if let Some(r) = &i.ring {
                t.insert("ring".into(), s(r));
            }
            Value::Table(t)
        });
        root.insert("haproxy".into(), Value::Array(instances.collect()));
        let mut n = Table::new();
        n.insert("timezone".into(), s(self.notify.zone.name()));
        n.insert("host".into(), s(&self.notify.host));
        root.insert("notify".into(), Value::Table(n));
        let sinks = self.sinks.iter().map(|k| {
            let mut t = Table::new();
            t.insert("name".into(), s(&k.name));
            t.insert("type".into(), s(k.kind.type_name()));
            match &k.kind {
                SinkKind::Console => {}
                SinkKind::Webhook { url, secret, headers } => {
                    t.insert("url".into(), s(super::redact_url(url.expose())));
                    if secret.is_some() {
                        t.insert("secret".into(), s("***"));
                    }
                    if !headers.is_empty() {
                        let h: Table = headers.iter().map(|(n, _)| (n.clone(), s("***"))).collect();
                        t.insert("headers".into(), Value::Table(h));
                    }
                }
                SinkKind::Feishu { url, secret, text } => {
                    t.insert("url".into(), s(super::redact_url(url.expose())));
                    if secret.is_some() {
                        t.insert("secret".into(), s("***"));
                    }
                    t.insert("format".into(), s(if *text { "text" } else { "card" }));
                }
                SinkKind::Dingtalk {
                    url,
                    secret,
                    at_mobiles,
                    at_all,
                } => {
                    t.insert("url".into(), s(super::redact_url(url.expose())));
                    if secret.is_some() {
                        t.insert("secret".into(), s("***"));
                    }
                    if !at_mobiles.is_empty() {
                        t.insert("at_mobiles".into(), Value::Array(at_mobiles.iter().map(s).collect()));
                    }
                    t.insert("at_all".into(), Value::Boolean(*at_all));
                }
                SinkKind::Wecom { url } | SinkKind::Slack { url } => {
                    t.insert("url".into(), s(super::redact_url(url.expose())));
                }
                SinkKind::Email {
                    host,
                    port,
                    tls,
                    ca_file,
                    username,
                    password,
                    from,
                    to,
                } => {
                    t.insert("smtp_host".into(), s(host));
                    t.insert("smtp_port".into(), Value::Integer(i64::from(*port)));
                    t.insert("tls".into(), s(tls.as_str()));
                    if let Some(c) = ca_file {
                        t.insert("ca_file".into(), s(c.display().to_string()));
                    }
                    if let Some(u) = username {
                        t.insert("username".into(), s(u));
                    }
                    if password.is_some() {
                        t.insert("password".into(), s("***"));
                    }
                    t.insert("from".into(), s(from));
                    t.insert("to".into(), Value::Array(to.iter().map(s).collect()));
                }
                SinkKind::Exec { command } => {
                    t.insert("command".into(), Value::Array(command.iter().map(s).collect()));
                }
                SinkKind::Alertmanager {
                    url,
                    labels,
                    resend_every,
                } => {
                    t.insert("url".into(), s(super::redact_url(url.expose())));
                    if !labels.is_empty() {
                        let l: Table = labels.iter().map(|(k, v)| (k.clone(), s(v))).collect();
                        t.insert("labels".into(), Value::Table(l));
                    }
                    t.insert("resend_every".into(), dur(*resend_every));
                }
            }
            let r = &k.plan.route;
            if let Some(kinds) = &r.kinds {
                t.insert(
                    "events".into(),
                    Value::Array(kinds.iter().map(|k| s(k.as_str())).collect()),
                );
            }
            if let Some(m) = r.min_severity {
                t.insert("min_severity".into(), s(m.as_str()));
            }
            let mut m = Table::new();
            for (name, g) in [
                ("instance", &r.instance),
                ("backend", &r.backend),
                ("server", &r.server),
            ] {
                if let Some(g) = g {
                    m.insert(name.into(), Value::Array(g.patterns.iter().map(s).collect()));
                }
            }
            if !m.is_empty() {
                t.insert("match".into(), Value::Table(m));
            }
            t.insert("lang".into(), s(k.renderer.lang.as_str()));
            if let Some(f) = &k.template_file {
                t.insert("template_file".into(), s(f.display().to_string()));
            }
            let p = &k.plan.policy;
            t.insert("notify_after".into(), dur(p.notify_after));
            t.insert("resolve_after".into(), dur(p.resolve_after));
            t.insert("flap_threshold".into(), Value::Integer(i64::from(p.flap_threshold)));
            t.insert("flap_window".into(), dur(p.flap_window));
            t.insert("flap_settle".into(), dur(p.flap_settle));
            t.insert("remind_every".into(), dur(p.remind_every));
            t.insert("remind_max".into(), Value::Integer(i64::from(p.remind_max)));
            if let Some(q) = k.plan.quiet {
                t.insert("quiet_hours".into(), s(q.to_string()));
            }
            t.insert("max_age".into(), dur(k.max_age));
            t.insert("retry_min".into(), dur(k.retry_min));
            t.insert("retry_max".into(), dur(k.retry_max));
            t.insert("timeout".into(), dur(k.timeout));
            Value::Table(t)
        });
        root.insert("sink".into(), Value::Array(sinks.collect()));
        let mut h = Table::new();
        h.insert(
            "listen".into(),
            s(self.http.listen.map(|a| a.to_string()).unwrap_or_default()),
        );
        if let Some((user, _)) = &self.http.auth {
            h.insert("username".into(), s(user));
            h.insert("password".into(), s("***"));
        }
        if !self.http.allow.is_empty() {
            let nets = self.http.allow.iter().map(|n| s(n.to_string())).collect();
            h.insert("allow".into(), Value::Array(nets));
        }
        if let Some((cert, key)) = &self.http.tls {
            h.insert("tls_cert".into(), s(cert.display().to_string()));
            h.insert("tls_key".into(), s(key.display().to_string()));
        }
        root.insert("http".into(), Value::Table(h));
        let mut m = Table::new();
        m.insert("instance_label".into(), s(&self.metrics.instance_label));
        m.insert(
            "label_single_instance".into(),
            Value::Boolean(self.metrics.label_single_instance),
        );
        let fields: Vec<String> = self
            .metrics
            .exporter
            .server_fields
            .iter()
            .map(|f| f.to_string())
            .collect();
        m.insert("server_metric_fields".into(), s(fields.join(",")));
        m.insert(
            "server_exclude_states".into(),
            Value::Array(self.metrics.exporter.server_exclude_states.iter().map(s).collect()),
        );
        root.insert("metrics".into(), Value::Table(m));
        if let Some(a) = &self.agent {
            use super::CheckKind;
            let mut t = Table::new();
            t.insert("name".into(), s(&a.name));
            t.insert(
                "listen".into(),
                Value::Array(a.listen.iter().map(|l| s(l.to_string())).collect()),
            );
            t.insert(
                "allow".into(),
                Value::Array(a.allow.iter().map(|n| s(n.to_string())).collect()),
            );
            t.insert("max_connections".into(), Value::Integer(a.max_connections as i64));
            t.insert("timeout".into(), dur(a.timeout));
            t.insert("send_wait".into(), dur(a.send_wait));
            t.insert("store".into(), s(a.store.display().to_string()));
            if let Some(m) = a.metrics_listen {
                t.insert("metrics_listen".into(), s(m.to_string()));
            }
            let checks = a.checks.iter().map(|c| {
                let mut x = Table::new();
                x.insert("name".into(), s(&c.name));
                x.insert("type".into(), s(c.kind.type_name()));
                x.insert("interval".into(), dur(c.interval));
                x.insert("timeout".into(), dur(c.timeout));
                if !c.services.is_empty() {
                    x.insert("service".into(), Value::Array(c.services.iter().map(s).collect()));
                }
                match &c.kind {
                    CheckKind::Http {
                        url,
                        expect_status,
                        expect_body,
                        expect_regex,
                        tls_verify,
                    } => {
                        x.insert("url".into(), s(super::redact_url(url)));
                        if let Some(st) = expect_status {
                            x.insert("expect_status".into(), Value::Integer(i64::from(*st)));
                        }
                        if let Some(b) = expect_body {
                            x.insert("expect_body".into(), s(b));
                        }
                        if let Some(r) = expect_regex {
                            x.insert("expect_regex".into(), s(r.as_str()));
                        }
                        x.insert("tls_verify".into(), Value::Boolean(*tls_verify));
                    }
                    CheckKind::Tcp { address } => {
                        x.insert("address".into(), s(address));
                    }
                    CheckKind::Exec { command, parse_stdout } => {
                        x.insert("command".into(), Value::Array(command.iter().map(s).collect()));
                        x.insert("parse_stdout".into(), Value::Boolean(*parse_stdout));
                    }
                    CheckKind::File { path, state } => {
                        x.insert("path".into(), s(path.display().to_string()));
                        x.insert("state".into(), s(state.as_str()));
                    }
                    CheckKind::Load {
                        metric,
                        low,
                        high,
                        floor,
                        ceiling,
                        proc,
                    } => {
                        x.insert("metric".into(), s(metric.as_str()));
                        x.insert("low".into(), Value::Float(*low));
                        x.insert("high".into(), Value::Float(*high));
                        x.insert("floor".into(), Value::Integer(i64::from(*floor)));
                        x.insert("ceiling".into(), Value::Integer(i64::from(*ceiling)));
                        x.insert("proc".into(), s(proc.display().to_string()));
                    }
                }
                Value::Table(x)
            });
            t.insert("check".into(), Value::Array(checks.collect()));
            root.insert("agent".into(), Value::Table(t));
        }
        let mut out = String::new();
        if let Some(p) = &self.path {
            out.push_str(&format!("# effective configuration from {}\n", p.display()));
        } else {
            out.push_str("# effective configuration from environment variables (no config file)\n");
        }
        out.push_str(&toml::to_string_pretty(&root).unwrap_or_default());
        out
    }
}
