//! `hawatch doctor`: seed 002's troubleshooting list, and what an HAProxy
//! engineer circles in a config, in one command. Every finding is a rule
//! of [`crate::logic::lint`] (an id, a level, file:line, a fix).
//!
//! 1. the files: `haproxy -c`, then every file rule at once;
//! 2. the process, through the Runtime API the config declares (unless
//!    hawatch.toml names one): servers, backends, the socket's level, the
//!    master CLI from the running master's `-S`;
//! 3. the host: binds, kernel limits, CPU, memory, TIME_WAIT, OOM kills,
//!    directories, users; keepalived.
//!
//! `--offline` stops after 1. Exit 0 all good, 1 warnings, 2 something
//! critical, so it can gate a CI pipeline or run from cron.

mod host;
mod process;

use std::path::{Path, PathBuf};

use haproxy::cfg::Cfg;

use crate::config::Config;
use crate::logic::lint::file::{Cert, CertLoad, Input};
use crate::logic::lint::{self, Finding, Level, Scope, Version, RULES};

/// What `doctor` was asked.
pub(crate) struct Args {
    pub(crate) files: Vec<PathBuf>,
    pub(crate) haproxy: PathBuf,
    pub(crate) keepalived: PathBuf,
    pub(crate) offline: bool,
    pub(crate) json: bool,
}

/// The certificates in a PEM file (a bundle may hold several).
pub(crate) fn certs_in(pem: &[u8]) -> Vec<Cert> {
    let mut out = Vec::new();
    for p in x509_parser::pem::Pem::iter_from_buffer(pem).flatten() {
        if p.label != "CERTIFICATE" {
            continue;
        }
        if let Ok((_, cert)) = x509_parser::parse_x509_certificate(&p.contents) {
            let mut names: Vec<String> = cert
                .subject_alternative_name()
                .ok()
                .flatten()
                .map(|san| {
                    san.value
                        .general_names
                        .iter()
                        .filter_map(|n| match n {
                            x509_parser::extensions::GeneralName::DNSName(d) => Some(d.to_string()),
                            _ => None,
                        })
                        .collect()
                })
                .unwrap_or_default();
            if names.is_empty() {
                names.extend(
                    cert.subject()
                        .iter_common_name()
                        .filter_map(|cn| cn.as_str().ok().map(str::to_string)),
                );
            }
            out.push(Cert {
                subject: crate::text::visible(&cert.subject().to_string()).into_owned(),
                names,
                not_after: cert.validity().not_after.timestamp(),
            });
        }
    }
    out
}

/// What a `crt` path holds: a file, or a directory's files (HAProxy loads
/// every file of a directory but `.key`, `.ocsp`, `.issuer`, `.sctl`).
pub(crate) fn load_certs(path: &Path) -> CertLoad {
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if !meta.is_dir() && !meta.is_file() {
        return Err("not a regular file or a directory".into());
    }
    let files: Vec<PathBuf> = if meta.is_dir() {
        let mut v: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| e.to_string())?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_file())
            // As HAProxy: hidden files (`.gitkeep`) are not certificates.
            .filter(|p| {
                !p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with('.'))
            })
            .filter(|p| {
                !p.extension()
                    .is_some_and(|e| ["key", "ocsp", "issuer", "sctl"].iter().any(|x| e == *x))
            })
            .collect();
        v.sort();
        v
    } else {
        vec![path.to_path_buf()]
    };
    let mut out = Vec::new();
    for f in files {
        use std::io::Read;
        // A PEM bundle is kilobytes; 4 MiB bounds what a wrong path can cost.
        let mut pem = Vec::new();
        std::fs::File::open(&f)
            .and_then(|file| file.take(4 << 20).read_to_end(&mut pem))
            .map_err(|e| format!("{}: {e}", f.display()))?;
        out.push((f.display().to_string(), certs_in(&pem)));
    }
    Ok(out)
}

/// The files, read and parsed in order; a file that cannot be read is a
/// finding (HW001) and is left out.
pub(crate) fn read_files(files: &[PathBuf]) -> (Cfg, Vec<Finding>) {
    let mut cfg = Cfg::default();
    let mut out = Vec::new();
    for f in files {
        match std::fs::read(f) {
            Ok(bytes) => cfg.add(&f.display().to_string(), &String::from_utf8_lossy(&bytes)),
            Err(e) => out.push(
                Finding::new("HW001", Level::Crit, format!("cannot read {}: {e}", f.display()))
                    .fix("give the path of the configuration HAProxy runs (--haproxy-config)"),
            ),
        }
    }
    (cfg, out)
}

/// `haproxy -v`'s version.
pub(crate) fn binary_version(haproxy: &Path) -> Option<Version> {
    let mut cmd = std::process::Command::new(haproxy);
    cmd.arg("-v");
    let out = super::output_within(cmd, std::time::Duration::from_secs(10)).ok()?;
    Version::parse(String::from_utf8_lossy(&out.stdout).lines().next()?)
}

/// `haproxy -c -f A -f B ...` as HW001; in offline mode a missing binary is
/// said without a warning (a CI runner may have no HAProxy).
pub(crate) fn config_check(haproxy: &Path, files: &[PathBuf], offline: bool) -> Finding {
    let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    let names = names.join(", ");
    match super::haproxy_check_all(haproxy, files) {
        Ok(()) => Finding::new("HW001", Level::Ok, format!("{names}: haproxy -c says it is valid")),
        Err(why) if why.starts_with("cannot run ") => Finding::new(
            "HW001",
            if offline { Level::Ok } else { Level::Warn },
            format!("haproxy -c not run: {why}"),
        )
        .fix("pass --haproxy PATH to validate with the HAProxy that runs the file"),
        Err(why) => {
            // `[ALERT]    (1234) : config : parsing [f:9] : ...` → `parsing [f:9] : ...`;
            // the closing "Error(s) found" / "Fatal errors" lines say nothing more.
            let alerts: Vec<&str> = why
                .lines()
                .filter(|l| {
                    l.contains("ALERT") && !l.contains("Fatal errors found") && !l.contains("Error(s) found in")
                })
                .map(|l| {
                    let rest = l.split_once(") : ").map_or(l, |(_, r)| r);
                    rest.strip_prefix("config : ").unwrap_or(rest)
                })
                .take(10)
                .collect();
            let shown = if alerts.is_empty() {
                why.trim().to_string()
            } else {
                alerts.join("\n")
            };
            Finding::new("HW001", Level::Crit, format!("{names}: haproxy -c fails:\n{shown}"))
                .fix("fix the file before any reload: HAProxy would refuse it (the findings below name every removed keyword)")
        }
    }
}

/// The file rules (and `haproxy -c`): what `--offline` and `apply` run.
pub(crate) fn file_findings(
    cfg: &Cfg,
    files: &[PathBuf],
    haproxy: &Path,
    version: Option<Version>,
    offline: bool,
) -> Vec<Finding> {
    let mut out = vec![config_check(haproxy, files, offline)];
    let base = files
        .first()
        .and_then(|f| f.parent())
        .map_or_else(|| PathBuf::from("/"), Path::to_path_buf);
    out.extend(lint::file::lint(&Input {
        cfg,
        version,
        now: chrono::Utc::now().timestamp(),
        base: &base,
        certs: &load_certs,
    }));
    out
}

/// Every check; the findings in order, silenced ones left out (their count second).
pub(crate) async fn examine(config: &Config, args: &Args) -> (Vec<Finding>, usize) {
    let (cfg, mut out) = read_files(&args.files);
    let files: Vec<PathBuf> = args.files.iter().filter(|f| f.exists()).cloned().collect();
    // The version decides which `.if` branches HAProxy reads: `haproxy -v`
    // first (to find the socket), then the running process's own.
    let binary = binary_version(&args.haproxy);
    let mut version = binary;
    let mut later = Vec::new();
    if !args.offline {
        let read = |v| cfg.retain_lines(&|l| lint::file::active(l, v) != Some(false));
        let p = process::examine(config, &read(binary)).await;
        version = p.version.or(binary);
        later.extend(p.findings);
        let taken = read(version);
        later.extend(host::examine(&taken, &files, p.pids.as_ref(), p.threads, &config.doctor).await);
        later.extend(host::keepalived(config, &args.keepalived));
    }
    if !files.is_empty() {
        out.extend(file_findings(&cfg, &files, &args.haproxy, version, args.offline));
    }
    out.extend(later);
    let silenced = lint::silence(&mut out, &config.doctor.allow);
    (out, silenced)
}

fn tag(l: Level) -> &'static str {
    match l {
        Level::Ok => "ok  ",
        Level::Warn => "WARN",
        Level::Crit => "CRIT",
    }
}

/// Prints findings as text: `CRIT HW201 haproxy.cfg:32: text`, then the fix.
pub(crate) fn print(findings: &[Finding]) {
    for x in findings {
        // Findings quote HAProxy's output and files: shown, never obeyed (crate::text).
        let place = x.place().map(|p| format!("{p}: ")).unwrap_or_default();
        let text = crate::text::visible_lines(&x.text).replace('\n', "\n           ");
        println!("{} {} {}{text}", tag(x.level), x.id, crate::text::visible_lines(&place));
        if let Some(what) = &x.fix {
            if x.level != Level::Ok {
                println!("           → {}", crate::text::visible_lines(what));
            }
        }
    }
}

/// The exit status for these findings: 0 / 1 / 2.
pub(crate) fn code(findings: &[Finding]) -> u8 {
    match findings.iter().map(|x| x.level).max().unwrap_or(Level::Ok) {
        Level::Ok => 0,
        Level::Warn => 1,
        Level::Crit => 2,
    }
}

/// `hawatch doctor`: prints the findings (or `--json`); 0 / 1 / 2.
pub(crate) async fn run(config: Config, args: Args) -> anyhow::Result<u8> {
    let (findings, silenced) = examine(&config, &args).await;
    let code = code(&findings);
    if args.json {
        println!("{}", crate::text::json_pretty(&findings)?);
        return Ok(code);
    }
    print(&findings);
    let (w, c) = (
        findings.iter().filter(|x| x.level == Level::Warn).count(),
        findings.iter().filter(|x| x.level == Level::Crit).count(),
    );
    let quiet = if silenced > 0 {
        format!(", {silenced} silenced by [doctor] allow")
    } else {
        String::new()
    };
    let scope = if args.offline {
        " (offline: file rules only)"
    } else {
        ""
    };
    println!("{c} critical, {w} warning(s){quiet}{scope}");
    Ok(code)
}

/// `hawatch doctor --explain ID` (or `all`).
pub(crate) fn explain(id: &str) -> anyhow::Result<u8> {
    let rules: Vec<&lint::Rule> = if id.eq_ignore_ascii_case("all") {
        RULES.iter().collect()
    } else {
        match lint::rule(id) {
            Some(r) => vec![r],
            None => {
                let ids: Vec<&str> = RULES.iter().map(|r| r.id).collect();
                return Err(crate::error::UsageError(format!(
                    "{id:?} is not a rule; the rules are {} (docs/doctor.md)",
                    ids.join(" ")
                ))
                .into());
            }
        }
    };
    for (i, r) in rules.iter().enumerate() {
        if i > 0 {
            println!();
        }
        println!(
            "{} {} ({}, {} rule{})",
            r.id,
            r.name,
            r.level.as_str(),
            r.scope.as_str(),
            if r.scope == Scope::File {
                ", runs with --offline"
            } else {
                ""
            }
        );
        println!("  {}", r.summary);
        println!();
        println!("  Why: {}", r.why);
        println!("  Fix: {}", r.fix);
        if !r.bad.is_empty() {
            println!("\n  Triggers it:");
            for l in r.bad.lines() {
                println!("    {l}");
            }
            println!("  Does not:");
            for l in r.good.lines() {
                println!("    {l}");
            }
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `crt` directory as HAProxy reads it (no hidden files, no keys), and
    /// paths that are not files (a FIFO would block the read forever).
    #[test]
    fn what_a_crt_path_holds() {
        let dir = tempfile::tempdir().unwrap();
        for f in [".gitkeep", "a.pem", "a.pem.key", "b.pem", "b.pem.ocsp"] {
            std::fs::write(dir.path().join(f), "").unwrap();
        }
        let files: Vec<String> = load_certs(dir.path())
            .unwrap()
            .into_iter()
            .map(|(f, certs)| {
                assert!(certs.is_empty());
                Path::new(&f).file_name().unwrap().to_string_lossy().into_owned()
            })
            .collect();
        assert_eq!(files, ["a.pem", "b.pem"]);
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        assert_eq!(load_certs(&fifo).unwrap_err(), "not a regular file or a directory");
        assert!(load_certs(&dir.path().join("missing.pem"))
            .unwrap_err()
            .contains("No such file"));
    }

    /// `haproxy -c` and friends are bounded in time.
    #[test]
    fn commands_are_killed_at_their_limit() {
        let mut cmd = std::process::Command::new("sleep");
        cmd.arg("30");
        let t = std::time::Instant::now();
        let e = crate::ops::output_within(cmd, std::time::Duration::from_millis(300)).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
        assert!(t.elapsed() < std::time::Duration::from_secs(5));
        // A grandchild that keeps the pipe open does not hold it either.
        let mut cmd = std::process::Command::new("sh");
        cmd.args(["-c", "sleep 30 & echo started"]);
        let t = std::time::Instant::now();
        let e = crate::ops::output_within(cmd, std::time::Duration::from_millis(500)).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
        assert!(t.elapsed() < std::time::Duration::from_secs(5));
        let mut cmd = std::process::Command::new("sh");
        cmd.args(["-c", "echo out; echo err >&2; exit 3"]);
        let out = crate::ops::output_within(cmd, std::time::Duration::from_secs(10)).unwrap();
        assert_eq!(
            (out.status.code(), &out.stdout[..], &out.stderr[..]),
            (Some(3), &b"out\n"[..], &b"err\n"[..])
        );
    }
}
