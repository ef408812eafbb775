//! What both side-by-side benchmarks need: a child process stopped (and
//! reaped) when dropped, a free loopback port, and the table's verdict.
//! Included by each with `#[path]` (a bench target is its own crate).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::thread;
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

pub fn verdict(ok: bool) -> String {
    if ok { "yes" } else { "NO" }.to_string()
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
        eprintln!("bench: {} (pid {}) ignored SIGTERM; killing it", self.name, self.pid());
        let _ = self.child.kill();
        self.child.wait().ok()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A loopback port reserved for this benchmark run: bound (SO_REUSEADDR) and never
/// listened on, for as long as the process lives. Nobody else gets it (neither
/// `bind(0)` nor an outgoing connection is handed a bound port, and a bind without
/// SO_REUSEADDR is refused), so it cannot be taken between here and the bind of the
/// process we hand it to; that process binds it anyway, because HAProxy, hawatch,
/// the Go exporter, xinetd and std's `TcpListener::bind` all set SO_REUSEADDR, and
/// Linux lets a SO_REUSEADDR socket listen next to bound ones that do not listen.
/// Until someone listens, connects are refused (a port for "nobody listens here").
pub fn free_port() -> u16 {
    static HELD: Mutex<Vec<socket2::Socket>> = Mutex::new(Vec::new());
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    s.set_reuse_address(true).expect("SO_REUSEADDR");
    s.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .expect("bind 127.0.0.1:0");
    let port = s
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .map(|a| a.port())
        .expect("bound address");
    HELD.lock().unwrap().push(s);
    port
}
