//! The load client: one exchange, the closed loop (epoll, many connections in
//! flight), the paced open loop, and the tally of outcomes.

use std::io::{self, Read};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};

use super::{cpu_split, cpu_ticks, machine_cpu};
use crate::common::{read_lossy, Proc};

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Outcome {
    /// One line starting with `up`.
    Up,
    /// Something else came back (kept for the report).
    Bad(String),
    Refused,
    /// EADDRNOTAVAIL: no free ephemeral port.
    NoPort,
    ConnectErr(String),
    Timeout,
    ReadErr(String),
}

/// One agent-check exchange: connect, read to EOF, close. Returns the outcome and
/// the time from the start of `connect` to the end of the reply line.
pub(super) fn exchange(addr: SocketAddr, timeout: Duration, buf: &mut Vec<u8>) -> (Outcome, Option<Duration>) {
    let t0 = Instant::now();
    let sock = match Socket::new(Domain::IPV4, Type::STREAM, None) {
        Ok(s) => s,
        Err(e) => return (Outcome::ConnectErr(format!("socket: {e}")), None),
    };
    // On Linux SO_SNDTIMEO also bounds a blocking connect().
    let _ = sock.set_write_timeout(Some(timeout));
    if let Err(e) = sock.connect(&addr.into()) {
        let o = match e.kind() {
            io::ErrorKind::ConnectionRefused => Outcome::Refused,
            io::ErrorKind::AddrNotAvailable => Outcome::NoPort,
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Outcome::Timeout,
            _ if e.raw_os_error() == Some(nix::libc::EINPROGRESS) => Outcome::Timeout,
            _ => Outcome::ConnectErr(e.to_string()),
        };
        return (o, None);
    }
    let _ = sock.set_read_timeout(Some(timeout));
    let mut s: TcpStream = sock.into();
    buf.clear();
    let mut line_at = None;
    let mut chunk = [0u8; 256];
    // A reply is one short line; 64 reads is plenty, more is an error anyway.
    for _ in 0..64 {
        match s.read(&mut chunk) {
            Ok(0) => {
                let o = check_reply(buf);
                return (o, line_at);
            }
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if line_at.is_none() && buf.contains(&b'\n') {
                    line_at = Some(t0.elapsed());
                }
                if buf.len() > 4096 {
                    break;
                }
            }
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                return (Outcome::Timeout, line_at);
            }
            Err(e) => return (Outcome::ReadErr(e.to_string()), line_at),
        }
    }
    (
        Outcome::Bad(format!(
            "too long: {:?}",
            String::from_utf8_lossy(&buf[..buf.len().min(80)])
        )),
        line_at,
    )
}

/// A valid agent reply here: exactly one line, ending in `\n` (or `\r\n`), whose
/// first word is `up`.
fn check_reply(buf: &[u8]) -> Outcome {
    let ok = buf.ends_with(b"\n")
        && buf.iter().filter(|&&b| b == b'\n').count() == 1
        && std::str::from_utf8(buf)
            .ok()
            .and_then(|s| s.split_whitespace().next())
            .is_some_and(|w| w == "up");
    if ok {
        Outcome::Up
    } else {
        Outcome::Bad(format!("{:?}", String::from_utf8_lossy(&buf[..buf.len().min(80)])))
    }
}

#[derive(Default, Clone)]
pub(super) struct Tally {
    up: u64,
    bad: u64,
    pub(super) refused: u64,
    no_port: u64,
    pub(super) timeout: u64,
    other: u64,
    /// A few of the unexpected outcomes, for the report.
    samples: Vec<String>,
}

impl Tally {
    pub(super) fn add(&mut self, o: &Outcome) {
        match o {
            Outcome::Up => self.up += 1,
            Outcome::Bad(_) => self.bad += 1,
            Outcome::Refused => self.refused += 1,
            Outcome::NoPort => self.no_port += 1,
            Outcome::Timeout => self.timeout += 1,
            Outcome::ConnectErr(_) | Outcome::ReadErr(_) => self.other += 1,
        }
        if *o != Outcome::Up && self.samples.len() < 5 {
            self.samples.push(format!("{o:?}"));
        }
    }

    pub(super) fn merge(&mut self, o: &Tally) {
        self.up += o.up;
        self.bad += o.bad;
        self.refused += o.refused;
        self.no_port += o.no_port;
        self.timeout += o.timeout;
        self.other += o.other;
        for s in &o.samples {
            if self.samples.len() < 5 {
                self.samples.push(s.clone());
            }
        }
    }

    pub(super) fn failed(&self) -> u64 {
        self.bad + self.refused + self.no_port + self.timeout + self.other
    }

    pub(super) fn describe(&self) -> String {
        let mut s = format!("{} up", self.up);
        for (n, what) in [
            (self.bad, "bad replies"),
            (self.refused, "refused"),
            (self.no_port, "EADDRNOTAVAIL"),
            (self.timeout, "timeouts"),
            (self.other, "other errors"),
        ] {
            if n > 0 {
                s += &format!(", {n} {what}");
            }
        }
        if !self.samples.is_empty() {
            s += &format!(" (e.g. {})", self.samples.join("; "));
        }
        s
    }
}

/// What a closed-loop run measured.
pub(super) struct Closed {
    pub(super) tally: Tally,
    pub(super) secs: f64,
    /// CPU of the client (this whole process) and of the server, % of one core.
    pub(super) client_cpu: f64,
    pub(super) server_cpu: f64,
    /// Of `client_cpu`, user space (the rest is the kernel's: syscalls and the
    /// loopback TCP work done in the client's context).
    pub(super) client_user: f64,
    /// All CPUs (/proc/stat), % of one core: busy, of which softirq.
    pub(super) machine_cpu: f64,
    pub(super) softirq: f64,
    /// The server's CPU seconds during the run.
    server_secs: f64,
}

impl Closed {
    pub(super) fn rate(&self) -> f64 {
        self.tally.up as f64 / self.secs
    }

    /// The server's CPU time per answered connection, µs: what the server costs,
    /// whatever limits the rate.
    pub(super) fn server_us(&self) -> f64 {
        self.server_secs / self.tally.up.max(1) as f64 * 1e6
    }
}

/// An error of connect or read as an outcome.
fn outcome_of(e: &io::Error) -> Outcome {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => Outcome::Refused,
        io::ErrorKind::AddrNotAvailable => Outcome::NoPort,
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Outcome::Timeout,
        _ if e.raw_os_error() == Some(nix::libc::EINPROGRESS) => Outcome::Timeout,
        _ => Outcome::ConnectErr(e.to_string()),
    }
}

enum Slot {
    /// Free; open a connection at this time.
    Idle(Instant),
    Busy(mio::net::TcpStream, Instant),
}

/// Closed loop: `threads` threads, each an epoll loop (mio) keeping `inflight`
/// connections open: nonblocking connect → read to EOF → close, and at once the
/// next, for `dur`. No thread blocks per connection, so the client spends its CPU
/// on the sockets, not on context switches. A refused or failed connection is
/// retried after 1 ms (no spinning on a switched-off service); one without an
/// answer after 5 s is counted as a timeout. Connections still open at the end are
/// dropped uncounted.
pub(super) fn closed_loop(addr: SocketAddr, threads: usize, inflight: usize, dur: Duration, server_pid: u32) -> Closed {
    let hz = 100.0; // USER_HZ
    let (c0, s0) = (cpu_ticks("self"), cpu_ticks(&server_pid.to_string()));
    let u0 = cpu_split("self").0;
    let m0 = machine_cpu();
    let t0 = Instant::now();
    let deadline = t0 + dur;
    let handles: Vec<JoinHandle<Tally>> = (0..threads)
        .map(|_| thread::spawn(move || closed_loop_thread(addr, inflight, deadline)))
        .collect();
    let mut tally = Tally::default();
    for h in handles {
        tally.merge(&h.join().expect("client thread"));
    }
    let secs = dur.as_secs_f64();
    let (c1, s1) = (cpu_ticks("self"), cpu_ticks(&server_pid.to_string()));
    let m1 = machine_cpu();
    let u1 = cpu_split("self").0;
    let wall = t0.elapsed().as_secs_f64();
    let ncpu = thread::available_parallelism().map(|n| n.get()).unwrap_or(1) as f64;
    let share = |a: u64, b: u64| (b - a) as f64 / (m1.2 - m0.2).max(1) as f64 * ncpu * 100.0;
    Closed {
        tally,
        secs,
        client_cpu: (c1 - c0) as f64 / hz / wall * 100.0,
        server_cpu: s1.saturating_sub(s0) as f64 / hz / wall * 100.0,
        client_user: u1.saturating_sub(u0) as f64 / hz / wall * 100.0,
        machine_cpu: share(m0.0, m1.0),
        softirq: share(m0.1, m1.1),
        server_secs: s1.saturating_sub(s0) as f64 / hz,
    }
}

fn closed_loop_thread(addr: SocketAddr, inflight: usize, deadline: Instant) -> Tally {
    use mio::{Events, Interest, Poll, Token};
    let mut t = Tally::default();
    let mut poll = Poll::new().expect("epoll");
    let mut events = Events::with_capacity(1024);
    let mut slots: Vec<Slot> = (0..inflight).map(|_| Slot::Idle(Instant::now())).collect();
    // Per slot: what its connection has read so far (a reply and the EOF may come
    // in separate events).
    let mut bufs: Vec<Vec<u8>> = (0..inflight).map(|_| Vec::with_capacity(64)).collect();
    let mut chunk = [0u8; 256];
    let timeout = Duration::from_secs(5);
    // Bounded by time (the deadline), and by count as a backstop.
    for _ in 0..100_000_000u64 {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        // (Re)open idle slots that are due; expire stuck ones.
        for (i, slot) in slots.iter_mut().enumerate() {
            match slot {
                Slot::Idle(at) if *at <= now => match mio::net::TcpStream::connect(addr) {
                    Ok(mut s) => {
                        if let Err(e) = poll.registry().register(&mut s, Token(i), Interest::READABLE) {
                            t.add(&Outcome::ConnectErr(format!("register: {e}")));
                            *slot = Slot::Idle(now + Duration::from_millis(1));
                        } else {
                            bufs[i].clear();
                            *slot = Slot::Busy(s, now);
                        }
                    }
                    Err(e) => {
                        t.add(&outcome_of(&e));
                        *slot = Slot::Idle(now + Duration::from_millis(1));
                    }
                },
                Slot::Busy(_, since) if now.duration_since(*since) > timeout => {
                    t.add(&Outcome::Timeout);
                    *slot = Slot::Idle(now);
                }
                _ => {}
            }
        }
        let wait = deadline.saturating_duration_since(now).min(Duration::from_millis(
            if slots.iter().any(|s| matches!(s, Slot::Idle(_))) {
                1
            } else {
                100
            },
        ));
        if let Err(e) = poll.poll(&mut events, Some(wait)) {
            if e.kind() != io::ErrorKind::Interrupted {
                panic!("epoll_wait: {e}");
            }
        }
        for ev in events.iter() {
            let i = ev.token().0;
            let Some(Slot::Busy(s, _)) = slots.get_mut(i) else {
                continue;
            };
            let buf = &mut bufs[i];
            // Edge-triggered: read until EOF or WouldBlock (bounded: a reply is short).
            let mut done = None;
            for _ in 0..64 {
                match s.read(&mut chunk) {
                    Ok(0) => {
                        done = Some(check_reply(buf));
                        break;
                    }
                    Ok(n) => {
                        buf.extend_from_slice(&chunk[..n]);
                        if buf.len() > 4096 {
                            done = Some(Outcome::Bad("too long".into()));
                            break;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        done = Some(match outcome_of(&e) {
                            Outcome::ConnectErr(m) => Outcome::ReadErr(m),
                            o => o,
                        });
                        break;
                    }
                }
            }
            if let Some(o) = done {
                let next = if o == Outcome::Up {
                    Instant::now()
                } else {
                    Instant::now() + Duration::from_millis(1)
                };
                t.add(&o);
                // Dropping the stream closes it (and removes it from the epoll set).
                slots[i] = Slot::Idle(next);
            }
        }
    }
    t
}

/// One connection of a paced run.
pub(super) struct Sample {
    /// Scheduled start, and actual start, from the start of the run.
    pub(super) sched: Duration,
    pub(super) start: Duration,
    /// Start of `connect` → end of the reply line.
    pub(super) line: Option<Duration>,
    pub(super) outcome: Outcome,
}

/// Open loop: connection k starts at k / rate (on one of `threads` threads, round
/// robin), whatever happened to the ones before, for `dur`. A thread that falls
/// behind starts its next connection at once (recorded as lateness).
pub(super) fn paced(addr: SocketAddr, rate: u64, dur: Duration, threads: usize, timeout: Duration) -> Vec<Sample> {
    let total = (rate * dur.as_secs()).max(1);
    let t0 = Instant::now() + Duration::from_millis(20);
    let handles: Vec<JoinHandle<Vec<Sample>>> = (0..threads as u64)
        .map(|i| {
            thread::spawn(move || {
                let mut out = Vec::with_capacity((total / threads as u64 + 1) as usize);
                let mut buf = Vec::with_capacity(256);
                let mut k = i;
                while k < total {
                    let sched = Duration::from_nanos(k * 1_000_000_000 / rate);
                    let at = t0 + sched;
                    let now = Instant::now();
                    if at > now {
                        thread::sleep(at - now);
                    }
                    let start = Instant::now().saturating_duration_since(t0).max(sched);
                    // Give up on a run that is more than 30 s late (xinetd under load).
                    if start > sched + Duration::from_secs(30) {
                        break;
                    }
                    let (outcome, line) = exchange(addr, timeout, &mut buf);
                    out.push(Sample {
                        sched,
                        start,
                        line,
                        outcome,
                    });
                    k += threads as u64;
                }
                out
            })
        })
        .collect();
    let mut all: Vec<Sample> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("paced thread"))
        .collect();
    all.sort_by_key(|s| s.start);
    all
}

/// Waits (bounded: `secs` s) until `addr` answers a line starting with `up`.
pub(super) fn wait_up(addr: SocketAddr, secs: u64, p: &mut Proc, log: &Path) -> Duration {
    let t = Instant::now();
    let mut buf = Vec::new();
    let mut last = Outcome::Refused;
    for _ in 0..secs * 20 {
        if let Some(st) = p.exited() {
            panic!("{} exited ({st}):\n{}", p.name, read_lossy(log));
        }
        let (o, _) = exchange(addr, Duration::from_secs(5), &mut buf);
        if o == Outcome::Up {
            return t.elapsed();
        }
        last = o;
        thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "{} did not answer `up` on {addr} within {secs} s (last: {last:?}):\n{}",
        p.name,
        read_lossy(log)
    );
}
