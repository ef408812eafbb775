//! `hawatch apply NEW.cfg`: seed 002's "back up, check, install, reload"
//! with the step the scripts lack: verify, and roll back by itself.
//!
//! 1. `haproxy -c` the new file (nothing is touched if it fails);
//! 2. note what serves now: usable servers, frontends;
//! 3. keep a timestamped backup (the newest `keep`), install atomically;
//! 4. reload (master CLI, systemd or a command);
//! 5. verify: a new process answers, every server usable before is usable
//!    again within `settle`, every frontend is there;
//! 6. on failure: put the backup back, reload again, say what failed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use haproxy::{Client, Endpoint, RowType, ServerStatus, Stat, State};

use crate::config::{ApplyConfig, Config, Reload};
use crate::model::event::{Event, Kind, Severity};
use crate::model::snapshot::SourceError;
use crate::runtime::recorder::Recorder;
use crate::text::{visible, visible_lines};

/// What serves: usable servers and frontends.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Serving {
    pub(crate) servers: BTreeSet<String>,
    pub(crate) frontends: BTreeSet<String>,
}

/// From a `show stat` reply. Pure.
pub(crate) fn serving(stat: &Stat) -> Serving {
    let mut s = Serving::default();
    for r in stat.rows() {
        match r.kind() {
            RowType::Server if matches!(ServerStatus::parse(&r.status).state, State::Up | State::NoCheck) => {
                s.servers.insert(format!("{}/{}", r.pxname, r.svname));
            }
            RowType::Frontend if r.status == "OPEN" => {
                s.frontends.insert(r.pxname.to_string());
            }
            _ => {}
        }
    }
    s
}

/// What is missing after the reload. Pure. Servers and frontends that the
/// new config removed on purpose count only if the new config still names
/// them, which is why `wanted` (the new config's proxy names) is given.
pub(crate) fn missing(before: &Serving, after: &Serving, still_configured: &dyn Fn(&str) -> bool) -> Vec<String> {
    let mut out = Vec::new();
    for s in &before.servers {
        if !after.servers.contains(s) && still_configured(s.split('/').next().unwrap_or("")) {
            out.push(format!("server {s} was usable before and is not now"));
        }
    }
    for f in &before.frontends {
        if !after.frontends.contains(f) && still_configured(f) {
            out.push(format!("frontend {f} is not open"));
        }
    }
    out
}

/// Proxy names a config declares (`frontend`, `backend`, `listen`).
pub(crate) fn proxies(cfg: &str) -> BTreeSet<String> {
    cfg.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            match w.next() {
                Some("frontend" | "backend" | "listen") => w.next().map(str::to_string),
                _ => None,
            }
        })
        .collect()
}

/// The master CLI is not a `stats socket`: it exists when HAProxy runs in
/// master-worker mode with `-S PATH` (`haproxy -W -S /run/haproxy/master.sock`,
/// or `master-worker` in `global` and `-S` in the systemd unit's command line;
/// Debian's unit sets `EXTRAOPTS=-S /run/haproxy-master.sock`).
fn master_cli_error(sock: &Endpoint, e: haproxy::Error) -> String {
    let how = "HAProxy makes it when started in master-worker mode with `-S`: `haproxy -W -S /run/haproxy/master.sock ...` (or `master-worker` in `global` and `-S PATH` on the systemd unit's command line); set [apply] master_socket to that path, or use reload = \"systemd\"";
    match e {
        haproxy::Error::NotFound { .. } => format!("master CLI {sock} does not exist: {how}"),
        haproxy::Error::Refused { .. } => {
            format!("master CLI {sock}: connection refused, no process listens there (a stale socket?): {how}")
        }
        haproxy::Error::PermissionDenied { .. } => format!(
            "master CLI {sock}: permission denied; run hawatch apply as the user HAProxy's master runs as (root), or give the socket a group with `-S {sock},mode,660,gid,GID`"
        ),
        e => format!("master CLI {sock}: {e}"),
    }
}

struct Ctx<'a> {
    cfg: &'a ApplyConfig,
    socket: Endpoint,
    timeout: Duration,
}

impl Ctx<'_> {
    async fn stat(&self) -> Result<Stat, SourceError> {
        Ok(crate::source::socket_client(&self.socket, self.timeout)
            .show_stat()
            .await?)
    }

    async fn pid(&self) -> Option<u64> {
        let client = Client::new(self.socket.clone())
            .timeout(self.timeout)
            .max_reply(1 << 20);
        client.show_info().await.ok()?.pid
    }

    async fn reload(&self) -> Result<(), String> {
        match &self.cfg.reload {
            Reload::MasterCli(sock) => {
                // The 2.7+ verdict comes once the new worker is ready.
                let master = Client::new(sock.clone())
                    .timeout(self.cfg.settle.max(Duration::from_secs(30)))
                    .max_reply(1 << 20);
                // Another reload may be under way (an operator's, or ours
                // seconds ago): 3.1+ refuse ours then (and the master socket
                // may be away for a moment while it re-executes itself). Try
                // again until it is over, at most `settle` + 10 s: what we
                // installed must be what loads.
                let until = Instant::now() + self.cfg.settle + Duration::from_secs(10);
                // A master socket that refuses while HAProxy runs is one
                // re-executing itself; one that refuses with no HAProxy
                // answering is a wrong path, told at once.
                let mut answered = self.pid().await.is_some();
                loop {
                    let again = Instant::now() < until;
                    let reply = master.reload().await;
                    answered |= reply.is_ok();
                    match reply {
                        // Up to 2.6: no verdict; `verify` waits for a new pid.
                        Ok(haproxy::master::Reload::Unreported | haproxy::master::Reload::Loaded { .. }) => return Ok(()),
                        Ok(haproxy::master::Reload::Failed { log }) => {
                            return Err(format!("HAProxy refused the new configuration (it keeps the old one):\n{}", log.trim()))
                        }
                        Ok(haproxy::master::Reload::Busy) if again => {}
                        Ok(haproxy::master::Reload::Busy) => {
                            return Err("HAProxy answers that another reload is still in progress, and it still was after waiting; nothing was reloaded".into())
                        }
                        Err(haproxy::Error::Refused { .. } | haproxy::Error::NotFound { .. }) if again && answered => {}
                        Err(e) => return Err(master_cli_error(sock, e)),
                    }
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            }
            Reload::Systemd(unit) => run(&["systemctl".into(), "reload".into(), unit.clone()]),
            Reload::Command(argv) => run(argv),
        }
    }

    /// Waits for a new worker (another pid) answering, at most `settle`.
    async fn new_process(&self, old: Option<u64>, until: Instant) -> bool {
        while Instant::now() < until {
            if let Some(p) = self.pid().await {
                if Some(p) != old {
                    return true;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    /// What is missing once `settle` has passed since the reload: a server
    /// that is UP just after the reload but fails its checks a second later
    /// must not pass, so the verdict is taken at the end, not at the first
    /// moment everything looks present.
    async fn verify(&self, before: &Serving, new_cfg: &str, old_pid: Option<u64>) -> Vec<String> {
        let until = Instant::now() + self.cfg.settle;
        if !self.new_process(old_pid, until + Duration::from_secs(5)).await {
            return vec!["no new HAProxy process answered after the reload".into()];
        }
        let names = proxies(new_cfg);
        let still = |p: &str| names.contains(p);
        let left = until.saturating_duration_since(Instant::now());
        tokio::time::sleep(left).await;
        match self.stat().await {
            Ok(stat) => missing(before, &serving(&stat), &still),
            Err(e) => vec![format!("HAProxy did not answer `show stat` after the reload: {e}")],
        }
    }
}

fn run(argv: &[String]) -> Result<(), String> {
    let out = std::process::Command::new(&argv[0])
        .args(&argv[1..])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", argv[0]))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} failed: {}",
            argv.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Writes `text` to `target` atomically (a temporary file in the same directory, renamed).
fn install(target: &Path, text: &[u8]) -> anyhow::Result<()> {
    let dir = target.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).with_context(|| format!("cannot write in {}", dir.display()))?;
    std::io::Write::write_all(&mut tmp, text)?;
    tmp.as_file().sync_all()?;
    if let Ok(m) = std::fs::metadata(target) {
        let _ = std::fs::set_permissions(tmp.path(), m.permissions());
    }
    tmp.persist(target)
        .with_context(|| format!("cannot replace {}", target.display()))?;
    Ok(())
}

/// Copies `target` into the backup directory; keeps the newest `keep`.
fn backup(cfg: &ApplyConfig) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(&cfg.backup_dir).with_context(|| format!("cannot create {}", cfg.backup_dir.display()))?;
    let name = cfg.target.file_name().and_then(|n| n.to_str()).unwrap_or("haproxy.cfg");
    let dest = cfg
        .backup_dir
        .join(format!("{name}.{}", Utc::now().format("%Y%m%dT%H%M%S%.3fZ")));
    std::fs::copy(&cfg.target, &dest).with_context(|| format!("cannot back up {}", cfg.target.display()))?;
    let mut all = backups(cfg);
    while all.len() > cfg.keep {
        let _ = std::fs::remove_file(all.remove(0));
    }
    Ok(dest)
}

/// Backups, oldest first.
fn backups(cfg: &ApplyConfig) -> Vec<PathBuf> {
    let name = cfg
        .target
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("haproxy.cfg")
        .to_string();
    let mut v: Vec<PathBuf> = std::fs::read_dir(&cfg.backup_dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with(&format!("{name}.")))
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn unified_diff(old: &str, new: &str, a: &Path, b: &Path) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .header(&a.display().to_string(), &b.display().to_string())
        .to_string()
}

pub(crate) struct Apply {
    /// The configuration, loaded by the command line.
    pub(crate) config: Config,
    pub(crate) instance: Option<String>,
    pub(crate) yes: bool,
    /// Install despite critical doctor findings.
    pub(crate) force: bool,
}

/// doctor's file rules on the new text (not `haproxy -c`, which `apply`
/// runs itself), without what [doctor] allow silences.
fn lint_new(config: &Config, ac: &ApplyConfig, source: &Path, text: &str) -> Vec<crate::logic::lint::Finding> {
    use crate::logic::lint;
    let cfg = haproxy::cfg::Cfg::parse(&source.display().to_string(), text);
    let base = ac.target.parent().unwrap_or(Path::new("/")).to_path_buf();
    let mut found: Vec<lint::Finding> = lint::file::lint(&lint::file::Input {
        cfg: &cfg,
        version: super::doctor::binary_version(&ac.haproxy),
        now: Utc::now().timestamp(),
        base: &base,
        certs: &super::doctor::load_certs,
    })
    .into_iter()
    .filter(|f| f.level != lint::Level::Ok)
    .collect();
    lint::silence(&mut found, &config.doctor.allow);
    found
}

impl Apply {
    fn load(&self) -> anyhow::Result<(Config, ApplyConfig, String, Endpoint, Duration)> {
        let config = self.config.clone();
        let ac = config
            .apply
            .clone()
            .context("no [apply] section in the configuration: `hawatch apply` needs one (docs/operations.md)")?;
        let (name, ep, timeout) = super::socket_instances(&config)
            .into_iter()
            .find(|(n, _, _)| self.instance.as_ref().is_none_or(|want| want == n))
            .context("apply verifies through the Runtime API: configure a [[haproxy]] with a `socket` (or name it with --instance)")?;
        Ok((config, ac, name, ep, timeout))
    }

    /// `hawatch apply NEW.cfg [--dry-run]`; `new = None` is `--rollback`.
    pub(crate) async fn run(&self, new: Option<&Path>, dry_run: bool) -> anyhow::Result<u8> {
        let (config, ac, instance, socket, timeout) = self.load()?;
        let current =
            std::fs::read_to_string(&ac.target).with_context(|| format!("cannot read {}", ac.target.display()))?;
        let (source, text) = match new {
            Some(p) => (
                p.to_path_buf(),
                std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?,
            ),
            None => {
                let latest = backups(&ac)
                    .pop()
                    .with_context(|| format!("no backup of {} in {}", ac.target.display(), ac.backup_dir.display()))?;
                let t = std::fs::read_to_string(&latest)?;
                (latest, t)
            }
        };
        let diff = unified_diff(&current, &text, &ac.target, &source);
        // Validate a copy next to the target: `haproxy -c` resolves relative paths from there.
        let check = {
            let dir = ac.target.parent().unwrap_or(Path::new("."));
            let tmp = tempfile::Builder::new()
                .prefix(".hawatch-check-")
                .suffix(".cfg")
                .tempfile_in(dir)
                .or_else(|_| tempfile::NamedTempFile::new())?;
            std::fs::write(tmp.path(), &text)?;
            super::haproxy_check(&ac.haproxy, tmp.path())
        };
        if diff.is_empty() {
            println!("{} is already {}: nothing to do", ac.target.display(), source.display());
            return Ok(0);
        }
        // The files and HAProxy's answers are shown, never obeyed (crate::text).
        print!("{}", visible_lines(&diff));
        match &check {
            Ok(()) => println!("haproxy -c: configuration is valid"),
            Err(e) => println!("haproxy -c: INVALID\n{}", visible_lines(&e.to_string())),
        }
        // doctor's file rules: a critical finding the change brings (an
        // exposed `stats admin`, a keyword the running HAProxy refuses, ...)
        // stops it unless --force. What the running file has already (a
        // certificate about to expire) is shown but does not block a fix, and
        // a rollback, which puts back what ran, is never stopped.
        let findings = lint_new(&config, &ac, &source, &text);
        let before: Vec<(&str, String)> = lint_new(&config, &ac, &ac.target, &current)
            .into_iter()
            .map(|f| (f.id, f.text))
            .collect();
        let critical = findings
            .iter()
            .filter(|f| f.level == crate::logic::lint::Level::Crit)
            .filter(|f| !before.iter().any(|(id, text)| *id == f.id && *text == f.text))
            .count();
        if !findings.is_empty() {
            println!("doctor (file rules):");
            super::doctor::print(&findings);
        }
        let refused = critical > 0 && !self.force && new.is_some();
        if dry_run {
            return Ok(u8::from(check.is_err() || refused));
        }
        if check.is_err() {
            println!("nothing changed");
            return Ok(1);
        }
        if refused {
            println!(
                "{critical} new critical doctor finding(s): nothing changed (fix them, allow the rule in [doctor] allow, or pass --force)"
            );
            return Ok(1);
        }
        if !self.yes && std::io::IsTerminal::is_terminal(&std::io::stdin()) {
            print!("Install it as {} and reload? [y/N] ", ac.target.display());
            std::io::Write::flush(&mut std::io::stdout())?;
            let mut l = String::new();
            std::io::stdin().read_line(&mut l)?;
            if !matches!(l.trim(), "y" | "Y" | "yes") {
                println!("nothing done");
                return Ok(3);
            }
        }
        let ctx = Ctx {
            cfg: &ac,
            socket,
            timeout,
        };
        let before = ctx.stat().await.map(|s| serving(&s)).unwrap_or_default();
        let old_pid = ctx.pid().await;
        let saved = backup(&ac)?;
        println!("backup: {}", saved.display());
        install(&ac.target, text.as_bytes())?;
        let outcome = match ctx.reload().await {
            Err(e) => vec![format!("reload failed: {e}")],
            Ok(()) => ctx.verify(&before, &text, old_pid).await,
        };
        let (ok, message) = if outcome.is_empty() {
            println!(
                "applied {} and verified: every server usable before is usable, every frontend open",
                source.display()
            );
            (
                true,
                format!("applied {} to {}: verified", source.display(), ac.target.display()),
            )
        } else {
            let outcome: Vec<String> = outcome.iter().map(|o| visible(o).into_owned()).collect();
            println!("verification FAILED:\n  {}", outcome.join("\n  "));
            println!("rolling back to {}", saved.display());
            let back = std::fs::read(&saved)?;
            install(&ac.target, &back)?;
            let old_pid = ctx.pid().await;
            let rb = match ctx.reload().await {
                Err(e) => format!("the rollback's reload failed too: {e}"),
                Ok(())
                    if ctx
                        .new_process(old_pid, Instant::now() + ac.settle + Duration::from_secs(5))
                        .await =>
                {
                    "rolled back: HAProxy runs the previous configuration".to_string()
                }
                Ok(()) => "rolled back, but no new HAProxy process answered: check it now".to_string(),
            };
            println!("{}", visible(&rb));
            (
                false,
                format!(
                    "apply of {} to {} failed ({}); {rb}",
                    source.display(),
                    ac.target.display(),
                    outcome.join("; ")
                ),
            )
        };
        let severity = if ok { Severity::Warning } else { Severity::Critical };
        let event = Event {
            to: Some(source.display().to_string()),
            status: Some(if ok { "ok".into() } else { "rolled back".into() }),
            ..Event::new(instance.clone(), Kind::AuditApply, severity, message)
        };
        Recorder::one_shot(&config)?.record(&instance, vec![event]).await?;
        Ok(if ok { 0 } else { 1 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The master socket comes from `haproxy -W -S PATH`, not a `stats socket`
    /// line: a missing one says so.
    #[test]
    fn a_missing_master_socket_names_the_s_option() {
        let dir = tempfile::tempdir().unwrap();
        let master = dir.path().join("master.sock");
        let cfg = ApplyConfig {
            target: dir.path().join("haproxy.cfg"),
            backup_dir: dir.path().join("backups"),
            keep: 1,
            reload: Reload::MasterCli(Endpoint::Unix(master.clone())),
            settle: Duration::from_secs(1),
            haproxy: PathBuf::from("/usr/sbin/haproxy"),
        };
        let ctx = Ctx {
            cfg: &cfg,
            socket: Endpoint::Unix(dir.path().join("admin.sock")),
            timeout: Duration::from_secs(1),
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let e = rt.block_on(ctx.reload()).unwrap_err();
        assert!(e.contains(&master.display().to_string()) && e.contains("-S"), "{e}");
        assert!(!e.contains("stats socket"), "{e}");
    }

    #[test]
    fn what_is_missing_after_a_reload() {
        let s = |servers: &[&str], fes: &[&str]| Serving {
            servers: servers.iter().map(|x| x.to_string()).collect(),
            frontends: fes.iter().map(|x| x.to_string()).collect(),
        };
        let before = s(&["app/s1", "app/s2", "old/x"], &["fe"]);
        let after = s(&["app/s1"], &[]);
        let names = proxies("frontend fe\n  bind :80\nbackend app\n  server s1 a:1\n");
        let m = missing(&before, &after, &|p| names.contains(p));
        assert_eq!(
            m,
            [
                "server app/s2 was usable before and is not now",
                "frontend fe is not open"
            ]
        );
        let stat = Stat::parse(include_str!("../../tests/fixtures/haproxy-2.6/show-stat.csv").to_string()).unwrap();
        let sv = serving(&stat);
        assert!(sv.servers.contains("be_app/app1") && !sv.servers.contains("be_app/app2"));
        assert!(sv.frontends.contains("fe_main"));
    }
}
