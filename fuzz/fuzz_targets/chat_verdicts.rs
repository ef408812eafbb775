//! What each chat sink concludes from a service's HTTP reply (status, body):
//! delivered, retry, or give up. Invariants: nothing but a 2xx is ever
//! "delivered", and Feishu, DingTalk and WeCom deliver only on a JSON body
//! whose code is 0 (a 200 with an error code is a failure: no lost page).
#![no_main]

use arbitrary::Arbitrary;
use hawatch::notify::sinks::{dingtalk, feishu, slack, webhook, wecom};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    status: u16,
    body: &'a str,
}

fn code(body: &str, keys: &[&str]) -> Option<i64> {
    let v: Value = serde_json::from_str(body).ok()?;
    keys.iter().find_map(|k| v.get(*k)).and_then(Value::as_i64)
}

fuzz_target!(|input: Input<'_>| {
    let (status, body) = (input.status, input.body);
    let ok2xx = (200..300).contains(&status);

    let f = feishu::verdict(status, body);
    if f.is_ok() {
        assert!(
            ok2xx && code(body, &["code", "StatusCode"]) == Some(0),
            "feishu: {status} {body:?}"
        );
    }
    for (name, v) in [
        ("dingtalk", dingtalk::verdict(status, body)),
        ("wecom", wecom::verdict(status, body)),
    ] {
        if v.is_ok() {
            assert!(
                ok2xx && code(body, &["errcode"]) == Some(0),
                "{name}: {status} {body:?}"
            );
        }
    }
    assert_eq!(slack::verdict(status, body).is_ok(), ok2xx, "slack: {status}");
    if let Ok(s) = reqwest::StatusCode::from_u16(status) {
        let w = webhook::verdict(s, body);
        assert_eq!(w.is_ok(), ok2xx, "webhook: {status}");
        if let Err(e) = w {
            let retry = (500..600).contains(&status) || status == 408 || status == 429;
            assert_eq!(e.retryable, retry, "webhook: {status}");
        }
    }
});
