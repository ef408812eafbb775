//! What the master CLI (`haproxy -W -S PATH`) answers: `show proc` and
//! `reload`. Both changed between versions (fixtures per version in
//! `tests/fixtures/haproxy-X.Y/master-*.txt`):
//!
//! - `show proc`: 2.2 has a `<relative PID>` column (an old worker reads
//!   `[was: N]` there) and no failed-reload count; 2.4+ drop the column and
//!   annotate the master's reloads with `[failed: N]`. After a failed reload
//!   2.2 and 3.1+ list the worker that still serves under `# old workers`
//!   with no current one under `# workers`.
//! - `reload`: up to 2.6 the master closes the connection without a word;
//!   2.7+ answer `Success=1` or `Success=0`, a `--` line and the startup log,
//!   once the new worker is ready or has failed; 3.1+ refuse a reload while
//!   the previous one is still starting (`Another reload is still in
//!   progress.`), which is not a failure of the new configuration.

/// One worker line of `show proc`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Worker {
    pub pid: u32,
    /// Reloads this worker survived (a failed reload counts too).
    pub reloads: u32,
}

/// The master's `show proc`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShowProc {
    pub master_pid: u32,
    /// Reloads since the master started.
    pub reloads: u32,
    /// Failed reloads since the last good one (`[failed: N]`, 2.4+); `None`
    /// where the version does not say.
    pub failed: Option<u32>,
    /// Under `# workers`.
    pub workers: Vec<Worker>,
    /// Under `# old workers`: finishing their connections, or, after a failed
    /// reload on 2.2 and 3.1+, the one still serving.
    pub old_workers: Vec<Worker>,
}

impl ShowProc {
    /// The worker serving new connections: the newest under `# workers`; if
    /// there is none (a failed reload on 2.2 and 3.1+), the newest old one.
    pub fn current_worker(&self) -> Option<u32> {
        let newest = |w: &[Worker]| w.iter().min_by_key(|w| w.reloads).map(|w| w.pid);
        newest(&self.workers).or_else(|| newest(&self.old_workers))
    }

    /// Whether the last reload failed: `[failed: N]` with N > 0 (2.4+), or
    /// (2.2, which does not count) no current worker while an old one serves.
    pub fn last_reload_failed(&self) -> bool {
        self.failed.is_some_and(|f| f > 0) || (self.workers.is_empty() && !self.old_workers.is_empty())
    }
}

/// Why a `show proc` reply could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShowProcError {
    #[error("`show proc` reply has no header line (`#<PID> <type> ...`): {0:?}")]
    NoHeader(String),
    #[error("`show proc` reply has no master line")]
    NoMaster,
    #[error("`show proc` line {line}: {why}: {text:?}")]
    Line {
        line: usize,
        why: &'static str,
        text: String,
    },
}

/// Splits a line on whitespace, keeping `[...]` and `<...>` groups whole.
fn fields(line: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut open: Option<char> = None;
    for word in line.split_whitespace() {
        match open {
            Some(close) => {
                let last = out.last_mut().expect("a group was opened");
                last.push(' ');
                last.push_str(word);
                if word.ends_with(close) {
                    open = None;
                }
            }
            None => {
                let w = word.trim_start_matches('#');
                let close = match w.chars().next() {
                    Some('[') => Some(']'),
                    Some('<') => Some('>'),
                    _ => None,
                };
                if close.is_some_and(|c| !w.ends_with(c)) {
                    open = close;
                }
                out.push(w.to_string());
            }
        }
    }
    out
}

/// Parses `show proc` of any version from 2.2 on.
pub fn parse_show_proc(text: &str) -> Result<ShowProc, ShowProcError> {
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let header = match lines.next() {
        Some((_, h)) if h.starts_with("#<PID>") => fields(h),
        other => {
            return Err(ShowProcError::NoHeader(
                other.map(|(_, l)| l.to_string()).unwrap_or_default(),
            ))
        }
    };
    let col = |name: &str| header.iter().position(|h| h == name);
    let (Some(c_type), Some(c_reloads)) = (col("<type>"), col("<reloads>")) else {
        return Err(ShowProcError::NoHeader(header.join(" ")));
    };
    let mut master = None;
    let mut section = "";
    let mut proc = ShowProc {
        master_pid: 0,
        reloads: 0,
        failed: None,
        workers: Vec::new(),
        old_workers: Vec::new(),
    };
    for (i, line) in lines {
        if let Some(name) = line.strip_prefix('#') {
            section = name.trim();
            continue;
        }
        let bad = |why| ShowProcError::Line {
            line: i + 1,
            why,
            text: line.to_string(),
        };
        let mut f = fields(line);
        // `4 [failed: 1]`: the annotation belongs to the reloads before it.
        let mut failed = None;
        if let Some(j) = f.iter().position(|w| w.starts_with("[failed:")) {
            let n = f.remove(j);
            failed = Some(
                n.trim_start_matches("[failed:")
                    .trim_end_matches(']')
                    .trim()
                    .parse()
                    .map_err(|_| bad("bad [failed: N]"))?,
            );
        }
        let pid: u32 = f.first().and_then(|p| p.parse().ok()).ok_or_else(|| bad("no pid"))?;
        let kind = f.get(c_type).map(String::as_str).unwrap_or("");
        let reloads: u32 = f
            .get(c_reloads)
            .and_then(|r| r.parse().ok())
            .ok_or_else(|| bad("no reload count"))?;
        match (kind, section) {
            ("master", _) => {
                master = Some(());
                proc.master_pid = pid;
                proc.reloads = reloads;
                proc.failed = failed;
            }
            ("worker", "old workers") => proc.old_workers.push(Worker { pid, reloads }),
            ("worker", _) => proc.workers.push(Worker { pid, reloads }),
            // Programs (`program` sections) and types a later version adds.
            _ => {}
        }
    }
    master.ok_or(ShowProcError::NoMaster)?;
    Ok(proc)
}

/// What the master answered to `reload`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reload {
    /// No answer (2.6 and older close the connection): whether the new
    /// configuration loaded is for the caller to find out (a new worker pid).
    Unreported,
    /// `Success=1`: the new worker is ready. The startup log follows.
    Loaded { log: String },
    /// `Success=0`: the new configuration failed; the old worker still serves.
    Failed { log: String },
    /// 3.1+: another reload is still starting; nothing was done. Try again
    /// once it is over.
    Busy,
}

/// Parses the master's reply to `reload` (any version).
pub fn parse_reload(reply: &str) -> Reload {
    let text = reply.trim_start();
    let (first, rest) = text.split_once('\n').unwrap_or((text, ""));
    // Exactly `Success=1` or `Success=0`; anything else is no verdict.
    let ok = match first.trim_end() {
        "Success=1" => true,
        "Success=0" => false,
        _ => return Reload::Unreported,
    };
    let log = rest.trim_start_matches("--").trim_matches('\n').to_string();
    if ok {
        Reload::Loaded { log }
    } else if log.contains("Another reload is still in progress") {
        Reload::Busy
    } else {
        Reload::Failed { log }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_keep_groups() {
        assert_eq!(
            fields("#<PID>          <type>          <relative PID>  <reloads>"),
            ["<PID>", "<type>", "<relative PID>", "<reloads>"]
        );
        assert_eq!(
            fields("1  master  4 [failed: 1]  0d00h00m22s  3.0.11"),
            ["1", "master", "4", "[failed: 1]", "0d00h00m22s", "3.0.11"]
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for text in [
            "",
            "hello",
            "#<PID> <type>",
            "#<PID> <type> <reloads>\nx master 1",
            "#<PID> <type> <reloads>\n",
        ] {
            assert!(parse_show_proc(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn reload_replies() {
        assert_eq!(parse_reload(""), Reload::Unreported);
        assert_eq!(parse_reload("Success=1\n--\nok\n"), Reload::Loaded { log: "ok".into() });
        assert_eq!(
            parse_reload("Success=0\n--\nAnother reload is still in progress.\n\n"),
            Reload::Busy
        );
        assert!(matches!(parse_reload("Success=0\n--\n[ALERT] x\n"), Reload::Failed { log } if log == "[ALERT] x"));
        // Found by the fuzzer: only `Success=0` can be a refusal.
        let odd = "Success=#0\n\n0\n--\nAnother reload is still in progress.\n";
        assert_eq!(parse_reload(odd), Reload::Unreported);
        assert_eq!(parse_reload("Success=1"), Reload::Loaded { log: String::new() });
    }
}
