//! Part `check`: `hawatch check` (keepalived's vrrp_script) per call, against the
//! seed's `killall -0 haproxy`, on the same small HAProxy.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use testkit::reserved_port;

use super::instances::{small_config, Haproxy};
use super::servers::HttpListener;
use super::{ms, summary};
use crate::common::{hawatch, verdict, Row};

pub(super) fn part_check(dir: &Path, iters: usize, before: Option<&Path>, table: &mut Vec<Row>) {
    let listener = HttpListener::start();
    let sock = dir.join("check.sock");
    let fe_port = reserved_port();
    let h = Haproxy::start(
        dir,
        "haproxy-check",
        &small_config(&sock, fe_port, listener.port()),
        sock.clone(),
    );
    let cfg = dir.join("check.toml");
    // Everything `hawatch check` can look at but a pid file (HAProxy runs in the foreground here).
    fs::write(
        &cfg,
        format!(
            "[check]\nsocket = \"{}\"\ntimeout = \"500ms\"\nmaint_file = \"{}\"\nmin_up = {{ be = 1 }}\n\
             binds = [\"127.0.0.1:{fe_port}\"]\ngateway = \"127.0.0.1\"\n",
            sock.display(),
            dir.join("down").display()
        ),
    )
    .expect("write check.toml");
    // Wait (bounded) until the server settled UP, so the check passes.
    let mut ok = false;
    for _ in 0..100 {
        if Command::new(hawatch())
            .args(["check", "--config"])
            .arg(&cfg)
            .status()
            .is_ok_and(|s| s.success())
        {
            ok = true;
            break;
        }
        thread::sleep(Duration::from_millis(100));
    }
    assert!(ok, "hawatch check never passed:\n{}", h.cmd("show stat"));
    let killall = Path::new("/usr/bin/killall");
    let have_killall = killall.exists();
    if !have_killall {
        say!("killall not found (Debian package psmisc): measuring hawatch check alone");
    }
    let time = |cmd: &mut Command| -> (f64, bool) {
        let t = Instant::now();
        let ok = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        (ms(t.elapsed()), ok)
    };
    let (mut hw, mut ka, mut old) = (Vec::new(), Vec::new(), Vec::new());
    let mut failures = 0;
    for _ in 0..iters {
        let (d, ok) = time(Command::new(hawatch()).args(["check", "--config"]).arg(&cfg));
        hw.push(d);
        failures += usize::from(!ok);
        if let Some(before) = before {
            let (d, ok) = time(Command::new(before).args(["check", "--config"]).arg(&cfg));
            old.push(d);
            failures += usize::from(!ok);
        }
        if have_killall {
            let (d, ok) = time(Command::new(killall).args(["-0", "haproxy"]));
            ka.push(d);
            failures += usize::from(!ok);
        }
    }
    let (a, b) = (summary(&hw), summary(&ka));
    say!("\n## check ({iters} interleaved calls each; wall time of a whole call: spawn, run, exit)");
    say!("| command | p50 ms | p90 ms | min | max |\n|---|---|---|---|---|");
    say!(
        "| hawatch check (show stat over the socket, min_up, maint_file, a bind, ICMP echo to a gateway) | {:.2} | {:.2} | {:.2} | {:.2} |",
        a.p50, a.p90, a.min, a.max
    );
    let o = summary(&old);
    if let Some(before) = before {
        say!(
            "| before: {} check | {:.2} | {:.2} | {:.2} | {:.2} |",
            before.display(),
            o.p50,
            o.p90,
            o.min,
            o.max
        );
    }
    if have_killall {
        say!(
            "| killall -0 haproxy (scans /proc) | {:.2} | {:.2} | {:.2} | {:.2} |",
            b.p50,
            b.p90,
            b.min,
            b.max
        );
        table.push(Row {
            metric: "`hawatch check` per call vs `killall -0 haproxy`".into(),
            measured: format!("{:.2} vs {:.2} ms = {:.2}", a.p50, b.p50, a.p50 / b.p50),
            target: "≤ 1.3 (issue 15)".into(),
            met: if failures == 0 {
                verdict(a.p50 <= 1.3 * b.p50)
            } else {
                format!("NO: {failures} failed calls")
            },
        });
        if before.is_some() {
            table.push(Row {
                metric: "    before: `hawatch check` per call vs `killall -0 haproxy`".into(),
                measured: format!("{:.2} vs {:.2} ms = {:.2}", o.p50, b.p50, o.p50 / b.p50),
                target: "-".into(),
                met: "-".into(),
            });
        }
    }
    drop(h);
    drop(listener);
}
