use super::*;

#[test]
fn long_text_is_split_into_sections() {
    let text = "x".repeat(100) + "\n";
    let r = Rendered {
        title: "t".repeat(200),
        body: text.repeat(70),
    };
    let b = body(&r, "h");
    let blocks = b["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["text"]["text"].as_str().unwrap().chars().count(), 150);
    assert!(blocks.len() >= 5 && blocks.len() <= 50);
    for s in &blocks[1..blocks.len() - 1] {
        assert!(s["text"]["text"].as_str().unwrap().chars().count() <= SECTION_CHARS);
    }
    assert_eq!(chunks("ab\ncd\n", 3), vec!["ab\n", "cd\n"]);
    assert_eq!(chunks("abcdefg", 3).len(), 3);
}

#[test]
fn verdicts() {
    assert!(verdict(200, "ok").is_ok());
    assert!(verdict(429, "rate_limited").unwrap_err().retryable);
    assert!(verdict(404, "no_service").unwrap_err().message.contains("revoked"));
}
