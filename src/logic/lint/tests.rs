use std::path::Path;

use haproxy::cfg::Cfg;

use super::file::{covers, lint, reach, stats_socket_lines, weak_password, Cert, CertLoad, Input, Reach};
use super::host;
use super::*;

const SEED_001: &str = include_str!("../../../tests/fixtures/doctor/seed-001-haproxy.cfg");
const SEED_002_TUNED: &str = include_str!("../../../tests/fixtures/doctor/seed-002-tuned.cfg");
const SEED_002_EMERGENCY: &str = include_str!("../../../tests/fixtures/doctor/seed-002-emergency.cfg");

fn no_certs(_: &Path) -> CertLoad {
    Err("not read in this test".into())
}

fn run_with(text: &str, version: Option<Version>, certs: &dyn Fn(&Path) -> CertLoad) -> Vec<Finding> {
    let cfg = Cfg::parse("haproxy.cfg", text);
    lint(&Input {
        cfg: &cfg,
        version,
        now: 1_700_000_000,
        base: Path::new("/etc/haproxy"),
        certs,
    })
}

fn run(text: &str, version: Option<Version>) -> Vec<Finding> {
    run_with(text, version, &no_certs)
}

/// `ID@LINE level` for each finding, to compare whole lists.
fn short(f: &[Finding]) -> Vec<String> {
    f.iter()
        .map(|x| format!("{}@{} {}", x.id, x.line.unwrap_or(0), x.level.as_str()))
        .collect()
}

/// Every file rule with examples: the bad one triggers it, the good one does
/// not (on the newest and an old HAProxy, and with the version unknown).
#[test]
fn every_file_rule_triggers_on_its_bad_example_and_not_on_its_good_one() {
    let mut tried = 0;
    for r in RULES.iter().filter(|r| r.scope == Scope::File && !r.bad.is_empty()) {
        // 2.2 has none of the deprecations HW302 knows.
        let old = (r.id != "HW302").then_some(Version(2, 2));
        for v in [Some(Version(3, 2)), old, None] {
            let bad = run(r.bad, v);
            assert!(
                bad.iter().any(|f| f.id == r.id),
                "{} {v:?}: not triggered by\n{}\n{bad:#?}",
                r.id,
                r.bad
            );
            let good = run(r.good, v);
            assert!(
                !good.iter().any(|f| f.id == r.id),
                "{} {v:?}: triggered by the good example\n{}\n{good:#?}",
                r.id,
                r.good
            );
        }
        tried += 1;
    }
    assert!(tried >= 14, "{tried}");
}

#[test]
fn rule_ids_are_unique_well_formed_and_explained() {
    for (i, r) in RULES.iter().enumerate() {
        assert!(
            r.id.len() == 5 && r.id.starts_with("HW") && r.id[2..].chars().all(|c| c.is_ascii_digit()),
            "{}",
            r.id
        );
        assert!(
            RULES[..i].iter().all(|o| o.id != r.id && o.name != r.name),
            "{} twice",
            r.id
        );
        assert!(
            !r.summary.is_empty() && !r.why.is_empty() && !r.fix.is_empty(),
            "{}",
            r.id
        );
        assert_eq!(r.bad.is_empty(), r.good.is_empty(), "{}", r.id);
        assert!(
            r.bad.is_empty() || r.scope == Scope::File,
            "{}: examples are run as file rules",
            r.id
        );
        assert_eq!(rule(&r.id.to_lowercase()).map(|x| x.id), Some(r.id));
    }
    assert!(rule("HW999").is_none());
}

/// Every `"HWnnn"` the sources name is a rule (a typo would give a finding
/// with no rule behind it).
#[test]
fn every_id_in_the_sources_is_a_rule() {
    let mut files = Vec::new();
    fn walk(d: &Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") && !p.ends_with("lint/tests.rs") {
                out.push(p);
            }
        }
    }
    walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut files);
    let mut n = 0;
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for (i, _) in text.match_indices("\"HW") {
            let id = &text[i + 1..(i + 6).min(text.len())];
            if id[2..].chars().all(|c| c.is_ascii_digit()) && id.len() == 5 {
                assert!(rule(id).is_some(), "{}: {id} is not a rule", f.display());
                n += 1;
            }
        }
    }
    assert!(n > 40, "{n}");
}

/// Sorted `ID@LINE level`s.
fn sorted(f: &[Finding]) -> Vec<String> {
    let mut v = short(f);
    v.sort();
    v
}

/// Seed 001's production config: what an HAProxy engineer circles, all at
/// once, each on its line; the removed keywords by what the version does.
#[test]
fn seed_001_every_finding_at_once() {
    let f = run(SEED_001, Some(Version(2, 6)));
    assert_eq!(
        sorted(&f),
        [
            "HW101@36 warn",
            "HW101@37 warn",
            "HW102@33 warn",
            "HW201@32 crit",
            "HW202@31 crit",
            "HW203@26 warn",
            "HW301@25 warn",
            "HW301@4 warn",
            "HW301@9 crit",
        ],
        "{f:#?}"
    );
    let web1 = f.iter().find(|x| x.line == Some(36)).unwrap();
    assert!(
        web1.text
            .contains("server web1 has `inter 3s fall 3 rise 5` but no `check`"),
        "{}",
        web1.text
    );
    assert_eq!(web1.file.as_deref(), Some("haproxy.cfg"));
    assert!(web1
        .fix
        .as_deref()
        .unwrap()
        .contains("server web1 172.20.0.151:80 inter 3s fall 3 rise 5 check"));
    let auth = f.iter().find(|x| x.id == "HW202").unwrap();
    assert!(
        !auth.text.contains("123456"),
        "the password is never printed: {}",
        auth.text
    );
    let nbproc = f.iter().find(|x| x.line == Some(9)).unwrap();
    assert!(
        nbproc
            .text
            .contains("HAProxy 2.6 refuses to start with it (removed in 2.5)"),
        "{}",
        nbproc.text
    );
    assert!(nbproc.fix.as_deref().unwrap().contains("nbthread"));
    // 3.0 refuses all three; 2.2 accepts all three (an upgrade would fail).
    let levels = |v| {
        run(SEED_001, Some(v))
            .into_iter()
            .filter(|x| x.id == "HW301")
            .map(|x| x.level)
            .collect::<Vec<_>>()
    };
    assert_eq!(levels(Version(3, 0)), [Level::Crit; 3]);
    assert_eq!(levels(Version(2, 2)), [Level::Warn; 3]);
    // The Runtime API is the config's own socket.
    let socks = stats_socket_lines(&Cfg::parse("haproxy.cfg", SEED_001));
    assert_eq!(socks.len(), 1);
    assert_eq!(socks[0].endpoint().as_deref(), Some("/var/lib/haproxy/haproxy.sock1"));
    assert_eq!(
        (socks[0].line, socks[0].level.as_str(), socks[0].mode),
        (4, "admin", Some(0o600))
    );
}

/// Seed 002's tuning example: `nbproc` and six `tune.*` in `defaults` (HAProxy
/// reports both kinds); its emergency config: one server, no backup.
#[test]
fn seed_002_configs() {
    let f = run(SEED_002_TUNED, Some(Version(2, 6)));
    assert_eq!(
        sorted(&f),
        [
            "HW301@5 crit",
            "HW303@37 crit",
            "HW303@38 crit",
            "HW303@39 crit",
            "HW303@40 crit",
            "HW303@41 crit",
            "HW303@42 crit",
        ],
        "{f:#?}"
    );
    assert_eq!(sorted(&run(SEED_002_EMERGENCY, Some(Version(2, 6)))), ["HW103@15 warn"]);
}

#[test]
fn checks_follow_default_server_and_defaults() {
    let d = "defaults\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n";
    // `default-server check` in defaults checks every server; `no-check` is on purpose.
    let cfg =
        format!("{d}    default-server check\nbackend b\n    server a 1.1.1.1:80\n    server c 1.1.1.2:80 no-check\n");
    assert!(
        run(&cfg, None).iter().all(|f| !f.id.starts_with("HW10")),
        "{:#?}",
        run(&cfg, None)
    );
    // An agent-check alone, and an httpchk nobody runs.
    let cfg = format!(
        "{d}backend b\n    option httpchk\n    server a 1.1.1.1:80 agent-check agent-port 9\n    server c 1.1.1.2:80\n"
    );
    let f = run(&cfg, None);
    assert!(
        f[0].text
            .contains("server a has no `check`: the backend's `option httpchk` never runs"),
        "{f:#?}"
    );
    assert!(f[1].text.contains("server c has no `check`"), "{f:#?}");
    assert!(f.iter().any(|x| x.id == "HW102"));
    let cfg =
        format!("{d}backend b\n    server a 1.1.1.1:80 agent-check agent-port 9\n    server c 1.1.1.2:80 check\n");
    let f = run(&cfg, None);
    assert!(
        f[0].text.contains("server a has `agent-check` but no `check`"),
        "{f:#?}"
    );
    assert!(!f.iter().any(|x| x.id == "HW102"), "one server is checked");
    // A backend without servers says nothing.
    assert!(run(
        &format!("{d}backend redirect\n    http-request redirect location /\n"),
        None
    )
    .is_empty());
}

#[test]
fn how_far_binds_reach() {
    for (a, r) in [
        (":80", Some(Reach::All)),
        ("*:80", Some(Reach::All)),
        ("0.0.0.0:80", Some(Reach::All)),
        ("[::]:80", Some(Reach::All)),
        ("ipv6@:::80", Some(Reach::All)),
        ("127.0.0.1:9999", Some(Reach::Local)),
        ("ipv4@127.0.0.2:9999", Some(Reach::Local)),
        ("[::1]:80", Some(Reach::Local)),
        ("/run/haproxy/admin.sock", Some(Reach::Local)),
        ("unix@/run/x.sock", Some(Reach::Local)),
        ("abns@x", Some(Reach::Local)),
        ("172.20.0.248:80", Some(Reach::Address)),
        ("lb.example.com:80", Some(Reach::Address)),
        ("fd@3", None),
        ("sockpair@4", None),
    ] {
        assert_eq!(reach(a), r, "{a}");
    }
}

#[test]
fn weak_passwords() {
    assert!(weak_password("admin", "123456").is_some());
    assert!(weak_password("admin", "Admin").is_some());
    assert!(weak_password("ops", "ops").is_some());
    assert!(weak_password("ops", "").is_some());
    assert!(weak_password("ops", "short-1!").is_some());
    assert!(weak_password("ops", "123456789012345").is_some());
    assert!(weak_password("ops", "Vq7-4pLw9s-x2Rt8").is_none());
}

#[test]
fn sockets_tcp_and_levels() {
    // 664 and 770 give others no write, which connecting takes; 666 does.
    let f = run(
        "global\n    stats socket 10.0.0.5:9999\n    stats socket ipv4@127.0.0.1:9998 level admin\n    stats socket /run/a.sock mode 664\n    stats socket /run/b.sock mode 770 level admin\n    stats socket /run/c.sock mode 666\n",
        None,
    );
    assert_eq!(sorted(&f), ["HW204@6 warn", "HW205@2 warn"], "{f:#?}");
    let socks = stats_socket_lines(&Cfg::parse(
        "x",
        "global\n    stats socket ipv4@0.0.0.0:9999 level admin\n    stats socket \"/run/my dir/a.sock\"\n",
    ));
    assert_eq!(socks[0].endpoint().as_deref(), Some("tcp://127.0.0.1:9999"));
    assert_eq!(socks[1].endpoint().as_deref(), Some("/run/my dir/a.sock"));
    assert_eq!(socks[1].level, "operator");
}

#[test]
fn stats_admin_with_a_condition_or_on_loopback_is_fine() {
    let d = "defaults\n    mode http\n    timeout client 1s\n";
    for body in [
        "listen s\n    bind 10.0.0.1:9999\n    stats enable\n    stats admin if { src 10.0.0.0/8 }\n",
        "listen s\n    bind 127.0.0.1:9999\n    stats enable\n    stats admin if TRUE\n",
        "listen s\n    bind /run/stats.sock\n    stats enable\n    stats admin if TRUE\n",
    ] {
        let f = run(&format!("{d}{body}"), None);
        assert!(f.iter().all(|x| x.id != "HW201"), "{body}: {f:#?}");
    }
    let f = run(
        &format!("{d}listen s\n    bind 10.0.0.1:9999\n    stats enable\n    stats admin if TRUE\n"),
        None,
    );
    assert!(
        f.iter()
            .any(|x| x.id == "HW201" && x.text.contains("with no `stats auth`")),
        "{f:#?}"
    );
}

#[test]
fn tls_versions_and_ciphers() {
    let f = run(
        "global\n    ssl-default-bind-options ssl-min-ver SSLv3\nfrontend f\n    bind :443 ssl crt /x.pem force-tlsv11 ciphers ALL:!aNULL\n    timeout client 1s\n",
        None,
    );
    let ids: Vec<String> = short(&f).into_iter().filter(|s| s.starts_with("HW50")).collect();
    assert_eq!(
        ids,
        ["HW501@2 crit", "HW501@4 warn", "HW502@4 warn", "HW505@4 crit"],
        "{f:#?}"
    );
    // AES and ECDHE names contain no weak part; excluded ones do not count.
    let f = run(
        "global\n    ssl-default-bind-ciphers ECDHE-RSA-AES256-GCM-SHA384:AES128-SHA:!RC4:-3DES:!MD5\n",
        None,
    );
    assert!(f.is_empty(), "{f:#?}");
}

fn cert(names: &[&str], days: i64) -> Cert {
    Cert {
        subject: format!("CN={}", names[0]),
        names: names.iter().map(|s| s.to_string()).collect(),
        not_after: 1_700_000_000 + days * 86_400,
    }
}

#[test]
fn certificates_expiry_and_sni() {
    let text = "defaults\n    timeout client 1s\nfrontend f\n    bind :443 ssl crt site.pem crt /etc/ssl/other\n\
                use_backend a if { ssl_fc_sni -i shop.example.com }\n    use_backend b if { req.ssl_sni -m str api.example.org blog.example.net }\n\
                use_backend c if { ssl_fc_sni -m end .example.net }\n    use_backend d if { hdr(host) -i ok.example.org }\n    use_backend e if { hdr(Host) shop.example.net }\n";
    let certs = |p: &Path| -> CertLoad {
        match p.to_str().unwrap() {
            "/etc/haproxy/site.pem" => Ok(vec![(
                "/etc/haproxy/site.pem".into(),
                vec![cert(&["*.example.com"], 5)],
            )]),
            "/etc/ssl/other" => Ok(vec![
                ("/etc/ssl/other/a.pem".into(), vec![cert(&["api.example.org"], 20)]),
                (
                    "/etc/ssl/other/b.pem".into(),
                    vec![cert(&["old.example.org"], -3), cert(&["ok.example.org"], 400)],
                ),
                ("/etc/ssl/other/empty.pem".into(), vec![]),
            ]),
            _ => Err("No such file or directory".into()),
        }
    };
    let f = run_with(text, None, &certs);
    let texts: Vec<String> = f
        .iter()
        .map(|x| format!("{}@{} {} {}", x.id, x.line.unwrap(), x.level.as_str(), x.text))
        .collect();
    assert_eq!(
        texts,
        [
            "HW504@4 crit /etc/haproxy/site.pem: CN=*.example.com expires in 5 days",
            "HW504@4 warn /etc/ssl/other/a.pem: CN=api.example.org expires in 20 days",
            "HW504@4 crit /etc/ssl/other/b.pem: CN=old.example.org expired 3 days ago",
            "HW504@4 ok /etc/ssl/other/b.pem: CN=ok.example.org expires in 400 days",
            "HW505@4 crit /etc/ssl/other/empty.pem: no certificate in it",
            "HW503@6 warn frontend f: routes SNI `blog.example.net`, but no certificate of its binds covers it \
             (they cover *.example.com, api.example.org, old.example.org, ok.example.org)",
            "HW503@9 warn frontend f: routes SNI `shop.example.net`, but no certificate of its binds covers it \
             (they cover *.example.com, api.example.org, old.example.org, ok.example.org)",
        ],
        "{f:#?}"
    );
    // A path that cannot be read.
    let f = run_with(
        "frontend f\n    bind :443 ssl crt gone.pem\n    timeout client 1s\n",
        None,
        &certs,
    );
    assert_eq!(short(&f), ["HW505@2 crit"]);
    assert!(f[0].text.contains("/etc/haproxy/gone.pem: No such file"), "{f:#?}");
}

#[test]
fn wildcard_names_cover_one_label() {
    assert!(covers("*.example.com", "shop.example.com"));
    assert!(covers("Shop.Example.com", "shop.example.COM"));
    assert!(!covers("*.example.com", "example.com"));
    assert!(!covers("*.example.com", "a.b.example.com"));
    assert!(!covers("example.com", "www.example.com"));
}

#[test]
fn versions_parse() {
    assert_eq!(Version::parse("2.6.12-1+deb12u4"), Some(Version(2, 6)));
    assert_eq!(
        Version::parse("HAProxy version 3.2.26-1 2025/10/03 - https://haproxy.org/"),
        Some(Version(3, 2))
    );
    assert_eq!(Version::parse("3.3-dev1"), Some(Version(3, 3)));
    assert_eq!(Version::parse("HAProxy version unknown"), None);
    assert!(Version(2, 10) > Version(2, 9));
}

#[test]
fn silencing_by_id() {
    let mut f = run(SEED_001, Some(Version(2, 6)));
    let n = silence(&mut f, &["hw101".into(), "HW301".into()]);
    assert_eq!(n, 5);
    assert!(f.iter().all(|x| x.id != "HW101" && x.id != "HW301"));
}

#[test]
fn host_numbers() {
    assert_eq!(host::cpu(7, 0.9, 1.0, 1, 80.0).level, Level::Warn);
    assert_eq!(host::cpu(7, 0.9, 1.0, 2, 80.0).level, Level::Ok);
    assert_eq!(host::cpu(7, 0.0, 0.0, 0, 80.0).level, Level::Ok);
    assert_eq!(host::memory(900, 1000, false, 80.0).level, Level::Warn);
    assert_eq!(host::memory(700, 1000, true, 80.0).level, Level::Ok);
    assert!(host::memory(700, 1000, true, 80.0).text.contains("its cgroup"));
    // A real /proc/net/tcp: one listener (0A), two TIME_WAIT (06), one established (01).
    let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 148 1 00000000ad428796 100 0 0 10 0\n\
   1: 0100007F:8B3C 0100007F:07E8 06 00000000:00000000 03:000016A9 00000000     0        0 0 3 0000000000000000\n\
   2: 0100007F:8B3E 0100007F:07E8 06 00000000:00000000 03:000016A9 00000000     0        0 0 3 0000000000000000\n\
   3: 0100007F:07E8 0100007F:8B40 01 00000000:00000000 00:00000000 00000000     0        0 5521 1 0000000000000000 20 4 30 10 -1\n";
    assert_eq!(host::time_wait_count(table), 2);
    assert_eq!(host::time_wait(8, 10).level, Level::Warn);
    assert_eq!(host::time_wait(7, 10).level, Level::Ok);
    assert_eq!(host::time_wait(5, 0).level, Level::Ok);
    // Kernel log lines as /dev/kmsg and dmesg print them.
    let log = "6,1000,5000,-;haproxy[99]: Proxy started.\n\
               4,1001,5001,-;oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/system.slice/haproxy.service,task_memcg=/system.slice/haproxy.service,task=haproxy,pid=4242,uid=99\n\
               3,1002,5002,-;Memory cgroup out of memory: Killed process 4242 (haproxy) total-vm:1024kB, anon-rss:512kB\n\
               [ 12.3] Out of memory: Killed process 777 (nginx) total-vm:1kB\n\
               [ 13.0] Out of memory: Killed process 778 (haproxy) total-vm:1kB, \x1b[31m\n";
    let kills = host::oom_kills(log);
    assert_eq!(kills.iter().map(|k| k.pid).collect::<Vec<_>>(), [4242, 778]);
    // Two lines for 4242: the later one is kept.
    assert_eq!(
        kills.iter().map(|k| k.at_us).collect::<Vec<_>>(),
        [Some(5002), Some(13_000_000)]
    );
    assert!(
        kills[0].line.starts_with("Memory cgroup out of memory"),
        "{}",
        kills[0].line
    );
    assert!(!kills[1].line.contains('\x1b'), "kernel text is shown, never obeyed");
    assert!(
        kills[1].line.starts_with("Out of memory: Killed process 778"),
        "{}",
        kills[1].line
    );
    // Since the running HAProxy started (or when that is unknown): critical;
    // only before it: a warning.
    assert_eq!(host::oom(&kills, None).level, Level::Crit);
    assert_eq!(host::oom(&kills, Some(12_000_000)).level, Level::Crit);
    let old = host::oom(&kills, Some(20_000_000));
    assert_eq!(old.level, Level::Warn);
    assert!(old.text.contains("before the running HAProxy started"), "{}", old.text);
    assert_eq!(host::oom(&[], None).level, Level::Ok);
}

/// docs/doctor.md is the rule reference: every rule has its section with
/// its rationale and fix as `--explain` prints them, and a row in the table.
#[test]
fn docs_doctor_md_lists_every_rule() {
    let docs = include_str!("../../../docs/doctor.md");
    for r in RULES {
        assert!(
            docs.contains(&format!("\n### {} {}\n", r.id, r.name)),
            "{}: no section in docs/doctor.md",
            r.id
        );
        assert!(
            docs.contains(&format!(
                "| [{}](#{}-{}) | `{}` |",
                r.id,
                r.id.to_lowercase(),
                r.name,
                r.name
            )),
            "{}: no row",
            r.id
        );
        assert!(
            docs.contains(r.why),
            "{}: docs/doctor.md's Why differs from the rule's: run `python3 scripts/doctor-rules-md.py`",
            r.id
        );
        assert!(
            docs.contains(r.fix),
            "{}: docs/doctor.md's Fix differs from the rule's",
            r.id
        );
    }
}

/// What the first review found, each a config that used to give a false or
/// a missed finding.
#[test]
fn defaults_chains_track_env_vars_crt_lists_and_if_blocks() {
    // Timeouts and `default-server check` from the parent of a named defaults.
    let chain = "defaults base\n    timeout connect 5s\n    timeout client 30s\n    timeout server 30s\n    default-server check\n\
                 defaults web from base\n    mode http\nfrontend fe from web\n    bind 127.0.0.1:80\n    default_backend app\n\
                 backend app from web\n    server a 10.0.0.1:80\n    server b 10.0.0.2:80\n";
    assert!(run(chain, None).is_empty(), "{:#?}", run(chain, None));
    // A server that tracks a checked one is checked.
    let d = "defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n";
    let track = format!("{d}backend app\n    server a 10.0.0.1:80 check\n    server b 10.0.0.2:80 check\nbackend mirror\n    server a 10.0.0.1:80 track app/a\n    server b 10.0.0.2:80 track app/b\n");
    assert!(run(&track, None).is_empty(), "{:#?}", run(&track, None));
    // Environment variables are HAProxy's to expand: no weak password, no unreadable crt.
    let env = format!("{d}listen stats\n    bind 127.0.0.1:9999\n    stats enable\n    stats auth \"admin:${{STATS_PW}}\"\n    stats admin if LOCALHOST\n\
                       frontend tls\n    bind 127.0.0.1:443 ssl crt \"${{CERTS}}/site.pem\"\n    default_backend app\n\
                       backend app\n    server a 10.0.0.1:80 check\n    server b 10.0.0.2:80 check\nuserlist ops\n    user ops insecure-password \"${{OPS_PW}}\"\n");
    assert!(run(&env, None).is_empty(), "{:#?}", run(&env, None));
    // A password-only `stats auth` word is never printed.
    let f = run(
        &format!("{d}listen s\n    bind 127.0.0.1:9999\n    stats enable\n    stats auth s3cret\n"),
        None,
    );
    assert!(
        f.iter().any(|x| x.id == "HW202") && f.iter().all(|x| !x.text.contains("s3cret")),
        "{f:#?}"
    );
    // A frontend with a crt-list: its names are in the list, not checked.
    let listed = "defaults\n    timeout client 1s\nfrontend f\n    bind :443 ssl crt /d.pem crt-list /l.txt\n    use_backend a if { ssl_fc_sni other.example.org }\n";
    let certs = |_: &Path| -> CertLoad { Ok(vec![("/d.pem".into(), vec![cert(&["default.example.com"], 400)])]) };
    assert!(run_with(listed, None, &certs).iter().all(|x| x.id != "HW503"));
    // `.if` branches: judged by the version when doctor can, capped at a warning when not.
    let cond = "global\n.if !version_atleast(2.5)\n    nbproc 2\n.endif\n.if defined(OLD)\n    nbproc 4\n.endif\n";
    assert_eq!(short(&run(cond, Some(Version(2, 6)))), ["HW301@6 warn"]);
    assert!(run(cond, Some(Version(2, 6)))[0].text.contains("inside an `.if` block"));
    assert_eq!(short(&run(cond, Some(Version(2, 4)))), ["HW301@3 warn", "HW301@6 warn"]);
    // `ALL` with the broken classes taken out again is fine; alone it is not.
    let all = "global\n    ssl-default-bind-ciphers ALL:!aNULL:!eNULL:!EXPORT:!DES:!3DES:!RC4:!MD5:!LOW:!MEDIUM\n";
    assert!(run(all, None).is_empty(), "{:#?}", run(all, None));
    assert_eq!(
        short(&run("global\n    ssl-default-bind-ciphers ALL:!aNULL\n", None)),
        ["HW502@2 warn"]
    );
    // A stats page in `defaults` is served by every frontend that takes from it.
    let inherited = "defaults\n    mode http\n    timeout client 1s\n    stats enable\n    stats uri /s\nfrontend public\n    bind :80\n";
    assert_eq!(short(&run(inherited, None)), ["HW203@7 warn"]);
    // ... but not by a TCP one (HAProxy ignores `stats` there).
    let tcp = format!("{inherited}frontend db\n    mode tcp\n    bind :3306\n");
    assert_eq!(short(&run(&tcp, None)), ["HW203@7 warn"]);
    // `crt-base ${DIR}`: relative certificates are not judged.
    let base =
        "global\n    crt-base ${CERTS}\ndefaults\n    timeout client 1s\nfrontend f\n    bind :443 ssl crt site.pem\n";
    assert!(run(base, None).is_empty(), "{:#?}", run(base, None));
    // `unix-bind mode` sets the mode of a stats socket that gives none.
    assert_eq!(
        short(&run(
            "global\n    unix-bind mode 666\n    stats socket /run/a.sock level admin\n",
            None
        )),
        ["HW204@3 crit"]
    );
}

/// Each keyword: a warning one minor version before the one that refuses
/// it, critical from it on; the line is shown up to its keyword only (a
/// `reqadd` value may be a credential).
#[test]
fn removed_keywords_change_level_exactly_at_their_version() {
    for ex in super::file::removed_keyword_examples() {
        let text = match ex.section {
            "global" => format!("global\n    {}\n", ex.line),
            "proxy" => format!(
                "defaults\n    timeout client 1s\nfrontend f\n    bind 127.0.0.1:1\n    {}\n",
                ex.line
            ),
            "bind" => format!(
                "defaults\n    timeout client 1s\nfrontend f\n    bind 127.0.0.1:1 {}\n",
                ex.line
            ),
            _ => format!("global\n    stats socket /run/s.sock {}\n", ex.line),
        };
        let level_at = |v: Version| {
            run(&text, Some(v))
                .into_iter()
                .find(|f| f.id == "HW301" || f.id == "HW302")
                .map(|f| f.level)
        };
        if let Some(r) = ex.refused {
            assert_eq!(level_at(r), Some(Level::Crit), "{} at {r}", ex.what);
            assert_eq!(
                level_at(Version(r.0 + 1, 0)),
                Some(Level::Crit),
                "{} after {r}",
                ex.what
            );
            if r.1 > 0 {
                assert_eq!(
                    level_at(Version(r.0, r.1 - 1)),
                    Some(Level::Warn),
                    "{} before {r}",
                    ex.what
                );
            }
        }
        if let (None, Some(w)) = (ex.refused, ex.warned) {
            assert_eq!(level_at(w), Some(Level::Warn), "{} at {w}", ex.what);
            if w.1 > 0 {
                assert_eq!(level_at(Version(w.0, w.1 - 1)), None, "{} before {w}", ex.what);
            }
        }
    }
    let f = run("defaults\n    timeout client 1s\nfrontend f\n    bind 127.0.0.1:1\n    reqadd Authorization:\\ Basic\\ c2VjcmV0\n", None);
    assert_eq!(f.len(), 1);
    assert!(
        f[0].text.contains("`reqadd`") && !f[0].text.contains("c2VjcmV0"),
        "{}",
        f[0].text
    );
}

/// `.if` terms: only a single `[!]version_atleast(X)`/`version_before(X)`
/// is judged; `&&`, `||`, other predicates, or a patch level of the running
/// major.minor are not, and the branches of `.elif`/`.else` negate the
/// earlier conditions.
#[test]
fn if_conditions_doctor_judges_and_those_it_does_not() {
    let on = |cond_block: &str, v| {
        let text = format!("global\n{cond_block}");
        short(&run(&text, Some(v)))
    };
    let v30 = Version(3, 0);
    // A single term, negated or not, in .if, .elif and .else.
    assert_eq!(
        on(".if version_before(2.5)\n    nbproc 2\n.endif\n", v30),
        Vec::<String>::new()
    );
    assert_eq!(
        on(".if !version_atleast(2.5)\n    nbproc 2\n.endif\n", v30),
        Vec::<String>::new()
    );
    assert_eq!(
        on(
            ".if version_atleast(2.5)\n    nbthread 2\n.else\n    nbproc 2\n.endif\n",
            v30
        ),
        Vec::<String>::new()
    );
    assert_eq!(
        on(
            ".if version_before(2.5)\n    nbthread 2\n.else\n    nbproc 2\n.endif\n",
            v30
        ),
        ["HW301@5 crit"]
    );
    assert_eq!(
        on(".if version_before(2.0)\n    nbthread 2\n.elif !version_before(2.5)\n    nbproc 2\n.else\n    nbproc 3\n.endif\n", v30),
        ["HW301@5 crit"]
    );
    // `&&` (2.5+): not judged, so a warning at most.
    assert_eq!(
        on(
            ".if version_atleast(2.4) && version_before(2.5)\n    tune.chksize 32768\n.endif\n",
            v30
        ),
        ["HW301@3 warn"]
    );
    // A patch level of the running major.minor: not judged; of another: judged.
    assert_eq!(
        on(".if version_atleast(3.0.5)\n    nbproc 2\n.endif\n", v30),
        ["HW301@3 warn"]
    );
    assert_eq!(
        on(".if version_atleast(3.1.2)\n    nbproc 2\n.endif\n", v30),
        Vec::<String>::new()
    );
    // Without a version nothing is judged.
    assert_eq!(
        short(&run("global\n.if version_before(2.5)\n    nbproc 2\n.endif\n", None)),
        ["HW301@3 warn"]
    );
    // Any rule's finding in an unjudged branch is a warning at most.
    let other = "global\n.if defined(PROD)\n    stats socket /run/a.sock mode 666 level admin\n.endif\n";
    let f = run(other, None);
    assert_eq!(short(&f), ["HW204@3 warn"]);
    assert!(
        f[0].text.ends_with("(inside an `.if` block doctor cannot judge)"),
        "{}",
        f[0].text
    );
}
