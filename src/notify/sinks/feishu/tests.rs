use super::*;

#[test]
fn signature_test_vectors() {
    assert_eq!(sign(1599360473, "demo"), "l1N0gAcBjdwBvGm1xMjOF0XSyaLRpR7tuO5dHfhAYc8=");
    assert_eq!(
        sign(1716283459, "dGhpcyBpcyBhIGtleQ=="),
        "8EyY+xxfJvzWjZQpdc2mgvQFaG7lF5nbxl7RITyMkJU="
    );
}

#[test]
fn verdicts() {
    assert!(verdict(
        200,
        r#"{"StatusCode":0,"StatusMessage":"success","code":0,"data":{},"msg":"success"}"#
    )
    .is_ok());
    assert!(verdict(200, r#"{"Extra":null,"StatusCode":0,"StatusMessage":"success"}"#).is_ok());
    let e = verdict(200, r#"{"code":19021,"msg":"sign match fail"}"#).unwrap_err();
    assert!(!e.retryable && e.message.contains("secret"));
    assert!(
        verdict(200, r#"{"code":11232,"msg":"frequency limited"}"#)
            .unwrap_err()
            .retryable
    );
    assert!(verdict(502, "bad gateway").unwrap_err().retryable);
    assert!(!verdict(200, "<html>").unwrap_err().retryable);
}

#[test]
fn card_shape_and_size() {
    use crate::logic::route::Zone;
    use crate::logic::template::{samples, Format, Lang};
    use crate::model::notice::Notice;
    let r = Renderer::new(Lang::Zh, Format::Markdown, Zone::Local, "lb-01", None).unwrap();
    let mut down = samples()[0].clone();
    down.event.check.as_mut().unwrap().info = Some("Connection <refused>".into());
    let one = Delivery {
        id: "d".into(),
        sink: "f".into(),
        notices: vec![down.clone()],
        test: false,
    };
    let rendered = r.render(&one.notices, "f", false).unwrap();
    let b = body(
        one.batch(),
        &rendered,
        false,
        "lb-01",
        Some(&Secret::new("s")),
        1599360473,
    );
    assert_eq!(b["msg_type"], "interactive");
    assert_eq!(b["card"]["header"]["template"], "red");
    assert!(b["card"]["header"]["title"]["content"].as_str().unwrap().contains("❌"));
    assert_eq!(b["timestamp"], "1599360473");
    let text = b.to_string();
    assert!(text.contains("UP → DOWN") && text.contains("L4CON") && !text.contains("<refused>"));
    let t = body(one.batch(), &rendered, true, "lb-01", None, 0);
    assert_eq!(t["msg_type"], "text");
    assert!(t["content"]["text"].as_str().unwrap().starts_with("❌ 服务器故障"));
    let mut up = samples()[1].clone();
    up.severity = crate::model::event::Severity::Info;
    let many = Delivery {
        id: "d".into(),
        sink: "f".into(),
        notices: vec![up; 20],
        test: false,
    };
    assert_eq!(colour(many.batch()), "green");
    let _ = Notice::of(down.event);
}

/// Issue 12: a check reason or an alert label with `[click](http://evil.example)`,
/// a new line or `<at id=all>` reached the card as a link, a line, a mention.
#[test]
fn outside_text_is_no_link_line_or_mention_in_the_card_or_the_text() {
    use crate::logic::route::Zone;
    use crate::logic::template::{assert_no_hostile_markup, hostile_samples, Format, Lang};
    for lang in [Lang::Zh, Lang::En] {
        for (format, text) in [(Format::Markdown, false), (Format::FeishuText, true)] {
            let r = Renderer::new(lang, format, Zone::Local, "lb-01", None).unwrap();
            for n in hostile_samples() {
                let d = Delivery {
                    id: "d".into(),
                    sink: "f".into(),
                    notices: vec![n],
                    test: false,
                };
                let rendered = r.render(&d.notices, "f", false).unwrap();
                let b = body(d.batch(), &rendered, text, "lb-01", None, 0);
                let shown = if text {
                    b["content"]["text"].as_str().unwrap().to_string()
                } else {
                    let title = b["card"]["header"]["title"]["content"].as_str().unwrap();
                    let md = b["card"]["elements"][0]["text"]["content"].as_str().unwrap();
                    format!("{title}\n{md}")
                };
                let what = format!("feishu {lang:?} {format:?}");
                if text {
                    // A text message renders no markdown; only `<at>` tags and lines act.
                    assert!(!shown.contains("<at") && !shown.contains('\u{1b}'), "{what}: {shown}");
                    assert!(!shown.lines().any(|l| l.starts_with("FAKE LINE")), "{what}: {shown}");
                } else {
                    assert_no_hostile_markup(&what, &shown);
                }
            }
        }
    }
}

/// The failure metric's class: a refusal only a config change fixes is
/// `config`, a deferral `service`.
#[test]
fn verdict_classes() {
    use crate::notify::error::FailureClass;
    let class = |s, t| verdict(s, t).unwrap_err().class;
    assert_eq!(
        class(200, r#"{"code":19021,"msg":"sign match fail"}"#),
        FailureClass::Config
    );
    assert_eq!(class(200, r#"{"code":19024,"msg":"keyword"}"#), FailureClass::Config);
    assert_eq!(
        class(200, r#"{"code":11232,"msg":"frequency limited"}"#),
        FailureClass::Service
    );
    assert_eq!(class(502, "bad gateway"), FailureClass::Service);
}
