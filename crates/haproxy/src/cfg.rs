//! haproxy.cfg, read the way HAProxy reads it: words split as its
//! `parse_line()` splits them (spaces and tabs, `#` comments, backslash
//! escapes, single and double quotes), sections started by their keyword
//! wherever it is indented, and every line kept with its file and number so
//! a finding can point at it.
//!
//! Written by hand because no crate parses HAProxy's configuration
//! language; it judges nothing (`haproxy -c` does): it only gives `doctor`'s
//! rules the words of each line. Environment variables (`"${VAR}"`) are
//! kept as written. Lines inside `.if`/`.elif`/`.else` blocks carry the
//! conditions that must hold for them ([`Line::conds`]); the directives
//! themselves (`.if`, `.notice`, ...) are not lines.
//!
//! Several files given with several `-f` are read in order; as in HAProxy,
//! each file starts outside any section.

/// Keywords that open a section.
pub const SECTIONS: &[&str] = &[
    "global",
    "defaults",
    "frontend",
    "backend",
    "listen",
    "peers",
    "resolvers",
    "userlist",
    "program",
    "mailers",
    "http-errors",
    "ring",
    "cache",
    "log-forward",
    "crt-store",
    "traces",
    "acme",
    "fcgi-app",
];

/// An open `.if`: the conditions of its current branch, and those of the
/// branches before it (which must not have held).
type Block = (Vec<(String, bool)>, Vec<String>);

/// One non-empty line: its words, without comments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Index into [`Cfg::files`].
    pub file: usize,
    /// 1-based.
    pub line: u32,
    pub words: Vec<String>,
    /// The `.if`/`.elif` conditions this line needs, as written, each with
    /// whether it must hold (`true`) or not hold (`false`, the earlier
    /// branches of its `.elif`/`.else`); empty outside conditional blocks.
    pub conds: Vec<(String, bool)>,
}

impl Line {
    /// The first word, the keyword.
    pub fn keyword(&self) -> &str {
        self.words.first().map_or("", String::as_str)
    }

    /// The words after the keyword.
    pub fn args(&self) -> &[String] {
        self.words.get(1..).unwrap_or(&[])
    }

    /// The word after `key` on this line (`inter` → `3s`).
    pub fn value_of(&self, key: &str) -> Option<&str> {
        let i = self.words.iter().position(|w| w == key)?;
        self.words.get(i + 1).map(String::as_str)
    }

    /// `word` is one of this line's words.
    pub fn has(&self, word: &str) -> bool {
        self.words.iter().any(|w| w == word)
    }

    /// The keyword and its first argument are these (`option httpchk`,
    /// `timeout client`, `stats auth`).
    pub fn is(&self, keyword: &str, first: &str) -> bool {
        self.keyword() == keyword && self.words.get(1).is_some_and(|w| w == first)
    }
}

/// A section: its keyword line and the lines until the next one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// `global`, `defaults`, `frontend`, `backend`, `listen`, ...
    pub kind: String,
    /// The name after the keyword, if any (`defaults` may have one).
    pub name: Option<String>,
    /// `from NAME`: the named `defaults` it takes its settings from.
    pub from: Option<String>,
    /// Where the keyword is.
    pub head: Line,
    pub lines: Vec<Line>,
}

impl Section {
    /// A proxy: `frontend`, `backend` or `listen`.
    pub fn is_proxy(&self) -> bool {
        matches!(self.kind.as_str(), "frontend" | "backend" | "listen")
    }

    /// Receives traffic from clients (has binds).
    pub fn is_frontend(&self) -> bool {
        matches!(self.kind.as_str(), "frontend" | "listen")
    }

    /// Sends traffic to servers.
    pub fn is_backend(&self) -> bool {
        matches!(self.kind.as_str(), "backend" | "listen")
    }

    /// `kind name`, or `kind` alone.
    pub fn title(&self) -> String {
        match &self.name {
            Some(n) => format!("{} {n}", self.kind),
            None => self.kind.clone(),
        }
    }

    /// The lines whose keyword is `keyword`.
    pub fn all<'a>(&'a self, keyword: &'a str) -> impl Iterator<Item = &'a Line> + 'a {
        self.lines.iter().filter(move |l| l.keyword() == keyword)
    }

    /// The last line whose keyword and first argument are these (the last one wins in HAProxy).
    pub fn find(&self, keyword: &str, first: &str) -> Option<&Line> {
        self.lines.iter().rev().find(|l| l.is(keyword, first))
    }

    /// The last line with this keyword.
    pub fn last(&self, keyword: &str) -> Option<&Line> {
        self.lines.iter().rev().find(|l| l.keyword() == keyword)
    }
}

/// A whole configuration, from one or more files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cfg {
    /// The files' names, as given.
    pub files: Vec<String>,
    pub sections: Vec<Section>,
    /// Lines before any section keyword (HAProxy refuses them).
    pub stray: Vec<Line>,
}

impl Cfg {
    /// Reads one file's text; `name` is how findings name it.
    pub fn parse(name: &str, text: &str) -> Cfg {
        let mut c = Cfg::default();
        c.add(name, text);
        c
    }

    /// Reads the next file (as a further `-f FILE`).
    pub fn add(&mut self, name: &str, text: &str) {
        let file = self.files.len();
        self.files.push(name.to_string());
        let mut current: Option<Section> = None;
        let mut blocks: Vec<Block> = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let words = words(raw);
            let Some(first) = words.first() else { continue };
            if first.starts_with('.') {
                let cond = words[1..].join(" ");
                match first.as_str() {
                    ".if" => blocks.push((vec![(cond.clone(), true)], vec![cond])),
                    ".elif" => {
                        if let Some((branch, before)) = blocks.last_mut() {
                            *branch = before.iter().map(|c| (c.clone(), false)).collect();
                            branch.push((cond.clone(), true));
                            before.push(cond);
                        }
                    }
                    ".else" => {
                        if let Some((branch, before)) = blocks.last_mut() {
                            *branch = before.iter().map(|c| (c.clone(), false)).collect();
                        }
                    }
                    ".endif" => {
                        blocks.pop();
                    }
                    // `.notice`, `.warning`, `.alert`, `.diag`: messages, not lines.
                    _ => {}
                }
                continue;
            }
            if blocks.len() > 64 {
                // Deeper than HAProxy allows (it stops at 10): read as plain lines.
                blocks.clear();
            }
            let line = Line {
                file,
                line: u32::try_from(i + 1).unwrap_or(u32::MAX),
                words,
                conds: blocks.iter().flat_map(|(b, _)| b.iter().cloned()).collect(),
            };
            if SECTIONS.contains(&line.keyword()) {
                if let Some(s) = current.take() {
                    self.sections.push(s);
                }
                let args = line.args();
                let (name, from) = match args {
                    [f, n, ..] if f == "from" => (None, Some(n.clone())),
                    [n, f, m, ..] if f == "from" => (Some(n.clone()), Some(m.clone())),
                    [n, ..] => (Some(n.clone()), None),
                    [] => (None, None),
                };
                current = Some(Section {
                    kind: line.keyword().to_string(),
                    name,
                    from,
                    head: line,
                    lines: Vec::new(),
                });
            } else if let Some(s) = current.as_mut() {
                s.lines.push(line);
            } else {
                self.stray.push(line);
            }
        }
        if let Some(s) = current {
            self.sections.push(s);
        }
    }

    /// The file name of a line.
    pub fn file_of(&self, line: &Line) -> &str {
        self.files.get(line.file).map_or("", String::as_str)
    }

    /// The sections of this kind.
    pub fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Section> + 'a {
        self.sections.iter().filter(move |s| s.kind == kind)
    }

    /// The `global` sections' lines (HAProxy merges several).
    pub fn global(&self) -> impl Iterator<Item = &Line> {
        self.of_kind("global").flat_map(|s| s.lines.iter())
    }

    /// The `defaults` a section takes its settings from: the one it names
    /// with `from`, else the last `defaults` above it (in file order). A
    /// named `defaults` with `from` takes only from that one.
    pub fn defaults_of(&self, section: &Section) -> Option<&Section> {
        let at = self.sections.iter().position(|s| std::ptr::eq(s, section))?;
        let above = &self.sections[..at];
        if let Some(name) = &section.from {
            return above
                .iter()
                .rev()
                .find(|s| s.kind == "defaults" && s.name.as_ref() == Some(name));
        }
        if section.kind == "defaults" {
            return None;
        }
        above.iter().rev().find(|s| s.kind == "defaults")
    }

    /// Every `defaults` a section inherits from, nearest first (its
    /// `defaults`, then that one's `from`, ...); at most 16 deep.
    pub fn defaults_chain(&self, section: &Section) -> Vec<&Section> {
        let mut out: Vec<&Section> = Vec::new();
        let mut cur = self.defaults_of(section);
        while let Some(d) = cur {
            if out.len() >= 16 || out.iter().any(|o| std::ptr::eq(*o, d)) {
                break;
            }
            out.push(d);
            cur = self.defaults_of(d);
        }
        out
    }

    /// The configuration as HAProxy reads it when `keep` says which lines
    /// are read: the others are left out, and a section whose keyword line
    /// is left out is no section: the lines kept under it belong to the
    /// section before (or are stray), as they would for HAProxy.
    pub fn retain_lines(&self, keep: &dyn Fn(&Line) -> bool) -> Cfg {
        let mut c = Cfg {
            files: self.files.clone(),
            sections: Vec::new(),
            stray: self.stray.iter().filter(|l| keep(l)).cloned().collect(),
        };
        for s in &self.sections {
            let lines = s.lines.iter().filter(|l| keep(l)).cloned();
            if keep(&s.head) {
                c.sections.push(Section {
                    lines: lines.collect(),
                    ..s.clone()
                });
            } else {
                // HAProxy starts each file outside any section.
                match c.sections.last_mut().filter(|last| last.head.file == s.head.file) {
                    Some(last) => last.lines.extend(lines),
                    None => c.stray.extend(lines),
                }
            }
        }
        c
    }
}

/// One line's words, split as HAProxy splits them: unquoted spaces and tabs
/// separate, `#` outside quotes starts a comment, `\` escapes the next
/// character (`\t`, `\n`, `\r` and `\xHH` as in HAProxy), `'...'` is literal
/// and `"..."` keeps spaces (and, unlike HAProxy, `$VAR` unexpanded).
pub fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('\''), c) => cur.push(c),
            (_, '\\') => {
                in_word = true;
                match chars.next() {
                    Some('t') => cur.push('\t'),
                    Some('n') => cur.push('\n'),
                    Some('r') => cur.push('\r'),
                    Some('x') => {
                        let hex: String = [chars.next(), chars.next()].into_iter().flatten().collect();
                        match u8::from_str_radix(&hex, 16) {
                            Ok(b) => cur.push(char::from(b)),
                            Err(_) => {
                                cur.push('x');
                                cur.push_str(&hex);
                            }
                        }
                    }
                    Some(n) => cur.push(n),
                    None => cur.push('\\'),
                }
            }
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                in_word = true;
                quote = Some(c);
            }
            (None, '#') => break,
            (None, ' ' | '\t' | '\r' | '\n') => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_as_haproxy_splits_them() {
        assert_eq!(
            words("  server web1 172.20.0.151:80  inter 3s # comment"),
            ["server", "web1", "172.20.0.151:80", "inter", "3s"]
        );
        assert_eq!(
            words(r"  stats realm HAPorxy\Stats\Page"),
            ["stats", "realm", "HAPorxyStatsPage"]
        );
        assert_eq!(words(r"  reqadd X-Foo:\ bar"), ["reqadd", "X-Foo: bar"]);
        assert_eq!(
            words(r#"  http-request set-header X "a b#c" 'd\e'"#),
            ["http-request", "set-header", "X", "a b#c", r"d\e"]
        );
        assert_eq!(words(r"  x \x41\x4g"), ["x", "Ax4g"]);
        assert!(words("   # only a comment").is_empty());
        assert_eq!(words("a\"\"b"), ["ab"]);
        assert_eq!(words("\"\""), [""]);
    }

    #[test]
    fn sections_lines_and_defaults() {
        let text = "global\nmaxconn 100\n  daemon\ndefaults\nmode http\nlisten stats\n  bind :9999\n\
                    defaults tcp from base\nbackend be from base\n  server s 1.2.3.4:80 check\n";
        assert_eq!(Cfg::parse("x", text).sections.len(), 5);
        let mut c = Cfg::parse("a.cfg", text);
        c.add("b.cfg", "  stray line\nfrontend fe\n  bind :80\n");
        let titles: Vec<String> = c.sections.iter().map(Section::title).collect();
        assert_eq!(
            titles,
            [
                "global",
                "defaults",
                "listen stats",
                "defaults tcp",
                "backend be",
                "frontend fe"
            ]
        );
        assert_eq!(
            c.global().map(|l| l.keyword()).collect::<Vec<_>>(),
            ["maxconn", "daemon"]
        );
        let listen = &c.sections[2];
        assert_eq!(c.defaults_of(listen).map(|d| d.head.line), Some(4));
        assert_eq!(c.sections[3].from.as_deref(), Some("base"));
        assert_eq!(c.sections[4].from.as_deref(), Some("base"));
        let fe = &c.sections[5];
        assert_eq!((c.file_of(&fe.head), fe.head.line), ("b.cfg", 2));
        assert_eq!(c.stray.len(), 1);
        assert_eq!(c.sections[4].lines[0].value_of("server"), Some("s"));
        assert!(c.sections[4].lines[0].has("check"));
    }

    #[test]
    fn conditional_blocks_and_defaults_chains() {
        let text = "defaults base\n    timeout client 1s\ndefaults web from base\n    mode http\n\
                    frontend fe from web\n.if version_atleast(2.5)\n    bind :80\n.elif defined(X)\n    bind :81\n\
                    .else\n    bind :82\n    .if feature(OPENSSL)\n    bind :443\n    .endif\n.endif\n    bind :83\n\
                    .notice \"hello\"\nfrontend plain\n";
        let c = Cfg::parse("x", text);
        let fe = &c.sections[2];
        let conds: Vec<(String, Vec<(String, bool)>)> =
            fe.lines.iter().map(|l| (l.words[1].clone(), l.conds.clone())).collect();
        let v = |s: &str, b: bool| (s.to_string(), b);
        assert_eq!(
            conds,
            [
                (":80".to_string(), vec![v("version_atleast(2.5)", true)]),
                (
                    ":81".to_string(),
                    vec![v("version_atleast(2.5)", false), v("defined(X)", true)]
                ),
                (
                    ":82".to_string(),
                    vec![v("version_atleast(2.5)", false), v("defined(X)", false)]
                ),
                (
                    ":443".to_string(),
                    vec![
                        v("version_atleast(2.5)", false),
                        v("defined(X)", false),
                        v("feature(OPENSSL)", true)
                    ]
                ),
                (":83".to_string(), vec![]),
            ]
        );
        let chain: Vec<String> = c.defaults_chain(fe).iter().map(|d| d.title()).collect();
        assert_eq!(chain, ["defaults web", "defaults base"]);
        // A proxy without `from`: the last defaults above it, and its chain.
        assert_eq!(c.defaults_chain(&c.sections[3]).len(), 2);
        assert_eq!(c.defaults_of(&c.sections[0]), None);
        let kept = c.retain_lines(&|l| l.conds.is_empty());
        assert_eq!(kept.sections[2].lines.len(), 1);
        // A section whose keyword is in a branch not taken is no section.
        let two = Cfg::parse(
            "x",
            ".if version_before(2.5)\ndefaults\n    timeout client 1s\n.else\ndefaults\n    timeout client 2s\n.endif\nfrontend fe\n",
        );
        let taken = two.retain_lines(&|l| l.conds.iter().all(|(c, must)| (c == "version_before(2.5)") == *must));
        let titles: Vec<String> = taken.sections.iter().map(Section::title).collect();
        assert_eq!(titles, ["defaults", "frontend fe"]);
        assert_eq!(taken.sections[0].lines[0].words[2], "1s");
    }
}
