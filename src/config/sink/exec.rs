//! `type = "exec"`: a program run with an argv (never a shell).

use serde::Serialize;

use super::{Ctx, FileSink, SinkConfig};

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Exec {
    pub(crate) command: Vec<String>,
}

impl SinkConfig for Exec {
    const KEYS: &'static [&'static str] = &["command", "template_file"];

    fn validate(f: &FileSink, c: &mut Ctx) -> Option<Exec> {
        match f.command.clone() {
            Some(command) if !command.is_empty() && !command[0].is_empty() => Some(Exec { command }),
            _ => {
                c.at(
                    "command",
                    "missing: an exec sink needs `command = [\"/path/to/program\", \"arg\", ...]` (no shell)",
                );
                None
            }
        }
    }
}
