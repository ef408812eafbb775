//! `[apply]`: how `hawatch apply` installs a new HAProxy config and reloads
//! HAProxy (docs/operations.md).

use std::path::PathBuf;
use std::time::Duration;

use haproxy::Endpoint;
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};

use super::problems::Problems;
use super::value::{self, Dur};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileApply {
    pub(crate) target: Option<String>,
    pub(crate) backup_dir: Option<String>,
    pub(crate) keep: Option<usize>,
    pub(crate) reload: Option<ReloadBy>,
    pub(crate) master_socket: Option<String>,
    /// systemd unit for `reload = "systemd"` (default haproxy).
    pub(crate) unit: Option<String>,
    /// argv for `reload = "command"`.
    pub(crate) command: Option<Vec<String>>,
    pub(crate) settle: Option<Dur>,
    /// The haproxy binary for `haproxy -c` (default /usr/sbin/haproxy).
    pub(crate) haproxy: Option<String>,
}

/// `reload = "master-cli" | "systemd" | "command"`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum ReloadBy {
    #[default]
    MasterCli,
    Systemd,
    Command,
}

/// How `hawatch apply` reloads HAProxy.
#[derive(Debug, Clone)]
pub(crate) enum Reload {
    MasterCli(Endpoint),
    Systemd(String),
    Command(Vec<String>),
}

/// `config show`: `reload` and the key that goes with it.
impl Serialize for Reload {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        match self {
            Reload::MasterCli(ep) => {
                m.serialize_entry("reload", "master-cli")?;
                m.serialize_entry("master_socket", &ep.to_string())?;
            }
            Reload::Systemd(unit) => {
                m.serialize_entry("reload", "systemd")?;
                m.serialize_entry("unit", unit)?;
            }
            Reload::Command(argv) => {
                m.serialize_entry("reload", "command")?;
                m.serialize_entry("command", argv)?;
            }
        }
        m.end()
    }
}

/// `[apply]`, validated.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ApplyConfig {
    pub(crate) target: PathBuf,
    pub(crate) backup_dir: PathBuf,
    pub(crate) keep: usize,
    #[serde(flatten)]
    pub(crate) reload: Reload,
    #[serde(serialize_with = "value::dur")]
    pub(crate) settle: Duration,
    pub(crate) haproxy: PathBuf,
}

pub(super) fn validate(a: FileApply, p: &mut Problems) -> ApplyConfig {
    let reload = match a.reload.unwrap_or_default() {
        ReloadBy::MasterCli => {
            let raw = a
                .master_socket
                .clone()
                .unwrap_or_else(|| "/run/haproxy/master.sock".into());
            match Endpoint::parse(&raw) {
                Ok(ep) => Reload::MasterCli(ep),
                Err(e) => {
                    p.at("apply.master_socket", e);
                    Reload::Systemd("haproxy".into())
                }
            }
        }
        ReloadBy::Systemd => Reload::Systemd(a.unit.clone().unwrap_or_else(|| "haproxy".into())),
        ReloadBy::Command => match a.command.clone().filter(|c| !c.is_empty()) {
            Some(c) => Reload::Command(c),
            None => {
                p.at(
                    "apply.command",
                    "`reload = \"command\"` needs `command`, an argv list (no shell)",
                );
                Reload::Systemd("haproxy".into())
            }
        },
    };
    let keep = a.keep.unwrap_or(10);
    if keep == 0 {
        p.at("apply.keep", "keep at least 1 backup (the rollback needs it)");
    }
    ApplyConfig {
        target: PathBuf::from(a.target.unwrap_or_else(|| "/etc/haproxy/haproxy.cfg".into())),
        backup_dir: PathBuf::from(a.backup_dir.unwrap_or_else(|| "/var/lib/hawatch/backups".into())),
        keep: keep.max(1),
        reload,
        settle: value::or(a.settle, Duration::from_secs(5)),
        haproxy: PathBuf::from(a.haproxy.unwrap_or_else(|| "/usr/sbin/haproxy".into())),
    }
}
