//! `hawatch doctor`'s rules against real configs and a real HAProxy: seed
//! 001's production config (every finding at once), the removed keywords
//! against the HAProxy under test, the Runtime API and master CLI taken from
//! the running config, the host rules, `--offline` as a CI gate,
//! `--explain`, `[doctor] allow`, and `apply` refusing critical findings.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::support::{hawatch, hawatch_bin, run_hawatch};
use crate::watcher::socket_instance;
use testkit::backend::Backend;
use testkit::haproxy::{backend_block, Haproxy};
use testkit::tempdir;

const T: Duration = Duration::from_secs(20);

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/doctor")
        .join(name)
}

/// A hawatch.toml in `dir` with only `[doctor]` (so no socket is written,
/// and /etc/hawatch/hawatch.toml, if this machine has one, is not read).
fn doctor_toml(dir: &Path, body: &str) -> PathBuf {
    let p = dir.join("hawatch.toml");
    std::fs::write(&p, format!("[doctor]\n{body}")).unwrap();
    p
}

/// `hawatch doctor --config CFG ARGS...` with this test's HAProxy and no
/// keepalived: (exit status, stdout, stderr).
fn doctor(cfg: &Path, args: &[&str]) -> (i32, String, String) {
    run_hawatch(
        hawatch(["doctor", "--config"])
            .arg(cfg)
            .arg("--haproxy")
            .arg(testkit::haproxy::haproxy_bin())
            .args(["--keepalived", "/nonexistent/keepalived"])
            .args(args),
    )
}

fn doctor_json(cfg: &Path, args: &[&str]) -> (i32, Vec<Value>) {
    let mut a = vec!["--json"];
    a.extend_from_slice(args);
    let (code, out, err) = doctor(cfg, &a);
    let v: Vec<Value> = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    (code, v)
}

/// `ID@LINE` of each finding with that id.
fn lines_of(found: &[Value], id: &str) -> Vec<u64> {
    found
        .iter()
        .filter(|f| f["id"] == id)
        .map(|f| f["line"].as_u64().unwrap_or(0))
        .collect()
}

fn one<'a>(found: &'a [Value], id: &str, line: u64) -> &'a Value {
    found
        .iter()
        .find(|f| f["id"] == id && f["line"] == line)
        .unwrap_or_else(|| panic!("no {id} at line {line}: {found:#?}"))
}

fn sysctl(name: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/sys/{}", name.replace('.', "/")))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// The "done when": seed 001's config lists every finding at once,
/// each with its id, line and fix, the Runtime API taken from its own
/// `stats socket`, and the VIP bind.
#[test]
fn seed_001_lists_every_finding_at_once() {
    let dir = tempdir();
    let cfg = doctor_toml(dir.path(), "");
    let file = fixture("seed-001-haproxy.cfg");
    let (code, found) = doctor_json(&cfg, &["--haproxy-config", file.to_str().unwrap()]);
    assert_eq!(code, 2, "{found:#?}");
    for f in &found {
        assert!(
            f["id"].as_str().is_some_and(|i| i.starts_with("HW")) && f["rule"].is_string(),
            "{f}"
        );
        assert!(
            f["level"] == "ok" || f["fix"].is_string(),
            "a problem without a fix: {f}"
        );
    }
    assert_eq!(lines_of(&found, "HW101"), [36, 37]);
    assert!(one(&found, "HW101", 36)["text"]
        .as_str()
        .unwrap()
        .contains("`inter 3s fall 3 rise 5` but no `check`"));
    assert_eq!(lines_of(&found, "HW102"), [33]);
    assert_eq!(one(&found, "HW201", 32)["level"], "crit");
    assert_eq!(one(&found, "HW202", 31)["level"], "crit");
    assert!(
        !serde_json::to_string(&found).unwrap().contains("123456"),
        "a password in the output"
    );
    assert_eq!(lines_of(&found, "HW203"), [26]);
    // Every removed keyword at once, at the level the HAProxy under test gives it.
    let v = testkit::haproxy::version();
    let level = |refused: (u32, u32)| if v >= refused { "crit" } else { "warn" };
    assert_eq!(lines_of(&found, "HW301"), [4, 9, 25]);
    assert_eq!(one(&found, "HW301", 9)["level"], level((2, 5)), "nbproc");
    assert_eq!(
        one(&found, "HW301", 4)["level"],
        level((2, 7)),
        "process on the stats socket"
    );
    assert_eq!(one(&found, "HW301", 25)["level"], level((2, 7)), "bind-process");
    // haproxy -c (a 2.2 accepts all of it).
    let hw001 = found.iter().find(|f| f["id"] == "HW001").unwrap();
    assert_eq!(hw001["level"], if v >= (2, 5) { "crit" } else { "ok" }, "{hw001}");
    // The Runtime API is the config's own socket, not /var/run/haproxy.sock.
    let api = one(&found, "HW002", 4);
    assert!(
        api["text"].as_str().unwrap().contains("/var/lib/haproxy/haproxy.sock1"),
        "{api}"
    );
    assert!(api["file"].as_str().unwrap().ends_with("seed-001-haproxy.cfg"));
    assert!(!serde_json::to_string(&found).unwrap().contains("/var/run/haproxy.sock"));
    // The VIP bind, unless this host may bind addresses it does not have.
    let vip_here = hawatch::source::vip::local_addresses().contains(&"172.20.0.248".parse().unwrap());
    let expected: &[u64] = if sysctl("net.ipv4.ip_nonlocal_bind") == 0 && !vip_here {
        &[34]
    } else {
        &[]
    };
    assert_eq!(lines_of(&found, "HW701"), expected);
}

/// The removed-keyword table, checked against the HAProxy under test (the
/// version matrix runs this on 2.2, 2.6, 3.0 and 3.2): a keyword is refused
/// exactly from the version the table says, and a deprecated one warns.
#[test]
fn removed_keywords_are_refused_from_the_version_the_table_says() {
    let v = testkit::haproxy::version();
    let version = hawatch::logic::lint::Version(v.0, v.1);
    let dir = tempdir();
    let examples = hawatch::logic::lint::file::removed_keyword_examples();
    assert!(examples.len() >= 16, "{}", examples.len());
    for ex in examples {
        let (what, section, line, refused, warned) = (ex.what, ex.section, ex.line, ex.refused, ex.warned);
        let sock = dir.path().join("s.sock");
        let (global, proxy, bind, socket) = match section {
            "global" => (line, "", "", ""),
            "proxy" => ("", line, "", ""),
            "bind" => ("", "", line, ""),
            _ => ("", "", "", line),
        };
        let text = format!(
            "global\n    {global}\n    stats socket {} mode 600 {socket}\ndefaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\nlisten p\n    bind 127.0.0.1:1 {bind}\n    {proxy}\n    server s 127.0.0.1:2\n",
            sock.display()
        );
        let file = dir.path().join("k.cfg");
        std::fs::write(&file, &text).unwrap();
        let out = Command::new(testkit::haproxy::haproxy_bin())
            .args(["-c", "-f"])
            .arg(&file)
            .output()
            .unwrap();
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let is_refused = !out.status.success();
        let expect_refused = refused.is_some_and(|r| version >= r);
        assert_eq!(
            is_refused, expect_refused,
            "{what} on HAProxy {version}: the table says refused from {refused:?}\n{text}\n{said}"
        );
        if !is_refused && warned.is_some_and(|w| version >= w) {
            assert!(
                said.contains("WARNING"),
                "{what} on HAProxy {version}: the table says it warns from {warned:?}\n{said}"
            );
        }
    }
}

/// The Runtime API and the master CLI come from the running configuration
/// (its `stats socket` line and the master's `-S`), unless hawatch.toml
/// names a socket: then a socket the config does not declare is a finding.
#[test]
fn the_runtime_api_and_master_cli_come_from_the_running_config() {
    let b = Backend::start();
    let h = Haproxy::start(&backend_block("app", &[("s1", b.port()), ("s2", b.port())], ""));
    assert!(h.wait_server_status("app", "s1", "UP", T));
    let dir = tempdir();
    let cfg = doctor_toml(dir.path(), "");
    let file = h.cfg_path();
    let (_, found) = doctor_json(&cfg, &["--haproxy-config", file.to_str().unwrap()]);
    let sock = h.socket_path().display().to_string();
    let api = one(&found, "HW002", 2);
    assert_eq!(api["level"], "ok", "{api}");
    assert!(
        api["text"]
            .as_str()
            .unwrap()
            .contains(&format!("Runtime API {sock} (the config's `stats socket`)")),
        "{api}"
    );
    assert!(
        api["text"]
            .as_str()
            .unwrap()
            .contains(&format!("pid {}", h.worker_pid())),
        "{api}"
    );
    let master = found
        .iter()
        .find(|f| f["id"] == "HW007")
        .unwrap_or_else(|| panic!("{found:#?}"));
    assert_eq!(master["level"], "ok");
    assert!(
        master["text"]
            .as_str()
            .unwrap()
            .contains(&h.master_socket_path().display().to_string()),
        "{master}"
    );
    assert!(
        found.iter().any(|f| f["id"] == "HW003" && f["level"] == "ok"),
        "{found:#?}"
    );
    // hawatch.toml naming a socket the config does not declare.
    let other = dir.path().join("elsewhere.sock");
    let wrong = dir.path().join("wrong.toml");
    std::fs::write(
        &wrong,
        format!(
            "{}\n[apply]\ntarget = {:?}\nmaster_socket = {:?}\n",
            socket_instance("lb1", &other, ""),
            file.display().to_string(),
            dir.path().join("m.sock").display().to_string()
        ),
    )
    .unwrap();
    let (code, found) = doctor_json(&wrong, &["--haproxy-config", file.to_str().unwrap()]);
    assert_eq!(code, 2);
    let hw004 = found
        .iter()
        .find(|f| f["id"] == "HW004")
        .unwrap_or_else(|| panic!("{found:#?}"));
    assert!(hw004["text"].as_str().unwrap().contains(&sock), "{hw004}");
    let hw002 = found.iter().find(|f| f["id"] == "HW002").unwrap();
    assert_eq!(hw002["level"], "crit");
    assert!(
        hw002["text"]
            .as_str()
            .unwrap()
            .contains("from hawatch.toml's [[haproxy]] lb1"),
        "{hw002}"
    );
    // The right socket, a wrong [apply] master_socket.
    std::fs::write(
        &wrong,
        format!(
            "{}\n[apply]\ntarget = {:?}\nmaster_socket = {:?}\n",
            socket_instance("lb1", &h.socket_path(), ""),
            file.display().to_string(),
            dir.path().join("m.sock").display().to_string()
        ),
    )
    .unwrap();
    let (_, found) = doctor_json(&wrong, &["--haproxy-config", file.to_str().unwrap()]);
    assert!(found.iter().all(|f| f["id"] != "HW004"), "{found:#?}");
    let hw007 = found.iter().find(|f| f["id"] == "HW007").unwrap();
    assert_eq!(hw007["level"], "warn", "{hw007}");
    assert!(hw007["fix"]
        .as_str()
        .unwrap()
        .contains(&h.master_socket_path().display().to_string()));
}

/// Seed 002's host checks against a real HAProxy: CPU and memory of its
/// process (the memory limit lowered to trigger), TIME_WAIT, the kernel log,
/// the directories the config needs, its user, the file's mode.
#[test]
fn host_rules_on_a_real_haproxy() {
    let b = Backend::start();
    let h = Haproxy::start(&backend_block("app", &[("s1", b.port()), ("s2", b.port())], ""));
    assert!(h.wait_server_status("app", "s1", "UP", T));
    let dir = tempdir();
    let jail = dir.path().join("jail");
    let file = dir.path().join("haproxy.cfg");
    // The running config, with a chroot, a pidfile in a missing directory and a user.
    let text = h.config_text().replacen(
        "global\n",
        &format!(
            "global\n    chroot {}\n    pidfile {}/run/haproxy.pid\n    user hawatch-no-such-user\n",
            jail.display(),
            dir.path().display()
        ),
        1,
    );
    std::fs::write(&file, &text).unwrap();
    let f = file.to_str().unwrap();
    let cfg = doctor_toml(dir.path(), "");
    let (code, found) = doctor_json(&cfg, &["--haproxy-config", f]);
    assert_eq!(code, 2, "{found:#?}");
    let get = |id: &str| -> Vec<&Value> { found.iter().filter(|x| x["id"] == id).collect() };
    let cpu = get("HW705");
    assert_eq!(cpu.len(), 1, "{found:#?}");
    assert_eq!(cpu[0]["level"], "ok");
    assert!(
        cpu[0]["text"]
            .as_str()
            .unwrap()
            .contains(&format!("HAProxy (pid {})", h.worker_pid())),
        "{}",
        cpu[0]
    );
    assert_eq!(get("HW706")[0]["level"], "ok");
    assert_eq!(get("HW707").len(), 1);
    if std::fs::File::open("/dev/kmsg").is_ok() {
        assert_eq!(get("HW708").len(), 1, "the kernel log is readable here");
    }
    let missing: Vec<&str> = get("HW709")
        .iter()
        .filter(|x| x["level"] == "crit")
        .map(|x| x["text"].as_str().unwrap())
        .collect();
    assert_eq!(missing.len(), 2, "{missing:?}");
    assert!(
        missing[0].contains(&format!("the chroot {} is missing", jail.display())),
        "{missing:?}"
    );
    assert!(missing[1].contains("the pidfile's directory"), "{missing:?}");
    assert_eq!(get("HW712").len(), 1);
    assert_eq!(get("HW712")[0]["line"], 4);
    assert!(get("HW711").is_empty());

    // A chroot everyone can write, the pid directory there, the user fixed,
    // the file world-writable, and a memory limit HAProxy is above.
    std::fs::create_dir(&jail).unwrap();
    std::fs::create_dir(dir.path().join("run")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&jail, std::fs::Permissions::from_mode(0o777)).unwrap();
    std::fs::write(&file, text.replace("user hawatch-no-such-user", "user root")).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o666)).unwrap();
    let cfg = doctor_toml(dir.path(), "memory_percent = 0.001\n");
    let (code, found) = doctor_json(&cfg, &["--haproxy-config", f]);
    let get = |id: &str| -> Vec<&Value> { found.iter().filter(|x| x["id"] == id).collect() };
    assert_eq!(code, 1, "{found:#?}");
    assert_eq!(get("HW710").len(), 1, "{found:#?}");
    assert!(get("HW710")[0]["text"]
        .as_str()
        .unwrap()
        .contains("writable by everyone"));
    assert!(get("HW712").is_empty());
    assert_eq!(get("HW711").len(), 1);
    assert_eq!(get("HW706")[0]["level"], "warn", "{:?}", get("HW706"));
    // All fixed: the directories are ok.
    std::fs::set_permissions(&jail, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let cfg = doctor_toml(dir.path(), "");
    let (_, found) = doctor_json(&cfg, &["--haproxy-config", f]);
    let dirs: Vec<&Value> = found
        .iter()
        .filter(|x| x["id"] == "HW709" || x["id"] == "HW710")
        .collect();
    assert!(dirs.iter().all(|x| x["level"] == "ok"), "{dirs:#?}");
    assert!(found.iter().all(|x| x["id"] != "HW711"));
}

/// `--offline`: the file rules only, for a CI pipeline; exit 2 / 1 / 0; a
/// configuration in two files.
#[test]
fn offline_gates_a_config_change() {
    let dir = tempdir();
    let cfg = doctor_toml(dir.path(), "");
    let seed = fixture("seed-001-haproxy.cfg");
    let (code, found) = doctor_json(&cfg, &["--offline", "--haproxy-config", seed.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        found.iter().all(|f| {
            let id = f["id"].as_str().unwrap();
            id == "HW001"
                || id.starts_with("HW1")
                || id.starts_with("HW2")
                || id.starts_with("HW3")
                || id.starts_with("HW4")
                || id.starts_with("HW5")
        }),
        "{found:#?}"
    );
    let emergency = fixture("seed-002-emergency.cfg");
    let (code, found) = doctor_json(&cfg, &["--offline", "--haproxy-config", emergency.to_str().unwrap()]);
    assert_eq!(code, 1, "{found:#?}");
    let ids: Vec<&str> = found
        .iter()
        .filter(|f| f["level"] != "ok")
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["HW103"]);
    // Two files, as two -f: the finding names the second file and its line.
    let (a, b) = (dir.path().join("10-global.cfg"), dir.path().join("20-app.cfg"));
    // A frontend on a port nothing uses (offline: it is not connected to).
    let fe = format!(
        "frontend fe\n    bind 127.0.0.1:{}\n    default_backend app\n",
        testkit::dead_port()
    );
    std::fs::write(&a, "global\n    maxconn 1000\ndefaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n").unwrap();
    // Both files, as `-f A -f B`, with `servers` in the second.
    let both = |servers: &str| {
        std::fs::write(&b, format!("{fe}backend app\n{servers}")).unwrap();
        let (code, out, _) = doctor(
            &cfg,
            &[
                "--offline",
                "--haproxy-config",
                a.to_str().unwrap(),
                "--haproxy-config",
                b.to_str().unwrap(),
            ],
        );
        (code, out)
    };
    let (code, out) = both("    server s1 127.0.0.1:1 check\n    server s2 127.0.0.1:2\n");
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("haproxy -c says it is valid"), "{out}");
    assert!(
        out.contains(&format!(
            "WARN HW101 {}:6: backend app: server s2 has no `check`",
            b.display()
        )),
        "{out}"
    );
    assert!(out.contains("(offline: file rules only)"), "{out}");
    // The same with the backend checked: nothing to say.
    let (code, out) = both("    server s1 127.0.0.1:1 check\n    server s2 127.0.0.1:2 check\n");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("0 critical, 0 warning(s)"), "{out}");
}

#[test]
fn explain_and_allow() {
    let out = Command::new(hawatch_bin())
        .args(["doctor", "--explain", "hw201"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        text.starts_with("HW201 stats-admin-exposed (crit, file rule, runs with --offline)"),
        "{text}"
    );
    assert!(
        text.contains("Why: ") && text.contains("Fix: ") && text.contains("stats admin if TRUE"),
        "{text}"
    );
    let out = Command::new(hawatch_bin())
        .args(["doctor", "--explain", "all"])
        .output()
        .unwrap();
    let all = String::from_utf8_lossy(&out.stdout);
    for r in hawatch::logic::lint::RULES {
        assert!(all.contains(&format!("{} {} (", r.id, r.name)), "{}", r.id);
    }
    let out = Command::new(hawatch_bin())
        .args(["doctor", "--explain", "HW999"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("\"HW999\" is not a rule"));

    let dir = tempdir();
    let seed = fixture("seed-001-haproxy.cfg");
    let cfg = doctor_toml(dir.path(), "allow = [\"HW101\", \"hw102\"]\n");
    let (_, out, _) = doctor(&cfg, &["--offline", "--haproxy-config", seed.to_str().unwrap()]);
    assert!(!out.contains("HW101") && !out.contains("HW102"), "{out}");
    assert!(out.contains(", 3 silenced by [doctor] allow"), "{out}");
    let cfg = doctor_toml(dir.path(), "cpu_percent = 50\nallow = [\"HW101\", \"HW1O2\"]\n");
    let (code, _, err) = doctor(&cfg, &["--offline", "--haproxy-config", seed.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("hawatch.toml:3") && err.contains("doctor.allow[1]") && err.contains("\"HW1O2\" is not a rule id"),
        "{err}"
    );
}

/// `apply` runs the file rules on the new config first: a critical finding
/// (here a Runtime API socket every local user may use at level admin)
/// stops it, `--dry-run` says so, `--force` installs anyway.
#[test]
fn apply_refuses_critical_findings_unless_forced() {
    let b = Backend::start();
    let body = backend_block("app", &[("s1", b.port()), ("s2", b.port())], "");
    let h = Haproxy::start(&body);
    assert!(h.wait_server_status("app", "s1", "UP", T));
    let dir = tempdir();
    let cfg = crate::ops::apply_toml(
        dir.path(),
        &h,
        "",
        &format!(
            "settle = \"1s\"\nhaproxy = {:?}\n",
            testkit::haproxy::haproxy_bin().display().to_string()
        ),
    );
    let apply = |args: &[&str]| crate::ops::run_apply(&cfg, args);
    let original = std::fs::read_to_string(h.cfg_path()).unwrap();
    let open = dir.path().join("open.sock");
    let new = dir.path().join("new.cfg");
    std::fs::write(
        &new,
        original.replacen(
            "global\n",
            &format!("global\n    stats socket {} mode 666 level admin\n", open.display()),
            1,
        ),
    )
    .unwrap();
    let (code, out) = apply(&["--dry-run", new.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("configuration is valid") && out.contains("CRIT HW204"),
        "{out}"
    );
    let (code, out) = apply(&["--yes", new.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("1 new critical doctor finding(s): nothing changed"),
        "{out}"
    );
    assert_eq!(
        std::fs::read_to_string(h.cfg_path()).unwrap(),
        original,
        "nothing installed"
    );
    let (code, out) = apply(&["--yes", "--force", new.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("verified"), "{out}");
    assert!(testkit::wait_for(T, || open.exists()), "the forced config runs");
    // Once it runs, a change that keeps the finding, moved down by new
    // lines above it, is not stopped by it: it is the running file's, not new.
    let b2 = Backend::start();
    let next = dir.path().join("next.cfg");
    let forced = std::fs::read_to_string(&new).unwrap();
    std::fs::write(
        &next,
        forced.replacen("global\n", "global\n    maxconn 2000\n    hard-stop-after 30s\n", 1),
    )
    .unwrap();
    let (code, out) = apply(&["--yes", next.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("CRIT HW204") && out.contains("verified"), "{out}");
    // A clean config (the socket gone, a backend more) ...
    let clean = dir.path().join("clean.cfg");
    std::fs::write(
        &clean,
        format!(
            "{original}\n{}",
            backend_block("more", &[("m1", b2.port()), ("m2", b2.port())], "")
        ),
    )
    .unwrap();
    let (code, out) = apply(&["--yes", clean.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("HW204"), "{out}");
    // ... then a rollback to the one with the open socket: what ran before is
    // put back, although it is a critical finding new to the running file.
    let (code, out) = apply(&["--yes", "--rollback"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("CRIT HW204") && out.contains("verified"), "{out}");
}

/// One network namespace with only `lo`; removed on drop.
struct Ns(String);

impl Ns {
    fn create() -> Result<Ns, String> {
        let name = format!("hwdoc{}", std::process::id());
        let run = |args: &[&str]| -> Result<(), String> {
            let out = Command::new("ip").args(args).output().map_err(|e| format!("ip: {e}"))?;
            out.status
                .success()
                .then_some(())
                .ok_or_else(|| format!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
        };
        run(&["netns", "add", &name])?;
        let ns = Ns(name);
        run(&["-n", &ns.0, "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// Runs `f` on a thread that entered the namespace.
    fn within<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        use std::os::fd::AsFd;
        let path = format!("/var/run/netns/{}", self.0);
        std::thread::spawn(move || {
            let file = std::fs::File::open(&path).unwrap();
            nix::sched::setns(file.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            f()
        })
        .join()
        .unwrap()
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// HW707 for real: in a namespace of its own whose `tcp_max_tw_buckets` is
/// 10, twelve connections this side closes first fill the TIME_WAIT table;
/// doctor, run in that namespace, warns. Before them it does not.
#[test]
#[ignore = "needs root and network namespaces (`ip netns`); scripts/test.sh runs it where it can"]
fn time_wait_near_the_kernel_limit_warns() {
    let ns =
        Ns::create().unwrap_or_else(|e| panic!("cannot create a network namespace here ({e}); this test needs root"));
    let set = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns.0,
            "sysctl",
            "-qw",
            "net.ipv4.tcp_max_tw_buckets=10",
        ])
        .status()
        .unwrap();
    assert!(set.success());
    let dir = tempdir();
    let cfg = doctor_toml(dir.path(), "");
    let file = dir.path().join("haproxy.cfg");
    std::fs::write(&file, "global\n    maxconn 100\n").unwrap();
    let run = |ns: &Ns| -> Vec<Value> {
        let out = Command::new("ip")
            .args(["netns", "exec", &ns.0])
            .arg(hawatch_bin())
            .args(["doctor", "--json", "--keepalived", "/nonexistent", "--config"])
            .arg(&cfg)
            .arg("--haproxy-config")
            .arg(&file)
            .output()
            .unwrap();
        let v: Vec<Value> = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
        v.into_iter().filter(|f| f["id"] == "HW707").collect()
    };
    let before = run(&ns);
    assert_eq!(before.len(), 1, "{before:?}");
    assert_eq!(before[0]["level"], "ok", "{before:?}");
    assert!(before[0]["text"]
        .as_str()
        .unwrap()
        .starts_with("0 TCP sockets in TIME_WAIT; net.ipv4.tcp_max_tw_buckets is 10"));
    let closed = ns.within(|| {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let mut n = 0;
        for _ in 0..12 {
            let c = std::net::TcpStream::connect(addr).unwrap();
            let (s, _) = l.accept().unwrap();
            // The side that closes first keeps the TIME_WAIT.
            drop(c);
            std::thread::sleep(Duration::from_millis(20));
            drop(s);
            n += 1;
        }
        n
    });
    assert_eq!(closed, 12);
    let after = run(&ns);
    assert_eq!(after[0]["level"], "warn", "{after:?}");
    assert!(
        after[0]["fix"].as_str().unwrap().contains("tcp_max_tw_buckets"),
        "{after:?}"
    );
}

/// HW003 both ways: hawatch.toml pointing at a `level operator` socket the
/// config declares is a warning (`ctl` needs admin), with no HW004; the
/// config's own admin socket is fine.
#[test]
fn a_socket_below_level_admin_is_a_warning() {
    let b = Backend::start();
    let dir = tempdir();
    let op = dir.path().join("operator.sock");
    let h = Haproxy::builder()
        .global_line(&format!("stats socket {} mode 600 level operator", op.display()))
        .start(&backend_block("app", &[("s1", b.port()), ("s2", b.port())], ""));
    assert!(h.wait_server_status("app", "s1", "UP", T));
    let file = h.cfg_path();
    let toml = dir.path().join("hawatch.toml");
    std::fs::write(&toml, socket_instance("lb1", &op, "")).unwrap();
    let (code, found) = doctor_json(&toml, &["--haproxy-config", file.to_str().unwrap()]);
    let hw003: Vec<&Value> = found.iter().filter(|f| f["id"] == "HW003").collect();
    assert_eq!(hw003.len(), 1, "{found:#?}");
    assert_eq!(hw003[0]["level"], "warn");
    assert!(
        hw003[0]["text"].as_str().unwrap().ends_with("is at level operator"),
        "{}",
        hw003[0]
    );
    assert!(found.iter().all(|f| f["id"] != "HW004"), "{found:#?}");
    assert!(code >= 1);
    let (_, found) = doctor_json(
        &doctor_toml(dir.path(), ""),
        &["--haproxy-config", file.to_str().unwrap()],
    );
    assert!(
        found.iter().any(|f| f["id"] == "HW003" && f["level"] == "ok"),
        "{found:#?}"
    );
}
