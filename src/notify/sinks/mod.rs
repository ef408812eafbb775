//! The sink types, one folder each: its message, the service's verdict on
//! a reply, its limits and its tests. A type implements [`Service`] for its
//! `config::sink::<Type>` and has one line in [`sinks!`]; [`Sink`] delegates
//! every call to it.

pub(crate) mod alertmanager;
pub(crate) mod console;
pub mod dingtalk;
pub(crate) mod email;
pub(crate) mod exec;
pub mod feishu;
pub mod slack;
pub mod webhook;
pub mod wecom;

use serde_json::Value;
use sha2::Sha256;

use super::{Batch, Common, Delivery, DeliveryError, Limits, Service};
use crate::config;

/// Declares [`Sink`], one variant per type, and [`Sink::new`] from the
/// config's `SinkKind` of the same variant name.
macro_rules! sinks {
    ($($v:ident($t:ty),)*) => {
        /// A configured sink, ready to send.
        pub(crate) enum Sink {
            $($v($t),)*
        }

        impl Sink {
            pub(crate) fn new(cfg: &config::Sink, notify: &config::Notify, http: reqwest::Client) -> Sink {
                let common = Common {
                    renderer: cfg.renderer.clone(),
                    timeout: cfg.timeout,
                    host: notify.host.clone(),
                    http,
                };
                match &cfg.kind {
                    $(config::SinkKind::$v(c) => Sink::$v(<$t as Service>::new(c, common)),)*
                }
            }

            /// The service's limits: notices per message, messages per window.
            pub(crate) fn limits(&self) -> Limits {
                match self { $(Sink::$v(s) => s.limits(),)* }
            }

            /// Whether these notices fit in one message of this service.
            pub(crate) fn fits(&self, batch: Batch<'_>) -> bool {
                match self { $(Sink::$v(s) => s.fits(batch),)* }
            }

            pub(crate) async fn send(&self, d: &Delivery) -> Result<(), DeliveryError> {
                match self { $(Sink::$v(s) => s.send(d).await,)* }
            }
        }
    };
}

sinks! {
    Console(console::Console),
    Webhook(webhook::Webhook),
    Feishu(feishu::Feishu),
    Dingtalk(dingtalk::Dingtalk),
    Wecom(wecom::Wecom),
    Slack(slack::Slack),
    Email(email::Email),
    Exec(exec::Exec),
    Alertmanager(alertmanager::Alertmanager),
}

/// HMAC-SHA256 of `msg` keyed with `key`: what DingTalk's, Feishu's and the
/// webhook's signatures are made of (each encodes and arranges it its own way).
pub(crate) fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(msg);
    mac.finalize().into_bytes().into()
}

/// The code and message of a chat service's JSON reply (`{"code":0,"msg":..}`,
/// `{"errcode":0,"errmsg":..}`): the first of `codes` and of `msgs` present.
pub(crate) fn reply_code(text: &str, codes: &[&str], msgs: &[&str]) -> (Option<i64>, String) {
    let v: Option<Value> = serde_json::from_str(text).ok();
    let first = |keys: &[&str]| v.as_ref().and_then(|v| keys.iter().find_map(|k| v.get(*k)));
    let code = first(codes).and_then(Value::as_i64);
    let msg = first(msgs).and_then(Value::as_str).unwrap_or("").to_string();
    (code, msg)
}
