use super::*;
use crate::logic::route::Zone;
use crate::logic::template::{test_notice, Format, Lang};
use crate::notify::error::FailureClass;

/// A program that cannot be found is a config problem (kept, its cause
/// with it); one that exits non-zero is retried; exit 0 is a delivery.
#[tokio::test]
async fn exit_status_and_a_missing_program_decide_the_verdict() {
    let renderer = Renderer::new(Lang::En, Format::Text, Zone::Local, "h", None).unwrap();
    let d = Delivery {
        id: "d".into(),
        sink: "x".into(),
        notices: vec![test_notice()],
        test: true,
    };
    let exec = |argv: &[&str]| Exec {
        command: argv.iter().map(|s| s.to_string()).collect(),
        renderer: renderer.clone(),
        timeout: Duration::from_secs(10),
    };
    let e = exec(&["/nonexistent/hawatch-exec-test"]).send(&d).await.unwrap_err();
    assert!(!e.retryable && e.class == FailureClass::Config, "{e}");
    assert!(std::error::Error::source(&e).is_some(), "the io error is kept");
    let e = exec(&["/bin/sh", "-c", "echo nope >&2; exit 3"])
        .send(&d)
        .await
        .unwrap_err();
    assert!(
        e.retryable && e.class == FailureClass::Service && e.message.contains("nope"),
        "{e}"
    );
    exec(&["/bin/sh", "-c", "cat > /dev/null"]).send(&d).await.unwrap();
}
