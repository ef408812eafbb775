//! The real SMTP server and the real Alertmanager the mail / Alertmanager sinks are
//! tested against: do the helpers themselves behave like the real thing?
//! The SMTP client here is Python's `smtplib` (certificate verified against the
//! server's self-signed cert); Alertmanager is driven with raw HTTP.

use std::process::Command;
use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use serde_json::{json, Value};

use testkit::alertmanager::{has_labels, Alertmanager};
use testkit::smtp::{python_bin, SmtpServer, SmtpTls};

const T: Duration = Duration::from_secs(10);
const USER: &str = "hawatch";
const PASS: &str = "s3cret pass";
const SUBJECT: &str = "[hawatch] 告警：后端 b 的服务器 s 已下线 (DOWN)";
const BODY: &str = "服务器 s 已下线。\nbackend=b server=s status=DOWN\nÄÖÜ ümlaut line\n";

/// smtplib client: argv = connect (plain|starttls|tls), port, cafile, user ("" = no
/// AUTH), password, mechanism (PLAIN|LOGIN), body transfer encoding, subject, body.
/// Prints `OK` or `ERR <code> <text>`.
const CLIENT: &str = r#"
import smtplib, ssl, sys
from email.message import EmailMessage
connect, port, cafile, user, pw, mech, cte, subject, body = sys.argv[1:10]
ctx = ssl.create_default_context(cafile=cafile)
try:
    if connect == "tls":
        s = smtplib.SMTP_SSL("127.0.0.1", int(port), context=ctx, timeout=10)
    else:
        s = smtplib.SMTP("127.0.0.1", int(port), timeout=10)
        if connect == "starttls":
            s.starttls(context=ctx)
    s.ehlo()
    if user:
        s.user, s.password = user, pw
        s.auth(mech, getattr(s, "auth_" + mech.lower()))
    m = EmailMessage()
    m["From"] = "hawatch@example.test"
    m["To"] = "ops@example.test, oncall@example.test"
    m["Subject"] = subject
    m.set_content(body, cte=cte)
    s.send_message(m)
    s.quit()
    print("OK")
except smtplib.SMTPResponseException as e:
    print("ERR", e.smtp_code, e.smtp_error.decode(errors="replace"))
"#;

struct Send<'a> {
    connect: &'a str,
    user: &'a str,
    pass: &'a str,
    mech: &'a str,
    cte: &'a str,
}

const SEND: Send<'static> = Send {
    connect: "plain",
    user: USER,
    pass: PASS,
    mech: "PLAIN",
    cte: "8bit",
};

fn send(srv: &SmtpServer, o: &Send) -> String {
    let out = Command::new(python_bin())
        .arg("-c")
        .arg(CLIENT)
        .args([o.connect, &srv.port().to_string()])
        .arg(srv.cert_path())
        .args([o.user, o.pass, o.mech, o.cte, SUBJECT, BODY])
        .env("PYTHONIOENCODING", "utf-8")
        .output()
        .expect("run python smtplib client");
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        out.status.success(),
        "client failed ({}): {stdout}\n{}\nserver stderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        srv.stderr()
    );
    stdout
}

fn check_mail(srv: &SmtpServer, tls: bool, auth: bool, cte_header: &str) {
    assert!(srv.wait_for_messages(1, T), "no message; stderr:\n{}", srv.stderr());
    let mails = srv.messages();
    assert_eq!(mails.len(), 1, "{mails:#?}");
    let m = &mails[0];
    assert_eq!(m.from, "hawatch@example.test");
    assert_eq!(m.to, ["ops@example.test", "oncall@example.test"]);
    assert_eq!(m.subject, SUBJECT);
    assert_eq!(m.body, BODY);
    assert_eq!(m.tls, tls);
    assert_eq!(m.auth_user.as_deref(), auth.then_some(USER));
    // The decoding was real: the wire form was an RFC 2047 encoded-word.
    assert!(m.header("Subject").unwrap().contains("=?utf-8?"), "{}", m.raw);
    assert_eq!(m.header("content-transfer-encoding").as_deref(), Some(cte_header));
}

#[test]
fn smtp_plaintext_with_auth_plain_and_quoted_printable() {
    let srv = SmtpServer::start(SmtpTls::None, Some((USER, PASS)));
    let wrong = send(&srv, &Send { pass: "nope", ..SEND });
    assert!(wrong.starts_with("ERR 535"), "{wrong}");
    let no_auth = send(&srv, &Send { user: "", ..SEND });
    assert!(no_auth.starts_with("ERR 530"), "MAIL without AUTH: {no_auth}");
    assert_eq!(
        send(
            &srv,
            &Send {
                cte: "quoted-printable",
                ..SEND
            }
        ),
        "OK"
    );
    check_mail(&srv, false, true, "quoted-printable");
}

#[test]
fn smtp_starttls_with_auth_login_and_base64() {
    let srv = SmtpServer::start(SmtpTls::StartTls, Some((USER, PASS)));
    let before_tls = send(&srv, &SEND);
    assert!(before_tls.starts_with("ERR 538"), "AUTH before STARTTLS: {before_tls}");
    let wrong = send(
        &srv,
        &Send {
            connect: "starttls",
            pass: "nope",
            mech: "LOGIN",
            ..SEND
        },
    );
    assert!(wrong.starts_with("ERR 535"), "{wrong}");
    let ok = send(
        &srv,
        &Send {
            connect: "starttls",
            mech: "LOGIN",
            cte: "base64",
            ..SEND
        },
    );
    assert_eq!(ok, "OK");
    check_mail(&srv, true, true, "base64");
}

#[test]
fn smtp_implicit_tls_with_auth_plain_and_8bit() {
    let srv = SmtpServer::start(SmtpTls::Tls, Some((USER, PASS)));
    let wrong = send(
        &srv,
        &Send {
            connect: "tls",
            pass: "nope",
            ..SEND
        },
    );
    assert!(wrong.starts_with("ERR 535"), "{wrong}");
    assert_eq!(send(&srv, &Send { connect: "tls", ..SEND }), "OK");
    check_mail(&srv, true, true, "8bit");
}

#[test]
fn smtp_starttls_without_auth() {
    let srv = SmtpServer::start(SmtpTls::StartTls, None);
    let o = Send {
        connect: "starttls",
        user: "",
        ..SEND
    };
    assert_eq!(send(&srv, &o), "OK");
    check_mail(&srv, true, false, "8bit");
}

fn ts(offset: chrono::Duration) -> String {
    (Utc::now() + offset).to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn alert(server: &str, starts_at: &str, ends_at: &str) -> Value {
    json!([{
        "labels": {"alertname": "HAProxyServerDown", "backend": "b", "server": server},
        "annotations": {"summary": format!("b/{server} is DOWN")},
        "startsAt": starts_at,
        "endsAt": ends_at,
    }])
}

#[test]
fn alertmanager_lists_a_pushed_alert_and_drops_it_once_resolved() {
    let am = Alertmanager::start();
    let s = |a: &Value| {
        has_labels(
            a,
            &[("alertname", "HAProxyServerDown"), ("backend", "b"), ("server", "s")],
        )
    };
    let s2 = |a: &Value| has_labels(a, &[("alertname", "HAProxyServerDown"), ("server", "s2")]);
    let starts = ts(chrono::Duration::zero());
    let in5m = ts(chrono::Duration::minutes(5));
    let (code, body) = am.post_alerts(&alert("s", &starts, &in5m));
    assert_eq!(code, 200, "{body}");
    let (code, body) = am.post_alerts(&alert("s2", &starts, &in5m));
    assert_eq!(code, 200, "{body}");

    let a = am
        .wait_alert(T, s)
        .unwrap_or_else(|| panic!("alert not listed: {:?}", am.alerts()));
    assert_eq!(a["annotations"]["summary"], "b/s is DOWN");
    assert!(am.is_active(s));
    assert!(am.wait_alert(T, |a| s(a) && a["status"]["state"] == "active").is_some());

    // Resolve: the same labels with endsAt = now.
    let (code, body) = am.post_alerts(&alert("s", &starts, &ts(chrono::Duration::zero())));
    assert_eq!(code, 200, "{body}");
    assert!(am.wait_resolved(T, s), "still listed: {:?}", am.alerts());
    assert!(!am.is_active(s));
    // Only that one: the other alert is still there.
    assert!(am.is_active(s2), "{:?}", am.alerts());
}
