//! `lab`: hawatch side by side with what it replaces, on real processes.
//!
//! ```sh
//! cargo run -p lab --release -- watch                  # the watch core, /metrics, check, outage (minutes)
//! cargo run -p lab --release -- watch poll rss         # only some parts
//! cargo run -p lab --release -- agent                  # hawatch agent vs xinetd + bash and a bare loop
//! cargo run -p lab --release -- --out perf.md watch metrics
//! ```
//!
//! Each subcommand prints the tables of docs/performance.md (methodology and
//! results there) and ends with a results table. The hawatch binary under test is
//! built first (`cargo build --release --bin hawatch`) unless `--hawatch PATH` names
//! one. Every process started here is stopped by a guard (SIGTERM, then SIGKILL
//! after 5 s) when it goes out of scope; every wait is bounded in time and count.

#[macro_use]
mod common;

mod agent;
mod watch;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    version,
    about = "hawatch side by side with what it replaces, on real processes (docs/performance.md)"
)]
struct Cli {
    /// Also write the report (everything printed on stdout) to FILE.
    #[arg(long, global = true, value_name = "FILE", display_order = 900)]
    out: Option<PathBuf>,
    /// The hawatch binary to measure [default: a release build made now with
    /// `cargo build --release --bin hawatch`].
    #[arg(
        long,
        global = true,
        value_name = "PATH",
        env = "HAWATCH_BENCH_HAWATCH",
        display_order = 901
    )]
    hawatch: Option<PathBuf>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// hawatch watch on a 10,000-server HAProxy: poll cycle, RSS, detection latency,
    /// /metrics against the Go haproxy_exporter and promex, `hawatch check` per call,
    /// a mass outage.
    Watch(watch::Args),
    /// hawatch agent against seed 003's xinetd + bash + curl and a bare
    /// accept-write-close loop.
    Agent(agent::Args),
    /// The bare accept → write "up\n" → close loop `agent` measures (a child process).
    #[command(hide = true)]
    BareLoop {
        addr: String,
        /// Exit after this many seconds at most.
        max_secs: u64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Cmd::BareLoop { addr, max_secs } = &cli.command {
        agent::bare_loop_child(addr, *max_secs);
        return ExitCode::SUCCESS;
    }
    if let Some(path) = &cli.out {
        if let Err(e) = common::report_to(path) {
            eprintln!("lab: {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    match common::use_hawatch(cli.hawatch) {
        Ok(p) => eprintln!("lab: measuring {}", p.display()),
        Err(e) => {
            eprintln!("lab: {e}");
            return ExitCode::FAILURE;
        }
    }
    match cli.command {
        Cmd::Watch(args) => watch::run(&args),
        Cmd::Agent(args) => agent::run(&args),
        Cmd::BareLoop { .. } => unreachable!("handled above"),
    }
    ExitCode::SUCCESS
}
