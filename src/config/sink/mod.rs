//! `[[sink]]`: where notifications go. What every sink takes (name, route,
//! noise policy, template, retries) is checked here; what one type takes is
//! in its own file, which implements [`SinkConfig`] and has one line in
//! [`sink_types!`]. The sink itself (messages, the service's verdict,
//! limits) is in `notify::sinks::<type>`.

mod alertmanager;
mod console;
mod dingtalk;
mod email;
mod exec;
mod feishu;
mod file;
mod slack;
mod webhook;
mod wecom;

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize, Serializer};

pub(crate) use alertmanager::Alertmanager;
pub(crate) use console::Console;
pub(crate) use dingtalk::Dingtalk;
pub(crate) use email::{Email, SmtpTls};
pub(crate) use exec::Exec;
pub(crate) use feishu::{Feishu, FeishuFormat};
pub(crate) use file::FileSink;
pub(crate) use slack::Slack;
pub(crate) use webhook::Webhook;
pub(crate) use wecom::Wecom;

use super::notify::{self, merge_policy, validate_policy, validate_route, FilePolicy, Notify, DEFAULT_MAX_AGE};
use super::problems::{check_http_url, secret_or_file, valid_name, Problems};
use super::secret::Secret;
use super::value;
use crate::logic::plan::SinkPlan;
use crate::logic::route::Route;
use crate::logic::template::{Format, Lang, Renderer};

/// What one sink type's config is: its own keys, how its messages are
/// marked up, and its check.
pub(super) trait SinkConfig: Sized {
    /// The keys only this type (and maybe others) takes, from
    /// [`FileSink::typed_keys`]; `template_file` for the types that render.
    const KEYS: &'static [&'static str];
    /// Read by machines (webhook, console): flapping is not summarised
    /// unless `flap_threshold` is set.
    const MACHINE: bool = false;
    /// The markup its built-in template renders.
    fn markup(_f: &FileSink) -> Format {
        Format::Text
    }
    /// Its own keys, checked; `None` when a problem was reported.
    fn validate(f: &FileSink, c: &mut Ctx) -> Option<Self>;
    /// Narrows the route every sink has (an Alertmanager sink takes no
    /// alerts from an Alertmanager).
    fn route(_route: &mut Route, _c: &mut Ctx) {}
}

/// Declares the sink types: `Variant(module::Type) = "type name"`. One line
/// per type makes the `type` value, the validated [`SinkKind`] and the
/// dispatch to the type's [`SinkConfig`].
macro_rules! sink_types {
    ($($v:ident($m:ident::$t:ident) = $name:literal,)*) => {
        /// `type = "..."` of a `[[sink]]`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
        pub(crate) enum SinkType {
            $(#[serde(rename = $name)] $v,)*
        }

        impl SinkType {
            pub(crate) fn as_str(self) -> &'static str {
                match self { $(SinkType::$v => $name,)* }
            }
            fn keys(self) -> &'static [&'static str] {
                match self { $(SinkType::$v => <$m::$t as SinkConfig>::KEYS,)* }
            }
            fn machine(self) -> bool {
                match self { $(SinkType::$v => <$m::$t as SinkConfig>::MACHINE,)* }
            }
            fn markup(self, f: &FileSink) -> Format {
                match self { $(SinkType::$v => <$m::$t as SinkConfig>::markup(f),)* }
            }
            fn route(self, r: &mut Route, c: &mut Ctx) {
                match self { $(SinkType::$v => <$m::$t as SinkConfig>::route(r, c),)* }
            }
            fn validate(self, f: &FileSink, c: &mut Ctx) -> Option<SinkKind> {
                match self { $(SinkType::$v => <$m::$t as SinkConfig>::validate(f, c).map(SinkKind::$v),)* }
            }
        }

        /// A sink's type and its own settings, validated.
        #[derive(Debug, Clone, Serialize)]
        #[serde(tag = "type")]
        pub(crate) enum SinkKind {
            $(#[serde(rename = $name)] $v($m::$t),)*
        }

        impl SinkKind {
            pub(crate) fn type_name(&self) -> &'static str {
                match self { $(SinkKind::$v(_) => $name,)* }
            }
        }
    };
}

sink_types! {
    Console(console::Console) = "console",
    Webhook(webhook::Webhook) = "webhook",
    Feishu(feishu::Feishu) = "feishu",
    Dingtalk(dingtalk::Dingtalk) = "dingtalk",
    Wecom(wecom::Wecom) = "wecom",
    Slack(slack::Slack) = "slack",
    Email(email::Email) = "email",
    Exec(exec::Exec) = "exec",
    Alertmanager(alertmanager::Alertmanager) = "alertmanager",
}

/// One `[[sink]]`, validated.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Sink {
    pub(crate) name: String,
    #[serde(flatten)]
    pub(crate) kind: SinkKind,
    #[serde(serialize_with = "value::dur")]
    pub(crate) timeout: Duration,
    /// Route, policy and quiet hours.
    #[serde(flatten, serialize_with = "notify::show_plan")]
    pub(crate) plan: SinkPlan,
    #[serde(rename = "lang", serialize_with = "lang")]
    pub(crate) renderer: Renderer,
    /// The template file, when not the built-in one.
    pub(crate) template_file: Option<PathBuf>,
    /// Undelivered messages older than this go to the dead-letter table.
    #[serde(serialize_with = "value::dur")]
    pub(crate) max_age: Duration,
    #[serde(serialize_with = "value::dur")]
    pub(crate) retry_min: Duration,
    #[serde(serialize_with = "value::dur")]
    pub(crate) retry_max: Duration,
}

fn lang<S: Serializer>(r: &Renderer, s: S) -> Result<S::Ok, S::Error> {
    r.lang.serialize(s)
}

impl Sink {
    /// The sink of a file without `[[sink]]`: the console, with the
    /// built-in defaults (`[notify]` is not applied to it).
    pub(super) fn default_console(notify: &Notify) -> Result<Sink, String> {
        let renderer = Renderer::new(Lang::Zh, Format::Text, notify.zone, &notify.host, None)?;
        let mut plan = SinkPlan::plain("console");
        plan.policy.flap_threshold = 0;
        Ok(Sink {
            name: "console".into(),
            kind: SinkKind::Console(Console),
            timeout: Duration::from_secs(10),
            plan,
            renderer,
            template_file: None,
            max_age: DEFAULT_MAX_AGE,
            retry_min: Duration::from_secs(1),
            retry_max: Duration::from_secs(60),
        })
    }
}

/// What a type's check works with: its problems, its key names, and the
/// secrets of the sink, read (inline or from their `_file`).
pub(super) struct Ctx<'p, 'a> {
    pub(crate) p: &'p mut Problems<'a>,
    i: usize,
    ty: SinkType,
    pub(crate) url: Option<Secret>,
    pub(crate) secret: Option<Secret>,
    pub(crate) password: Option<Secret>,
}

impl Ctx<'_, '_> {
    /// `sink[i].key`.
    pub(crate) fn key(&self, k: &str) -> String {
        format!("sink[{}].{k}", self.i)
    }

    pub(crate) fn at(&mut self, k: &str, msg: impl std::fmt::Display) {
        let key = self.key(k);
        self.p.at(&key, msg);
    }

    /// The sink's `url` (or `url_file`), which its type requires.
    pub(crate) fn need_url(&mut self) -> Option<Secret> {
        match self.url.clone() {
            Some(u) => match check_http_url(u.expose()) {
                Ok(()) => Some(u),
                Err(e) => {
                    self.at("url", e);
                    None
                }
            },
            None => {
                let ty = self.ty.as_str();
                self.at("url", format!("missing: a {ty} sink needs `url` (or `url_file`)"));
                None
            }
        }
    }
}

/// The i-th sink; `None` when it has a problem (reported).
pub(super) fn validate(
    f: FileSink,
    defaults: &FilePolicy,
    notify: &Notify,
    p: &mut Problems,
    i: usize,
) -> Option<Sink> {
    let key = |k: &str| format!("sink[{i}].{k}");
    let before = p.count();
    let ty = f.kind;
    if !valid_name(&f.name) {
        p.at(
            &key("name"),
            format!("{:?} is not a valid name: use letters, digits, '.', '_' or '-'", f.name),
        );
    }
    for (k, written) in f.typed_keys() {
        if written && !ty.keys().contains(&k) {
            p.at(&key(k), format!("not used by a {} sink", ty.as_str()));
        }
    }
    let policy = merge_policy(f.policy(), defaults);
    let mut c = Ctx {
        url: secret_or_file(f.url.clone(), f.url_file.clone(), p, &key("url")),
        secret: secret_or_file(f.secret.clone(), f.secret_file.clone(), p, &key("secret")),
        password: secret_or_file(f.password.clone(), f.password_file.clone(), p, &key("password")),
        p,
        i,
        ty,
    };
    let timeout = value::or(f.timeout, Duration::from_secs(10));
    let kind = ty.validate(&f, &mut c);
    let mut route = validate_route(f.events.as_deref(), f.min_severity, f.match_.as_ref(), c.p, &key);
    ty.route(&mut route, &mut c);
    let p = c.p;
    let (mut pol, quiet, max_age) = validate_policy(&policy, notify, p, &key);
    if policy.flap_threshold.is_none() && ty.machine() {
        pol.flap_threshold = 0;
    }
    let custom = f
        .template_file
        .as_ref()
        .and_then(|path| match std::fs::read_to_string(path) {
            Ok(src) => Some((path.clone(), src)),
            Err(e) => {
                p.at(&key("template_file"), format!("cannot read {path}: {e}"));
                None
            }
        });
    let renderer = Renderer::new(
        policy.lang.unwrap_or_default(),
        ty.markup(&f),
        notify.zone,
        &notify.host,
        custom.as_ref().map(|(p, s)| (p.as_str(), s.clone())),
    )
    .map_err(|e| p.at(&key("template_file"), format!("template error: {e}")))
    .ok();
    let retry_min = value::or(f.retry_min, Duration::from_secs(1));
    let retry_max = value::or(f.retry_max, Duration::from_secs(60));
    if retry_min.is_zero() || retry_max < retry_min {
        p.at(
            &key("retry_max"),
            "`retry_min` must be more than 0 and at most `retry_max`",
        );
    }
    let kind = kind.filter(|_| p.count() == before)?;
    Some(Sink {
        plan: SinkPlan {
            name: f.name.clone(),
            route,
            policy: pol,
            quiet,
            telling: crate::logic::plan::Telling::Tell,
            gated: None,
        },
        name: f.name,
        kind,
        timeout,
        renderer: renderer?,
        template_file: f.template_file.map(PathBuf::from),
        max_age,
        retry_min,
        retry_max,
    })
}
