//! Self-tests of the chat-service stand-ins in `testkit::receivers`: each flavour's
//! success reply, signature / token / size / keyword / shape checks and rate limit,
//! exercised directly with `reqwest` on 127.0.0.1.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use testkit::receivers::{dingtalk_sign, Mode, Receiver, RATE_LIMITED};

const T: Duration = Duration::from_secs(5);

fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(T).build().unwrap()
}

/// What came back, whatever the flavour.
struct Reply {
    status: u16,
    content_type: String,
    retry_after: Option<String>,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("reply {:?} is not JSON: {e}", self.body))
    }

    /// DingTalk / WeCom business code.
    fn errcode(&self) -> i64 {
        self.json()["errcode"].as_i64().unwrap()
    }

    /// Feishu / Lark business code.
    fn code(&self) -> i64 {
        self.json()["code"].as_i64().unwrap()
    }
}

async fn send(rb: reqwest::RequestBuilder) -> Reply {
    let resp = rb.send().await.expect("request to the receiver");
    let header = |name: &str| resp.headers().get(name).map(|v| v.to_str().unwrap().to_string());
    let (content_type, retry_after) = (header("content-type").unwrap_or_default(), header("retry-after"));
    let status = resp.status().as_u16();
    let body = resp.text().await.unwrap();
    Reply {
        status,
        content_type,
        retry_after,
        body,
    }
}

async fn post(url: &str, body: &Value) -> Reply {
    send(client().post(url).json(body)).await
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn card(title: &str, note: &str) -> Value {
    json!({
        "msg_type": "interactive",
        "card": {
            "header": {"title": {"tag": "plain_text", "content": title}, "template": "red"},
            "elements": [
                {"tag": "div", "text": {"tag": "lark_md", "content": "**app/s1** UP → DOWN"}},
                {"tag": "note", "elements": [{"tag": "plain_text", "content": note}]}
            ]
        }
    })
}

#[test]
fn dingtalk_sign_test_vector() {
    let secret = format!("SEC{}", "0".repeat(64));
    let raw = dingtalk_sign(1_700_000_000_000, &secret);
    assert_eq!(raw, "+8WOOUUcTkFRyfCevQaISh9EUbkxaatnd6MLtL7dAY8=");
    let encoded: String = url::form_urlencoded::byte_serialize(raw.as_bytes()).collect();
    assert_eq!(encoded, "%2B8WOOUUcTkFRyfCevQaISh9EUbkxaatnd6MLtL7dAY8%3D");
}

#[tokio::test(flavor = "multi_thread")]
async fn dingtalk_checks_token_sign_size_keywords_and_shape() {
    let secret = format!("SEC{}", "0".repeat(64));
    let r = Receiver::dingtalk(Some(&secret));
    assert!(r.url().ends_with("/robot/send?access_token=test-token"), "{}", r.url());
    r.set_keywords(&["HAProxy"]);
    let md = json!({
        "msgtype": "markdown",
        "markdown": {"title": "HAProxy alert", "text": "### web1 DOWN"},
        "at": {"atMobiles": ["13800000000"], "isAtAll": false}
    });
    // reqwest's `.query` percent-encodes the sign once, as DingTalk wants.
    let signed = |url: String, ts: i64, key: &str, body: &Value| {
        client()
            .post(url)
            .query(&[("timestamp", ts.to_string()), ("sign", dingtalk_sign(ts, key))])
            .json(body)
    };
    let ts = now_ms();
    let ok = send(signed(r.url(), ts, &secret, &md)).await;
    assert_eq!((ok.status, ok.json()), (200, json!({"errcode": 0, "errmsg": "ok"})));

    // Wrong secret, stale timestamp (seconds instead of ms), no sign at all.
    assert_eq!(send(signed(r.url(), ts, "SECother", &md)).await.errcode(), 310000);
    assert_eq!(send(signed(r.url(), ts / 1000, &secret, &md)).await.errcode(), 310000);
    let unsigned = send(client().post(r.url()).json(&md)).await;
    assert_eq!(unsigned.json(), json!({"errcode": 310000, "errmsg": "sign not match"}));

    // A sign with '+' pasted into the URL unencoded decodes to a space: refused.
    let plus_ts = (ts..ts + 1000)
        .find(|t| dingtalk_sign(*t, &secret).contains('+'))
        .expect("some sign with '+' among 1000 timestamps");
    let raw = dingtalk_sign(plus_ts, &secret);
    let by_hand = format!("{}&timestamp={plus_ts}&sign={raw}", r.url());
    assert_eq!(send(client().post(by_hand).json(&md)).await.errcode(), 310000);
    let reason = r.requests().last().unwrap().reject_reason.clone().unwrap();
    assert!(reason.contains("'+' not percent-encoded"), "{reason}");
    let encoded: String = url::form_urlencoded::byte_serialize(raw.as_bytes()).collect();
    let by_hand = format!("{}&timestamp={plus_ts}&sign={encoded}", r.url());
    assert_eq!(send(client().post(by_hand).json(&md)).await.errcode(), 0);

    // Wrong token, body over 20000 bytes, keyword missing.
    let wrong = r.url().replace("test-token", "other-token");
    let w = send(signed(wrong, ts, &secret, &md)).await;
    assert_eq!(w.json(), json!({"errcode": 300005, "errmsg": "token is not exist"}));
    let big = json!({"msgtype": "text", "text": {"content": format!("HAProxy {}", "x".repeat(20_000))}});
    assert_eq!(send(signed(r.url(), ts, &secret, &big)).await.errcode(), 460101);
    let mut no_kw = md.clone();
    no_kw["markdown"]["title"] = json!("alert");
    let k = send(signed(r.url(), ts, &secret, &no_kw)).await;
    assert_eq!(
        k.json(),
        json!({"errcode": 310000, "errmsg": "keywords not in content"})
    );
    let text = json!({"msgtype": "text", "text": {"content": "HAProxy: web2 UP"}});
    assert_eq!(send(signed(r.url(), ts, &secret, &text)).await.errcode(), 0);

    // Shapes: unsupported msgtype, badly typed `at`.
    r.set_keywords(&[]);
    let link = json!({"msgtype": "link", "link": {"title": "HAProxy", "text": "x", "messageUrl": "https://x"}});
    assert_eq!(send(signed(r.url(), ts, &secret, &link)).await.errcode(), 40035);
    let mut bad_at = md.clone();
    bad_at["at"]["isAtAll"] = json!("yes");
    assert_eq!(send(signed(r.url(), ts, &secret, &bad_at)).await.errcode(), 40035);

    r.set_ip_denied(true);
    let ip = send(signed(r.url(), ts, &secret, &md)).await;
    assert_eq!(ip.json()["errcode"], 310000);
    assert_eq!(ip.json()["errmsg"], "ip 127.0.0.1 not in whitelist");

    assert_eq!(
        r.accepted_texts(),
        vec![
            "HAProxy alert\n### web1 DOWN",
            "HAProxy alert\n### web1 DOWN",
            "HAProxy: web2 UP"
        ]
    );
    assert_eq!(r.rate_violations(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn dingtalk_rate_limit_refuses_the_21st_message_in_a_minute() {
    let r = Receiver::dingtalk(None);
    let body = json!({"msgtype": "text", "text": {"content": "web1 DOWN"}});
    let mut codes = Vec::new();
    for _ in 0..21 {
        codes.push(post(&r.url(), &body).await.errcode());
    }
    assert_eq!(codes[..20], [0; 20]);
    assert_eq!(codes[20], 130101);
    let last = r.requests().pop().unwrap();
    assert!(!last.accepted);
    assert_eq!(last.reject_reason.as_deref(), Some(RATE_LIMITED));
    assert!(last.reply_body.contains("send too fast"), "{}", last.reply_body);
    assert_eq!((r.rate_violations(), r.accepted_count()), (1, 20));

    // Still throttled (refused attempts count too) until the limiter is switched off.
    assert_eq!(post(&r.url(), &body).await.errcode(), 130101);
    r.set_rate_limit(false);
    assert_eq!(post(&r.url(), &body).await.errcode(), 0);
    assert_eq!(r.rate_violations(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn wecom_checks_key_types_byte_limits_and_rate() {
    let r = Receiver::wecom();
    assert!(r.url().ends_with("/cgi-bin/webhook/send?key=test-key"), "{}", r.url());
    let md = |content: &str| json!({"msgtype": "markdown", "markdown": {"content": content}});
    let ok = post(&r.url(), &md("**web1 DOWN**")).await;
    assert_eq!((ok.status, ok.json()), (200, json!({"errcode": 0, "errmsg": "ok"})));
    let text = json!({"msgtype": "text", "text": {
        "content": "web1 DOWN", "mentioned_list": ["@all"], "mentioned_mobile_list": ["13800001111"]}});
    assert_eq!(post(&r.url(), &text).await.errcode(), 0);

    let wrong = post(&r.url().replace("test-key", "nope"), &md("x")).await;
    assert_eq!(wrong.errcode(), 93000);
    assert!(wrong.body.contains("from ip: 127.0.0.1"), "{}", wrong.body);

    // Limits are UTF-8 bytes of `content`: 2048 × "é" = 4096 bytes is fine, 2049 is not.
    assert_eq!(post(&r.url(), &md(&"é".repeat(2048))).await.errcode(), 0);
    let over = post(&r.url(), &md(&"é".repeat(2049))).await;
    assert_eq!(over.errcode(), 40058);
    assert!(over.json()["errmsg"]
        .as_str()
        .unwrap()
        .contains("content exceed max length"));
    let long_text = json!({"msgtype": "text", "text": {"content": "x".repeat(2049)}});
    assert_eq!(post(&r.url(), &long_text).await.errcode(), 40058);
    let v2 = json!({"msgtype": "markdown_v2", "markdown_v2": {"content": "x".repeat(4097)}});
    assert_eq!(post(&r.url(), &v2).await.errcode(), 40058);
    assert_eq!(post(&r.url(), &md("")).await.errcode(), 44004);
    let news = json!({"msgtype": "news", "news": {"articles": []}});
    assert_eq!(post(&r.url(), &news).await.errcode(), 40008);
    let mut bad_list = text.clone();
    bad_list["text"]["mentioned_list"] = json!("@all");
    assert_eq!(post(&r.url(), &bad_list).await.errcode(), 40058);

    // Keyword / IP settings do not exist for WeCom: ignored.
    r.set_keywords(&["HAProxy"]);
    r.set_ip_denied(true);
    assert_eq!(post(&r.url(), &md("no keyword")).await.errcode(), 0);
    let texts = r.accepted_texts();
    assert_eq!(texts.len(), 4);
    assert_eq!((texts[0].as_str(), texts[1].as_str()), ("**web1 DOWN**", "web1 DOWN"));

    r.set_rate_limit(true); // fresh windows
    let mut codes = Vec::new();
    for _ in 0..21 {
        codes.push(post(&r.url(), &md("web1 DOWN")).await.errcode());
    }
    assert_eq!(codes[..20], [0; 20]);
    assert_eq!(codes[20], 45009);
    assert_eq!(r.rate_violations(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn slack_checks_path_payload_blocks_and_rate() {
    let r = Receiver::slack();
    assert!(r.url().ends_with("/services/T000/B000/XXXX"), "{}", r.url());
    let good = json!({
        "text": "[FIRING] web1 DOWN",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "web1 DOWN"}},
            {"type": "section", "fields": [
                {"type": "mrkdwn", "text": "*Backend*\napp"},
                {"type": "mrkdwn", "text": "*Host*\nlb-01"}]},
            {"type": "divider"},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "hawatch"}]}
        ]
    });
    let ok = post(&r.url(), &good).await;
    assert_eq!((ok.status, ok.body.as_str()), (200, "ok"));
    assert!(ok.content_type.starts_with("text/plain"), "{}", ok.content_type);

    let wrong = post(&format!("{}/services/T000/B000/YYYY", r.base_url()), &good).await;
    assert_eq!((wrong.status, wrong.body.as_str()), (404, "no_service"));
    let no_text = post(&r.url(), &json!({"blocks": good["blocks"]})).await;
    assert_eq!((no_text.status, no_text.body.as_str()), (400, "invalid_payload"));
    let empty_text = post(&r.url(), &json!({"text": ""})).await;
    assert_eq!((empty_text.status, empty_text.body.as_str()), (400, "invalid_payload"));

    let invalid_blocks = |blocks: Value| {
        let url = r.url();
        async move {
            let rep = post(&url, &json!({"text": "x", "blocks": blocks})).await;
            (rep.status, rep.body)
        }
    };
    let want = (400, "invalid_blocks".to_string());
    let header = json!([{"type": "header", "text": {"type": "plain_text", "text": "h".repeat(151)}}]);
    assert_eq!(invalid_blocks(header).await, want);
    let md_header = json!([{"type": "header", "text": {"type": "mrkdwn", "text": "h"}}]);
    assert_eq!(invalid_blocks(md_header).await, want);
    assert_eq!(invalid_blocks(json!(vec![json!({"type": "divider"}); 51])).await, want);
    let field = json!({"type": "mrkdwn", "text": "f"});
    let fields = json!([{"type": "section", "fields": vec![field; 11]}]);
    assert_eq!(invalid_blocks(fields).await, want);
    let long = json!([{"type": "section", "text": {"type": "mrkdwn", "text": "s".repeat(3001)}}]);
    assert_eq!(invalid_blocks(long).await, want);
    assert_eq!(invalid_blocks(json!([{"text": "untyped"}])).await, want);

    assert_eq!(
        r.accepted_texts(),
        vec!["[FIRING] web1 DOWN\nweb1 DOWN\n*Backend*\napp\n*Host*\nlb-01\nhawatch"]
    );

    // Token bucket of 3: a burst of 3 passes, a quick 10-burst cannot.
    r.set_rate_limit(true);
    let mut replies = Vec::new();
    for _ in 0..10 {
        replies.push(post(&r.url(), &json!({"text": "burst"})).await);
    }
    assert!(replies[..3].iter().all(|x| x.status == 200));
    let limited: Vec<&Reply> = replies.iter().filter(|x| x.status == 429).collect();
    assert!(!limited.is_empty(), "no 429 in a burst of 10");
    assert_eq!(limited[0].body, "rate_limited");
    assert_eq!(limited[0].retry_after.as_deref(), Some("1"));
    assert_eq!(r.rate_violations(), limited.len());
}

#[tokio::test(flavor = "multi_thread")]
async fn feishu_and_lark_check_tokens_types_keywords_and_ip() {
    let f = Receiver::feishu(None);
    let l = Receiver::lark(None);
    f.set_rate_limit(false);
    assert!(l.url().ends_with("/open-apis/bot/v2/hook/lark-token"), "{}", l.url());

    let text = json!({"msg_type": "text", "content": {"text": "HAProxy: app/s1 DOWN"}});
    let post_msg = json!({"msg_type": "post", "content": {"post": {"zh_cn": {
        "title": "HAProxy 状态变更",
        "content": [[{"tag": "text", "text": "app/s2: "}, {"tag": "text", "text": "UP → DOWN"}],
                    [{"tag": "a", "text": "stats", "href": "https://lb-01:8404/stats"}]]}}}});
    for body in [&text, &post_msg, &card("app/s1 DOWN", "lb-01")] {
        let rep = post(&f.url(), body).await;
        assert_eq!((rep.status, rep.code()), (200, 0), "{body}: {}", rep.body);
    }
    assert_eq!(post(&l.url(), &text).await.code(), 0);

    // Each service accepts only its own token.
    let token_err = json!({"code": 19001, "msg": "param invalid: incoming webhook access token invalid"});
    assert_eq!(
        post(&l.url().replace("lark-token", "test-token"), &text).await.json(),
        token_err
    );
    assert_eq!(
        post(&f.url().replace("test-token", "lark-token"), &text).await.json(),
        token_err
    );

    // Shapes: empty text, content as a string, bad link, unknown type.
    let empty = json!({"msg_type": "text", "content": {"text": ""}});
    assert_eq!(post(&f.url(), &empty).await.code(), 9499);
    let stringly = json!({"msg_type": "text", "content": "{\"text\":\"x\"}"});
    assert_eq!(post(&f.url(), &stringly).await.code(), 9499);
    let mut bad_href = post_msg.clone();
    bad_href["content"]["post"]["zh_cn"]["content"][1][0]["href"] = json!("not a url");
    assert_eq!(post(&f.url(), &bad_href).await.code(), 9499);
    let image = json!({"msg_type": "image", "content": {"image_key": "k"}});
    assert_eq!(post(&f.url(), &image).await.code(), 9499);

    // Keywords: text is searched in content.text, a card anywhere inside `card`.
    f.set_keywords(&["HAProxy"]);
    let no_kw = json!({"msg_type": "text", "content": {"text": "app/s1 DOWN"}});
    let k = post(&f.url(), &no_kw).await;
    assert_eq!(k.json(), json!({"code": 19024, "msg": "Key Words Not Found"}));
    assert_eq!(post(&f.url(), &card("app/s1 DOWN", "lb-01")).await.code(), 19024);
    assert_eq!(post(&f.url(), &card("app/s3 DOWN", "HAProxy lb-01")).await.code(), 0);
    assert_eq!(post(&f.url(), &text).await.code(), 0);

    f.set_ip_denied(true);
    let ip = post(&f.url(), &text).await;
    assert_eq!(ip.json(), json!({"code": 19022, "msg": "Ip Not Allowed"}));

    let texts = f.accepted_texts();
    assert_eq!(texts.len(), 5);
    assert_eq!(texts[0], "HAProxy: app/s1 DOWN");
    assert_eq!(texts[1], "HAProxy 状态变更\napp/s2: \nUP → DOWN\nstats");
    for needle in ["app/s1 DOWN", "**app/s1** UP → DOWN", "lb-01", "plain_text"] {
        assert!(texts[2].contains(needle), "{needle} not in {:?}", texts[2]);
    }
    assert!(texts[3].contains("app/s3") && texts[3].contains("HAProxy lb-01"));
    assert_eq!(f.rate_violations(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn feishu_rate_limit_refuses_the_6th_message_in_a_second() {
    let r = Receiver::feishu(None);
    let body = card("app/s1 DOWN", "lb-01");
    let t0 = Instant::now();
    let mut codes = Vec::new();
    for _ in 0..6 {
        codes.push(post(&r.url(), &body).await.code());
    }
    if t0.elapsed() < Duration::from_secs(1) {
        assert_eq!(codes, [0, 0, 0, 0, 0, 11232]);
        assert_eq!(r.rate_violations(), 1);
        let last = r.requests().pop().unwrap();
        assert_eq!(last.reject_reason.as_deref(), Some(RATE_LIMITED));
        assert_eq!(
            last.reply_body,
            json!({"code": 11232, "msg": "frequency limited psm[lark.oapi.app_platform_runtime]appID[0]"}).to_string()
        );
    } else {
        eprintln!("6 sends took {:?}: the 1 s window cannot be asserted", t0.elapsed());
        assert!(r.rate_violations() <= 1);
    }
    // Once the 1 s window has slid past, messages pass again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(post(&r.url(), &body).await.code(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn fail_modes_use_each_flavours_shape() {
    let d = Receiver::dingtalk(None);
    let w = Receiver::wecom();
    let s = Receiver::slack();
    let f = Receiver::feishu(None);
    d.set_mode(Mode::FailCode(130101));
    let rep = post(&d.url(), &json!({"msgtype": "text", "text": {"content": "x"}})).await;
    assert_eq!((rep.status, rep.errcode()), (200, 130101));
    w.set_mode(Mode::FailCode(-1));
    let rep = post(&w.url(), &json!({"msgtype": "text", "text": {"content": "x"}})).await;
    assert_eq!((rep.status, rep.errcode()), (200, -1));
    f.set_mode(Mode::FailCode(11232));
    assert_eq!(post(&f.url(), &card("x", "y")).await.code(), 11232);
    s.set_mode(Mode::FailCode(7));
    let rep = post(&s.url(), &json!({"text": "x"})).await;
    assert_eq!((rep.status, rep.body.as_str()), (400, "7"));
    s.set_mode(Mode::FailHttp(503));
    assert_eq!(post(&s.url(), &json!({"text": "x"})).await.status, 503);
    s.set_mode(Mode::Ok);
    assert_eq!(post(&s.url(), &json!({"text": "x"})).await.body, "ok");
    for r in [&d, &w, &f] {
        assert_eq!(r.accepted_count(), 0);
        assert_eq!(r.rate_violations(), 0);
    }
    assert_eq!(s.accepted_texts(), vec!["x"]);

    // Webhook: the raw body is the text.
    let h = Receiver::webhook(None);
    let raw = r#"{"version":1,"events":[{"id":"e1","server":"s1"}]}"#;
    let rep = send(
        client()
            .post(h.url())
            .header("content-type", "application/json")
            .body(raw),
    )
    .await;
    assert_eq!(rep.status, 200);
    assert_eq!(h.accepted_texts(), vec![raw]);
}
