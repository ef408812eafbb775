//! Text from outside (HAProxy, an agent, Alertmanager, a check) shown to a
//! person: [`visible`] makes every character that could act on a terminal or
//! reorder what is shown (C0/C1 controls, DEL, bidi and other invisible
//! format characters) visible as an escape, and leaves everything else —
//! including Chinese, emoji and quotes — as it is.
//!
//! Every terminal output (`hawatch events`, the console sink, `ctl`,
//! `doctor`, `agent --once`, `check`, `apply`, log fields) and the chat
//! templates (before their own markup escaping) go through it.
//!
//! Why not a crate: `str::escape_debug` also escapes quotes and backslashes
//! (so plain text would change), `strip-ansi-escapes` only removes ANSI
//! sequences (BEL, C1 and bidi overrides pass), and the Unicode category
//! crates bring whole tables for the one category (Cf) needed here.

use std::borrow::Cow;
use std::fmt::Write;

/// Whether `c` must not reach a terminal or a chat as itself: C0 controls
/// (newline and tab included: they would split or shift a line), DEL, C1
/// controls, the line/paragraph separators, and the invisible format
/// characters (Unicode category Cf: bidi embeddings, overrides and isolates,
/// marks, zero-width characters, the BOM, interlinear annotation, tags).
pub(crate) fn is_hidden(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1f}'
        | '\u{7f}'..='\u{9f}'
        | '\u{ad}'
        | '\u{600}'..='\u{605}'
        | '\u{61c}'
        | '\u{6dd}'
        | '\u{70f}'
        | '\u{890}'..='\u{891}'
        | '\u{8e2}'
        | '\u{180e}'
        | '\u{200b}'..='\u{200f}'
        | '\u{2028}'..='\u{202e}'
        | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{206f}'
        | '\u{feff}'
        | '\u{fff9}'..='\u{fffb}'
        | '\u{110bd}'
        | '\u{110cd}'
        | '\u{13430}'..='\u{1343f}'
        | '\u{1bca0}'..='\u{1bca3}'
        | '\u{1d173}'..='\u{1d17a}'
        | '\u{e0001}'
        | '\u{e0020}'..='\u{e007f}')
}

/// `s` with every [`is_hidden`] character escaped: `\n`, `\r`, `\t`, `\x1b`
/// for C0/DEL/C1, `\u{202e}` for the others. Borrows when nothing changes.
/// A backslash already in `s` stays as it is (plain text is never changed).
pub fn visible(s: &str) -> Cow<'_, str> {
    // Printable ASCII, what nearly every cell of `show stat` is, holds no
    // hidden character: one pass over the bytes instead of a lookup per char
    // (a tenth of `hawatch top`'s work per poll of 10,000 servers).
    if s.bytes().all(|b| (0x20..0x7f).contains(&b)) || !s.chars().any(is_hidden) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_hidden(c) && (c as u32) < 0x100 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if is_hidden(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// [`visible`] for each line of a multi-line reply (HAProxy's answers to
/// `show` commands): the line breaks stay, everything else is escaped.
pub fn visible_lines(s: &str) -> String {
    s.split('\n')
        .map(|l| visible(l.strip_suffix('\r').unwrap_or(l)).into_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Pretty JSON whose strings hold no [`is_hidden`] character as itself:
/// serde_json escapes C0 controls but writes DEL, C1 and bidi characters
/// raw, which a terminal obeys. Here they become `\uXXXX` escapes, so the
/// JSON means exactly the same and `jq` gets the same strings back.
pub(crate) fn json_pretty<T: serde::Serialize + ?Sized>(v: &T) -> serde_json::Result<String> {
    let mut out = Vec::new();
    let mut ser =
        serde_json::Serializer::with_formatter(&mut out, VisibleJson(serde_json::ser::PrettyFormatter::new()));
    v.serialize(&mut ser)?;
    Ok(String::from_utf8(out).expect("serde_json writes UTF-8"))
}

struct VisibleJson<'a>(serde_json::ser::PrettyFormatter<'a>);

impl serde_json::ser::Formatter for VisibleJson<'_> {
    fn write_string_fragment<W: ?Sized + std::io::Write>(&mut self, w: &mut W, fragment: &str) -> std::io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if is_hidden(c) {
                w.write_all(&fragment.as_bytes()[start..i])?;
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    write!(w, "\\u{u:04x}")?;
                }
                start = i + c.len_utf8();
            }
        }
        w.write_all(&fragment.as_bytes()[start..])
    }
    fn begin_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W, first: bool) -> std::io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + std::io::Write>(&mut self, w: &mut W, first: bool) -> std::io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object_value(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn the_issue_12_agent_reply_is_shown_escaped() {
        let s = "down #\u{1b}[2J\u{1b}]0;title\u{7} \u{202e}";
        assert_eq!(visible(s), "down #\\x1b[2J\\x1b]0;title\\x07 \\u{202e}");
    }

    #[test]
    fn each_class_is_escaped() {
        for (c, want) in [
            ('\0', "\\x00"),
            ('\n', "\\n"),
            ('\r', "\\r"),
            ('\t', "\\t"),
            ('\u{7f}', "\\x7f"),
            ('\u{85}', "\\x85"),
            ('\u{9b}', "\\x9b"),
            ('\u{200e}', "\\u{200e}"),
            ('\u{200f}', "\\u{200f}"),
            ('\u{61c}', "\\u{61c}"),
            ('\u{202a}', "\\u{202a}"),
            ('\u{2066}', "\\u{2066}"),
            ('\u{2069}', "\\u{2069}"),
            ('\u{2028}', "\\u{2028}"),
            ('\u{feff}', "\\u{feff}"),
            ('\u{e0041}', "\\u{e0041}"),
        ] {
            assert_eq!(visible(&c.to_string()), want, "{:x}", c as u32);
        }
    }

    #[test]
    fn plain_text_is_unchanged_and_borrowed() {
        for s in [
            "",
            "server be_app/app1 UP → DOWN (L4CON Connection refused)",
            "后端无可用服务器：app1 DOWN，app2 MAINT",
            "quotes \" ' and a backslash \\ stay ⚠️ 🚨",
            "עברית and عربي are fine without overrides",
        ] {
            assert!(matches!(visible(s), Cow::Borrowed(x) if x == s), "{s}");
        }
    }

    #[test]
    fn json_means_the_same_and_shows_no_hidden_character() {
        let v = serde_json::json!({"message": "a\u{1b}[2J\u{7}\u{85}\u{202e}\u{e0041}中文 \"q\"", "n": [1, 2]});
        let text = json_pretty(&v).unwrap();
        assert!(!text.chars().any(|c| is_hidden(c) && c != '\n'), "{text:?}");
        assert!(
            text.contains("\\u001b[2J\\u0007\\u0085\\u202e\\udb40\\udc41中文 \\\"q\\\""),
            "{text}"
        );
        assert_eq!(serde_json::from_str::<serde_json::Value>(&text).unwrap(), v);
        let plain = serde_json::json!({"n": [1, {"x": "plain 中文 \\ \"q\""}], "e": []});
        assert_eq!(
            json_pretty(&plain).unwrap(),
            serde_json::to_string_pretty(&plain).unwrap()
        );
    }

    #[test]
    fn lines_keep_their_breaks_only() {
        assert_eq!(visible_lines("a\u{1b}\r\nb\u{7}\n"), "a\\x1b\nb\\x07\n");
    }

    /// Random strings drawn from hostile and plain characters: the output
    /// never holds a hidden character, and strings without one come back
    /// unchanged.
    #[test]
    fn property_no_hidden_char_survives_and_plain_text_is_identical() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(12);
        let pool: Vec<char> = "ab Z09#[]()*_`<>&\\\"'中文字符⚠️🚨éــ"
            .chars()
            .chain([
                '\u{1b}', '\u{7}', '\n', '\u{85}', '\u{9b}', '\u{202e}', '\u{2066}', '\u{200f}', '\u{61c}', '\u{feff}',
            ])
            .collect();
        for _ in 0..2000 {
            let len = rng.gen_range(0..40);
            let s: String = (0..len)
                .map(|_| {
                    if rng.gen_bool(0.3) {
                        // Any scalar value at all (a surrogate becomes 'x').
                        char::from_u32(rng.gen_range(0..0x11_0000)).unwrap_or('x')
                    } else {
                        pool[rng.gen_range(0..pool.len())]
                    }
                })
                .collect();
            let out = visible(&s);
            assert!(!out.chars().any(is_hidden), "{s:?} -> {out:?}");
            if !s.chars().any(is_hidden) {
                assert_eq!(out, s);
            }
            let plain: String = s.chars().filter(|c| !is_hidden(*c)).collect();
            assert_eq!(visible(&plain), plain);
        }
    }
}
