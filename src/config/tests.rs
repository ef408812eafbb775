use std::path::Path;
use std::time::Duration;

use haproxy::Endpoint;

use super::watch::DEFAULT_STORE;
use super::*;

const CONTRACT: &str = r#"
[watch]
interval = "1s"
store = "/var/lib/hawatch/hawatch.db"

[[haproxy]]
name = "lb1"
socket = "/run/haproxy/admin.sock"      # or stats_url = "http://user:pass@127.0.0.1:8404/stats;csv"

[[sink]]
name = "ops"
type = "webhook"                          # console | webhook | feishu (more later)
url = "http://127.0.0.1:9000/hook"
"#;

#[test]
fn the_contract_example_parses() {
    let c = Config::parse(CONTRACT, "hawatch.toml").unwrap();
    assert_eq!(c.watch.interval, Duration::from_secs(1));
    assert_eq!(c.instances[0].name, "lb1");
    assert!(
        matches!(&c.instances[0].source, Source::Socket(Endpoint::Unix(p)) if p == Path::new("/run/haproxy/admin.sock"))
    );
    assert!(matches!(c.sinks[0].kind, SinkKind::Webhook(_)));
}

#[test]
fn the_shipped_example_parses() {
    std::env::set_var("FEISHU_SECRET", "x");
    std::env::set_var("FEISHU_WEBHOOK_URL", "https://open.feishu.cn/open-apis/bot/v2/hook/x");
    let text = include_str!("../../examples/hawatch.toml");
    Config::parse(text, "examples/hawatch.toml").unwrap();
}

/// What the packages install as /etc/hawatch/hawatch.toml: valid once the
/// webhook variable is set, and pointing at Debian's and Red Hat's admin socket.
#[test]
fn the_packaged_config_parses_and_watches_the_default_admin_socket() {
    std::env::set_var("FEISHU_WEBHOOK_URL", "https://open.feishu.cn/open-apis/bot/v2/hook/x");
    let text = include_str!("../../contrib/package/hawatch.toml");
    let c = Config::parse(text, "contrib/package/hawatch.toml").unwrap();
    assert!(
        matches!(&c.instances[0].source, Source::Socket(Endpoint::Unix(p)) if p == Path::new("/run/haproxy/admin.sock"))
    );
    assert_eq!(c.watch.store, Path::new("/var/lib/hawatch/hawatch.db"));
}

pub(super) fn errors(text: &str) -> String {
    Config::parse(text, "f.toml").unwrap_err().to_string()
}

#[test]
fn all_semantic_problems_are_reported_at_once() {
    let e = errors("[[haproxy]]\nname = \"a b\"\n\n[[haproxy]]\nname=\"c\"\nsocket=\"/x\"\nstats_url=\"http://h/\"\n[[sink]]\nname=\"w\"\ntype=\"webhook\"\n");
    let lines: Vec<&str> = e.lines().collect();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("f.toml:2:") && l.contains("haproxy[0].name")),
        "{e}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("f.toml:1:") && l.contains("haproxy[0].socket") && l.contains("missing")),
        "{e}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("f.toml:6:") && l.contains("not both")),
        "{e}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("f.toml:8:") && l.contains("sink[0].url")),
        "{e}"
    );
}

#[test]
fn no_instance_is_an_error() {
    assert!(errors("").contains("no [[haproxy]] instance"));
}

#[test]
fn defaults_and_console_fallback() {
    let c = Config::parse("[[haproxy]]\nname=\"a\"\nsocket=\"tcp://127.0.0.1:9999\"\n", "f").unwrap();
    assert_eq!(c.watch.interval, Duration::from_secs(2));
    assert_eq!(c.watch.timeout, Duration::from_secs(2));
    assert_eq!(c.watch.store, Path::new(DEFAULT_STORE));
    assert_eq!(c.sinks.len(), 1);
    assert!(matches!(c.sinks[0].kind, SinkKind::Console(_)));
}

#[test]
fn secret_files() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("url");
    std::fs::write(&f, "https://open.feishu.cn/open-apis/bot/v2/hook/abc\n").unwrap();
    let text = format!(
        "[[haproxy]]\nname=\"a\"\nsocket=\"/x\"\n[[sink]]\nname=\"f\"\ntype=\"feishu\"\nurl_file={:?}\n",
        f.display().to_string()
    );
    let c = Config::parse(&text, "f").unwrap();
    let SinkKind::Feishu(f) = &c.sinks[0].kind else {
        panic!()
    };
    assert_eq!(f.url.expose(), "https://open.feishu.cn/open-apis/bot/v2/hook/abc");
    let e = errors(
        "[[haproxy]]\nname=\"a\"\nsocket=\"/x\"\n[[sink]]\nname=\"f\"\ntype=\"feishu\"\nurl_file=\"/nonexistent/x\"\n",
    );
    assert!(
        e.contains("sink[0].url_file") && e.contains("cannot read /nonexistent/x"),
        "{e}"
    );
}

/// Every key the parser accepts is documented in docs/config.md. The list of
/// keys comes from serde itself: the "unknown field" error names them all.
#[test]
fn every_key_is_documented() {
    let docs = include_str!("../../docs/config.md");
    for (table, probe) in [
        ("watch", "[watch]\nzzz = 1\n"),
        ("haproxy", "[[haproxy]]\nzzz = 1\n"),
        ("sink", "[[sink]]\nzzz = 1\n"),
        ("http", "[http]\nzzz = 1\n"),
        ("metrics", "[metrics]\nzzz = 1\n"),
        ("agent", "[agent]\nzzz = 1\n"),
        ("check", "[check]\nzzz = 1\n"),
        ("keepalived", "[keepalived]\nzzz = 1\n"),
        ("apply", "[apply]\nzzz = 1\n"),
        ("doctor", "[doctor]\nzzz = 1\n"),
        ("agent.check", "[agent]\n[[agent.check]]\nzzz = 1\n"),
        ("top level", "zzz = 1\n"),
    ] {
        let e = Config::parse(probe, "f").unwrap_err().to_string();
        let expected = e.split("expected one of").nth(1).unwrap_or_else(|| panic!("{e}"));
        let keys: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        assert!(keys.len() >= 3, "{table}: {e}");
        for k in keys {
            let documented = docs.contains(&format!("`{k}`")) || docs.contains(&format!("[{k}]"));
            assert!(documented, "{table} key `{k}` is not documented in docs/config.md");
        }
    }
}

#[test]
fn filtered_stats_pages_are_refused() {
    let e = errors("[[haproxy]]\nname=\"a\"\nstats_url=\"http://127.0.0.1:8404/stats;csv;up\"\n");
    assert!(e.contains("haproxy[0].stats_url") && e.contains("`;up`"), "{e}");
}

/// One mistake, one message: a short `[watch] interval` is not also the
/// instance's (which only inherits it), and a broken instance is still there.
#[test]
fn one_mistake_is_one_message() {
    let ok_inst = "[[haproxy]]\nname=\"a\"\nsocket=\"/x\"\n";
    for (text, key) in [
        (format!("[watch]\ninterval = \"10ms\"\n{ok_inst}"), "watch.interval"),
        (
            "[[haproxy]]\nname=\"a\"\nsocket=\"ftp://x\"\n".to_string(),
            "haproxy[0].socket",
        ),
        (
            "[[haproxy]]\nname=\"a b\"\nsocket=\"/x\"\n".to_string(),
            "haproxy[0].name",
        ),
    ] {
        let e = errors(&text);
        assert_eq!(e.lines().count(), 1, "{text}\n->\n{e}");
        assert!(e.contains(key), "{e}");
    }
}

/// Off loopback, the endpoints that act (POST /alertmanager posts to every
/// sink) need credentials or a client list: the config is refused without.
#[test]
fn an_open_listener_off_loopback_is_refused() {
    let inst = "[[haproxy]]\nname=\"a\"\nsocket=\"/x\"\n";
    let e = errors(&format!("{inst}[http]\nlisten = \"0.0.0.0:9101\"\n"));
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(
        e.starts_with("f.toml:5:")
            && e.contains("http.listen")
            && e.contains("[http] username")
            && e.contains("[http] allow"),
        "{e}"
    );
    let c = Config::parse(
        &format!("{inst}[http]\nlisten = \"0.0.0.0:9101\"\nallow = [\"10.0.0.0/8\", \"192.0.2.7\"]\n"),
        "f",
    )
    .unwrap();
    assert_eq!(c.http.allow.len(), 2);
    assert!(c.to_redacted_toml().contains("192.0.2.7/32"));
    Config::parse(
        &format!("{inst}[http]\nlisten = \"0.0.0.0:9101\"\nusername = \"u\"\npassword = \"p\"\n"),
        "f",
    )
    .unwrap();
    Config::parse(&format!("{inst}[http]\nlisten = \"127.0.0.1:9101\"\n"), "f").unwrap();
    let e = errors(&format!("{inst}[http]\nallow = [\"10.0.0.0/33\"]\n"));
    assert!(e.contains("http.allow") && e.lines().count() == 1, "{e}");
}

/// Issue 12: a duration that cannot be added to a clock time is refused
/// where it is written, not met as an overflow later (`9999999999d`).
#[test]
fn absurd_durations_are_refused_with_file_line_and_key() {
    for (key, section) in [
        ("interval", "[watch]"),
        ("retention", "[watch]"),
        ("remind_every", "[notify]"),
        (
            "resend_every",
            "[[sink]]\nname = \"am\"\ntype = \"alertmanager\"\nurl = \"http://127.0.0.1:9093\"",
        ),
    ] {
        let text = format!("{section}\n{key} = \"9999999999d\"\n");
        let e = errors(&text);
        assert!(
            e.contains("f.toml") && e.contains(key) && e.contains("too long"),
            "{key}: {e}"
        );
    }
    let ok = "[watch]\nretention = \"36600d\"\n";
    assert!(!Config::parse(ok, "f.toml")
        .err()
        .is_some_and(|e| e.to_string().contains("too long")));
}
