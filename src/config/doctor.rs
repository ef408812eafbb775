//! `[doctor]`: rules `hawatch doctor` (and `apply`'s file check) leave out,
//! and the host rules' limits (docs/doctor.md).

use serde::{Deserialize, Serialize};

use super::problems::Problems;
use crate::logic::lint;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileDoctor {
    /// Rule ids whose findings are not reported (`["HW103"]`).
    pub(crate) allow: Option<Vec<String>>,
    /// HW705: percent of a core per HAProxy thread (default 80).
    pub(crate) cpu_percent: Option<f64>,
    /// HW706: percent of the memory HAProxy may use (default 80).
    pub(crate) memory_percent: Option<f64>,
}

/// `[doctor]`, validated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Doctor {
    /// Rule ids, as `HW101` (upper case).
    pub(crate) allow: Vec<String>,
    pub(crate) cpu_percent: f64,
    pub(crate) memory_percent: f64,
}

impl Default for Doctor {
    fn default() -> Self {
        Doctor {
            allow: Vec::new(),
            cpu_percent: 80.0,
            memory_percent: 80.0,
        }
    }
}

pub(super) fn validate(f: FileDoctor, p: &mut Problems) -> Doctor {
    let mut allow = Vec::new();
    for (i, id) in f.allow.unwrap_or_default().into_iter().enumerate() {
        match lint::rule(id.trim()) {
            Some(r) => allow.push(r.id.to_string()),
            None => p.at(
                &format!("doctor.allow[{i}]"),
                format!("{id:?} is not a rule id (`hawatch doctor --explain` lists them; docs/doctor.md)"),
            ),
        }
    }
    let pct = |v: Option<f64>, key: &str, p: &mut Problems| match v {
        Some(x) if !(x > 0.0 && x <= 100.0) => {
            p.at(key, format!("{x} is not a percentage above 0 and at most 100"));
            80.0
        }
        Some(x) => x,
        None => 80.0,
    };
    Doctor {
        allow,
        cpu_percent: pct(f.cpu_percent, "doctor.cpu_percent", p),
        memory_percent: pct(f.memory_percent, "doctor.memory_percent", p),
    }
}
