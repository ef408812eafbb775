//! `type = "console"`: one line per notice on stdout; no keys of its own.

use serde::Serialize;

use super::{Ctx, FileSink, SinkConfig};

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Console;

impl SinkConfig for Console {
    const KEYS: &'static [&'static str] = &["template_file"];
    const MACHINE: bool = true;

    fn validate(_f: &FileSink, _c: &mut Ctx) -> Option<Console> {
        Some(Console)
    }
}
