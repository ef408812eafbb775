//! Where problems are reported: file, line and key, from the parser's spans.

use super::tests::errors;

#[test]
fn unknown_keys_name_file_line_and_key() {
    let e = errors("[watch]\ninterval = \"1s\"\nintervall = \"2s\"\n");
    assert!(e.starts_with("f.toml:3:"), "{e}");
    assert!(e.contains("watch.intervall") && e.contains("unknown field"), "{e}");
    let e = errors("[[haproxy]]\nname = \"a\"\nsocket = \"/x\"\n[[haproxy]]\nname = \"b\"\nsoket = \"/y\"\n");
    assert!(e.starts_with("f.toml:6:") && e.contains("haproxy[1].soket"), "{e}");
}

#[test]
fn bad_values_name_their_key() {
    let e = errors("[watch]\ninterval = \"fast\"\n[[haproxy]]\nname=\"a\"\nsocket=\"/x\"\n");
    assert!(
        e.starts_with("f.toml:2:") && e.contains("watch.interval") && e.contains("500ms"),
        "{e}"
    );
    let e = errors("[[haproxy]]\nname=\"a\"\nsocket=\"/x\"\n[[sink]]\nname=\"s\"\ntype=\"telegram\"\n");
    assert!(
        e.starts_with("f.toml:6:") && e.contains("sink[0].type") && e.contains("webhook"),
        "{e}"
    );
}

#[test]
fn missing_env_var_is_an_error_at_its_line() {
    let e = errors("[[haproxy]]\nname=\"a\"\nsocket=\"/x\"\n[[sink]]\nname=\"f\"\ntype=\"feishu\"\nurl=\"${HAWATCH_SURELY_UNSET}\"\n");
    assert!(
        e.starts_with("f.toml:7:") && e.contains("HAWATCH_SURELY_UNSET is not set"),
        "{e}"
    );
}

/// Locations come from the parser: a `[[sink]]` in a comment (as in
/// examples/hawatch.toml) is not the sink, and the key's own line is named.
#[test]
fn locations_ignore_comments() {
    let text = "[[haproxy]]\nname=\"a\"\nsocket=\"/x\"\n\
        # [[sink]]\n# name = \"example\"\n\n\
        [[sink]]\nname = \"f\"\ntype = \"feishu\"\nurl = \"https://open.feishu.cn/x\"\nformat = \"fancy\"\n";
    let e = errors(text);
    assert!(e.starts_with("f.toml:11:") && e.contains("sink[0].format"), "{e}");
    let e = errors(
        "# [[haproxy]]\n[[haproxy]]\nname=\"a\"\nsocket=\"/x\"\n# [http] listen = \"x\"\n[http]\n\nlisten = \"nope\"\n",
    );
    assert!(e.starts_with("f.toml:8:") && e.contains("http.listen"), "{e}");
}

/// Issue 13: locations come from the parser's spans, never from the text.
/// Comments and a multi-line string hold `[[haproxy]]` and `[[sink]]`
/// before the real tables; an error in the third sink names that sink and
/// its own line, whether serde finds it (a value outside a closed set, a
/// wrong type) or a check does (a key of another type).
#[test]
fn an_error_in_the_third_sink_names_its_own_line() {
    let text = |last: &str| {
        format!(
            r#"# One [[haproxy]] per instance.
# [[haproxy]]
# name = "commented out"
[[haproxy]]
name = "a"
socket = "/x"

# Each [[sink]] may override [notify]:
# [[sink]]
# name = "example"
[[sink]]
name = "one"
type = "webhook"
url = "http://127.0.0.1:1/hook"
secret = """
[[sink]]
name = "not a sink"
"""

[[sink]]
name = "two"
type = "console"

[[sink]]
name = "three"
type = "feishu"
url = "https://open.feishu.cn/x"
{last}
"#
        )
    };
    for (last, key, says) in [
        (
            "format = \"fancy\"",
            "sink[2].format",
            "unknown variant `fancy`, expected `card` or `text`",
        ),
        ("timeout = 5", "sink[2].timeout", "invalid type"),
        ("formatt = \"text\"", "sink[2].formatt", "unknown field"),
        ("at_all = true", "sink[2].at_all", "not used by a feishu sink"),
    ] {
        let e = errors(&text(last));
        assert_eq!(e.lines().count(), 1, "{e}");
        assert!(
            e.starts_with("f.toml:28:") && e.contains(&format!("`{key}`")) && e.contains(says),
            "{last}: {e}"
        );
    }
    let e = errors(&text("").replace("name = \"a\"", "name = \"a\"\nring = 5"));
    assert!(e.starts_with("f.toml:6:") && e.contains("`haproxy[0].ring`"), "{e}");
}
