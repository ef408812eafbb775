//! What only this package can know; everything else (HAProxy, backends,
//! receivers, SMTP, Alertmanager, ports, waits) is the `testkit` crate.

use std::path::PathBuf;
use std::process::Command;

/// The `hawatch` binary built by cargo for this test run.
pub fn hawatch_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_hawatch"))
}

/// `hawatch ARGS...`, run to its end: (exit status, stdout, stderr).
pub fn run_hawatch(args: &mut Command) -> (i32, String, String) {
    let out = args.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A `Command` for the `hawatch` binary with these arguments.
pub fn hawatch<I, S>(args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut c = Command::new(hawatch_bin());
    c.args(args);
    c
}
