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
                SinkKind::Feishu { url, secret } => {
                    t.insert("url".into(), s(super::redact_url(url.expose())));
                    if secret.is_some() {
                        t.insert("secret".into(), s("***"));
                    }
                }
            }
            t.insert("timeout".into(), dur(k.timeout));
            Value::Table(t)
        });
        root.insert("sink".into(), Value::Array(sinks.collect()));
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
