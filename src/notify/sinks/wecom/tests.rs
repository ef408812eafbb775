#[test]
fn verdicts() {
    assert!(super::verdict(200, r#"{"errcode":0,"errmsg":"ok"}"#).is_ok());
    assert!(
        super::verdict(200, r#"{"errcode":45009,"errmsg":"api freq out of limit"}"#)
            .unwrap_err()
            .retryable
    );
    let e = super::verdict(200, r#"{"errcode":93000,"errmsg":"invalid webhook url"}"#).unwrap_err();
    assert!(!e.retryable && e.message.contains("key"));
}

/// Issue 12: outside text in a WeCom markdown message is no link, no
/// line of its own, no `<font>` or `<@user>` tag.
#[test]
fn outside_text_is_no_link_or_line_in_the_markdown() {
    use crate::logic::route::Zone;
    use crate::logic::template::{assert_no_hostile_markup, hostile_samples, Format, Lang, Renderer};
    for lang in [Lang::Zh, Lang::En] {
        let r = Renderer::new(lang, Format::Markdown, Zone::Local, "lb-01", None).unwrap();
        for n in hostile_samples() {
            let rendered = r.render(std::slice::from_ref(&n), "wc", false).unwrap();
            assert_no_hostile_markup(&format!("wecom {lang:?}"), &super::content(&rendered));
        }
    }
}
