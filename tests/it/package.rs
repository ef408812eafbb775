//! The packaged hawatch on a real machine (issue 15). Both tests are ignored
//! unless `scripts/test-package.sh` runs them, as root, after building the
//! packages: one against the .deb it installed (`HAWATCH_IT_INSTALLED`, the
//! installed binary), one against the portable binary inside a Debian 11 root
//! made with debootstrap (`HAWATCH_IT_OLD_ROOT`, the root; the binary is in it
//! at /usr/local/bin/hawatch).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use testkit::backend::Backend;
use testkit::haproxy::{backend_block, Haproxy, FAST_CHECK};
use testkit::receivers::Receiver;
use testkit::{tempdir, wait_for, Proc};

use crate::watcher::{kinds, webhook_events, webhook_sink};

const T: Duration = Duration::from_secs(20);

fn env_path(var: &str) -> PathBuf {
    let p = std::env::var_os(var).unwrap_or_else(|| panic!("{var} is not set: scripts/test-package.sh sets it"));
    PathBuf::from(p)
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `setpriv` as the package's `hawatch` user, with `groups` as its supplementary
/// groups: what systemd does for `User=hawatch Group=hawatch SupplementaryGroups=...`.
fn as_hawatch(groups: &str) -> Command {
    let mut c = Command::new("setpriv");
    c.args(["--reuid=hawatch", "--regid=hawatch"]);
    if groups.is_empty() {
        c.arg("--clear-groups");
    } else {
        c.arg(format!("--groups={groups}"));
    }
    c.env_clear().env("PATH", "/usr/bin:/bin").arg("--");
    c
}

/// A directory the `hawatch` user can enter (a test's tempdir is root's, 0700)
/// and one it owns inside, for the store.
fn shared_dir() -> (tempfile::TempDir, PathBuf) {
    let d = tempdir();
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
    let state = d.path().join("state");
    std::fs::create_dir(&state).unwrap();
    let status = Command::new("chown")
        .args(["hawatch:hawatch"])
        .arg(&state)
        .status()
        .unwrap();
    assert!(status.success(), "chown hawatch {}", state.display());
    (d, state)
}

/// An HAProxy whose admin socket is `stats socket PATH mode 660 group haproxy`, as
/// Debian ships it; the socket lives in `dir`.
fn haproxy_with_group_socket(dir: &Path, b: &Backend) -> (Haproxy, PathBuf) {
    let sock = dir.join("admin.sock");
    let h = Haproxy::builder()
        .global_line(&format!(
            "stats socket {} mode 660 group haproxy level admin",
            sock.display()
        ))
        .start(&backend_block("app", &[("s1", b.port())], FAST_CHECK));
    assert!(h.wait_server_status("app", "s1", "UP", T));
    let mode = std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660, "{}", sock.display());
    (h, sock)
}

/// A watcher config in `dir` the `hawatch` user can read (0644): a 1 s
/// interval, `store`, one `[[haproxy]]` on `sock`, `sinks`, no HTTP listener.
fn watcher_config(dir: &Path, name: &str, store: &Path, sock: &Path, sinks: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!(
            "[watch]\ninterval = \"1s\"\nstore = \"{}\"\n\n[[haproxy]]\nname = \"lb1\"\nsocket = \"{}\"\n\n{sinks}\n[http]\nlisten = \"\"\n",
            store.display(),
            sock.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    path
}

#[test]
#[ignore = "needs the hawatch .deb installed, as root: scripts/test-package.sh"]
fn the_installed_watcher_runs_as_its_user_reads_the_group_socket_and_delivers() {
    let bin = env_path("HAWATCH_IT_INSTALLED");
    let mut b = Backend::start();
    let rx = Receiver::webhook(None);
    let (d, state) = shared_dir();
    let (h, sock) = haproxy_with_group_socket(d.path(), &b);
    let cfg = watcher_config(
        d.path(),
        "hawatch.toml",
        &state.join("hawatch.db"),
        &sock,
        &webhook_sink("ops", &rx.url(), ""),
    );

    // Without group haproxy, the socket is closed to the user: the unit's
    // SupplementaryGroups= is what opens it. (A store and sink of its own: the
    // `instance_unreachable` this run records is not the webhook's business.)
    let denied_cfg = watcher_config(
        d.path(),
        "denied.toml",
        &state.join("denied.db"),
        &sock,
        "[[sink]]\nname = \"console\"\ntype = \"console\"\n",
    );
    let denied = as_hawatch("")
        .arg(&bin)
        .args(["watch", "--once", "--config"])
        .arg(&denied_cfg)
        .output()
        .unwrap();
    assert_eq!(denied.status.code(), Some(1), "{}", text(&denied));
    assert!(
        String::from_utf8_lossy(&denied.stderr).contains("ermission denied"),
        "{}",
        text(&denied)
    );

    let mut cmd = as_hawatch("haproxy");
    cmd.arg(&bin).args(["watch", "--log", "debug", "--config"]).arg(&cfg);
    let w = Proc::spawn("hawatch-installed", cmd, d.path());
    assert!(
        w.wait_stderr_contains("baseline recorded instance=lb1 ", T),
        "no baseline:\n{}",
        w.stderr()
    );
    b.stop();
    // Its only server down, the backend is down too.
    let want = vec!["backend_down app".to_string(), "server_down app/s1".to_string()];
    let delivered = || {
        let mut k = kinds(&webhook_events(&rx.accepted_bodies()));
        k.sort();
        k
    };
    assert!(
        wait_for(T, || delivered().len() >= 2),
        "not delivered: {:?}\n{}",
        delivered(),
        w.stderr()
    );
    assert_eq!(delivered(), want);
    // The store is the user's.
    let meta = std::fs::metadata(state.join("hawatch.db")).unwrap();
    let uid = String::from_utf8(Command::new("id").args(["-u", "hawatch"]).output().unwrap().stdout).unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&meta).to_string(), uid.trim());
    drop(w);
    drop(h);
}

#[test]
#[ignore = "needs a Debian 11 root with the portable binary, as root: scripts/test-package.sh"]
fn the_portable_binary_runs_on_debian_11_glibc_2_31() {
    let root = env_path("HAWATCH_IT_OLD_ROOT");
    let in_root = |args: &[&str]| -> Output {
        Command::new("/usr/sbin/chroot")
            .arg(&root)
            .arg("/usr/local/bin/hawatch")
            .args(args)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .output()
            .unwrap()
    };
    // The root really is the old system.
    let ldd = Command::new("/usr/sbin/chroot")
        .arg(&root)
        .args(["ldd", "--version"])
        .output()
        .unwrap();
    let ldd = String::from_utf8_lossy(&ldd.stdout).to_string();
    assert!(ldd.lines().next().is_some_and(|l| l.ends_with(" 2.31")), "{ldd}");

    let v = in_root(&["--version"]);
    assert!(v.status.success(), "{}", text(&v));
    assert!(
        String::from_utf8_lossy(&v.stdout).starts_with(&format!("hawatch {}", env!("CARGO_PKG_VERSION"))),
        "{}",
        text(&v)
    );

    // A run directory inside the root: HAProxy's socket and hawatch's files,
    // seen as /run/hawatch-it-N from inside.
    let name = format!("hawatch-it-{}", std::process::id());
    let outside = root.join("run").join(&name);
    let _ = std::fs::remove_dir_all(&outside);
    std::fs::create_dir_all(&outside).unwrap();
    let inside = PathBuf::from("/run").join(&name);
    struct Cleanup(PathBuf);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _cleanup = Cleanup(outside.clone());

    let mut b = Backend::start();
    let rx = Receiver::webhook(None);
    let sock = outside.join("admin.sock");
    let h = Haproxy::builder()
        .global_line(&format!("stats socket {} mode 600 level admin", sock.display()))
        .start(&backend_block("app", &[("s1", b.port())], FAST_CHECK));
    assert!(h.wait_server_status("app", "s1", "UP", T));
    std::fs::write(
        outside.join("hawatch.toml"),
        format!(
            "[watch]\ninterval = \"1s\"\nstore = \"{inside}/hawatch.db\"\n\n[[haproxy]]\nname = \"lb1\"\nsocket = \"{inside}/admin.sock\"\n\n{}\n[http]\nlisten = \"\"\n\n[check]\nsocket = \"{inside}/admin.sock\"\nmin_up = {{ app = 1 }}\n",
            webhook_sink("ops", &rx.url(), ""),
            inside = inside.display()
        ),
    )
    .unwrap();
    let cfg = inside.join("hawatch.toml");
    let cfg = cfg.to_str().unwrap();

    let c = in_root(&["config", "check", "--config", cfg]);
    assert!(c.status.success(), "{}", text(&c));
    let c = in_root(&["check", "--config", cfg]);
    assert!(c.status.success(), "{}", text(&c));

    let once = in_root(&["watch", "--once", "--config", cfg]);
    assert!(once.status.success(), "baseline: {}", text(&once));
    b.stop();
    assert!(h.wait_server_status("app", "s1", "DOWN", T));
    let once = in_root(&["watch", "--once", "--config", cfg]);
    assert!(once.status.success(), "{}", text(&once));
    let mut got = kinds(&webhook_events(&rx.accepted_bodies()));
    got.sort();
    assert_eq!(got, vec!["backend_down app", "server_down app/s1"]);

    // And `check` now fails, with its reason: the backend has no server up.
    let c = in_root(&["check", "--config", cfg]);
    assert_eq!(c.status.code(), Some(1), "{}", text(&c));
}
