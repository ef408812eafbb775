//! Part `top`: `hawatch top` beside Debian's `hatop` (when installed), each in
//! a tmux pane of its own (a tmux server on a socket in the run's directory)
//! at 200×50, both refreshing every second, on the big instance. After a 5 s
//! warm-up, the CPU each used (utime + stime from /proc) over `--top-secs`
//! seconds, and its VmRSS then. hawatch top runs first, hatop after it, one at
//! a time.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use super::instances::Big;
use super::rss::proc_cpu_ticks;
use super::{mb, proc_status};
use crate::common::{hawatch, row, verdict, Row};

/// A tmux server of our own with one 200×50 pane running `argv`; killed on drop.
struct Pane {
    sock: std::path::PathBuf,
}

impl Pane {
    fn start(dir: &Path, name: &str, argv: &[&str]) -> Pane {
        let sock = dir.join(format!("tmux-{name}.sock"));
        let conf = dir.join("tmux.conf");
        fs::write(&conf, "set -g status off\n").expect("write tmux.conf");
        let ok = Command::new("tmux")
            .arg("-S")
            .arg(&sock)
            .arg("-f")
            .arg(&conf)
            .args(["new-session", "-d", "-x", "200", "-y", "50", "--"])
            .args(argv)
            .env_remove("TMUX")
            .env("TERM", "xterm-256color")
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "tmux could not start {argv:?} (is tmux installed?)");
        Pane { sock }
    }

    fn tmux(&self, args: &[&str]) -> String {
        Command::new("tmux")
            .arg("-S")
            .arg(&self.sock)
            .args(args)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }

    fn pid(&self) -> Option<u32> {
        self.tmux(&["display-message", "-p", "-t", "0", "#{pane_pid}"])
            .trim()
            .parse()
            .ok()
    }

    /// Waits (60 s at most) until the screen shows `text`.
    fn wait(&self, text: &str) -> bool {
        let end = Instant::now() + Duration::from_secs(60);
        while Instant::now() < end {
            if self.tmux(&["capture-pane", "-p", "-t", "0"]).contains(text) {
                return true;
            }
            thread::sleep(Duration::from_millis(250));
        }
        false
    }
}

impl Drop for Pane {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-S")
            .arg(&self.sock)
            .arg("kill-server")
            .status();
    }
}

/// CPU % of one core and VmRSS (kB) of the pane's process over `secs`, once
/// its screen shows `ready`.
fn measure(pane: &Pane, ready: &str, secs: u64) -> Option<(f64, u64)> {
    if !pane.wait(ready) {
        say!("  its screen never showed {ready:?}");
        return None;
    }
    let pid = pane.pid()?;
    thread::sleep(Duration::from_secs(5));
    let (t0, c0) = (Instant::now(), proc_cpu_ticks(pid)?);
    thread::sleep(Duration::from_secs(secs));
    let (t1, c1) = (Instant::now(), proc_cpu_ticks(pid)?);
    let cpu = (c1 - c0) as f64 / 100.0 / (t1 - t0).as_secs_f64() * 100.0;
    Some((cpu, proc_status(pid, "VmRSS").unwrap_or(0)))
}

pub(super) fn part_top(big: &Big, dir: &Path, secs: u64, table: &mut Vec<Row>) {
    let n = big.backends * big.servers;
    say!("\n## hawatch top and hatop on {n} servers (200x50, refresh 1 s, CPU over {secs} s)");
    let cfg = dir.join("top.toml");
    fs::write(
        &cfg,
        format!(
            "[watch]\nstore = {:?}\n\n[[haproxy]]\nname = \"big\"\nsocket = {:?}\n",
            dir.join("top-store.db").display().to_string(),
            big.haproxy.sock.display().to_string()
        ),
    )
    .expect("write top.toml");
    let bin = hawatch().display().to_string();
    let cfg_s = cfg.display().to_string();
    let hawatch_top = {
        let pane = Pane::start(dir, "hawatch", &[&bin, "top", "--config", &cfg_s, "--interval", "1s"]);
        measure(&pane, "be_0000", secs)
    };
    match hawatch_top {
        Some((cpu, rss)) => {
            say!("hawatch top: {cpu:.1} % of a core, VmRSS {:.1} MB", mb(rss));
            row(
                table,
                format!("hawatch top CPU, {n} servers, 1 s refresh"),
                format!("{cpu:.1} %"),
                "≤ 5 %",
                verdict(cpu <= 5.0),
            );
            row(
                table,
                "hawatch top VmRSS",
                format!("{:.1} MB", mb(rss)),
                "-",
                "-".into(),
            );
        }
        None => say!("hawatch top: not measured (see above)"),
    }
    let hatop = ["/usr/bin/hatop", "/usr/sbin/hatop"]
        .into_iter()
        .find(|p| Path::new(p).exists());
    let Some(hatop) = hatop else {
        say!("hatop: not installed (apt-get install hatop), not measured");
        return;
    };
    let sock = big.haproxy.sock.display().to_string();
    let pane = Pane::start(dir, "hatop", &[hatop, "-s", &sock, "-i", "1"]);
    match (measure(&pane, "be_0000", secs), hawatch_top) {
        (Some((cpu, rss)), mine) => {
            say!("hatop: {cpu:.1} % of a core, VmRSS {:.1} MB", mb(rss));
            let ratio = mine
                .map(|(m, _)| format!("{:.2}", m / cpu.max(0.01)))
                .unwrap_or("-".into());
            row(
                table,
                format!("hatop CPU, {n} servers, 1 s refresh"),
                format!("{cpu:.1} % (hawatch top / hatop = {ratio})"),
                "-",
                "-".into(),
            );
            row(table, "hatop VmRSS", format!("{:.1} MB", mb(rss)), "-", "-".into());
        }
        (None, _) => say!("hatop: not measured (see above)"),
    }
}
