#[test]
fn signature_matches_a_known_value() {
    // echo -n '{}' | openssl dgst -sha256 -hmac key
    assert_eq!(
        super::signature("key", b"{}"),
        "sha256=a777724d943eb48dc69bca8a4a6d57a04db3f9ec7e1de4e581e860265bdf3032"
    );
}

/// 5xx, 408 and 429 are the receiver's trouble (retried); any other refusal
/// is a config problem (url, headers, secret).
#[test]
fn verdict_classes() {
    use crate::notify::error::FailureClass;
    use reqwest::StatusCode;
    assert!(super::verdict(StatusCode::NO_CONTENT, "").is_ok());
    let e = super::verdict(StatusCode::SERVICE_UNAVAILABLE, "busy").unwrap_err();
    assert!(e.retryable && e.class == FailureClass::Service);
    let e = super::verdict(StatusCode::UNAUTHORIZED, "no").unwrap_err();
    assert!(!e.retryable && e.class == FailureClass::Config);
}
