//! Message templates (minijinja): a `title` block (card header, mail subject,
//! DingTalk title) and a `body` block, rendered from a list of notices.
//! Built-in templates exist in Chinese and English; a sink may bring its own
//! file. Every template is rendered against sample notices of every kind when
//! the config loads, so a broken one is a config error, not a 3 a.m. surprise.
//! The variables are listed in `docs/templates.md`.

use std::sync::Arc;

use minijinja::value::ValueKind;
use minijinja::{Environment, UndefinedBehavior, Value};
use serde::Serialize;

use super::route::Zone;
use crate::model::event::{Check, Event, Kind, Severity};
use crate::model::notice::{Notice, NoticeKind, ServerBrief};

pub(crate) const ZH: &str = include_str!("templates/zh.jinja");
pub(crate) const EN: &str = include_str!("templates/en.jinja");

/// `lang = "zh" | "en"` in the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Lang {
    #[default]
    #[serde(alias = "zh-CN", alias = "zh_CN")]
    Zh,
    #[serde(alias = "en-US", alias = "en_US")]
    En,
}

impl Lang {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }
}

/// The markup a sink speaks; the `b` (bold) filter and the escaping of
/// every value a template prints ([`escape`]) follow it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// Plain text (email, exec).
    Text,
    /// Feishu's `text` messages: plain, but an `<at user_id=…>` tag mentions.
    FeishuText,
    /// DingTalk / WeCom markdown, Feishu `lark_md`: `**bold**`.
    Markdown,
    /// Slack mrkdwn: `*bold*`, `&`, `<`, `>` escaped.
    Slack,
}

impl Format {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Format::Text | Format::FeishuText => "text",
            Format::Markdown => "markdown",
            Format::Slack => "slack",
        }
    }
}

/// A rendered message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rendered {
    pub(crate) title: String,
    pub(crate) body: String,
}

/// A compiled template for one sink.
#[derive(Clone)]
pub(crate) struct Renderer {
    env: Arc<Environment<'static>>,
    pub(crate) lang: Lang,
    pub(crate) format: Format,
    zone: Zone,
    host: Arc<str>,
}

impl std::fmt::Debug for Renderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Renderer({:?}, {:?})", self.lang, self.format)
    }
}

/// The short name and icon of an event kind.
pub(crate) fn label(kind: Kind, lang: Lang) -> &'static str {
    match lang {
        Lang::Zh => kind.info().zh,
        Lang::En => kind.info().en,
    }
}

fn notice_label(n: &Notice, lang: Lang) -> String {
    let zh = lang == Lang::Zh;
    match n.kind {
        NoticeKind::Event => label(n.event.kind, lang).to_string(),
        NoticeKind::Flapping => (if zh { "状态抖动" } else { "Flapping" }).into(),
        NoticeKind::Settled => (if zh { "抖动结束" } else { "Flapping ended" }).into(),
        NoticeKind::Reminder => (if zh { "仍未恢复" } else { "Still not resolved" }).into(),
        NoticeKind::Gone => (if zh { "告警关闭" } else { "Alert closed" }).into(),
        NoticeKind::Test => (if zh { "通知测试" } else { "Notification test" }).into(),
    }
}

fn notice_icon(n: &Notice) -> &'static str {
    match n.kind {
        NoticeKind::Event if n.resolves => "✅",
        NoticeKind::Event => n.event.kind.icon(),
        NoticeKind::Flapping => "🔁",
        NoticeKind::Settled if n.resolves => "✅",
        NoticeKind::Settled if n.event.kind == Kind::ServerDown => "❌",
        NoticeKind::Settled => "🟰",
        NoticeKind::Reminder => "⏰",
        NoticeKind::Gone => "➖",
        NoticeKind::Test => "🧪",
    }
}

/// `3分12秒` / `3m12s`; days and hours when long.
pub(crate) fn human_duration(ms: i64, lang: Lang) -> String {
    let s = (ms.max(0) + 500) / 1000;
    let (d, h, m, sec) = (s / 86400, s / 3600 % 24, s / 60 % 60, s % 60);
    let units: [(i64, &str, &str); 4] = [(d, "天", "d"), (h, "小时", "h"), (m, "分", "m"), (sec, "秒", "s")];
    let mut out = String::new();
    let first = units.iter().position(|u| u.0 > 0).unwrap_or(3);
    // Two units are enough: "2天3小时", "3分12秒".
    for (v, zh, en) in units.iter().skip(first).take(2) {
        if *v == 0 && !out.is_empty() {
            continue;
        }
        out.push_str(&v.to_string());
        out.push_str(if lang == Lang::Zh { zh } else { en });
    }
    out
}

#[derive(Serialize)]
struct ServerCtx<'a> {
    name: &'a str,
    status: Option<&'a str>,
}

#[derive(Serialize)]
struct FoldedCtx<'a> {
    server: Option<&'a str>,
    from: Option<&'a str>,
    to: Option<&'a str>,
    check: Option<String>,
    message: &'a str,
}

#[derive(Serialize)]
struct NoticeCtx<'a> {
    kind: &'static str,
    event: &'static str,
    label: String,
    icon: &'static str,
    severity: &'static str,
    resolves: bool,
    instance: &'a str,
    backend: Option<&'a str>,
    server: Option<&'a str>,
    subject: String,
    from: Option<&'a str>,
    to: Option<&'a str>,
    status: Option<&'a str>,
    check: Option<String>,
    agent: Option<String>,
    addr: Option<&'a str>,
    message: &'a str,
    note: Option<&'a str>,
    by_standby: bool,
    id: &'a str,
    time: String,
    time_rfc3339: String,
    since: Option<String>,
    duration: Option<String>,
    duration_secs: Option<i64>,
    count: Option<u32>,
    servers: Vec<ServerCtx<'a>>,
    folded: Vec<FoldedCtx<'a>>,
    /// The Prometheus alert of `alert_firing` / `alert_resolved` (else none).
    alert: Option<AlertCtx<'a>>,
}

#[derive(Serialize)]
struct AlertCtx<'a> {
    name: &'a str,
    summary: Option<&'a str>,
    description: Option<&'a str>,
    labels: &'a std::collections::BTreeMap<String, String>,
    annotations: &'a std::collections::BTreeMap<String, String>,
    /// `k=v` pairs of the labels other than alertname, for one line.
    label_text: String,
    starts_at: &'a str,
    ends_at: Option<&'a str>,
    generator_url: Option<&'a str>,
}

fn check_text(c: Option<&Check>) -> Option<String> {
    let c = c?;
    let mut s = c.short();
    if let Some(d) = c.duration_ms {
        s.push_str(&format!(" ({d}ms)"));
    }
    Some(s)
}

#[derive(Serialize)]
struct Ctx<'a> {
    notices: Vec<NoticeCtx<'a>>,
    count: usize,
    severity: &'static str,
    resolved: bool,
    icon: &'static str,
    instances: Vec<&'a str>,
    host: String,
    sink: &'a str,
    test: bool,
    lang: &'static str,
    format: &'static str,
    now: String,
}

const TIME_FMT: &str = "%Y-%m-%d %H:%M:%S";

impl Renderer {
    /// Compiles a template (the built-in one for `lang` when `custom` is
    /// `None`; else `(file name, source)`) and checks it against samples.
    pub(crate) fn new(
        lang: Lang,
        format: Format,
        zone: Zone,
        host: &str,
        custom: Option<(&str, String)>,
    ) -> Result<Renderer, String> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        // Every value a template prints is escaped for the sink's markup
        // (the formatter below), so no template, built-in or custom, can
        // forget it: HAProxy's, an agent's or Alertmanager's text never
        // becomes a link, a mention, emphasis or a new line. What a filter
        // built as markup (`b`, `esc`) is marked safe and printed as is;
        // `|safe` opts a value out, at the template author's risk.
        env.add_filter("b", move |v: Value| -> Value {
            let inner = printable(&v, format);
            Value::from_safe_string(match format {
                Format::Markdown => format!("**{inner}**"),
                Format::Slack => format!("*{inner}*"),
                Format::Text | Format::FeishuText => inner,
            })
        });
        // Kept for templates written before every value was escaped: it
        // escapes once (none prints as nothing) and marks the result safe.
        env.add_filter("esc", move |v: Value| -> Value {
            if v.is_none() || v.is_undefined() {
                return Value::from_safe_string(String::new());
            }
            Value::from_safe_string(printable(&v, format))
        });
        env.set_formatter(move |out, state, v| {
            if v.is_safe() || v.is_none() || v.is_undefined() || matches!(v.kind(), ValueKind::Bool | ValueKind::Number)
            {
                return minijinja::escape_formatter(out, state, v);
            }
            out.write_str(&escape(&v.to_string(), format))
                .map_err(|e| minijinja::Error::new(minijinja::ErrorKind::WriteFailure, e.to_string()))
        });
        let (name, source) = match custom {
            Some((n, s)) => (n.to_string(), s),
            None => (
                format!("(built-in {} template)", lang.as_str()),
                match lang {
                    Lang::Zh => ZH.to_string(),
                    Lang::En => EN.to_string(),
                },
            ),
        };
        // Messages are not HTML, whatever the template file is called.
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        env.add_template_owned(name.clone(), source)
            .map_err(|e| format!("{name}: {}", describe(&e)))?;
        let r = Renderer {
            env: Arc::new(env),
            lang,
            format,
            zone,
            host: host.into(),
        };
        r.check(&name)?;
        Ok(r)
    }

    /// The host name messages carry.
    pub(crate) fn host(&self) -> &str {
        &self.host
    }

    fn name(&self) -> &str {
        self.env.templates().next().map(|(n, _)| n).unwrap_or("")
    }

    /// Renders every sample, alone and together, so a template that fails
    /// for some kind of notice fails now.
    fn check(&self, name: &str) -> Result<(), String> {
        let all = samples();
        for n in &all {
            self.render(std::slice::from_ref(n), "check", n.kind == NoticeKind::Test)
                .map_err(|e| format!("{name}: {e}"))?;
        }
        self.render(&all, "check", false).map_err(|e| format!("{name}: {e}"))?;
        Ok(())
    }

    /// Renders a message for these notices.
    pub(crate) fn render(&self, notices: &[Notice], sink: &str, test: bool) -> Result<Rendered, String> {
        let ctx = self.context(notices, sink, test);
        let tmpl = self.env.get_template(self.name()).map_err(|e| describe(&e))?;
        let mut captured = tmpl.render_captured(&ctx).map_err(|e| describe(&e))?;
        let (title, body) = captured.with_state_mut(|state| {
            let title = state.render_block("title").map_err(|e| describe(&e))?;
            let body = state.render_block("body").map_err(|e| describe(&e))?;
            Ok::<_, String>((title, body))
        })?;
        Ok(Rendered {
            title: title.trim().replace('\n', " "),
            body: body.trim().to_string(),
        })
    }

    fn context<'a>(&self, notices: &'a [Notice], sink: &'a str, test: bool) -> Ctx<'a> {
        let lang = self.lang;
        let mut instances: Vec<&str> = notices.iter().map(|n| n.event.instance.as_str()).collect();
        instances.sort_unstable();
        instances.dedup();
        let worst = notices.iter().map(|n| n.severity).max().unwrap_or(Severity::Info);
        let resolved = !notices.is_empty() && notices.iter().all(|n| n.resolves);
        let list = notices
            .iter()
            .map(|n| {
                let e = &n.event;
                NoticeCtx {
                    kind: n.kind.as_str(),
                    event: e.kind.as_str(),
                    label: notice_label(n, lang),
                    icon: notice_icon(n),
                    severity: n.severity.as_str(),
                    resolves: n.resolves,
                    instance: &e.instance,
                    backend: e.backend.as_deref(),
                    server: e.server.as_deref(),
                    subject: match (&e.alert, &e.backend, &e.server) {
                        (Some(a), _, _) => a.name.clone(),
                        (None, Some(b), Some(s)) => format!("{b}/{s}"),
                        (None, Some(b), None) => b.clone(),
                        _ => e.instance.clone(),
                    },
                    from: e.from.as_deref(),
                    to: e.to.as_deref(),
                    status: e.status.as_deref(),
                    check: check_text(e.check.as_deref()),
                    agent: check_text(e.agent.as_deref()),
                    addr: e.addr.as_deref(),
                    message: &e.message,
                    note: n.note.as_deref(),
                    by_standby: n.by_standby,
                    id: &e.id,
                    time: self.zone.format(e.time, TIME_FMT),
                    time_rfc3339: crate::model::event::rfc3339::format(&e.time),
                    since: n.since.map(|t| self.zone.format(t, TIME_FMT)),
                    duration: n.duration_ms.map(|d| human_duration(d, lang)),
                    duration_secs: n.duration_ms.map(|d| d / 1000),
                    count: n.count,
                    alert: e.alert.as_ref().map(|a| AlertCtx {
                        name: &a.name,
                        summary: a.annotations.get("summary").map(String::as_str),
                        description: a.annotations.get("description").map(String::as_str),
                        labels: &a.labels,
                        annotations: &a.annotations,
                        label_text: a
                            .labels
                            .iter()
                            .filter(|(k, _)| *k != "alertname")
                            .map(|(k, v)| format!("{k}={v}"))
                            .collect::<Vec<_>>()
                            .join(", "),
                        starts_at: &a.starts_at,
                        ends_at: a.ends_at.as_deref(),
                        generator_url: a.generator_url.as_deref(),
                    }),
                    servers: n
                        .servers
                        .iter()
                        .map(|s: &ServerBrief| ServerCtx {
                            name: &s.name,
                            status: s.status.as_deref(),
                        })
                        .collect(),
                    folded: n
                        .folded
                        .iter()
                        .map(|f: &Event| FoldedCtx {
                            server: f.server.as_deref(),
                            from: f.from.as_deref(),
                            to: f.to.as_deref(),
                            check: check_text(f.check.as_deref()),
                            message: &f.message,
                        })
                        .collect(),
                }
            })
            .collect();
        let icon = if test {
            "🧪"
        } else if resolved {
            "✅"
        } else {
            match worst {
                Severity::Critical => "🚨",
                Severity::Warning => "⚠️",
                Severity::Info => "ℹ️",
            }
        };
        Ctx {
            notices: list,
            count: notices.len(),
            severity: worst.as_str(),
            resolved,
            icon,
            instances,
            host: self.host.to_string(),
            sink,
            test,
            lang: lang.as_str(),
            format: self.format.as_str(),
            now: self.zone.format(chrono::Utc::now(), TIME_FMT),
        }
    }
}

/// A value as the sink shows it: safe strings as they are, others escaped.
fn printable(v: &Value, format: Format) -> String {
    if v.is_safe() {
        v.to_string()
    } else {
        escape(&v.to_string(), format)
    }
}

/// Escapes outside text (HAProxy's, an agent's, Alertmanager's) for the
/// markup: nothing in it may render as a mention, a link, emphasis, a
/// heading or a new line. Control and bidi characters become visible
/// escapes in every format ([`crate::text::visible`]; a line break is `\n`).
/// Markdown's special characters become look-alikes rather than backslash
/// escapes, which DingTalk, WeCom and Feishu's `lark_md` do not all honour:
/// `[ ] ( )` → `［ ］ （ ）` (no `[label](target)` link), `< >` → `‹ ›`
/// (no `<at>`, `<font>`, `<@user>` tag), `*` → `∗`, `` ` `` → `ˋ`, `#` at
/// the start → `＃`, and `_` → `＿` where it could open or close emphasis
/// (not inside a word: `be_app` stays).
pub(crate) fn escape(s: &str, format: Format) -> String {
    let s = crate::text::visible(s);
    match format {
        Format::Text => s.into_owned(),
        Format::FeishuText => s.replace('<', "‹").replace('>', "›"),
        Format::Markdown => markdown(&s),
        Format::Slack => s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;"),
    }
}

fn markdown(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let word = |i: Option<usize>| i.and_then(|i| chars.get(i)).is_some_and(|c| c.is_alphanumeric());
    let mut out = String::with_capacity(s.len() + 8);
    for (i, &c) in chars.iter().enumerate() {
        out.push(match c {
            '[' => '［',
            ']' => '］',
            '(' => '（',
            ')' => '）',
            '<' => '‹',
            '>' => '›',
            '*' => '∗',
            '`' => 'ˋ',
            '#' if chars[..i].iter().all(|c| c.is_whitespace()) => '＃',
            '_' if !(word(i.checked_sub(1)) && word(Some(i + 1))) => '＿',
            c => c,
        });
    }
    out
}

fn describe(e: &minijinja::Error) -> String {
    let mut s = match e.line() {
        Some(l) => format!("line {l}: {}", e.kind()),
        None => e.kind().to_string(),
    };
    if let Some(d) = e.detail() {
        s.push_str(": ");
        s.push_str(d);
    }
    s
}

/// The notice `hawatch notify test` sends.
pub(crate) fn test_notice() -> Notice {
    samples()
        .into_iter()
        .find(|n| n.kind == NoticeKind::Test)
        .expect("samples include a test notice")
}

/// A notice of every kind, for checking templates and for `notify test`.
pub(crate) fn samples() -> Vec<Notice> {
    let now = chrono::Utc::now();
    let ev = |kind: Kind, sev: Severity, from: &str, to: &str| Event {
        id: "00000000-0000-7000-8000-000000000000".into(),
        time: now,
        instance: "haproxy".into(),
        kind,
        severity: sev,
        backend: Some("be_app".into()),
        server: Some("app1".into()),
        from: Some(from.into()),
        to: Some(to.into()),
        status: Some(to.into()),
        check: Some(Box::new(Check {
            status: "L4CON".into(),
            code: None,
            desc: Some("Layer4 connection problem".into()),
            info: Some("Connection refused".into()),
            duration_ms: Some(0),
        })),
        agent: None,
        addr: Some("127.0.0.1:8080".into()),
        alert: None,
        vrrp: None,
        message: format!("server be_app/app1 {from} → {to}"),
    };
    let down = Notice::of(ev(Kind::ServerDown, Severity::Critical, "UP", "DOWN"));
    let mut up = Notice::of(ev(Kind::ServerUp, Severity::Info, "DOWN", "UP"));
    up.resolves = true;
    up.severity = Severity::Critical;
    up.since = Some(now - chrono::Duration::seconds(192));
    up.duration_ms = Some(192_000);
    let mut backend = Notice::of(Event {
        server: None,
        ..ev(Kind::BackendDown, Severity::Critical, "UP", "DOWN")
    });
    backend.servers = vec![
        ServerBrief {
            name: "app1".into(),
            status: Some("DOWN".into()),
        },
        ServerBrief {
            name: "app2".into(),
            status: Some("MAINT".into()),
        },
    ];
    backend.folded = vec![down.event.clone()];
    let mut flapping = down.clone();
    flapping.kind = NoticeKind::Flapping;
    flapping.count = Some(6);
    flapping.since = Some(now);
    let mut settled = up.clone();
    settled.kind = NoticeKind::Settled;
    settled.count = Some(40);
    let mut reminder = down.clone();
    reminder.kind = NoticeKind::Reminder;
    reminder.count = Some(2);
    reminder.since = Some(now);
    reminder.duration_ms = Some(1_800_000);
    let mut gone = down.clone();
    gone.kind = NoticeKind::Gone;
    gone.resolves = true;
    gone.duration_ms = Some(60_000);
    gone.note = Some("be_app/app1 is no longer in HAProxy's configuration; its alert is closed".into());
    let mut test = Notice::of(Event {
        kind: Kind::CheckChanged,
        severity: Severity::Info,
        instance: "hawatch".into(),
        backend: None,
        server: None,
        from: None,
        to: None,
        status: None,
        check: None,
        addr: None,
        message: "hawatch notification test".into(),
        ..ev(Kind::CheckChanged, Severity::Info, "", "")
    });
    test.kind = NoticeKind::Test;
    let unreachable = Notice::of(Event {
        backend: None,
        server: None,
        check: None,
        from: None,
        to: None,
        status: None,
        message: "instance unreachable: connection refused".into(),
        ..ev(Kind::InstanceUnreachable, Severity::Critical, "", "")
    });
    let alert = |kind: Kind, to: &str| {
        let mut labels = std::collections::BTreeMap::new();
        labels.insert(
            "alertname".to_string(),
            "HaproxyHighHttp5xxErrorRateBackend".to_string(),
        );
        labels.insert("backend".to_string(), "be_app".to_string());
        labels.insert("severity".to_string(), "critical".to_string());
        let mut annotations = std::collections::BTreeMap::new();
        annotations.insert("summary".to_string(), "5xx > 5% on be_app".to_string());
        annotations.insert("description".to_string(), "12% of responses are 5xx".to_string());
        Notice::of(Event {
            server: None,
            check: None,
            from: None,
            to: Some(to.into()),
            status: None,
            addr: None,
            alert: Some(Box::new(crate::model::event::AlertInfo {
                name: "HaproxyHighHttp5xxErrorRateBackend".into(),
                labels,
                annotations,
                starts_at: crate::model::event::rfc3339::format(&now),
                ends_at: None,
                generator_url: Some("http://prometheus:9090/graph".into()),
                fingerprint: Some("0123456789abcdef".into()),
            })),
            vrrp: None,
            message: "5xx > 5% on be_app".into(),
            ..ev(kind, Severity::Critical, "", "")
        })
    };
    let firing = alert(Kind::AlertFiring, "firing");
    let resolved = alert(Kind::AlertResolved, "resolved");
    vec![
        down,
        up,
        backend,
        flapping,
        settled,
        reminder,
        gone,
        test,
        unreachable,
        firing,
        resolved,
    ]
}

/// Outside text that tries to be markup: a link with a hidden target, a new
/// line that fakes a line of the message, a heading, emphasis, code,
/// mentions for every service, and terminal control and bidi characters.
#[cfg(test)]
pub(crate) const HOSTILE: &str = "[click](http://evil.example) **bold** _it_ `code` <at id=all></at> <@all> \
                           <font color=\"red\">x</font>\nFAKE LINE\r\n# FAKE HEADING \u{1b}[2J\u{202e}";

/// [`samples`] with [`HOSTILE`] in every field that comes from outside: the
/// message, the check and agent text, the status, names, and the alert's
/// labels, annotations and times.
#[cfg(test)]
pub(crate) fn hostile_samples() -> Vec<Notice> {
    let h = || HOSTILE.to_string();
    let check = || Check {
        status: h(),
        code: None,
        desc: Some(h()),
        info: Some(h()),
        duration_ms: Some(1),
    };
    let mut out = samples();
    for n in &mut out {
        for e in std::iter::once(&mut n.event).chain(n.folded.iter_mut()) {
            e.message = h();
            e.instance = format!("lb1{HOSTILE}");
            e.server = e.server.as_ref().map(|s| format!("{s}{HOSTILE}"));
            e.from = e.from.as_ref().map(|_| h());
            e.to = e.to.as_ref().map(|_| h());
            e.status = Some(h());
            e.check = Some(Box::new(check()));
            e.agent = Some(Box::new(check()));
            if let Some(a) = &mut e.alert {
                a.name = format!("Evil{HOSTILE}");
                for v in a.labels.values_mut().chain(a.annotations.values_mut()) {
                    *v = h();
                }
                a.labels.insert("team".into(), h());
                a.starts_at = h();
                a.ends_at = Some(h());
            }
        }
        for s in &mut n.servers {
            s.status = Some(h());
        }
    }
    out
}

/// The markup a chat would render from `text` that came from [`HOSTILE`]:
/// none may be there. `what` names the payload in the failure message.
#[cfg(test)]
pub(crate) fn assert_no_hostile_markup(what: &str, text: &str) {
    for bad in [
        "](", "[click]", "<at", "<@", "<font", "**bold**", "_it_", "`code`", "\u{1b}", "\u{202e}",
    ] {
        assert!(!text.contains(bad), "{what} holds {bad:?}:\n{text}");
    }
    for line in text.lines() {
        let l = line.trim_start();
        assert!(
            !l.starts_with("FAKE LINE") && !l.starts_with("# FAKE"),
            "{what}: a line from outside text:\n{text}"
        );
    }
    // Still there to read, made harmless.
    assert!(
        text.contains("click") && text.contains("evil.example") && text.contains("\\x1b"),
        "{what}:\n{text}"
    );
}

#[cfg(test)]
#[path = "template_tests.rs"]
mod tests;
