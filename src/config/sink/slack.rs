//! `type = "slack"`: an incoming webhook `url`.

use serde::Serialize;

use super::{Ctx, FileSink, SinkConfig};
use crate::config::secret::{shown_url, Secret};
use crate::logic::template::Format;

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Slack {
    #[serde(serialize_with = "shown_url")]
    pub(crate) url: Secret,
}

impl SinkConfig for Slack {
    const KEYS: &'static [&'static str] = &["url", "template_file"];

    fn markup(_f: &FileSink) -> Format {
        Format::Slack
    }

    fn validate(_f: &FileSink, c: &mut Ctx) -> Option<Slack> {
        Some(Slack { url: c.need_url()? })
    }
}
