//! The `hawatch` binary: parse the command line, run, print the error chain
//! once, and map it to an exit status (0 ok, 1 failure, 2 configuration or usage).

use std::process::ExitCode;

use clap::Parser;
use hawatch::cli::{Cli, Command};

/// glibc's malloc, tuned for a watcher's memory peaks (issue 12). By default
/// every thread that meets contention gets its own arena (up to 8 per core):
/// a poll's diff runs on a worker, its commit on a blocking thread, the
/// deliveries on another worker, so the memory one frees stays in its arena
/// while the next allocates afresh in another. Measured with `cargo run -p
/// lab --release -- watch outage` (10,000 servers down in one poll, then
/// back): VmHWM 73.6 MB outage / 83.6 MB recovery with the defaults, 56.5 /
/// 54.1 MB with one arena and a fixed 128 KB mmap threshold (large buffers,
/// such as a poll's event list, are then mapped and returned on free instead
/// of raising the threshold and staying in the heap). The watcher makes few
/// allocations per second; the contention a single arena may add was not measured.
/// Left alone when the operator tuned malloc (`GLIBC_TUNABLES`, `MALLOC_ARENA_MAX`).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_malloc() {
    use nix::libc::{mallopt, M_ARENA_MAX, M_MMAP_THRESHOLD};
    let tuned = std::env::var_os("MALLOC_ARENA_MAX").is_some()
        || std::env::var("GLIBC_TUNABLES").is_ok_and(|t| t.contains("glibc.malloc."));
    if !tuned {
        // SAFETY: mallopt only changes allocator parameters; called first
        // thing in main, before any thread is started.
        unsafe {
            mallopt(M_ARENA_MAX, 1);
            mallopt(M_MMAP_THRESHOLD, 128 << 10);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_malloc() {}

/// Rust ignores SIGPIPE, so `println!` into a pipe whose reader is gone
/// panics. For the commands that only print ([`Command::only_prints`]) the
/// signal gets its default back and ends them quietly. Not for the others:
/// they talk to HAProxy, chat services and sockets, and a broken connection
/// there is an error to report, not a reason to die.
fn quiet_on_closed_stdout(command: &Command) {
    if command.only_prints() {
        // SAFETY: restores the default disposition of one signal, before any
        // thread is started and before anything is written.
        unsafe {
            nix::libc::signal(nix::libc::SIGPIPE, nix::libc::SIG_DFL);
        }
    }
}

fn main() -> ExitCode {
    tune_malloc();
    let cli = Cli::parse();
    quiet_on_closed_stdout(&cli.command);
    let default = if matches!(cli.command, Command::Demo { .. }) {
        "warn"
    } else {
        "info"
    };
    use std::io::IsTerminal;
    // `top` draws on the terminal: a log line there would tear the screen.
    // Its log goes only where stderr is not the terminal (`2>top.log`).
    let wanted = if matches!(cli.command, Command::Top { .. }) && std::io::stderr().is_terminal() {
        "off".to_string()
    } else {
        cli.log.clone().unwrap_or_else(|| default.to_string())
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&wanted).unwrap_or_else(|e| {
        eprintln!("hawatch: bad --log {wanted:?} ({e}); using info");
        tracing_subscriber::EnvFilter::new("info")
    });
    // Colour only on a terminal: journald and log files get plain text.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .with_target(false)
        .init();
    // keepalived runs `check` every second or two and `vrrp-notify` on a
    // failover: no worker threads to start.
    let rt = if matches!(cli.command, Command::Check | Command::VrrpNotify { .. }) {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
    };
    let rt = match rt {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("hawatch: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(hawatch::commands::run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            if let Some(c) = e.downcast_ref::<hawatch::config::ConfigError>() {
                eprintln!("hawatch: configuration error:\n{c}");
                return ExitCode::from(2);
            }
            if let Some(u) = e.downcast_ref::<hawatch::error::UsageError>() {
                eprintln!("hawatch: usage error: {}", hawatch::text::visible(&u.0));
                return ExitCode::from(2);
            }
            // The chain may quote HAProxy's or a service's reply: its control
            // characters are shown escaped, its line breaks kept.
            eprintln!("hawatch: error: {}", hawatch::text::visible_lines(&format!("{e:#}")));
            ExitCode::from(1)
        }
    }
}
