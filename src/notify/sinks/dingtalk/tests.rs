use super::*;

#[test]
fn signature_test_vector() {
    let secret = format!("SEC{}", "0".repeat(64));
    assert_eq!(
        sign(1_700_000_000_000, &secret),
        "+8WOOUUcTkFRyfCevQaISh9EUbkxaatnd6MLtL7dAY8="
    );
}

#[test]
fn verdicts_in_plain_words() {
    assert!(verdict(200, r#"{"errcode":0,"errmsg":"ok"}"#).is_ok());
    let e = verdict(200, r#"{"errcode":130101,"errmsg":"send too fast"}"#).unwrap_err();
    assert!(e.retryable && e.retry_after == Some(Duration::from_secs(600)));
    let e = verdict(200, r#"{"errcode":310000,"errmsg":"keywords not in content"}"#).unwrap_err();
    assert!(!e.retryable && e.message.contains("keyword missing"));
    let e = verdict(200, r#"{"errcode":310000,"errmsg":"sign not match"}"#).unwrap_err();
    assert!(e.message.contains("wrong secret"));
    let e = verdict(200, r#"{"errcode":310000,"errmsg":"ip 1.2.3.4 not in whitelist"}"#).unwrap_err();
    assert!(e.message.contains("IP not allowed"));
    assert!(verdict(503, "").unwrap_err().retryable);
}

/// Issue 12: outside text in a DingTalk markdown message is no link, no
/// line of its own, no heading, no tag.
#[test]
fn outside_text_is_no_link_or_line_in_the_markdown() {
    use crate::logic::route::Zone;
    use crate::logic::template::{assert_no_hostile_markup, hostile_samples, Format, Lang};
    for lang in [Lang::Zh, Lang::En] {
        let r = Renderer::new(lang, Format::Markdown, Zone::Local, "lb-01", None).unwrap();
        let sink = Dingtalk {
            url: Secret::new("http://127.0.0.1:1/robot/send?access_token=t"),
            secret: None,
            at_mobiles: vec!["13800000000".into()],
            at_all: false,
            renderer: r.clone(),
            http: reqwest::Client::new(),
        };
        for n in hostile_samples() {
            let d = Delivery {
                id: "d".into(),
                sink: "dd".into(),
                notices: vec![n],
                test: false,
            };
            let b = sink.body(d.batch(), &r.render(&d.notices, "dd", false).unwrap());
            let md = b["markdown"]["text"].as_str().unwrap();
            assert_no_hostile_markup(&format!("dingtalk {lang:?}"), md);
            assert!(!b["markdown"]["title"].as_str().unwrap().contains('\n'));
        }
    }
}

/// The failure metric's class; a quota is the service's, though not retried soon.
#[test]
fn verdict_classes() {
    use crate::notify::error::FailureClass;
    let e = verdict(200, r#"{"errcode":310000,"errmsg":"sign not match"}"#).unwrap_err();
    assert_eq!(e.class, FailureClass::Config);
    let e = verdict(200, r#"{"errcode":130101,"errmsg":"send too fast"}"#).unwrap_err();
    assert_eq!(e.class, FailureClass::Service);
    let e = verdict(200, r#"{"errcode":90030,"errmsg":"quota"}"#).unwrap_err();
    assert!(e.class == FailureClass::Service && !e.retryable && e.retry_after == Some(Duration::from_secs(3600)));
}
