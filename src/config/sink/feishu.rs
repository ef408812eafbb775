//! `type = "feishu"` (and Lark): a custom bot's webhook `url`, its
//! signature `secret`, and `format` (an interactive card, or plain text).

use serde::{Deserialize, Serialize};

use super::{Ctx, FileSink, SinkConfig};
use crate::config::secret::{shown_url, Secret};
use crate::logic::template::Format;

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Feishu {
    #[serde(serialize_with = "shown_url")]
    pub(crate) url: Secret,
    pub(crate) secret: Option<Secret>,
    pub(crate) format: FeishuFormat,
}

/// `format = "card" | "text"`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum FeishuFormat {
    /// An interactive card (`lark_md`).
    #[default]
    Card,
    /// A plain `text` message, for keyword-protected bots that want one.
    Text,
}

impl SinkConfig for Feishu {
    const KEYS: &'static [&'static str] = &["url", "secret", "format", "template_file"];

    fn markup(f: &FileSink) -> Format {
        match f.format.unwrap_or_default() {
            FeishuFormat::Card => Format::Markdown,
            FeishuFormat::Text => Format::FeishuText,
        }
    }

    fn validate(f: &FileSink, c: &mut Ctx) -> Option<Feishu> {
        Some(Feishu {
            url: c.need_url()?,
            secret: c.secret.clone(),
            format: f.format.unwrap_or_default(),
        })
    }
}
