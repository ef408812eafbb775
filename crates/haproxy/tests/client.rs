//! The client against a stand-in Runtime API on a unix socket: what it
//! sends, and how each way of failing comes back as its own error.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use haproxy::{Admin, CliLevel, Client, Endpoint, Error, Name, ReplyError, ServerId, Weight};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;
use tokio::sync::oneshot;

const INFO: &str = include_str!("fixtures/haproxy-2.6/show-info.txt");
const STAT: &str = include_str!("fixtures/haproxy-2.6/show-stat.csv");
const WAIT_STREAM: &str = include_str!("fixtures/haproxy-2.6/show-events-wait-stream.txt");

/// A fresh directory for one test's socket, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new() -> Dir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "haproxy-client-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&p).unwrap();
        Dir(p)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// How the stand-in answers the one connection it takes.
enum Answer {
    /// Writes this, then closes.
    Text(String),
    /// Reads the line, then says nothing and keeps the connection open.
    Silence,
}

/// Serves one connection; the receiver gets the line the client sent.
fn serve(dir: &Dir, answer: Answer) -> (Endpoint, oneshot::Receiver<String>) {
    let path = dir.0.join("admin.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let (tx, rx) = oneshot::channel();
    tokio::spawn(async move {
        let (conn, _) = listener.accept().await.unwrap();
        let mut conn = BufReader::new(conn);
        let mut line = String::new();
        conn.read_line(&mut line).await.unwrap();
        let _ = tx.send(line);
        match answer {
            Answer::Text(t) => {
                let _ = conn.get_mut().write_all(t.as_bytes()).await;
            }
            Answer::Silence => tokio::time::sleep(Duration::from_secs(30)).await,
        }
    });
    (Endpoint::Unix(path), rx)
}

fn client(ep: Endpoint) -> Client {
    Client::new(ep).timeout(Duration::from_secs(5))
}

#[tokio::test]
async fn show_info_stat_is_one_line_and_parses() {
    let dir = Dir::new();
    let (ep, sent) = serve(&dir, Answer::Text(format!("{INFO}{STAT}")));
    let (info, stat) = client(ep).size_hint(STAT.len()).show_info_stat().await.unwrap();
    assert_eq!(sent.await.unwrap(), "show info;show stat\n");
    assert_eq!(info.pid, Some(28345));
    assert!(stat.len() > 20);
}

#[tokio::test]
async fn a_cut_reply_is_a_reply_error() {
    let dir = Dir::new();
    let reply = format!("{INFO}{STAT}");
    let (ep, _) = serve(&dir, Answer::Text(reply[..reply.len() - 300].to_string()));
    let e = client(ep).show_info_stat().await.unwrap_err();
    assert!(matches!(e, Error::Reply(ReplyError::Truncated)), "{e:?}");
}

#[tokio::test]
async fn show_stat_validates() {
    let dir = Dir::new();
    let (ep, sent) = serve(&dir, Answer::Text(STAT.into()));
    let stat = client(ep).show_stat().await.unwrap();
    assert_eq!(sent.await.unwrap(), "show stat\n");
    assert!(stat.len() > 20);
    let dir = Dir::new();
    let (ep, _) = serve(&dir, Answer::Text("Unknown command.\n\n".into()));
    let e = client(ep).show_stat().await.unwrap_err();
    assert!(matches!(e, Error::Reply(ReplyError::Stat(_))), "{e:?}");
}

/// A socket that never answers is a timeout, not any other failure.
#[tokio::test]
async fn silence_is_a_timeout() {
    let dir = Dir::new();
    let (ep, _) = serve(&dir, Answer::Silence);
    let e = Client::new(ep.clone())
        .timeout(Duration::from_millis(200))
        .show_info()
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Timeout { after, .. } if *after == Duration::from_millis(200)),
        "{e:?}"
    );
    assert!(!e.is_connect());
    assert_eq!(e.to_string(), format!("{ep} did not answer within 200ms"));
}

/// HAProxy's `Permission denied` (the socket's level) is its own error.
#[tokio::test]
async fn a_level_too_low_is_its_own_error() {
    let dir = Dir::new();
    let (ep, sent) = serve(&dir, Answer::Text("Permission denied\n\n".into()));
    let id = ServerId::new("be_app", "app1").unwrap();
    let e = client(ep).set_server_state(&id, Admin::Drain).await.unwrap_err();
    assert_eq!(sent.await.unwrap(), "set server be_app/app1 state drain\n");
    assert!(matches!(e, Error::Level { .. }), "{e:?}");
    assert!(e.to_string().contains("level is too low"), "{e}");
}

/// An action HAProxy does answers nothing; one it refuses, its reason.
#[tokio::test]
async fn actions_done_and_refused() {
    let dir = Dir::new();
    let id = ServerId::new("be_app", "app1").unwrap();
    let (ep, sent) = serve(&dir, Answer::Text("\n".into()));
    assert_eq!(
        client(ep).set_server_weight(&id, Weight::Percent(50)).await.unwrap(),
        ""
    );
    assert_eq!(sent.await.unwrap(), "set server be_app/app1 weight 50%\n");

    let dir = Dir::new();
    let (ep, sent) = serve(&dir, Answer::Text("No such server.\n\n".into()));
    let e = client(ep.clone()).set_agent_check(&id, true).await.unwrap_err();
    assert_eq!(sent.await.unwrap(), "enable agent be_app/app1\n");
    match &e {
        Error::Rejected {
            endpoint,
            command,
            reply,
        } => {
            assert_eq!(
                (endpoint.as_str(), command.as_str(), reply.as_str()),
                (ep.to_string().as_str(), "enable agent be_app/app1", "No such server.")
            );
        }
        e => panic!("{e:?}"),
    }

    for (call, line) in [
        (0, "disable health be_app/app1\n"),
        (1, "set maxconn server be_app/app1 0\n"),
    ] {
        let dir = Dir::new();
        let (ep, sent) = serve(&dir, Answer::Text("Done.\n".into()));
        let c = client(ep);
        let r = match call {
            0 => c.set_health_check(&id, false).await,
            _ => c.set_server_maxconn(&id, 0).await,
        };
        assert_eq!(r.unwrap(), "Done.");
        assert_eq!(sent.await.unwrap(), line);
    }
}

#[tokio::test]
async fn a_reply_past_the_cap_is_too_large() {
    let dir = Dir::new();
    let (ep, _) = serve(&dir, Answer::Text("x".repeat(100_000)));
    let e = client(ep)
        .max_reply(1024)
        .send(&[haproxy::Command::ShowStat])
        .await
        .unwrap_err();
    assert!(matches!(e, Error::TooLarge { max: 1024, .. }), "{e:?}");
}

#[tokio::test]
async fn cli_level() {
    let dir = Dir::new();
    let (ep, sent) = serve(&dir, Answer::Text("operator\n".into()));
    assert_eq!(client(ep).show_cli_level().await.unwrap(), CliLevel::Operator);
    assert_eq!(sent.await.unwrap(), "show cli level\n");
    let dir = Dir::new();
    let (ep, _) = serve(&dir, Answer::Text("Unknown command.\n".into()));
    let e = client(ep).show_cli_level().await.unwrap_err();
    assert!(matches!(e, Error::Reply(ReplyError::Unexpected { .. })), "{e:?}");
}

#[tokio::test]
async fn master_cli_reload() {
    let dir = Dir::new();
    let (ep, sent) = serve(&dir, Answer::Text(String::new()));
    assert_eq!(client(ep).reload().await.unwrap(), haproxy::master::Reload::Unreported);
    assert_eq!(sent.await.unwrap(), "reload\n");
}

/// The lines HAProxy streamed in the capture come back one by one, then
/// `None` when it closes.
#[tokio::test]
async fn following_a_ring() {
    let bytes = WAIT_STREAM
        .lines()
        .find_map(|l| l.strip_prefix("b'"))
        .and_then(|l| l.strip_suffix('\''))
        .unwrap()
        .replace("\\n", "\n");
    let dir = Dir::new();
    let (ep, sent) = serve(&dir, Answer::Text(bytes.clone()));
    let ring = Name::new("evring").unwrap();
    let mut lines = client(ep).follow_ring(&ring).await.unwrap();
    let mut got = Vec::new();
    while let Some(l) = lines.next_line().await.unwrap() {
        got.push(l.to_string());
    }
    assert_eq!(sent.await.unwrap(), "show events evring -w -n\n");
    assert_eq!(got.concat(), bytes);
    assert_eq!(got.len(), 4);
    let changes = got.iter().filter_map(|l| haproxy::log::parse_state_line(l)).count();
    assert_eq!(changes, 4);
}

#[tokio::test]
async fn a_ring_that_is_not_there() {
    let ring = Name::new("nosuch").unwrap();
    for (answer, level) in [
        ("No such event sink. Use 'show events' to see them all.\n", false),
        ("Permission denied\n", true),
    ] {
        let dir = Dir::new();
        let (ep, _) = serve(&dir, Answer::Text(answer.into()));
        let mut lines = client(ep).follow_ring(&ring).await.unwrap();
        let e = lines.next_line().await.unwrap_err();
        if level {
            assert!(matches!(e, Error::Level { .. }), "{e:?}");
        } else {
            assert!(
                matches!(&e, Error::Ring { ring, reply, .. } if ring == "nosuch" && reply.starts_with("No such event sink")),
                "{e:?}"
            );
        }
    }
}

/// Paths that are not a listening socket say what they are, at once.
#[tokio::test]
async fn bad_paths() {
    let dir = Dir::new();
    let file = dir.0.join("file.sock");
    std::fs::write(&file, "").unwrap();
    let stale = dir.0.join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    let fast = |p: &std::path::Path| Client::new(Endpoint::Unix(p.into())).timeout(Duration::from_secs(2));
    let e = fast(&file).show_info().await.unwrap_err();
    assert!(
        matches!(
            e,
            Error::NotSocket {
                what: "a regular file",
                ..
            }
        ),
        "{e:?}"
    );
    let e = fast(&dir.0).show_info().await.unwrap_err();
    assert!(
        matches!(
            e,
            Error::NotSocket {
                what: "a directory",
                ..
            }
        ),
        "{e:?}"
    );
    let e = fast(&stale).show_info().await.unwrap_err();
    assert!(matches!(e, Error::Refused { .. }), "{e:?}");
    assert!(e.to_string().contains("stale"), "{e}");
    let e = fast(&dir.0.join("absent.sock")).show_info().await.unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e:?}");
}
