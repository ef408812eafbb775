//! `config show`: the validated config serialized, secrets as `***`.

use super::*;

#[test]
fn stats_url_gets_csv_and_secrets_stay_hidden() {
    std::env::set_var("HAWATCH_CFG_TEST_PW", "s3cret");
    let text = "[[haproxy]]\nname=\"a\"\nstats_url=\"http://admin:${HAWATCH_CFG_TEST_PW}@127.0.0.1:8404/stats\"\n\
        [[sink]]\nname=\"f\"\ntype=\"feishu\"\nurl=\"https://open.feishu.cn/open-apis/bot/v2/hook/TOKEN123\"\nsecret=\"SIGNKEY\"\n\
        [[sink]]\nname=\"w\"\ntype=\"webhook\"\nurl=\"http://127.0.0.1:1/h?token=QTOKEN\"\nheaders={Authorization=\"Bearer HDR\"}\n";
    let c = Config::parse(text, "f").unwrap();
    let Source::Http { url, .. } = &c.instances[0].source else {
        panic!()
    };
    assert_eq!(url.expose(), "http://admin:s3cret@127.0.0.1:8404/stats;csv");
    let shown = c.to_redacted_toml();
    let debug = format!("{c:?}");
    for secret in ["s3cret", "TOKEN123", "SIGNKEY", "QTOKEN", "HDR", "admin:"] {
        assert!(!shown.contains(secret), "{secret} in config show:\n{shown}");
        assert!(!debug.contains(secret), "{secret} in Debug");
    }
    assert!(shown.contains("https://open.feishu.cn/***"), "{shown}");
    // The redacted form is itself valid TOML.
    toml::from_str::<toml::Table>(&shown).unwrap();
}

/// `config show` is the validated config serialized: every section is
/// there, valid TOML, and no secret (tokens in URLs, signing secrets,
/// passwords, the peer's password, a check URL's credentials) is printed.
#[test]
fn config_show_prints_every_section_and_no_secret() {
    let text = r#"[watch]
interval = "1s"
[[haproxy]]
name = "a"
socket = "/x"
[notify]
timezone = "UTC"
lang = "en"
quiet_hours = "23:00-08:00"
[[sink]]
name = "dd"
type = "dingtalk"
url = "https://oapi.dingtalk.com/robot/send?access_token=TOKDD"
secret = "SECDD"
at_mobiles = ["138"]
events = ["server_down", "server_up"]
min_severity = "warning"
match = { backend = ["web*"], server = "s1" }
[[sink]]
name = "mail"
type = "email"
smtp_host = "smtp.example.com"
username = "u"
password = "MAILPW"
from = "a@example.com"
to = "b@example.com"
[[sink]]
name = "am"
type = "alertmanager"
url = "http://127.0.0.1:9093"
labels = { cluster = "x" }
[[sink]]
name = "x"
type = "exec"
command = ["/bin/true"]
[[sink]]
name = "w"
type = "wecom"
url = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=WKEY"
[[sink]]
name = "s"
type = "slack"
url = "https://hooks.slack.com/services/SLK"
[http]
listen = "127.0.0.1:9101"
username = "u"
password = "HTTPPW"
[agent]
listen = "127.0.0.1:3333"
allow = ["10.0.0.0/8"]
[[agent.check]]
name = "web"
type = "http"
url = "http://u:CHKPW@127.0.0.1:80/health"
expect_regex = "ok"
[[agent.check]]
name = "m"
type = "file"
path = "/tmp/m"
state = "drain"
[[agent.check]]
name = "l"
type = "load"
metric = "cpu"
[check]
min_up = { app = 1 }
binds = ["127.0.0.1:80"]
[keepalived]
vips = ["10.0.0.1"]
backend_alerts = "vip-holder"
peer = "http://10.0.0.2:9101"
peer_username = "p"
peer_password = "PEERPW"
[apply]
reload = "systemd"
"#;
    let c = Config::parse(text, "f").unwrap();
    let shown = c.to_redacted_toml();
    let t: toml::Table = toml::from_str(&shown).unwrap();
    for section in [
        "watch",
        "haproxy",
        "notify",
        "sink",
        "http",
        "metrics",
        "agent",
        "check",
        "keepalived",
        "apply",
    ] {
        assert!(t.contains_key(section), "{section} missing:\n{shown}");
    }
    for secret in ["TOKDD", "SECDD", "MAILPW", "WKEY", "SLK", "HTTPPW", "CHKPW", "PEERPW"] {
        assert!(!shown.contains(secret), "{secret} in config show:\n{shown}");
    }
    let sinks = t["sink"].as_array().unwrap();
    assert_eq!(sinks[0]["type"].as_str(), Some("dingtalk"));
    assert_eq!(sinks[0]["match"]["backend"][0].as_str(), Some("web*"));
    assert_eq!(sinks[0]["min_severity"].as_str(), Some("warning"));
    assert_eq!(sinks[1]["tls"].as_str(), Some("starttls"));
    assert_eq!(sinks[1]["password"].as_str(), Some("***"));
    assert_eq!(t["keepalived"]["backend_alerts"].as_str(), Some("vip-holder"));
    assert_eq!(t["apply"]["reload"].as_str(), Some("systemd"));
    assert_eq!(t["agent"]["check"][1]["state"].as_str(), Some("drain"));
}
