//! What every trial needs: a child process stopped (and reaped) when dropped,
//! the hawatch binary under test, the results table and its verdicts, and the
//! report (stdout, and `--out FILE`).

use std::fs::{self, File};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// `println!` that also appends the line to the report file (`--out FILE`).
macro_rules! say {
    () => {
        $crate::common::say_line(String::new())
    };
    ($($arg:tt)*) => {
        $crate::common::say_line(format!($($arg)*))
    };
}

static REPORT: OnceLock<Mutex<File>> = OnceLock::new();

/// Copy everything [`say!`] prints to `path` too (created or truncated).
pub fn report_to(path: &Path) -> std::io::Result<()> {
    let f = File::create(path)?;
    let _ = REPORT.set(Mutex::new(f));
    Ok(())
}

pub fn say_line(line: String) {
    println!("{line}");
    if let Some(f) = REPORT.get() {
        let mut f = f.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = writeln!(f, "{line}") {
            eprintln!("lab: cannot write the report file: {e}");
        }
    }
}

static HAWATCH: OnceLock<PathBuf> = OnceLock::new();

/// The `hawatch` binary the trials run (set once by [`use_hawatch`]).
pub fn hawatch() -> &'static Path {
    HAWATCH
        .get()
        .expect("the hawatch binary is resolved before any trial starts")
}

/// Resolves the binary under test: `explicit` (`--hawatch`), or a release build of
/// the workspace's `hawatch` made now with `cargo build --release --bin hawatch`, so
/// a trial never measures a stale binary. `cargo run` passes its own path in `$CARGO`.
pub fn use_hawatch(explicit: Option<PathBuf>) -> Result<&'static Path, String> {
    let path = match explicit {
        Some(p) => p,
        None => build_hawatch()?,
    };
    if !path.is_file() {
        return Err(format!("{}: no such file", path.display()));
    }
    Ok(HAWATCH.get_or_init(|| path))
}

fn build_hawatch() -> Result<PathBuf, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    eprintln!("lab: cargo build --release --bin hawatch (use --hawatch PATH to skip)");
    let out = Command::new(&cargo)
        .current_dir(&root)
        .args(["build", "--release", "-p", "hawatch", "--bin", "hawatch"])
        .arg("--message-format=json-render-diagnostics")
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run {}: {e} (or give --hawatch PATH)", cargo.to_string_lossy()))?;
    if !out.status.success() {
        return Err(format!("cargo build of hawatch failed ({})", out.status));
    }
    // The last artifact message of the `hawatch` binary names its executable.
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "hawatch")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .ok_or_else(|| "cargo build did not report a hawatch executable".to_string())
}

/// One line of the final table.
pub struct Row {
    pub metric: String,
    pub measured: String,
    pub target: String,
    pub met: String,
}

pub fn row(table: &mut Vec<Row>, metric: impl Into<String>, measured: String, target: &str, met: String) {
    table.push(Row {
        metric: metric.into(),
        measured,
        target: target.into(),
        met,
    });
}

/// The results table every trial ends with.
pub fn print_results(table: &[Row], secs: f64) {
    say!("\n## results ({secs:.0} s)");
    say!("| metric | measured | target | met |");
    say!("|---|---|---|---|");
    for r in table {
        say!("| {} | {} | {} | {} |", r.metric, r.measured, r.target, r.met);
    }
}

pub fn verdict(ok: bool) -> String {
    if ok { "yes" } else { "NO" }.to_string()
}

pub fn read_lossy(p: &Path) -> String {
    fs::read(p)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// A child process stopped on drop: SIGTERM, up to 5 s, then SIGKILL; always reaped.
pub struct Proc {
    pub name: String,
    child: Child,
}

impl Proc {
    pub fn spawn(name: &str, cmd: &mut Command) -> Proc {
        let child = cmd
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Proc {
            name: name.to_string(),
            child,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    pub fn stop(&mut self) -> Option<ExitStatus> {
        if let Some(st) = self.exited() {
            return Some(st);
        }
        let _ = kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM);
        for _ in 0..100 {
            if let Some(st) = self.exited() {
                return Some(st);
            }
            thread::sleep(Duration::from_millis(50));
        }
        eprintln!("lab: {} (pid {}) ignored SIGTERM; killing it", self.name, self.pid());
        let _ = self.child.kill();
        self.child.wait().ok()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}
