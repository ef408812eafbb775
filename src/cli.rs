//! Command-line interface. Every subcommand has `--help`; README and
//! `docs/` describe the same flags.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// clap's value parser for `ctl weight`: 0-256, or a percentage (`50%`).
pub(crate) fn weight_arg(s: &str) -> Result<haproxy::Weight, haproxy::WeightError> {
    s.parse()
}

#[derive(Debug, Parser)]
#[command(name = "hawatch", version, about = "Watch HAProxy: detect server state changes, store every event, deliver it to chat and webhooks.", long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Log filter for stderr (error, warn, info, debug, or tracing directives);
    /// default info (warn for `demo`, whose console shows the events).
    #[arg(long, global = true, env = "HAWATCH_LOG")]
    pub log: Option<String>,
    /// Config file (default: $HAWATCH_CONFIG, else /etc/hawatch/hawatch.toml if it
    /// exists, else the environment variables HAPROXY_SOCKET / HAPROXY_STATS_URL /
    /// FEISHU_WEBHOOK_URL / STATE_FILE).
    #[arg(short, long, value_name = "FILE", global = true)]
    pub(crate) config: Option<PathBuf>,
    /// Store path for `events` and `outbox` (default: `watch.store` of the config).
    #[arg(long, value_name = "PATH", global = true)]
    pub(crate) store: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Poll HAProxy instances, turn changes into events, store them and notify.
    Watch {
        /// One poll-diff-deliver pass, then exit (for a systemd timer or cron).
        /// Exit status 1 if an instance could not be read or a notification is
        /// still pending.
        #[arg(long)]
        once: bool,
    },
    /// Answer HAProxy's agent-check from background checks of this host's app
    /// (`[agent]` in the config; docs/agent.md).
    Agent {
        /// Run every check once, print the reply it would give now and why, exit.
        #[arg(long)]
        once: bool,
    },
    /// keepalived's `vrrp_script`: exit 0 when this node's HAProxy is fit to
    /// hold the VIP, 1 (reason on stderr) when not ([check] in the config).
    Check,
    /// For keepalived's `notify` (and `notify_master|backup|fault|stop`): record a
    /// VRRP role change and deliver it through the sinks; returns at once.
    VrrpNotify {
        /// keepalived's arguments: TYPE NAME STATE [PRIORITY].
        #[arg(num_args = 3..=4, required = true)]
        args: Vec<String>,
        /// (internal) when a FAULT arrived; it is told after `fault_grace` unless something followed.
        #[arg(long, hide = true)]
        arrived_ms: Option<i64>,
    },
    /// Print a keepalived.conf for each node of an HAProxy pair, hawatch's
    /// [check] and [keepalived] sections, and the HAProxy lines the pair needs.
    KeepalivedConfig(KeepalivedConfigArgs),
    /// Deliver what the outbox holds and exit (started by `vrrp-notify` when no watcher runs).
    #[command(hide = true)]
    Deliver,
    /// Change servers through the Runtime API (state, weight, checks, maxconn),
    /// bring operator MAINT/DRAIN back (`recover`), or list them (`show`).
    /// Each change asks on a terminal (unless --yes) and is an audit event.
    Ctl(CtlArgs),
    /// Install a new haproxy.cfg safely: `haproxy -c` and doctor's file rules
    /// (refused on a critical finding unless --force), backup, atomic
    /// install, reload, verify (servers and frontends back within `settle`),
    /// and roll back by itself if not ([apply] in the config).
    Apply {
        /// The new configuration file.
        #[arg(required_unless_present = "rollback")]
        new: Option<PathBuf>,
        /// Restore the latest backup the same way.
        #[arg(long, conflicts_with = "new")]
        rollback: bool,
        /// Show the diff against the running config, `haproxy -c` and doctor's file findings only.
        #[arg(long)]
        dry_run: bool,
        /// Do not ask.
        #[arg(long, short = 'y')]
        yes: bool,
        /// Install even with critical doctor findings in the new file (`haproxy -c` must still pass).
        #[arg(long)]
        force: bool,
        /// The [[haproxy]] to verify through (default: the first with a `socket`).
        #[arg(long)]
        instance: Option<String>,
    },
    /// Check an HAProxy host against doctor's rules (docs/doctor.md): the
    /// config (`haproxy -c`, then every rule at once: checks, stats page and
    /// sockets, removed keywords, timeouts, TLS, certificates), the process
    /// through the Runtime API the config declares, and the host (binds, CPU,
    /// memory, TIME_WAIT, OOM kills, directories, limits). Each finding has a
    /// rule id, a level, file:line and a fix. Exit 0 ok, 1 warnings, 2 critical.
    Doctor {
        /// The haproxy.cfg to examine; repeat for a configuration in several
        /// files, in the order of HAProxy's `-f` options.
        #[arg(long, value_name = "PATH", default_value = "/etc/haproxy/haproxy.cfg")]
        haproxy_config: Vec<PathBuf>,
        /// The haproxy binary for `haproxy -c` (and its version, with --offline).
        #[arg(long, value_name = "PATH", default_value = "/usr/sbin/haproxy")]
        haproxy: PathBuf,
        /// The keepalived binary, examined if it exists (that it can start;
        /// what its version needs of the notify FIFO).
        #[arg(long, value_name = "PATH", default_value = "/usr/sbin/keepalived")]
        keepalived: PathBuf,
        /// Only the file rules (and `haproxy -c`): no process, no host. For CI
        /// pipelines gating a config change.
        #[arg(long)]
        offline: bool,
        /// Print what a rule checks and why (`HW101`), or every rule with `all`.
        #[arg(long, value_name = "ID")]
        explain: Option<String>,
        /// Print the findings as a JSON array ({id, rule, level, file, line, text, fix}).
        #[arg(long)]
        json: bool,
    },
    /// A live terminal view (docs/top.md): every [[haproxy]]'s servers
    /// (status, traffic, HTTP, errors), a Runtime API prompt, this node's
    /// VRRP role, VIPs and outbox, the stored events, and with
    /// `[keepalived] peer` the pair side by side, differences highlighted.
    /// d/m/r drain, maint and ready servers after y/n, through `ctl`'s code
    /// (each an audit_ctl event). Press ? for the keys.
    Top {
        /// Refuse every change: d/m/r, and Runtime API commands other than `show` and `help`.
        #[arg(long)]
        read_only: bool,
        /// How often each instance is polled (at least 200ms).
        #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = humantime::parse_duration)]
        interval: std::time::Duration,
        /// Start on this [[haproxy]] (switch with [ and ]).
        #[arg(long)]
        instance: Option<String>,
    },
    /// List stored events, oldest first.
    Events(EventsArgs),
    /// Show the notification outbox: pending, held, delivered and dead per
    /// sink, and the dead letters; `outbox retry` sends dead letters again.
    Outbox(OutboxArgs),
    /// Notification tools.
    #[command(subcommand)]
    Notify(NotifyCommand),
    /// Check or print the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Start a real HAProxy on loopback with servers hawatch serves, break and
    /// mend them, and show the events as they happen. Leaves nothing running.
    Demo {
        /// The haproxy binary to run.
        #[arg(long, default_value = "haproxy")]
        haproxy: PathBuf,
    },
    /// Print the shell completion script for SHELL (bash, zsh, fish, elvish,
    /// powershell) on stdout.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write the man pages: hawatch(1) on stdout, or, given DIR, hawatch.1 and
    /// one page per subcommand (hawatch-watch.1, ...) into DIR.
    Man {
        /// The directory to write every page into.
        dir: Option<PathBuf>,
    },
}

impl Command {
    /// The commands that only print what they read (the store, the config,
    /// their own definitions): `main` lets them end quietly when their reader
    /// goes away (`hawatch events | head`), as `ls` and `grep` do.
    pub fn only_prints(&self) -> bool {
        matches!(
            self,
            Command::Events(_)
                | Command::Outbox(OutboxArgs { action: None })
                | Command::Config(_)
                | Command::Completions { .. }
                | Command::Man { .. }
        )
    }
}

#[derive(Debug, Args)]
pub struct CtlArgs {
    /// Which [[haproxy]] (needed with several); it must have a `socket`.
    #[arg(long, global = true)]
    pub(crate) instance: Option<String>,
    /// Do not ask.
    #[arg(long, short = 'y', global = true)]
    pub(crate) yes: bool,
    #[command(subcommand)]
    pub(crate) action: CtlAction,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum ServerState {
    Ready,
    Drain,
    Maint,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum OnOff {
    Enable,
    Disable,
}

#[derive(Debug, Subcommand)]
pub(crate) enum CtlAction {
    /// Set the admin state: `ctl server app/web1 drain` (wildcards: app/*, */web1).
    Server { target: String, state: ServerState },
    /// Set the weight, absolute (0-256) or relative to the configured one (`50%`).
    Weight {
        target: String,
        #[arg(value_parser = weight_arg)]
        weight: haproxy::Weight,
    },
    /// Enable or disable health checks.
    Health { target: String, action: OnOff },
    /// Enable or disable the agent check.
    Agent { target: String, action: OnOff },
    /// Set the server's maxconn (0: no limit).
    Maxconn { target: String, maxconn: u32 },
    /// Bring servers an operator put in MAINT or DRAIN back to ready.
    Recover {
        /// Only this backend.
        #[arg(long)]
        backend: Option<String>,
        /// Only list what would be done.
        #[arg(long)]
        dry_run: bool,
    },
    /// The servers, one line each.
    Show { backend: Option<String> },
}

#[derive(Debug, Args)]
pub struct KeepalivedConfigArgs {
    /// A node as NAME=IP:PRIORITY (twice; the higher priority is the preferred MASTER).
    #[arg(long = "node", required = true, num_args = 1, value_name = "NAME=IP:PRIO")]
    pub(crate) nodes: Vec<String>,
    /// The interface VRRP runs on and the VIP lives on.
    #[arg(long)]
    pub(crate) interface: String,
    /// The VIP, IP or IP/PREFIX.
    #[arg(long)]
    pub(crate) vip: String,
    /// virtual_router_id (unique per network segment).
    #[arg(long, default_value_t = 51)]
    pub(crate) router_id: u8,
    /// Backends `hawatch check` requires at least one usable server in.
    #[arg(long = "backend", value_name = "NAME")]
    pub(crate) backends: Vec<String>,
    /// Where hawatch is installed.
    #[arg(long, default_value = "/usr/bin/hawatch")]
    pub(crate) hawatch: String,
    /// hawatch's config file on the nodes.
    #[arg(long = "hawatch-config", default_value = "/etc/hawatch/hawatch.toml")]
    pub(crate) hawatch_config: String,
    /// keepalived's notify_fifo.
    #[arg(long, default_value = "/run/hawatch/keepalived.fifo")]
    pub(crate) fifo: String,
    /// The user `hawatch watch` runs as, which creates the FIFO: named on the
    /// `notify_fifo` line, as keepalived 2.4+ require of a FIFO they did not
    /// create (2.2 and 2.3 accept the same line).
    #[arg(long, value_name = "USER", default_value = "root")]
    pub(crate) fifo_owner: String,
    /// HAProxy's Runtime API socket (the default of `[check] socket`).
    #[arg(long, default_value = crate::config::DEFAULT_SOCKET)]
    pub(crate) socket: String,
    /// Write `keepalived-NAME.conf` for each node into this directory instead of printing.
    #[arg(long, value_name = "DIR")]
    pub(crate) out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct OutboxArgs {
    #[command(subcommand)]
    pub(crate) action: Option<OutboxAction>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum OutboxAction {
    /// Put dead letters back at the end of their sink's queue (all, one sink's,
    /// or the given ids); a running watcher picks them up within seconds.
    Retry {
        /// Only this sink's dead letters.
        #[arg(long)]
        sink: Option<String>,
        /// Only these dead letters (ids from `hawatch outbox`).
        ids: Vec<i64>,
    },
}

#[derive(Debug, Subcommand)]
pub enum NotifyCommand {
    /// Send a clearly marked test message through every sink (or one) and
    /// report per sink: ok, or the service's error in plain words. Exit
    /// status 1 if any tested sink failed.
    Test {
        /// Only this sink.
        #[arg(long)]
        sink: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration; report every problem with file, line and key.
    Check,
    /// Print the effective configuration with defaults, secrets shown as ***.
    Show,
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Only events newer than this: a duration (`90s`, `1h`, `2d`) or an RFC 3339 time.
    #[arg(long, value_name = "DURATION|TIME")]
    pub(crate) since: Option<crate::model::since::Since>,
    /// Only this instance (its `[[haproxy]]` name).
    #[arg(long)]
    pub(crate) instance: Option<String>,
    /// Only this backend.
    #[arg(long)]
    pub(crate) backend: Option<String>,
    /// Only this server.
    #[arg(long)]
    pub(crate) server: Option<String>,
    /// Only this kind (e.g. server_down; see docs/events.md).
    #[arg(long)]
    pub(crate) kind: Option<String>,
    /// At most this many (the newest).
    #[arg(long)]
    pub(crate) limit: Option<usize>,
    /// Print a JSON array of events (the webhook's event objects).
    #[arg(long)]
    pub(crate) json: bool,
}
