//! `type = "wecom"` (企业微信群机器人): the robot's `url`, whose `key` is
//! the only credential.

use serde::Serialize;

use super::{Ctx, FileSink, SinkConfig};
use crate::config::secret::{shown_url, Secret};
use crate::logic::template::Format;

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Wecom {
    #[serde(serialize_with = "shown_url")]
    pub(crate) url: Secret,
}

impl SinkConfig for Wecom {
    const KEYS: &'static [&'static str] = &["url", "template_file"];

    fn markup(_f: &FileSink) -> Format {
        Format::Markdown
    }

    fn validate(_f: &FileSink, c: &mut Ctx) -> Option<Wecom> {
        Some(Wecom { url: c.need_url()? })
    }
}
