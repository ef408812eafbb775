//! `type = "webhook"`: JSON POSTed to `url`, optionally signed with `secret`,
//! with extra `headers` (their values are secrets).

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Ctx, FileSink, SinkConfig};
use crate::config::secret::{shown_url, Secret};

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Webhook {
    #[serde(serialize_with = "shown_url")]
    pub(crate) url: Secret,
    pub(crate) secret: Option<Secret>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) headers: BTreeMap<String, Secret>,
}

impl SinkConfig for Webhook {
    const KEYS: &'static [&'static str] = &["url", "secret", "headers"];
    const MACHINE: bool = true;

    fn validate(f: &FileSink, c: &mut Ctx) -> Option<Webhook> {
        Some(Webhook {
            url: c.need_url()?,
            secret: c.secret.clone(),
            headers: f.headers.clone().unwrap_or_default(),
        })
    }
}
