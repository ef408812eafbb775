//! The `hawatch` binary: parse the command line, run, print the error chain
//! once, and map it to an exit status (0 ok, 1 failure, 2 configuration or usage).

use std::process::ExitCode;

use clap::Parser;
use hawatch::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default = if matches!(cli.command, Command::Demo { .. }) {
        "warn"
    } else {
        "info"
    };
    let wanted = cli.log.clone().unwrap_or_else(|| default.to_string());
    let filter = tracing_subscriber::EnvFilter::try_new(&wanted).unwrap_or_else(|e| {
        eprintln!("hawatch: bad --log {wanted:?} ({e}); using info");
        tracing_subscriber::EnvFilter::new("info")
    });
    // Colour only on a terminal: journald and log files get plain text.
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .with_target(false)
        .init();
    // keepalived runs `check` every second or two and `vrrp-notify` on a
    // failover: no worker threads to start.
    let rt = if matches!(cli.command, Command::Check { .. } | Command::VrrpNotify { .. }) {
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
            if let Some(u) = e.downcast_ref::<hawatch::cli::UsageError>() {
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
