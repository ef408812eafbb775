//! `SmtpServer`: a real SMTP server (aiosmtpd) owned by one test.
//!
//! Runs `fixtures/smtpd.py` (of this crate) with Debian's `/usr/bin/python3` (the `python3` on
//! PATH may be a pyenv build that does not see `python3-aiosmtpd`; override with
//! `HAWATCH_IT_PYTHON`) on a free 127.0.0.1 port, in one of three [`SmtpTls`] modes,
//! optionally requiring AUTH PLAIN / LOGIN. A fresh self-signed certificate for
//! `localhost` / `127.0.0.1` is made per server with `openssl req`; clients verify
//! against [`SmtpServer::cert_path`]. Every accepted message is a JSON line in
//! `<dir>/mails.jsonl`, which [`SmtpServer::messages`] reads back as [`Mail`]s (subject
//! and body already decoded by Python's `email` package). The [`Proc`] guard stops
//! the server on drop.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;

use crate::{free_port, read_lossy, tempdir, wait_for, Proc};

/// How long [`SmtpServer::start`] waits for `READY`.
pub const SMTP_START_TIMEOUT: Duration = Duration::from_secs(15);

/// Python interpreter with `aiosmtpd` (override with `HAWATCH_IT_PYTHON`).
pub fn python_bin() -> PathBuf {
    std::env::var_os("HAWATCH_IT_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/python3"))
}

/// `crates/testkit/fixtures/smtpd.py`.
pub fn smtpd_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/smtpd.py")
}

/// Transport security of the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plaintext only; AUTH (if configured) is accepted over plaintext.
    None,
    /// Offers STARTTLS; AUTH (if configured) only after it (`538` before).
    StartTls,
    /// Implicit TLS (SMTPS) from the first byte.
    Tls,
}

impl SmtpTls {
    fn arg(self) -> &'static str {
        match self {
            SmtpTls::None => "none",
            SmtpTls::StartTls => "starttls",
            SmtpTls::Tls => "tls",
        }
    }
}

/// One accepted message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mail {
    /// Envelope sender (`MAIL FROM`).
    pub from: String,
    /// Envelope recipients (`RCPT TO`), in order.
    pub to: Vec<String>,
    /// `Subject:` with RFC 2047 encoded-words decoded ("" if absent).
    pub subject: String,
    /// The text/plain part with its transfer encoding (quoted-printable, base64) and
    /// charset decoded, CRLF turned into LF ("" if there is none).
    pub body: String,
    /// The message as received (after DATA), UTF-8 lossy.
    pub raw: String,
    /// Whether the message came over TLS (STARTTLS or implicit).
    pub tls: bool,
    /// The user that authenticated, if any.
    pub auth_user: Option<String>,
}

impl Mail {
    fn from_json(v: &Value) -> Mail {
        let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
        Mail {
            from: s("mail_from"),
            to: v
                .get("rcpt_tos")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
                .unwrap_or_default(),
            subject: s("subject"),
            body: s("body"),
            raw: s("data"),
            tls: v.get("tls").and_then(Value::as_bool).unwrap_or(false),
            auth_user: v.get("auth_user").and_then(Value::as_str).map(str::to_string),
        }
    }

    /// The first raw header with this (case-insensitive) name, unfolded, not decoded.
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.raw.split("\r\n\r\n").next().unwrap_or_default();
        let mut found: Option<String> = None;
        for line in head.split("\r\n") {
            if line.starts_with([' ', '\t']) {
                if let Some(v) = found.as_mut() {
                    v.push(' ');
                    v.push_str(line.trim());
                }
                continue;
            }
            if found.is_some() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                if k.trim().eq_ignore_ascii_case(name) {
                    found = Some(v.trim().to_string());
                }
            }
        }
        found
    }
}

pub struct SmtpServer {
    // Field order matters: the process stops before its tempdir is removed.
    proc: Proc,
    dir: TempDir,
    port: u16,
    tls: SmtpTls,
}

impl SmtpServer {
    /// Start on a free 127.0.0.1 port; `auth = Some((user, password))` requires AUTH.
    /// Waits (15 s) for `READY`; retries on a fresh port if the server exits first
    /// (lost the port race); panics with its stderr otherwise.
    pub fn start(tls: SmtpTls, auth: Option<(&str, &str)>) -> SmtpServer {
        let dir = tempdir();
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        make_cert(&cert, &key);
        let out = dir.path().join("mails.jsonl");
        let mut last_err = String::new();
        for _ in 0..3 {
            let port = free_port();
            let mut cmd = Command::new(python_bin());
            cmd.arg(smtpd_script())
                .arg("--port")
                .arg(port.to_string())
                .arg("--tls")
                .arg(tls.arg())
                .arg("--cert")
                .arg(&cert)
                .arg("--key")
                .arg(&key)
                .arg("--out")
                .arg(&out)
                .current_dir(dir.path());
            if let Some((user, pass)) = auth {
                cmd.arg("--user").arg(user).arg("--password").arg(pass);
            }
            let mut proc = Proc::spawn("smtpd", cmd, dir.path());
            let ready = wait_for(SMTP_START_TIMEOUT, || {
                proc.stdout().contains("READY") || proc.has_exited()
            });
            if ready && proc.stdout().contains("READY") {
                return SmtpServer { proc, dir, port, tls };
            }
            let status = proc.stop(Duration::from_secs(2));
            last_err = format!("port {port}: exit status {status:?}\nstderr:\n{}", proc.stderr());
            if !ready {
                break; // hung rather than lost a port race: do not try again
            }
            // The next spawn appends to the same stdout file; start it empty.
            let _ = std::fs::remove_file(proc.stdout_path());
        }
        panic!("smtpd.py ({tls:?}) did not become ready: {last_err}");
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn tls(&self) -> SmtpTls {
        self.tls
    }

    /// The server's self-signed certificate (PEM); use it as the client's CA file.
    pub fn cert_path(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server's stderr so far (aiosmtpd warnings, tracebacks).
    pub fn stderr(&self) -> String {
        self.proc.stderr()
    }

    /// Every message accepted so far, in arrival order.
    pub fn messages(&self) -> Vec<Mail> {
        let text = read_lossy(&self.dir.path().join("mails.jsonl"));
        // Only complete lines: a line still being written has no '\n' yet.
        text.split_inclusive('\n')
            .filter(|l| l.ends_with('\n') && !l.trim().is_empty())
            .map(|l| {
                let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("bad mails.jsonl line {l:?}: {e}"));
                Mail::from_json(&v)
            })
            .collect()
    }

    /// Wait until at least `n` messages were accepted.
    pub fn wait_for_messages(&self, n: usize, timeout: Duration) -> bool {
        wait_for(timeout, || self.messages().len() >= n)
    }
}

/// A self-signed RSA certificate for CN=localhost, SAN IP:127.0.0.1 and DNS:localhost.
pub fn make_cert(cert: &Path, key: &Path) {
    let out = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"])
        .args(["-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
        // A server certificate, not a CA: rustls (webpki) refuses a CA
        // certificate presented as the end entity.
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .args(["-addext", "extendedKeyUsage=serverAuth"])
        .arg("-keyout")
        .arg(key)
        .arg("-out")
        .arg(cert)
        .output()
        .expect("run openssl (scripts/deps.sh installs it)");
    assert!(
        out.status.success(),
        "openssl req failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}
