use super::*;

/// Issue 12: an agent reply that clears the screen, sets the title and
/// reverses the text was printed raw by `hawatch events` and this sink.
#[test]
fn a_line_shows_control_and_bidi_characters_escaped() {
    let mut e = crate::logic::template::samples().remove(0).event;
    e.message = "server be/s1 UP → DOWN (agent: down #\u{1b}[2J\u{1b}]0;title\u{7} \u{202e}gnp.exe)".into();
    e.instance = "lb\u{1b}[31m1".into();
    for color in [false, true] {
        let l = line(&e, color);
        let shown = if color {
            l.replace("\u{1b}[31m", "")
                .replace("\u{1b}[33m", "")
                .replace("\u{1b}[0m", "")
        } else {
            l.clone()
        };
        assert!(!shown.chars().any(crate::text::is_hidden), "{l:?}");
        assert!(l.contains("down #\\x1b[2J\\x1b]0;title\\x07 \\u{202e}gnp.exe"), "{l}");
        assert!(l.contains("[lb\\x1b[31m1]"), "{l}");
    }
}
