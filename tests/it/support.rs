//! What only this package can know; everything else (HAProxy, backends,
//! receivers, SMTP, Alertmanager, ports, waits) is the `testkit` crate.

use std::path::PathBuf;

/// The `hawatch` binary built by cargo for this test run.
pub fn hawatch_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_hawatch"))
}
