//! `type = "dingtalk"` (钉钉自定义机器人): the robot's `url`, its 加签
//! `secret`, and who is @-mentioned on problems.

use serde::Serialize;

use super::{Ctx, FileSink, SinkConfig};
use crate::config::secret::{shown_url, Secret};
use crate::logic::template::Format;

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Dingtalk {
    #[serde(serialize_with = "shown_url")]
    pub(crate) url: Secret,
    pub(crate) secret: Option<Secret>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) at_mobiles: Vec<String>,
    pub(crate) at_all: bool,
}

impl SinkConfig for Dingtalk {
    const KEYS: &'static [&'static str] = &["url", "secret", "at_mobiles", "at_all", "template_file"];

    fn markup(_f: &FileSink) -> Format {
        Format::Markdown
    }

    fn validate(f: &FileSink, c: &mut Ctx) -> Option<Dingtalk> {
        let at_mobiles = f.at_mobiles.clone().unwrap_or_default();
        if let Some(m) = at_mobiles
            .iter()
            .find(|m| m.is_empty() || !m.chars().all(|c| c.is_ascii_digit() || c == '+' || c == '-'))
        {
            c.at("at_mobiles", format!("{m:?} is not a mobile number"));
        }
        Some(Dingtalk {
            url: c.need_url()?,
            secret: c.secret.clone(),
            at_mobiles,
            at_all: f.at_all.unwrap_or(false),
        })
    }
}
