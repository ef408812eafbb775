//! `[metrics]`: the haproxy_exporter-compatible families.

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};

use super::problems::Problems;
use super::value::OneOrMany;
use crate::logic::exporter;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileMetrics {
    /// The label that tells instances apart (default `haproxy_instance`).
    pub(crate) instance_label: Option<String>,
    /// Put the label on series even with one instance (default false).
    pub(crate) label_single_instance: Option<bool>,
    /// Like the exporter's `--haproxy.server-metric-fields`: `"2,3,4"` or column names.
    pub(crate) server_metric_fields: Option<String>,
    /// Like `--haproxy.server-exclude-states`: servers in these states are left out.
    pub(crate) server_exclude_states: Option<OneOrMany>,
}

/// `[metrics]`, validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Metrics {
    pub(crate) instance_label: String,
    pub(crate) label_single_instance: bool,
    #[serde(flatten, serialize_with = "options")]
    pub(crate) exporter: exporter::Options,
}

/// `config show`: the exporter's options as the keys that set them.
fn options<S: Serializer>(o: &exporter::Options, s: S) -> Result<S::Ok, S::Error> {
    let fields: Vec<String> = o.server_fields.iter().map(|f| f.to_string()).collect();
    let mut m = s.serialize_map(Some(2))?;
    m.serialize_entry("server_metric_fields", &fields.join(","))?;
    m.serialize_entry("server_exclude_states", &o.server_exclude_states)?;
    m.end()
}

pub(super) fn validate(f: FileMetrics, p: &mut Problems) -> Metrics {
    let label = f.instance_label.unwrap_or_else(|| "haproxy_instance".to_string());
    let reserved = ["frontend", "backend", "server", "code", "version", "release_date", "le"];
    let valid = !label.is_empty()
        && !label.starts_with("__")
        && label
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid || reserved.contains(&label.as_str()) {
        p.at(
            "metrics.instance_label",
            format!("{label:?} cannot be the instance label: use letters, digits and _, not starting with a digit or __, and none of {}", reserved.join(", ")),
        );
    }
    let server_fields = match exporter::parse_server_fields(
        f.server_metric_fields
            .as_deref()
            .unwrap_or(exporter::DEFAULT_SERVER_FIELDS),
    ) {
        Ok(v) => v,
        Err(e) => {
            p.at("metrics.server_metric_fields", e);
            Vec::new()
        }
    };
    let server_exclude_states = f
        .server_exclude_states
        .map(|v| {
            v.into_vec()
                .iter()
                .flat_map(|s| s.split(','))
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    Metrics {
        instance_label: label,
        label_single_instance: f.label_single_instance.unwrap_or(false),
        exporter: exporter::Options {
            server_fields,
            server_exclude_states,
            instance_label: None,
        },
    }
}
